"""The ground truth of the demo world: what analytics run on the store should find, written down exactly.

``<home>/demo/ground_truth.json`` is one JSON object:

``schema_version``, ``seed``, ``customers``, ``world``
    The seed and size it was built with, and the year it covers (``start``, ``end``: UTC; the tills'
    local time zone). Times everywhere are ISO 8601 UTC.
``files``
    Each offline file: kind, source, import options and row count.
``people``
    One entry per customer, by ``person`` (P000001, ...: the truth's own id, never stored): ``name``,
    ``origin`` (``online``: has an account and a CRM record; ``store``: signed up at a till),
    ``lifecycle`` (``active``, ``churned``: nothing after ``churn_date`` but e-mail deliveries, ``new``:
    ``first_seen`` in the last 60 days), ``attitude`` (``promoter``, ``passive``, ``detractor``), and
    ``ids``: every identifier the customer appears under: ``user_id``, ``anonymous_ids`` (each with its
    ``device``, whether it ever ``signed_in``, i.e. carried the userId in an identify, and whether it is
    ``joined`` to the customer by deterministic rules: signed in, or an e-mail link was clicked on it, the
    click carrying the userId and its anonymousId), ``app_device_ids``, ``crm_record_id``,
    ``pos_record_id``, ``loyalty_id``, ``emails`` (a typo'd one of a store sign-up included), ``phones``
    (E.164), ``social`` handles. ``orders``: every order and refund as ``[order_id, time, total,
    channel]``, and ``abandoned_checkouts``.
``duplicates``
    Customers with a CRM record and a store sign-up record: both record ids, every ``difference`` (field,
    kind of typo: transposition, missing_letter, extra_letter, wrong_key, nickname, abbreviation,
    formatting, day_month_swapped, missing; and both values) and the identifiers the two records share
    exactly after normalisation (``shared_identifiers``: email, phone, loyalty_id; empty: only
    probabilistic matching can join them).
``hard_negatives``
    Pairs of different people that look alike: ``namesake`` (same first and last name, sometimes the same
    city) and ``household`` (same surname and address; ``dob`` in ``shared`` for twins), with their
    records.
``funnel``
    The online e-commerce funnel (web and app; till receipts are not in it): events per step, sessions
    per step by entry step, ``strict`` (sessions entering at the first step, per step reached), and the
    planted ``checkout`` drop-off: ``started``, ``completed``, ``abandoned`` and ``abandonment_rate``.
    Sessions: a new one after 30 minutes without an event from the same anonymousId (visits are hours
    apart, their events minutes apart). ``customers``: the same funnel counted by unit as identity
    resolution joins the events, over the whole year (``window``: no conversion window). A unit is a
    customer's userId with every device joined to it (``joined`` above), or one of their devices never
    joined (a store customer's phone always is one: they have no userId), or an anonymous visitor's
    browser (an app device is its anonymousId, its ``context.device.id`` linked to it, one device each).
    ``units``: units with any funnel step; ``reached``: per step k, units with steps 1..k at times t1 <=
    t2 <= ... <= tk (one unit's devices may interleave: the times are the events', not the visits');
    ``checkout``: units with a Checkout Started (``started``) and with an Order Completed at or after
    one (``completed``).
``retention``
    Purchase retention by calendar month (UTC). Every customer with an order (web, app or at a till;
    refunds are not orders) is in the cohort of their first order's month, and so is each walk-in sale:
    the till importer gives a receipt with no identifier an anonymousId of its own, so in the store it is
    a customer of its own with one order, who never returns. ``cohorts``, by month (``YYYY-MM``, months
    with a first order only): ``customers``, and ``returned``: item N-1 is how many of them ordered again
    in the N-th month after the cohort's, to the world's last month. ``customers``: all of them,
    ``walk_in_sales`` of them walk-ins.
``lifecycle``, ``churners``
    Customers per lifecycle; each churned customer's ``churn_date`` and ``last_purchase`` (churners
    stopped at least 100 days before the world's end; active customers buy at their own rate to the end).
``nps``
    Customers by latent attitude; the survey ``respondents`` by category (every NPS answer of a customer
    falls in the customer's category: promoter 9-10, passive 7-8, detractor 0-6), ``responses`` counted by
    category, and the ``score``.
``email``
    Per campaign: sent, delivered, bounced, unsubscribed, and the opens and clicks sent through the open
    pixel and the click links.
``social``
    Every handle that is a customer's; ``noise_posts``: posts by people who are not customers.
``anonymous``
    How many anonymous visitors (web browsers that never became customers) and walk-in sales (receipts
    with no identifier) the world has.
``jane``
    Jane Doe (``jane.doe@example.com``, user-000001): her ids and devices, and her ``story``: each
    touchpoint in order with its step, channel, event, time (``at``), how it arrived (``via``: http,
    import, link), its ``message_id`` and ``stored_at`` (the demo looks up in the store the ids the
    importers gave; link hits are relayed with the write key, with the world's time and stable ids).
``bad_rows``
    Rows the files carry on purpose that the importers must hold in quarantine, with the reason.
``expected``, ``link_hits``
    Events per channel a fresh home holds after the demo, and the quarantine count; the e-mail opens and
    clicks and the QR scans sent to the link endpoints.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from touchpoints.demo.catalog import EMAIL_CAMPAIGNS, QR_PLACEMENTS, STORE_TIMEZONE, WORLD_END, WORLD_START
from touchpoints.demo.files import IMPORTS, FileSet, loyalty_rows
from touchpoints.demo.online import iso, render_customer
from touchpoints.demo.world import CHECKOUT, CHECKOUT_ABANDONMENT, FUNNEL, ORDERED, Customer, Visit, World

SCHEMA_VERSION = 1


def e164(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("44"):
        return "+" + digits
    if digits.startswith("0"):
        return "+44" + digits[1:]
    return "+" + digits


def _person(c: Customer) -> dict[str, Any]:
    emails = sorted(
        {e.lower() for e in (c.crm.email if c.crm else None, c.pos.email if c.pos else None) if e}
    )
    phones = sorted(
        {p for p in (e164(c.crm.phone) if c.crm else None, e164(c.pos.phone) if c.pos else None) if p}
    )
    orders = sorted([*c.orders, *c.refunds], key=lambda o: (o.at, o.order_id))
    joined = joined_devices(c)
    return {
        "person": c.person_id,
        "name": f"{c.first_name} {c.last_name}",
        "origin": c.origin,
        "lifecycle": c.lifecycle,
        "attitude": c.attitude,
        "first_seen": iso(c.first_seen),
        "churn_date": iso(c.churn_date) if c.churn_date else None,
        "ids": {
            "user_id": c.user_id,
            "anonymous_ids": [
                {
                    "id": d.anonymous_id,
                    "device": d.kind,
                    "signed_in": any(v.identify for v in c.visits if v.device == i),
                    "joined": i in joined,
                }
                for i, d in enumerate(c.devices)
            ],
            "app_device_ids": [d.device_id for d in c.devices if d.is_app],
            "crm_record_id": c.crm.record_id if c.crm else None,
            "pos_record_id": c.pos.record_id if c.pos else None,
            "loyalty_id": c.loyalty_id,
            "emails": emails,
            "phones": phones,
            "social": [{"platform": c.social[0], "handle": c.social[1]}] if c.social else [],
        },
        "orders": [[o.order_id, iso(o.at), o.total, o.channel] for o in orders],
        "abandoned_checkouts": sum(1 for v in c.visits if v.depth == CHECKOUT),
    }


def _records(c: Customer) -> list[str]:
    return [r.record_id for r in (c.crm, c.pos) if r is not None]


def funnel(world: World) -> dict[str, Any]:
    visits: list[Visit] = [v for c in world.customers for v in c.visits]
    visits += [v for visitor in world.visitors for v in visitor.visits]
    events = Counter[int]()
    by_entry: dict[int, Counter[int]] = {1: Counter(), 2: Counter(), 3: Counter()}
    for v in visits:
        if v.entry == 0:
            continue
        for step in range(v.entry, v.depth + 1):
            events[step] += 1
            by_entry[v.entry][step] += 1
    started, completed = events[CHECKOUT], events[ORDERED]
    return {
        "steps": list(FUNNEL),
        "channels": ["web", "app"],
        "session_gap_minutes": 30,
        "sessions": len(visits),
        "sessions_with_a_step": sum(1 for v in visits if v.entry),
        "events": {FUNNEL[s - 1]: events[s] for s in range(1, len(FUNNEL) + 1)},
        "by_entry_step": {
            FUNNEL[e - 1]: {FUNNEL[s - 1]: n[s] for s in range(e, len(FUNNEL) + 1)}
            for e, n in by_entry.items()
        },
        "strict": {FUNNEL[s - 1]: by_entry[1][s] for s in range(1, len(FUNNEL) + 1)},
        "checkout": {
            "from": FUNNEL[CHECKOUT - 1],
            "to": FUNNEL[ORDERED - 1],
            "started": started,
            "completed": completed,
            "abandoned": started - completed,
            "abandonment_rate": round((started - completed) / started, 6) if started else 0.0,
            "planted_rate": CHECKOUT_ABANDONMENT,
        },
    }


# A visit's events are under 4 minutes apart and a funnel visit has at most 15 of them (13 funnel pages
# and calls, and a sign-in's page and identify), so it spans less than an hour before its ``end``.
_VISIT_SPAN = timedelta(hours=1)


def joined_devices(c: Customer) -> set[int]:
    """The customer's devices that identity resolution joins to their userId: every device that ever
    carried it in an identify (a sign-up or sign-in), and every device an e-mail link was clicked on (the
    click carries the userId and that device's anonymousId). A customer with no userId has none."""
    if not c.user_id:
        return set()
    joined = {v.device for v in c.visits if v.identify}
    joined.update(s.click_device for s in c.emails if s.clicked_at is not None and s.click_device is not None)
    return joined


def _reached(steps: Iterable[tuple[int, int]], of: tuple[int, ...]) -> int:
    """How far along ``of`` (step numbers in funnel order) a unit gets: ``steps`` are its (first, last)
    runs of consecutive funnel steps, each run in time order and the runs in time order. Taking each next
    step at its earliest occurrence after the previous one is the best any ordering can do."""
    reached = 0
    for first, last in steps:
        while reached < len(of) and first <= of[reached] <= last:
            reached += 1
    return reached


def _unit_runs(world: World) -> Iterable[list[tuple[int, int]]]:
    """Each unit's funnel runs in time order (see ``_reached``), one list per unit with any funnel step.
    A unit's visits an hour or more apart (by ``end``) never overlap, so visit order is time order; a
    customer with two closer visits of one unit on different devices has their events rendered (the same
    seed gives the same times) and each funnel event is a run of its own, in time order (events at one
    instant in step order: the funnel allows equal times)."""
    for c in world.customers:
        joined = joined_devices(c)
        units: dict[int, list[Visit]] = {}
        for v in c.visits:
            if v.entry:
                units.setdefault(-1 if v.device in joined else v.device, []).append(v)
        close = False
        for visits in units.values():
            visits.sort(key=lambda v: v.end)
            close = close or any(b.end - a.end < _VISIT_SPAN for a, b in pairwise(visits))
        if not close:
            yield from ([(v.entry, v.depth) for v in visits] for visits in units.values())
            continue
        unit_of = {d.anonymous_id: -1 if i in joined else i for i, d in enumerate(c.devices)}
        timed: dict[int, list[tuple[datetime, int]]] = {}
        for event in render_customer(world, c)[0]:
            if event["type"] == "track" and event["event"] in FUNNEL:
                at = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
                step = FUNNEL.index(event["event"]) + 1
                timed.setdefault(unit_of[event["anonymousId"]], []).append((at, step))
        yield from ([(step, step) for _, step in sorted(events)] for events in timed.values())
    for visitor in world.visitors:
        runs = [(v.entry, v.depth) for v in sorted(visitor.visits, key=lambda v: v.end) if v.entry]
        if runs:
            yield runs


def customer_funnel(world: World) -> dict[str, Any]:
    """The online funnel counted by unit as identity resolution sees them (see the module docstring)."""
    steps = tuple(range(1, len(FUNNEL) + 1))
    reached = Counter[int]()
    checkout = Counter[int]()
    units = 0
    for runs in _unit_runs(world):
        units += 1
        reached[_reached(runs, steps)] += 1
        checkout[_reached(runs, (CHECKOUT, ORDERED))] += 1

    def at_least(counts: Counter[int], k: int) -> int:
        return sum(n for r, n in counts.items() if r >= k)

    return {
        "window": "whole world",
        "units": units,
        "reached": {FUNNEL[k - 1]: at_least(reached, k) for k in steps},
        "checkout": {"started": at_least(checkout, 1), "completed": at_least(checkout, 2)},
    }


def _month(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def _months_between(a: str, b: str) -> int:
    return (int(b[:4]) - int(a[:4])) * 12 + int(b[5:]) - int(a[5:])


def retention(world: World) -> dict[str, Any]:
    """Monthly purchase retention by first-order cohort (see the module docstring)."""
    buyers = [{_month(o.at) for o in c.orders} for c in world.customers if c.orders]
    buyers += [{_month(o.at)} for o in world.anonymous_sales]  # each walk-in sale is a customer of its own
    last = _month(WORLD_END - timedelta(microseconds=1))
    cohorts: dict[str, dict[str, Any]] = {}
    for months in buyers:
        first = min(months)
        cohort = cohorts.setdefault(first, {"customers": 0, "returned": [0] * _months_between(first, last)})
        cohort["customers"] += 1
        for month in months:
            if month != first:
                cohort["returned"][_months_between(first, month) - 1] += 1
    return {
        "months": "calendar months, UTC",
        "customers": len(buyers),
        "walk_in_sales": len(world.anonymous_sales),
        "cohorts": dict(sorted(cohorts.items())),
    }


def _nps(world: World) -> dict[str, Any]:
    by_attitude: dict[str, list[str]] = {"promoter": [], "passive": [], "detractor": []}
    respondents: dict[str, list[str]] = {"promoter": [], "passive": [], "detractor": []}
    responses = Counter[str]()
    for c in world.customers:
        by_attitude[c.attitude].append(c.person_id)
        answered = [s for s in c.surveys if s.nps is not None]
        if answered:
            respondents[c.attitude].append(c.person_id)
            responses[c.attitude] += len(answered)
    total = sum(responses.values())
    return {
        "rule": "promoter 9-10, passive 7-8, detractor 0-6",
        "promoters": by_attitude["promoter"],
        "passives": by_attitude["passive"],
        "detractors": by_attitude["detractor"],
        "respondents": respondents,
        "responses": {
            "promoter": responses["promoter"],
            "passive": responses["passive"],
            "detractor": responses["detractor"],
            "total": total,
        },
        "score": round(100 * (responses["promoter"] - responses["detractor"]) / total, 2) if total else None,
    }


def _email(world: World) -> list[dict[str, Any]]:
    out = []
    for k, (campaign_id, name, _subject, sent, feature) in enumerate(EMAIL_CAMPAIGNS):
        sends = [s for c in world.customers for s in c.emails if s.campaign == k]
        out.append(
            {
                "campaign_id": campaign_id,
                "name": name,
                "sent_at": iso(sent),
                "feature": feature,
                "sent": len(sends),
                "delivered": sum(1 for s in sends if s.outcome == "delivered"),
                "bounced": sum(1 for s in sends if s.outcome == "bounced"),
                "unsubscribed": sum(1 for s in sends if s.unsubscribed_at is not None),
                "opens": sum(1 for s in sends if s.opened_at is not None),
                "clicks": sum(1 for s in sends if s.clicked_at is not None),
            }
        )
    return out


def _jane(world: World, story: dict[str, tuple[str, str]]) -> dict[str, Any]:
    jane = world.jane
    phone, laptop = jane.devices[1].anonymous_id, jane.devices[0].anonymous_id
    visit, scan, post = jane.store_visits[0], jane.qr_scans[0], jane.posts[0]
    tv = next(o for o in jane.orders if o.channel == "pos")
    earned = next(r for r in loyalty_rows(jane) if r.get("order_id") == tv.order_id)

    def online(key: str) -> dict[str, Any]:
        message_id, at = story.get(key, (None, None))
        return {"at": at, "via": "http", "message_id": message_id}

    steps: list[dict[str, Any]] = [
        {
            "step": 1,
            "what": "search ad click: the TVs page from a Google ad (google / cpc), on her phone",
            "channel": "web",
            "event": "page",
            **online("search-ad:page"),
            "anonymous_id": phone,
            "user_id": None,
        },
        {
            "step": 2,
            "what": "review-site banner click: the 55-inch OLED page with gadgetreview / display UTM tags",
            "channel": "web",
            "event": "page",
            **online("review-banner:page"),
            "anonymous_id": laptop,
            "user_id": jane.user_id,
        },
        {
            "step": 3,
            "what": "Product Viewed: the 55-inch OLED TV",
            "channel": "web",
            "event": "Product Viewed",
            **online("review-banner:product_viewed"),
            "anonymous_id": laptop,
            "user_id": jane.user_id,
        },
        {
            "step": 4,
            "what": "store visit: her loyalty card at the door of London Oxford Street",
            "channel": "pos",
            "event": "Store Visited",
            "at": iso(visit.at),
            "via": "import",
            "file": "store_visits.csv",
            "message_id": f"checkin-{visit.visit_id}",
            "locate": {"source": "store-checkins", "message_id": f"checkin-{visit.visit_id}"},
        },
        {
            "step": 5,
            "what": f"QR code scan on the {QR_PLACEMENTS[scan.placement][0]} in the store, with her phone",
            "channel": "qr",
            "event": "QR Code Scanned",
            "at": iso(scan.at),
            "via": "link",
            "anonymous_id": phone,
            "message_id": f"qr-{jane.person_id}-0",
            "locate": {"source": "links", "message_id": f"qr-{jane.person_id}-0"},
            "note": "relayed with the demo's write key, so the scan keeps the world's time and a stable id",
        },
        {
            "step": 6,
            "what": "her Instagram post of the TV",
            "channel": "social",
            "event": "Social Mention",
            "at": iso(post.at),
            "via": "import",
            "file": "social.csv",
            "handle": post.handle,
            "message_id": None,
            "locate": {"source": "social-listening", "property": "post_id", "value": post.post_id},
        },
        {
            "step": 7,
            "what": "the purchase at the till with her loyalty card",
            "channel": "pos",
            "event": "Order Completed",
            "at": iso(tv.at),
            "via": "import",
            "file": "transactions.csv",
            "order_id": tv.order_id,
            "sku": tv.lines[0][0],
            "loyalty_id": jane.loyalty_id,
            "message_id": None,
            "locate": {"source": "pos", "property": "order_id", "value": tv.order_id},
        },
        {
            "step": 7,
            "what": "the loyalty points for it",
            "channel": "loyalty",
            "event": "Loyalty Points Earned",
            "at": iso(earned["timestamp"]),
            "via": "import",
            "file": "loyalty.parquet",
            "points": earned["points"],
            "message_id": None,
            "locate": {"source": "loyalty", "property": "activity_id", "value": earned["activity_id"]},
        },
        {
            "step": 8,
            "what": "that evening she signs in on her phone (her phone's earlier touchpoints become hers)",
            "channel": "web",
            "event": "identify",
            **online("phone-sign-in:identify"),
            "anonymous_id": phone,
            "user_id": jane.user_id,
        },
    ]
    return {
        "person": jane.person_id,
        "email": jane.email,
        "user_id": jane.user_id,
        "loyalty_id": jane.loyalty_id,
        "crm_record_id": jane.crm.record_id if jane.crm else None,
        "social": {"platform": post.platform, "handle": post.handle},
        "devices": {"laptop": laptop, "phone": phone},
        "story": steps,
    }


def ground_truth(
    world: World,
    files: FileSet,
    online_by_channel: dict[str, int],
    story: dict[str, tuple[str, str]],
    link_hits: dict[str, int],
) -> dict[str, Any]:
    """The truth of ``world`` (see the module docstring). ``online_by_channel``: the rendered online
    events by channel; ``link_hits``: the link requests by channel (email, qr)."""
    customers = world.customers
    duplicates = []
    for c in customers:
        if c.duplicate is None or c.crm is None or c.pos is None:
            continue
        shared = []
        if c.crm.email and c.pos.email and c.crm.email.lower() == c.pos.email.lower():
            shared.append("email")
        if e164(c.crm.phone) and e164(c.crm.phone) == e164(c.pos.phone):
            shared.append("phone")
        if c.crm.loyalty_id and c.crm.loyalty_id == c.pos.loyalty_id:
            shared.append("loyalty_id")
        duplicates.append(
            {
                "person": c.person_id,
                "crm": c.crm.record_id,
                "pos": c.pos.record_id,
                "differences": c.duplicate["differences"],
                "shared_identifiers": shared,
            }
        )
    negatives = []
    for item in world.hard_negatives:
        a, b = (customers[i] for i in item["people"])
        negatives.append(
            {
                "kind": item["kind"],
                "people": [a.person_id, b.person_id],
                "records": [_records(a), _records(b)],
                "shared": item["shared"],
            }
        )
    churners = []
    for c in customers:
        if c.lifecycle == "churned":
            bought = [o.at for o in c.orders]
            churners.append(
                {
                    "person": c.person_id,
                    "user_id": c.user_id,
                    "loyalty_id": c.loyalty_id,
                    "churn_date": iso(c.churn_date) if c.churn_date else None,
                    "last_purchase": iso(max(bought)) if bought else None,
                }
            )
    held = len(files.bad_rows)
    store_orders = sum(1 for c in customers for o in (*c.orders, *c.refunds) if o.channel == "pos")
    store_orders += len(world.anonymous_sales)
    expected = Counter[str](online_by_channel)
    expected["pos"] += store_orders + files.rows["store_visits.csv"] + files.rows["pos_contacts.csv"]
    expected["other"] += files.rows["crm_contacts.csv"]
    expected["loyalty"] += files.rows["loyalty.parquet"]
    for name, channel in (
        ("email_activity.csv", "email"),
        ("tickets.csv", "support"),
        ("surveys.csv", "survey"),
        ("reviews.jsonl", "review"),
        ("social.csv", "social"),
    ):
        expected[channel] += files.rows[name] - sum(1 for b in files.bad_rows if b["file"] == name)
    for channel, n in link_hits.items():
        expected[channel] += n
    return {
        "about": "The demo world's planted truth; see touchpoints.demo.truth for every field.",
        "schema_version": SCHEMA_VERSION,
        "seed": world.seed,
        "customers": len(customers),
        "world": {"start": iso(WORLD_START), "end": iso(WORLD_END), "store_timezone": STORE_TIMEZONE},
        "files": {
            spec.file: {
                "kind": spec.kind,
                "source": spec.source,
                "rows": files.rows.get(spec.file, 0),
                "import": ["touchpoints", "import", *spec.cli_args()],
            }
            for spec in IMPORTS
        },
        "people": [_person(c) for c in customers],
        "duplicates": duplicates,
        "hard_negatives": negatives,
        "funnel": {**funnel(world), "customers": customer_funnel(world)},
        "retention": retention(world),
        "lifecycle": dict(Counter(c.lifecycle for c in customers)),
        "churners": churners,
        "nps": _nps(world),
        "email": _email(world),
        "social": {
            "handles": [
                {"platform": c.social[0], "handle": c.social[1], "person": c.person_id}
                for c in customers
                if c.social
            ],
            "noise_posts": len(world.noise_posts),
        },
        "anonymous": {"visitors": len(world.visitors), "walk_in_sales": len(world.anonymous_sales)},
        "jane": _jane(world, story),
        "bad_rows": files.bad_rows,
        "expected": {"events_by_channel": dict(sorted(expected.items())), "quarantined": held},
    }
