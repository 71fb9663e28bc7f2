"""``touchpoints profiles show|search``: a customer's unified profile, as a support agent reads it."""

from __future__ import annotations

from typing import Any

import click

from touchpoints.cli.common import audit, home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.profiles.read import TraitPrecedence, profile, resolve
from touchpoints.profiles.search import MAX_RESULTS, search_page
from touchpoints.profiles.timeline import DEFAULT_LIMIT, MAX_LIMIT, BadCursor

NOT_FOUND = 4  # the exit code when no customer matches, so a script can tell it from an error


class NotFound(click.ClickException):
    exit_code = NOT_FOUND


@click.group()
def profiles() -> None:
    """Read unified customer profiles: traits, computed traits, consent and the timeline."""


@profiles.command("show")
@click.argument("ref")
@click.option(
    "--timeline",
    "limit",
    type=click.IntRange(0, MAX_LIMIT),
    default=20,
    show_default=True,
    help=f"Timeline entries to show, newest first (the API's default is {DEFAULT_LIMIT}).",
)
@click.option(
    "--before", default=None, help="Older entries: the cursor printed after a page, or an ISO time."
)
@home_option
@json_option
def show(ref: str, limit: int, before: str | None, home: str | None, as_json: bool) -> None:  # fmt: skip
    """Show the profile of REF: a customer id, kind:value (email:jane@example.com), or any identifier."""
    settings = settings_for(home)
    with loaded_store(settings) as db:
        customer_id = resolve(db, ref, settings.identity)
        found = None
        if customer_id is not None:
            try:
                found = profile(
                    db,
                    customer_id,
                    precedence=TraitPrecedence.from_settings(settings),
                    timeline_limit=limit,
                    before=before,
                )
            except BadCursor as exc:
                raise click.BadParameter(str(exc), param_hint="--before") from exc
    if found is None:
        raise NotFound(
            f"no customer has the identifier {ref!r}; find one with `touchpoints profiles search "
            "--email/--phone/--name`, or see how identifiers link with `touchpoints identity links`"
        )
    audit(settings, "profile.read", found["customer_id"], timeline=limit)
    if as_json:
        print_json(found)
    else:
        click.echo(render(found))


@profiles.command("search")
@click.option("--email", default=None, help="An email address, in any case.")
@click.option("--phone", default=None, help="A phone number, in any format.")
@click.option("--name", default=None, help="Words of a name; each must appear, ignoring case.")
@home_option
@json_option
def search(email: str | None, phone: str | None, name: str | None, home: str | None, as_json: bool) -> None:
    """Find customers by email, phone or name (every option given must match)."""
    if not any(v and v.strip() for v in (email, phone, name)):
        raise click.UsageError("give at least one of --email, --phone or --name")
    settings = settings_for(home)
    with loaded_store(settings) as db:
        try:
            found, more = search_page(db, email=email, phone=phone, name=name, rules=settings.identity)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
    criteria = [k for k, v in (("email", email), ("phone", phone), ("name", name)) if v and v.strip()]
    audit(settings, "profile.search", None, criteria=criteria, customers=[c["customer_id"] for c in found])
    if as_json:
        print_json(found)
    if more:
        click.echo(f"more than {MAX_RESULTS} customers match; the first {MAX_RESULTS} are shown: narrow the search",
                   err=True)  # fmt: skip
    for customer in [] if as_json else found:
        known = ", ".join([*customer["emails"], *customer["phones"], *customer["user_ids"]])
        click.echo(f"{customer['customer_id']:<14} {customer['name'] or '(no name)':<28} {known}")
    if not found:
        # An empty answer is still an answer (printed as [] with --json); the exit code tells a script.
        click.echo("no customer matches", err=True)
        raise SystemExit(NOT_FOUND)


def _day(at: str | None) -> str:
    return (at or "")[:16].replace("T", " ")


def _value(value: Any) -> str:
    return str(value) if not isinstance(value, list | dict) else click.style(repr(value), dim=True)


def render(p: dict[str, Any]) -> str:
    """The profile for a terminal: who, how to reach them, what they did, newest first."""
    c = p["computed"]
    traits = p["traits"]
    name = (traits.get("name") or {}).get("value") or " ".join(
        str(traits[k]["value"]) for k in ("firstName", "lastName") if k in traits
    )
    lines = [
        click.style(f"{name or '(no name)'}  {p['customer_id']}", bold=True)
        + f"  first seen {_day(c['first_seen'])}, last seen {_day(c['last_seen'])}",
        "",
        click.style("Identifiers", bold=True),
    ]
    lines += [
        f"  {i['kind']:<13} {i['value']:<32} {i['source']:<12} {_day(i['first_seen'])}"
        for i in p["identifiers"]
    ]
    lines += ["", click.style("Traits", bold=True)]
    for key, t in traits.items():
        line = f"  {key:<20} {_value(t['value']):<32} {t['source']}/{t['channel']}  {_day(t['at'])}"
        if t["others"]:
            also = "; ".join(
                f"{_value(o['value'])} ({o['source']}, {_day(o['at'])})" for o in t["others"][:3]
            )
            line += click.style(f"  also: {also}", fg="yellow")
        lines.append(line)
    channels = ", ".join(f"{k} {n}" for k, n in c["channels"].items())
    lines += ["", click.style("Computed", bold=True), f"  events        {c['events']} ({channels})"]
    currency = c["currency"] or ""
    if c["orders"] or c["refunds"]:
        refunds = f", {c['refunds']} refunded" if c["refunds"] else ""
        lines.append(
            f"  orders        {c['orders']}{refunds}; spend {c['total_spend']:.2f} {currency}, "
            f"average order {c['average_order_value'] or 0:.2f} {currency}"
        )
    if c["last_purchase"]:
        lp = c["last_purchase"]
        lines.append(
            f"  last purchase {_day(lp['at'])} {lp['total'] or 0:.2f} {lp['currency'] or ''} ({lp['channel']})"
        )
    if c["favourite_category"]:
        lines.append(f"  favourite     {c['favourite_category']}")
    tickets = ", ".join(
        f"{t['ticket_id']}" + (f" {t['subject']}" if t["subject"] else "") for t in c["open_ticket_list"]
    )
    lines.append(f"  open tickets  {c['open_tickets']}" + (f" ({tickets})" if tickets else ""))
    if c["last_nps"]:
        nps = c["last_nps"]
        lines.append(f"  last NPS      {nps['score']} ({nps['group']}) {_day(nps['at'])}")
    v = c.get("value")
    if v:
        kinds = [k.replace("_", " ") for k in ("big_spender", "loyal_spender", "future_spender") if v[k]]
        worth = f"CLV {v['clv']:.2f} {v['currency'] or ''}, " if v["clv"] is not None else ""
        alive = f"P(alive) {v['p_alive']:.2f}, " if v["p_alive"] is not None else ""
        risk = f"churn risk {v['churn_risk']:.2f}, " if v["churn_risk"] is not None else ""
        lines.append(
            f"  value         {worth}{alive}{risk}RFM {v['rfm']} {v['rfm_segment']}"
            + (f" ({', '.join(kinds)})" if kinds else "")
            + click.style(f"  as of {v['as_of']}", dim=True)
        )
        up = [f"{d['feature']} {d['value']}" for d in v["churn_drivers"] if d["contribution"] > 0]
        down = [f"{d['feature']} {d['value']}" for d in v["churn_drivers"] if d["contribution"] <= 0]
        parts = [f"raised by {', '.join(up)}" if up else "", f"lowered by {', '.join(down)}" if down else ""]
        if up or down:
            why = "; ".join(p for p in parts if p)
            lines.append(click.style(f"                churn risk {why}", dim=True))
    lines += ["", click.style("Consent", bold=True)]
    if p["consent"]["state"] == "unknown":
        lines.append("  unknown: no consent choice recorded")
    for purpose, state in p["consent"]["purposes"].items():
        word = "granted" if state["granted"] else "refused"
        # a statement recorded on the command line or the API has a source but no channel
        where = "/".join(str(part) for part in (state["source"], state["channel"]) if part)
        lines.append(f"  {purpose:<20} {word:<8} {where}  {_day(state['at'])}")
    lines += ["", click.style("Timeline (newest first)", bold=True)]
    lines += [f"  {_day(e['at'])}  {e['summary']}" for e in p["timeline"]]
    if p["next_before"]:
        lines.append(
            click.style(
                f"  older: touchpoints profiles show {p['customer_id']} --before {p['next_before']}", dim=True
            )
        )
    return "\n".join(lines)
