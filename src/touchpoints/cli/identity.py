"""``touchpoints identity explain|unmerge|links|resolve|review``: the identity graph, its ledger and the
matching of records."""

from __future__ import annotations

import csv
import json
import sys
from typing import IO, Any

import click

from touchpoints.cli.common import audit, home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.cli.profiles import NotFound
from touchpoints.identity.ledger import LedgerError, explain, path, undo_unmerge, unmerge
from touchpoints.identity.lookup import candidates, find_customer
from touchpoints.identity.resolve import (
    ReviewError,
    contact_records,
    decide,
    explain_match,
    resolve,
    reviews,
    stored_model,
)


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


def _node_in(data: dict[str, Any], ref: str, rules: Any) -> str | None:
    """The node of an explained customer that ``ref`` names (any form ``find_customer`` takes)."""
    keys = set(candidates(ref, rules))
    for i in data["identifiers"]:
        if (
            i["node"] in keys
            or i["node"] == ref.strip()
            or (i["kind"] == "record" and i["value"] == ref.strip())
        ):
            return str(i["node"])
    return None


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
            raise NotFound(
                f"no customer has {ref!r}; find one with `touchpoints profiles search` or list identifiers "
                "with `touchpoints identity links`"
            )
        data = explain(db, customer)
        audit(settings, "identity.explain", customer)
        matched = [link for link in data["links"] if link["cause"] in ("match", "review")]
        model = stored_model(db) if matched else None
        for link in matched:
            link["match"] = explain_match(db, link["a"], link["b"], model)
    if other is not None:
        start = _node_in(data, ref, settings.identity) or data["identifiers"][0]["node"]
        goal = _node_in(data, other, settings.identity)
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


class _DryRun(Exception):
    """Raised inside a transaction to roll back what a --dry-run computed."""


@identity.command("unmerge")
@click.option(
    "--link", type=int, default=None, help="The merge to undo: a link number from `identity explain`."
)
@click.option(
    "--detach", default=None, help="An identifier to split off its customer, e.g. device_id:tablet-3."
)
@click.option(
    "--undo", type=int, default=None, help="Undo unmerge N (as `identity explain` lists it): link again."
)
@click.option("--reason", default=None, help="Why, for the ledger.")
@click.option("--dry-run", is_flag=True, help="Show the customers it would make, and change nothing.")
@home_option
@json_option
def unmerge_cmd(link: int | None, detach: str | None, undo: int | None, reason: str | None, dry_run: bool,
                home: str | None, as_json: bool) -> None:  # fmt: skip
    """Split a customer exactly where a merge was wrong. The two sides are never joined again: later
    evidence between them is refused and logged, until the unmerge is undone (--undo N).

    For a device many people share (a shop kiosk, a family tablet), add it to [identity] blocked_values
    instead: detaching it splits it off once, and the next account to sign in on it takes it."""
    settings = settings_for(home)
    with loaded_store(settings) as db:
        try:
            with db.transaction():
                if undo is not None:
                    if link is not None or detach is not None:
                        raise LedgerError("--undo N stands alone: it lifts unmerge N")
                    result = undo_unmerge(db, settings.identity, undo)
                else:
                    result = unmerge(db, settings.identity, link=link, detach=detach, reason=reason)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            result["dry_run"] = True
        except LedgerError as exc:
            raise click.ClickException(str(exc)) from exc
    if not dry_run:
        if undo is not None:
            audit(settings, "identity.unmerge_undone", None, unmerge=undo, customers=result["customers"])
        else:
            audit(settings, "identity.unmerge", result["customer_id"], unmerge=result["unmerge"], link=link,
                  detach=detach, reason=reason, after=sorted(result["after"]))  # fmt: skip
    if as_json:
        print_json(result)
        return
    would = "would be " if dry_run else ""
    if undo is not None:
        click.echo(f"unmerge #{undo} {would}undone: {result['merged']} links {would}made again; customers now: "
                   + ", ".join(result["customers"]))  # fmt: skip
        for refusal in result["refusals"]:
            click.echo(f"  refused: {refusal['a']} <-> {refusal['b']}: {refusal['reason']}")
    else:
        click.echo(
            f"unmerge #{result['unmerge']}: {result['customer_id']} {would}split into {len(result['after'])}"
        )
        for cid, nodes in result["after"].items():
            click.echo(f"  {cid}: {', '.join(nodes)}")
    if dry_run:
        click.echo("Nothing changed (--dry-run).")


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
        written = 0
        for batch in db.batches(
            "SELECT kind, value, source, customer_id FROM identities ORDER BY customer_id, kind, value"
        ):
            rows = list(zip(*(batch.column(c).to_pylist() for c in columns), strict=True))
            written += len(rows)
            if writer is not None:
                writer.writerows(rows)
            else:
                out.writelines(
                    json.dumps(dict(zip(columns, r, strict=True)), ensure_ascii=False) + "\n" for r in rows
                )
    if out is not sys.stdout and getattr(out, "name", "-") != "<stdout>":
        click.echo(f"wrote {written} identifiers and records to {out.name}", err=True)


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
            for d in decisions:
                audit(
                    settings, f"identity.review_{d['decision']}", None, review=d["review"], merged=d["merged"]
                )
            if as_json:
                print_json({"decisions": decisions})
            else:
                for d in decisions:
                    outcome = ""
                    if d["decision"] == "accepted" and d["refused"]:
                        outcome = f": but the rules refused the link ({d['refusals'][0]['reason']})"
                    elif d["decision"] == "accepted" and not d["merged"]:
                        outcome = ": already one customer"
                    click.echo(f"review #{d['review']}: {d['decision']} ({d['a']} ~ {d['b']}){outcome}")
            return
        waiting = reviews(db)
        nodes = sorted({n for r in waiting for n in (r["a"], r["b"])})
        owner = dict(
            db.execute(
                f"SELECT node, customer_id FROM identities WHERE node IN ({', '.join('?' for _ in nodes)})",
                nodes,
            )
            if nodes
            else []
        )
        # A pair another link has joined since it was queued needs no decision.
        pending = [r for r in waiting if owner.get(r["a"]) != owner.get(r["b"])]
        settled = len(waiting) - len(pending)
        records = _record_details(db, [n for r in pending for n in (r["a"], r["b"])])
    if as_json:
        print_json(
            {
                "pending": [r | {"records": [records.get(r["a"]), records.get(r["b"])]} for r in pending],
                "already_one_customer": settled,
            }
        )
        return
    if not pending:
        click.echo(
            "No pairs wait for review."
            + (f" ({settled} queued pairs are one customer by now.)" if settled else "")
        )
        return
    for r in pending:
        left, right = records.get(r["a"]) or {}, records.get(r["b"]) or {}
        click.echo(f"#{r['id']}  probability {r['score']:.3f}, match weight {r['weight']:+.2f}")
        click.echo(f"    {'':<11} {r['a']:<40} {r['b']}")
        for field in ("first_name", "last_name", "email", "phone", "dob", "address", "postcode", "city"):
            lv, rv = left.get(field), right.get(field)
            if lv is None and rv is None:
                continue
            mark = " " if lv == rv else "*"
            click.echo(
                f"  {mark} {field:<11} {lv if lv is not None else '-'!s:<40} {rv if rv is not None else '-'}"
            )
    if settled:
        click.echo(f"({settled} more queued pairs are one customer by now.)")
    click.echo("Decide with `touchpoints identity review --accept N` or `--reject N`.", err=True)


def _record_details(db: Any, nodes: list[str]) -> dict[str, dict[str, Any]]:
    """Each record's latest contact fields, by name."""
    return {row["record_id"]: row for row in contact_records(db, nodes).to_pylist()}
