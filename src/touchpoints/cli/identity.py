"""``touchpoints identity explain|unmerge|links|resolve|review``: the identity graph, its ledger and the
matching of records."""

from __future__ import annotations

import csv
import json
from typing import IO, Any

import click

from touchpoints.cli.common import home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.identity.ledger import LedgerError, explain, path, unmerge
from touchpoints.identity.lookup import candidates, find_customer
from touchpoints.identity.resolve import ReviewError, decide, explain_match, resolve, reviews


@click.group()
def identity() -> None:
    """Which identifiers and records are one customer, why, and how to undo it."""


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _cause(link: dict[str, Any]) -> str:
    ev = link.get("evidence") or {}
    if link["cause"] == "import" and "file" in ev:
        return f"import {link['source']}: {ev['file']} row {ev['row']}"
    if link["cause"] in ("event", "import"):
        name = ev.get("event") or ev.get("type") or "event"
        channel = f" on {ev['channel']}" if ev.get("channel") else ""
        return f"{name}{channel} from {link['source']} ({link['cause_ref']})"
    if link["cause"] in ("match", "review"):
        return f"{link['cause']} with probability {link['score']:.4f}" + (
            f" ({link['cause_ref']})" if link["cause"] == "review" else ""
        )
    return str(link["cause"])


@identity.command("explain")
@click.argument("ref")
@click.option(
    "--with", "other", default=None, help="Another identifier: show the chain of links joining the two."
)
@home_option
@json_option
def explain_cmd(ref: str, other: str | None, home: str | None, as_json: bool) -> None:
    """Why these identifiers and records are one customer. REF: a customer id or any identifier
    (user id, e-mail, phone, anonymous id, loyalty id, record id, or kind:value)."""
    settings = settings_for(home)
    with loaded_store(settings) as db:
        customer = find_customer(db, ref, settings.identity)
        if customer is None:
            raise click.ClickException(
                f"no customer has {ref!r}; list identifiers with `touchpoints identity links`"
            )
        data = explain(db, customer)
        for link in data["links"]:
            if link["cause"] in ("match", "review"):
                link["match"] = explain_match(db, link["a"], link["b"])
    if other is not None:
        start = next(
            (i["node"] for i in data["identifiers"] if i["node"] in candidates(ref, settings.identity)), None
        )
        start = start or data["identifiers"][0]["node"]
        goal = next(
            (i["node"] for i in data["identifiers"] if i["node"] in candidates(other, settings.identity)),
            None,
        )
        if goal is None:
            raise click.ClickException(f"{other!r} is not one of {customer}'s identifiers")
        data["path"] = path(data, start, goal)
    if as_json:
        print_json(data)
        return
    click.echo(f"{customer}: {len(data['identifiers'])} identifiers and records")
    for i in data["identifiers"]:
        click.echo(f"  {i['kind']:<13} {i['value']:<40} first seen {_when(i['first_seen'])} in {i['source']}")
    shown = data.get("path", data["links"])
    click.echo("How they are joined:" if "path" not in data else f"How {ref} and {other} are joined:")
    for link in shown:
        click.echo(f"  #{link['seq']:<5} {link['status']:<7} {link['a']}  <->  {link['b']}")
        click.echo(f"         {_when(link['evidence_at'])}  {_cause(link)}")
        if link.get("match"):
            from touchpoints.identity.matching import explanation_text

            click.echo(
                "\n".join("         " + line for line in explanation_text(link["match"]).splitlines()[1:])
            )
    if data["refused"]:
        click.echo("Refused or undone:")
        for link in data["refused"]:
            click.echo(f"  #{link['seq']:<5} {link['status']:<8} {link['a']}  <->  {link['b']}")
            click.echo(f"         {link['reason']}  [{_cause(link)}]")
    if data["unmerges"]:
        click.echo("Unmerges:")
        for sep in data["unmerges"]:
            click.echo(
                f"  #{sep['unmerge']} {_when(sep['at'])}: {sep['a']} kept apart from {sep['b']} ({sep['reason']})"
            )
    click.echo("Undo a merge with `touchpoints identity unmerge --link N`.")


@identity.command("unmerge")
@click.option(
    "--link", type=int, default=None, help="The merge to undo: a link number from `identity explain`."
)
@click.option(
    "--detach", default=None, help="An identifier to split off its customer, e.g. device_id:kiosk-3."
)
@click.option("--reason", default=None, help="Why, for the ledger.")
@home_option
@json_option
def unmerge_cmd(
    link: int | None, detach: str | None, reason: str | None, home: str | None, as_json: bool
) -> None:
    """Split a customer exactly where a merge was wrong. The two sides are never joined again by the same
    kind of evidence: later links between them are refused and logged."""
    settings = settings_for(home)
    with loaded_store(settings) as db:
        try:
            with db.transaction():
                result = unmerge(db, settings.identity, link=link, detach=detach, reason=reason)
        except LedgerError as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        print_json(result)
        return
    click.echo(f"unmerge #{result['unmerge']}: {result['customer_id']} split into {len(result['after'])}")
    for cid, nodes in result["after"].items():
        click.echo(f"  {cid}: {', '.join(nodes)}")


@identity.command("links")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--out", type=click.File("w", encoding="utf-8"), default="-", help="File to write (default: stdout)."
)
@home_option
def links_cmd(fmt: str, out: IO[str], home: str | None) -> None:
    """Every identifier and every imported record with its customer: kind, value, source, customer_id
    (for records, value is the record id and source the import source)."""
    settings = settings_for(home)
    columns = ("kind", "value", "source", "customer_id")
    with loaded_store(settings) as db:
        writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(columns)
        for batch in db.batches(
            "SELECT kind, value, source, customer_id FROM identities ORDER BY customer_id, kind, value"
        ):
            rows = zip(*(batch.column(c).to_pylist() for c in columns), strict=True)
            if writer is not None:
                writer.writerows(rows)
            else:
                out.writelines(
                    json.dumps(dict(zip(columns, r, strict=True)), ensure_ascii=False) + "\n" for r in rows
                )


@identity.command("resolve")
@click.option("--retrain", is_flag=True, help="Train the matching model again on today's records.")
@home_option
@json_option
def resolve_cmd(retrain: bool, home: str | None, as_json: bool) -> None:
    """Match contact records across sources (Splink): merge sure pairs, queue likely ones for review."""
    from touchpoints.identity.matching import MatchError

    settings = settings_for(home)
    with loaded_store(settings) as db:
        try:
            with db.transaction():
                report = resolve(db, settings.identity, retrain=retrain)
        except MatchError as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        print_json(report)
        return
    click.echo(
        f"{report['records']} records, {report['pairs_scored']} candidate pairs: {report['merged']} merged, "
        f"{report['queued_for_review']} queued for review, {report['refused']} refused by the rules, "
        f"{report['already_one_customer']} already one customer"
    )
    click.echo(f"customers: {report['customers_before']} -> {report['customers_after']}")
    if report["queued_for_review"]:
        click.echo("Review them with `touchpoints identity review`.")


@identity.command("review")
@click.option("--accept", type=int, multiple=True, help="Accept review N: link the pair.")
@click.option(
    "--reject", type=int, multiple=True, help="Reject review N: never merge or queue the pair again."
)
@click.option("--note", default=None, help="A note kept with the decision.")
@home_option
@json_option
def review_cmd(
    accept: tuple[int, ...], reject: tuple[int, ...], note: str | None, home: str | None, as_json: bool
) -> None:
    """List the pairs waiting for a decision, or decide them."""
    settings = settings_for(home)
    with loaded_store(settings) as db:
        if accept or reject:
            decisions = []
            try:
                with db.transaction():
                    for rid in accept:
                        decisions.append(decide(db, settings.identity, rid, True, note))
                    for rid in reject:
                        decisions.append(decide(db, settings.identity, rid, False, note))
            except ReviewError as exc:
                raise click.ClickException(str(exc)) from exc
            if as_json:
                print_json({"decisions": decisions})
            else:
                for d in decisions:
                    click.echo(f"review #{d['review']}: {d['decision']} ({d['a']} ~ {d['b']})")
            return
        pending = reviews(db)
        records = _record_details(db, [n for r in pending for n in (r["a"], r["b"])])
    if as_json:
        print_json(
            {"pending": [r | {"records": [records.get(r["a"]), records.get(r["b"])]} for r in pending]}
        )
        return
    if not pending:
        click.echo("No pairs wait for review.")
        return
    for r in pending:
        click.echo(f"#{r['id']}  probability {r['score']:.3f}")
        for node in (r["a"], r["b"]):
            click.echo(f"    {node}: {records.get(node)}")
    click.echo("Decide with `touchpoints identity review --accept N` or `--reject N`.", err=True)


def _record_details(db: Any, nodes: list[str]) -> dict[str, str]:
    if not nodes:
        return {}
    from touchpoints.identity.resolve import RECORDS_SQL

    marks = ", ".join("?" for _ in nodes)
    rows = db.execute(f"SELECT * FROM ({RECORDS_SQL}) WHERE record_id IN ({marks})", nodes)
    return {r[0]: ", ".join(str(v) for v in r[2:] if v is not None) for r in rows}
