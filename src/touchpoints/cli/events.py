"""``touchpoints events count|export``: what is in the store."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from touchpoints.cli.common import home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.store.export import FORMATS, export_events

_BY = {"channel": "channel", "type": "type", "event": "coalesce(event, name, type)", "source": "source"}


@click.group()
def events() -> None:
    """Count and export stored events."""


@events.command("count")
@click.option("--by", type=click.Choice(sorted(_BY)), default=None, help="Break the count down.")
@home_option
@json_option
def count(by: str | None, home: str | None, as_json: bool) -> None:
    """Count stored events, in total or by channel, type, event name or source."""
    settings = settings_for(home)
    with loaded_store(settings) as db:
        total = db.execute("SELECT count(*) FROM events")[0][0]
        result: dict[str, object] = {"total": total}
        if by:
            rows = db.execute(
                f"SELECT {_BY[by]} AS k, count(*) AS n FROM events GROUP BY k ORDER BY n DESC, k"
            )
            result["by"] = by
            result["counts"] = {str(k): n for k, n in rows}
        held = db.execute("SELECT count(*) FROM quarantine WHERE status = 'held'")[0][0]
        result["quarantined"] = held
    if as_json:
        print_json(result)
        return
    click.echo(f"{total} events")
    for k, n in (result.get("counts") or {}).items():  # type: ignore[attr-defined]
        click.echo(f"  {k:<24} {n}")
    if held:
        click.echo(f"{held} items in quarantine: `touchpoints quarantine list`")


def _time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 date or time", param_hint=option) from exc
    return parsed


@events.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="File to write (default: stdout).")
@click.option("--since", default=None, help="Only events at or after this time (ISO-8601, UTC if no zone).")
@click.option("--until", default=None, help="Only events before this time.")
@home_option
def export(fmt: str, out: str | None, since: str | None, until: str | None, home: str | None) -> None:
    """Export events, oldest first, one per line/row with its messageId."""
    settings = settings_for(home)
    if fmt == "parquet" and out is None:
        raise click.UsageError("Parquet is binary: give a file with --out")
    start, end = _time(since, "--since"), _time(until, "--until")
    with loaded_store(settings) as db:
        if out is None:
            n = export_events(db, sys.stdout.buffer, fmt, since=start, until=end)
        else:
            tmp = Path(out + ".partial")
            with tmp.open("wb") as fh:
                n = export_events(db, fh, fmt, since=start, until=end)
            tmp.replace(out)
    click.echo(f"exported {n} events", err=True)
