"""``touchpoints import KIND FILE``: offline data (till receipts, CRM records, tickets, surveys, reviews,
social posts, loyalty, email activity, bought tables) into the store."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from touchpoints.cli.common import home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.sources.importer import ImportError_, ImportOptions, run_import, watching
from touchpoints.sources.kinds import KINDS

NOTHING_IMPORTED = 3


def _mapping(values: tuple[str, ...]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values:
        column, sep, target = value.partition("=")
        if not sep or not column or not target:
            raise click.BadParameter(
                f"{value!r}: write it as column=field, e.g. InvoiceNo=order_id", param_hint="--map"
            )
        mapping[column] = target
    return mapping


def _kinds_help() -> str:
    lines = []
    for kind in KINDS.values():
        required = ", ".join(kind.required) or "--key COLUMN"
        lines.append(f"{kind.name}: needs {required}")
    return "\n\n".join(lines)


@click.command(
    "import",
    help="Import a CSV, JSON Lines or Parquet FILE of KIND, under the source name --source.\n\n"
    "Re-importing a file stores nothing twice; bad rows go to quarantine with the file, row and reason, "
    "and the good rows still land. Columns named differently in the file are mapped with "
    "--map column=field (repeatable).\n\n" + _kinds_help(),
)
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", required=True, help="Where the data comes from, e.g. pos-2024 or crm.")
@click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD", help="Read the file's COLUMN as FIELD.")
@click.option("--format", "file_format", type=click.Choice(["csv", "jsonl", "parquet"]), default=None,
              help="The file's format (default: from its suffix).")  # fmt: skip
@click.option(
    "--channel", default=None, help="The channel of every event (default: the kind's, or a channel column)."
)
@click.option(
    "--timezone",
    default=None,
    help="For timestamps with no offset, e.g. Europe/London (default: UTC, flagged).",
)
@click.option(
    "--time-format", default=None, help="strptime format for non-ISO timestamps, e.g. '%m/%d/%Y %H:%M'."
)
@click.option("--delimiter", default=None, help="CSV delimiter (default: detected).")
@click.option("--encoding", default=None, help="CSV encoding: utf-8 (default), latin-1 or utf-16.")
@click.option("--key", default=None, help="enrichment: the column the table is keyed by.")
@click.option(
    "--trait", default=None, help="enrichment: the trait the key joins to (default: the key's name)."
)
@home_option
@json_option
def import_file(
    kind: str,
    file: Path,
    source: str,
    maps: tuple[str, ...],
    file_format: str | None,
    channel: str | None,
    timezone: str | None,
    time_format: str | None,
    delimiter: str | None,
    encoding: str | None,
    key: str | None,
    trait: str | None,
    home: str | None,
    as_json: bool,
) -> None:
    settings = settings_for(home)
    opts = ImportOptions(
        kind=kind,
        path=file,
        source=source,
        mapping=_mapping(maps),
        file_format=file_format,
        channel=channel,
        timezone=timezone,
        time_format=time_format,
        key=key,
        trait=trait,
        delimiter=delimiter,
        encoding=encoding,
        rules=settings.identity,
    )
    bar = sys.stderr.isatty()
    with loaded_store(settings) as db:
        phase = ["starting"]

        def show(done: float) -> None:
            if done >= 0:
                width = 30
                filled = int(width * min(done, 100) / 100)
                sys.stderr.write(
                    f"\r{file.name}: {phase[0]:<9} [{'#' * filled}{'.' * (width - filled)}] {done:5.1f}%"
                )
                sys.stderr.flush()

        def say(name: str) -> None:
            phase[0] = name
            if bar:
                show(0.0)

        try:
            if bar:
                with watching(db.query_progress, show):
                    result = run_import(db, opts, say)
                sys.stderr.write("\r" + " " * 70 + "\r")
            else:
                result = run_import(db, opts)
        except ImportError_ as exc:
            raise click.ClickException(str(exc)) from exc
    # A file of which nothing could be imported is a failure a script must notice (exit code 3), though
    # its rows are safely held in quarantine.
    nothing_landed = result.quarantined > 0 and not result.imported and not result.duplicates
    if as_json:
        print_json(result.as_dict())
        if nothing_landed:
            sys.exit(NOTHING_IMPORTED)
        return
    click.echo(
        f"{file.name}: {result.imported} imported, {result.duplicates} already stored, "
        f"{result.quarantined} quarantined ({result.rows} rows)"
    )
    if result.released:
        click.echo(f"{result.released} items held by earlier imports landed and left quarantine")
    if result.quarantined:
        click.echo(
            f"see them with `touchpoints quarantine list --source {source}`; fix the file and import it again"
        )
