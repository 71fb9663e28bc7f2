"""``touchpoints quarantine list|replay``: see what was refused and why, and replay it after a fix."""

from __future__ import annotations

from typing import IO

import click

from touchpoints.cli.common import home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.events.validate import EventLimits
from touchpoints.privacy.keys import KeyRing
from touchpoints.store import quarantine as store_quarantine


@click.group()
def quarantine() -> None:
    """Events that could not be accepted, with the reason, kept for replay."""


@quarantine.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include items already replayed.")
@click.option("--limit", type=int, default=None, help="At most this many items.")
@click.option(
    "--source", default=None, help="Only items of this source (a write key's name, or an import's --source)."
)
@home_option
@json_option
def list_cmd(show_all: bool, limit: int | None, source: str | None, home: str | None, as_json: bool) -> None:
    """List quarantined items, oldest first."""
    settings = settings_for(home)
    with loaded_store(settings) as db:
        items = store_quarantine.list_items(db, include_replayed=show_all, limit=limit, source=source)
    if as_json:
        print_json(items)
        return
    if not items:
        click.echo("quarantine is empty")
    for item in items:
        payload = item["payload"] if len(item["payload"]) <= 80 else item["payload"][:77] + "..."
        click.echo(f"{item['quarantine_id']}  {item['status']:<8} {item['received_at']:%Y-%m-%d %H:%M:%S}  "
                   f"{item['source']}  {item['origin']}")  # fmt: skip
        click.echo(f"    reason:  {item['reason']}")
        click.echo(f"    payload: {payload}")


@quarantine.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every held item.")
@click.option("--payload-file", type=click.File("rb"), default=None,
              help="A corrected event (JSON) to replay in place of the one item named.")  # fmt: skip
@home_option
@json_option
def replay(ids: tuple[str, ...], replay_all: bool, payload_file: IO[bytes] | None,
           home: str | None, as_json: bool) -> None:  # fmt: skip
    """Replay held items through today's validation; what passes is stored, the rest stays held."""
    if not ids and not replay_all:
        raise click.UsageError("name the quarantine ids to replay, or --all")
    settings = settings_for(home)
    channels = {r.name: r.channel for r in KeyRing(settings.keys_path).records()}
    payload = None
    if payload_file is not None:
        try:
            payload = payload_file.read().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise click.ClickException(
                f"{payload_file.name} is not UTF-8 (byte {exc.start}); save the corrected event as UTF-8 JSON"
            ) from exc
    limits = EventLimits.from_settings(settings)
    with loaded_store(settings) as db:
        try:
            outcome = store_quarantine.replay(
                db,
                list(ids) or None,
                payload=payload,
                source_channels=channels,
                limits=limits,
                rules=settings.identity,
            )
        except (LookupError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    result = {"replayed": outcome.replayed, "duplicates": outcome.duplicates,
              "still_invalid": outcome.still_invalid, "left_for_reimport": outcome.reimport,
              "items": outcome.items}  # fmt: skip
    if as_json:
        print_json(result)
        return
    click.echo(f"replayed {outcome.replayed}, already stored {outcome.duplicates}, "
               f"still invalid {outcome.still_invalid}")  # fmt: skip
    if outcome.reimport:
        click.echo(f"{outcome.reimport} rows of imported files left as they are: fix them in the file and "
                   "import it again")  # fmt: skip
    for item in outcome.items:
        if item["status"] == "held":
            click.echo(f"  {item['quarantine_id']} still held: {item['reason']}")
