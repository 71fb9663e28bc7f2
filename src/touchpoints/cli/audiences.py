"""``touchpoints audiences export``: an audience written for an ad platform or the business's own tools,
only with the customers whose consent allows the purpose."""

from __future__ import annotations

from pathlib import Path

import click

from touchpoints.audiences.export import FORMATS, ExportChanged, export_audience
from touchpoints.cli.common import audit, home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.privacy.audit import cli_actor
from touchpoints.privacy.gate import Gate

_PLATFORMS = {"meta": "Meta", "google": "Google"}


@click.group()
def audiences() -> None:
    """Audiences: customer lists for ad platforms and in-house tools, gated by consent."""


def _traits(pairs: tuple[str, ...]) -> dict[str, str]:
    traits: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE (e.g. city=London)", param_hint="--trait")
        traits[name.strip()] = value
    return traits


def _customer_list(path: str) -> list[str]:
    """One customer id or identifier per line; blank lines and ``#`` comments are skipped."""
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@audiences.command("export")
@click.option(
    "--purpose",
    default="marketing",
    show_default=True,
    help="The purpose the file serves; only customers whose consent allows it are written.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="meta / google: the platform's CSV columns with hashed e-mails and phones; csv / jsonl: customer "
    "id, e-mail and phone in plain text, for your own tools.",
)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The file to write.")
@click.option(
    "--customers",
    "customers_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Only these customers: a file with one customer id or identifier (e-mail, phone, userId) a line.",
)
@click.option(
    "--trait",
    "trait_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Only customers whose profile shows this trait value (repeatable: all must hold).",
)
@home_option
@json_option
def export_cmd(
    purpose: str,
    fmt: str,
    out: str,
    customers_file: str | None,
    trait_pairs: tuple[str, ...],
    home: str | None,
    as_json: bool,
) -> None:
    """Write an audience to FILE: every customer (or those --customers names) with the --trait values,
    less everyone whose consent does not allow --purpose (they are counted, never written). The file is
    recorded line by line, so erasing a customer later takes them out of it too."""
    settings = settings_for(home)
    traits = _traits(trait_pairs)
    customers = _customer_list(customers_file) if customers_file else None
    try:
        settings.privacy.mode(purpose)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--purpose") from exc
    with loaded_store(settings) as db:
        try:
            result = export_audience(
                db, Gate.for_settings(settings), Path(out), fmt, purpose=purpose, customers=customers,
                traits=traits, trait_precedence=settings.trait_precedence,
                source_priority=settings.source_priority, rules=settings.identity, actor=cli_actor(),
            )  # fmt: skip
        except (ValueError, OSError, ExportChanged) as exc:
            raise click.ClickException(str(exc)) from exc
    summary = result.summary()
    audit(
        settings,
        "audience.export",
        None,
        **summary,
        traits=sorted(traits),
        customer_list=customers is not None,
    )
    if as_json:
        print_json(summary)
        return
    click.echo(f"Wrote {result.rows} customers to {result.path} ({fmt}, for {purpose}).")
    click.echo(f"Left out for lack of {purpose} consent: {result.left_out}.")
    if result.without_identifier:
        click.echo(
            f"Left out with no e-mail or phone {_PLATFORMS.get(fmt, fmt)} can match on: {result.without_identifier}."
        )
    if result.not_found:
        click.echo(f"Lines of {customers_file} that name no customer: {result.not_found}.")
