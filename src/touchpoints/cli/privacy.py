"""``touchpoints privacy audit``: the audit log of reads and changes of personal data, and its check."""

from __future__ import annotations

import click

from touchpoints.cli.common import home_option, json_option, print_json, settings_for
from touchpoints.privacy.audit import AuditLog


@click.group()
def privacy() -> None:
    """Privacy: the audit log (consent, export and erasure come next)."""


@privacy.command("audit")
@click.option(
    "--verify", is_flag=True, help="Check the hash chain; exit 1 if any entry was changed or removed."
)
@click.option("--tail", type=int, default=20, show_default=True, help="Entries to show, newest last.")
@home_option
@json_option
def audit_cmd(verify: bool, tail: int, home: str | None, as_json: bool) -> None:
    """Who read or changed personal data, and when: every profile read through the API or the CLI,
    searches, explains, unmerges and review decisions, each chained to the one before by its hash."""
    settings = settings_for(home)
    log = AuditLog(settings.audit_path)
    if verify:
        result = log.verify()
        data = {
            "entries": result.entries,
            "ok": result.ok,
            "last_hash": result.last_hash,
            "problem": result.problem,
        }
        if as_json:
            print_json(data)
        elif result.ok:
            click.echo(f"{result.entries} entries, chain intact; last hash {result.last_hash}")
            click.echo(
                "Keep the last hash elsewhere: a chain cannot show that its newest entries were cut off."
            )
        else:
            click.echo(f"BROKEN after {result.entries} good entries: {result.problem}", err=True)
        if not result.ok:
            raise SystemExit(1)
        return
    entries = list(log.entries())[-tail:] if tail > 0 else []
    if as_json:
        print_json({"entries": entries})
        return
    for e in entries:
        subject = f" {e['subject']}" if e["subject"] else ""
        click.echo(f"#{e['seq']:<6} {e['at'][:19]}  {e['actor']:<28} {e['action']}{subject}")
