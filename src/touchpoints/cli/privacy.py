"""``touchpoints privacy``: the rights of the people in the store (export, rectify, erase, consent), the
physical purge, retention, and the audit log of reads and changes of personal data."""

from __future__ import annotations

from pathlib import Path

import click

from touchpoints.cli.common import home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.cli.retention import retention
from touchpoints.privacy.audit import AuditLog, cli_actor


@click.group()
def privacy() -> None:
    """Privacy: every right of the people in the store (access, rectification, erasure, consent), the
    physical purge, retention, and the audit log."""


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


privacy.add_command(retention)


def _fail(exc: Exception, code: int = 1) -> None:
    click.echo(f"Error: {exc}", err=True)
    raise SystemExit(code)


@privacy.command("export")
@click.argument("ref")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the JSON bundle (written mode 0600: it is personal data).",
)
@home_option
@json_option
def export_cmd(ref: str, out: Path, home: str | None, as_json: bool) -> None:
    """Everything held about a person (access and portability, GDPR articles 15 and 20), found by any of
    their identifiers: profile and traits, identifiers and merge history, events, consents, feedback,
    files written with them in, who read their data, and every personal table's rows."""
    from touchpoints.privacy.erasure import NotFound
    from touchpoints.privacy.portability import export_person

    settings = settings_for(home)
    try:
        result = export_person(settings, ref, out, actor=cli_actor())
    except NotFound as exc:
        _fail(exc, 4)
    if as_json:
        print_json(result)
        return
    counts = ", ".join(f"{n} {t}" for t, n in result["counts"].items() if n)
    click.echo(f"Wrote {result['out']} ({result['bytes']:,} bytes) for {result['customer_id']}: {counts}")


@privacy.command("erase")
@click.argument("ref")
@click.option("--dry-run", is_flag=True, help="Show what would be erased; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@home_option
@json_option
def erase_cmd(ref: str, dry_run: bool, yes: bool, home: str | None, as_json: bool) -> None:
    """Erase a person (GDPR article 17), found by any identifier: their events, identifiers, merge
    history, consents, quarantined items and spooled records, the files Touchpoints wrote with them in,
    everything merged into them. Their identifiers go, hashed, on the suppression list: nothing about
    them is stored again. Then run `touchpoints privacy purge` to make it physical."""
    from touchpoints.privacy.erasure import NotFound, erase

    settings = settings_for(home)
    if not dry_run and not yes and not as_json:
        click.confirm(f"Erase everything held about {ref!r}? This cannot be undone", abort=True)
    try:
        result = erase(settings, ref, actor=cli_actor(), dry_run=dry_run)
    except NotFound as exc:
        _fail(exc, 4)
    if as_json:
        print_json(result)
        return
    rows = ", ".join(f"{n} {t}" for t, n in result["rows"].items() if n)
    if dry_run:
        click.echo(f"Would erase {result['customer_id']} ({result['identifiers']} identifiers): {rows}")
        if result.get("related_customers"):
            click.echo("Kept apart from them by the identity rules, perhaps the same person: "
                       + ", ".join(result["related_customers"]))  # fmt: skip
        return
    click.echo(f"Erased {result['customer_id']} in {result['seconds']} s: {rows}")
    click.echo(
        f"{result['spool_records']} spooled records blanked, {len(result['files'])} files rewritten; "
        f"{result['identifiers']} identifiers suppressed."
    )
    if result.get("redacted_in_others"):
        click.echo(f"Their identifiers were replaced by [erased] in {result['redacted_in_others']} events of other "
                   "customers (links the identity rules refused).")  # fmt: skip
    if result.get("related_customers"):
        click.echo("Kept apart from them by the identity rules, perhaps the same person: "
                   + ", ".join(result["related_customers"]) + " (erase those too if so).")  # fmt: skip
    click.echo("Deleted bytes stay in the store file until `touchpoints privacy purge` rewrites it.")


@privacy.command("purge")
@home_option
@json_option
def purge_cmd(home: str | None, as_json: bool) -> None:
    """Make erasures physical: rewrite the store so no deleted byte is left in it, and blank spooled
    records of every suppressed identifier. Run it with the server stopped."""
    from touchpoints.privacy.purge import PurgeRefused, purge

    settings = settings_for(home)
    try:
        result = purge(settings, actor=cli_actor())
    except PurgeRefused as exc:
        _fail(exc)
    if as_json:
        print_json(result)
        return
    click.echo(
        f"Store rewritten in {result['seconds']} s: {result['store_bytes_before']:,} -> "
        f"{result['store_bytes_after']:,} bytes; {result['spool_records_blanked']} spooled records blanked."
    )


@privacy.command("rectify")
@click.argument("ref")
@click.option(
    "--set",
    "assignments",
    multiple=True,
    required=True,
    metavar="NAME=VALUE",
    help="The corrected trait (repeatable); a JSON value (number, true, null) is taken as such.",
)
@click.option("--reason", required=True, help="Why (kept with the correction and in the audit log).")
@home_option
@json_option
def rectify_cmd(ref: str, assignments: tuple[str, ...], reason: str, home: str | None, as_json: bool) -> None:
    """Correct a person's traits (GDPR article 16). The correction wins over every source in their
    profile; a corrected e-mail or phone joins their identifiers."""
    from touchpoints.privacy.erasure import NotFound
    from touchpoints.privacy.rectify import RectifyError, parse_assignments, rectify

    settings = settings_for(home)
    try:
        result = rectify(
            settings, ref, parse_assignments(list(assignments)), reason=reason, actor=cli_actor()
        )
    except NotFound as exc:
        _fail(exc, 4)
    except RectifyError as exc:
        _fail(exc, 2)
    if as_json:
        print_json(result)
        return
    click.echo(
        f"Corrected {', '.join(result['traits'])} of {result['customer_id']} ({result['message_id']})."
    )


@privacy.command("consent")
@click.argument("ref")
@click.option("--grant", multiple=True, metavar="PURPOSE", help="Record a grant (repeatable).")
@click.option("--deny", multiple=True, metavar="PURPOSE", help="Record a denial or withdrawal (repeatable).")
@click.option(
    "--evidence", default=None, help="Where the statement comes from, e.g. 'signed form 2026-11-02'."
)
@click.option(
    "--history", "show_history", is_flag=True, help="Show every recorded change, not only the latest."
)
@home_option
@json_option
def consent_cmd(ref: str, grant: tuple[str, ...], deny: tuple[str, ...], evidence: str | None,
                show_history: bool, home: str | None, as_json: bool) -> None:  # fmt: skip
    """Show a person's consent per purpose, or record a statement they made (by phone, on paper, ...)."""
    from touchpoints.privacy.consent import ConsentError, by_purpose, customer_consent, history, record
    from touchpoints.privacy.subject import find

    settings = settings_for(home)
    changes = {**{p: "granted" for p in grant}, **{p: "denied" for p in deny}}
    with loaded_store(settings) as db:
        subject = find(db, ref, settings.identity)
        if subject is None:
            _fail(LookupError(f"no customer has the identifier {ref!r}"), 4)
        assert subject is not None
        if changes:
            if not evidence:
                _fail(ValueError("say where the statement comes from with --evidence"), 2)
            try:
                with db.transaction():
                    written = record(db, subject.nodes, changes, policy=settings.privacy, source=cli_actor(),
                                     via="cli", evidence={"note": evidence})  # fmt: skip
            except (ConsentError, ValueError) as exc:
                _fail(exc, 2)
            AuditLog(settings.audit_path).append(cli_actor(), "consent.change", subject.customer_id,
                                                 via="cli", changes=written)  # fmt: skip
        current = customer_consent(db, subject.nodes)
        past = history(db, subject.nodes) if show_history else None
    state = by_purpose(settings.privacy, current)
    if as_json:
        print_json(
            {"customer_id": subject.customer_id, "purposes": state, **({"history": past} if past else {})}
        )
        return
    click.echo(f"Consent of {subject.customer_id}:")
    for p, s in state.items():
        said = (
            f"{s['status']} {str(s['stated_at'])[:19]} via {s['via']}"
            if s["status"]
            else f"never stated ({s['mode']})"
        )
        click.echo(f"  {p:<16} {'allowed' if s['allowed'] else 'not allowed':<12} {said}")
    for h in past or []:
        click.echo(
            f"  #{h['seq']} {str(h['stated_at'])[:19]} {h['purpose']} {h['status']} via {h['via']} ({h['source']})"
        )
