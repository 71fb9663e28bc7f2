"""The demo world's offline records, written as the files a retailer's systems export.

Till receipts (local time, no offset, as tills write them), CRM and store sign-up records, store
check-ins, support tickets, survey answers, reviews (JSON Lines), social posts, loyalty activity
(Parquet), the e-mail service's export and a census table: CSV, JSON Lines and Parquet, each imported
with ``touchpoints import`` exactly as a user would. A few rows are bad on purpose (a quantity of
"two", an NPS of 11, ...); ``FileSet.bad_rows`` says which, and why the importer should hold them.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from touchpoints.demo.catalog import (
    BY_SKU,
    CENSUS_BANDS,
    CURRENCY,
    EMAIL_CAMPAIGNS,
    INCOME_BANDS,
    REVIEW_TEXT,
    SHOP,
    STORE_TIMEZONE,
)
from touchpoints.demo.people import Contact
from touchpoints.demo.world import Customer, Order, World

_LOCAL = ZoneInfo(STORE_TIMEZONE)
TIERS = ((5000, "gold"), (1500, "silver"), (0, "bronze"))


@dataclass(frozen=True)
class ImportSpec:
    """One file and how it is imported: ``touchpoints import KIND FILE --source SOURCE [options]``."""

    kind: str
    file: str
    source: str
    channel: str | None = None
    timezone: str | None = None
    key: str | None = None

    def cli_args(self) -> list[str]:
        args = [self.kind, self.file, "--source", self.source]
        for option, value in (
            ("--channel", self.channel),
            ("--timezone", self.timezone),
            ("--key", self.key),
        ):
            if value is not None:
                args += [option, value]
        return args


IMPORTS: tuple[ImportSpec, ...] = (
    ImportSpec("contacts", "crm_contacts.csv", "crm"),
    ImportSpec("contacts", "pos_contacts.csv", "pos-signup", channel="pos"),
    ImportSpec("transactions", "transactions.csv", "pos", timezone=STORE_TIMEZONE),
    ImportSpec("events", "store_visits.csv", "store-checkins", channel="pos"),
    ImportSpec("loyalty", "loyalty.parquet", "loyalty"),
    ImportSpec("email", "email_activity.csv", "esp"),
    ImportSpec("tickets", "tickets.csv", "helpdesk"),
    ImportSpec("surveys", "surveys.csv", "surveys"),
    ImportSpec("reviews", "reviews.jsonl", "reviews"),
    ImportSpec("social", "social.csv", "social-listening"),
    ImportSpec("enrichment", "census.csv", "census", key="postcode"),
)


@dataclass
class FileSet:
    folder: Path
    rows: dict[str, int] = field(default_factory=dict)
    bad_rows: list[dict[str, Any]] = field(default_factory=list)


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(moment: datetime) -> str:
    return moment.astimezone(_LOCAL).strftime("%Y-%m-%d %H:%M:%S")


class _Csv:
    """A CSV file being written; ``row`` returns the row's number (1-based, as the importer counts)."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.fh = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.fh, lineterminator="\n")
        self.writer.writerow(header)
        self.count = 0

    def row(self, values: Iterable[Any]) -> int:
        self.writer.writerow(["" if v is None else v for v in values])
        self.count += 1
        return self.count

    def close(self) -> int:
        self.fh.close()
        return self.count


def write_files(world: World, folder: Path) -> FileSet:
    """Writes every offline file of the world into ``folder``; same world, same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    out = FileSet(folder)
    rng = random.Random(f"{world.seed}:files")
    for name, writer in (
        ("crm_contacts.csv", _crm),
        ("pos_contacts.csv", _pos),
        ("transactions.csv", _transactions),
        ("store_visits.csv", _store_visits),
        ("email_activity.csv", _email),
        ("tickets.csv", _tickets),
        ("surveys.csv", _surveys),
        ("reviews.jsonl", _reviews),
        ("social.csv", _social),
        ("census.csv", _census),
    ):
        out.rows[name] = writer(world, folder / name, rng, out)
    out.rows["loyalty.parquet"] = _loyalty(world, folder / "loyalty.parquet")
    return out


def _bad(out: FileSet, file: str, row: int, reason: str, note: str) -> None:
    out.bad_rows.append(
        {"file": file, "row": row, "origin": f"{file} row {row}", "reason": reason, "note": note}
    )


# -- contacts ---------------------------------------------------------------------------------------------

_CONTACT_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "city",
    "postcode",
    "country",
    "dob",
    "loyalty_id",
)


def _contact_values(r: Contact) -> list[Any]:
    return [
        r.first_name,
        r.last_name,
        r.email,
        r.phone,
        r.address,
        r.city,
        r.postcode,
        "GB",
        r.dob.isoformat() if r.dob else None,
        r.loyalty_id,
    ]


def _crm(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    f = _Csv(path, ("record_id", "customer_id", *_CONTACT_COLUMNS, "timestamp"))
    for c in world.customers:
        if c.crm is not None:
            f.row([c.crm.record_id, c.crm.customer_id, *_contact_values(c.crm), _z(c.first_seen)])
    return f.close()


def _pos(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    f = _Csv(path, ("record_id", *_CONTACT_COLUMNS, "timestamp"))
    records = []
    for c in world.customers:
        if c.pos is None:
            continue
        at = c.duplicate["signed_up_at"] if c.duplicate else c.loyalty_joined
        assert isinstance(at, datetime)
        records.append((c.pos.record_id, c.pos, at))
    for record_id, record, at in sorted(records, key=lambda r: r[0]):
        f.row([record_id, *_contact_values(record), _z(at)])
    return f.close()


# -- till receipts ----------------------------------------------------------------------------------------


def _price(rng: random.Random, price: float) -> str:
    return f"£{price:,.2f}" if rng.random() < 0.05 else f"{price:.2f}"


def _store_orders(world: World) -> Iterator[tuple[Order, Customer | None]]:
    for c in world.customers:
        for order in (*c.orders, *c.refunds):
            if order.channel == "pos":
                yield order, c
    for order in world.anonymous_sales:
        yield order, None


def _transactions(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    f = _Csv(
        path,
        (
            "order_id",
            "line_id",
            "timestamp",
            "store_id",
            "sku",
            "product_name",
            "category",
            "quantity",
            "unit_price",
            "currency",
            "loyalty_id",
            "email",
        ),
    )
    orders = sorted(_store_orders(world), key=lambda item: (item[0].at, item[0].order_id))
    planted = len(orders) // 2
    for n, (order, c) in enumerate(orders):
        loyalty = c.loyalty_id if c and order.identifier == "loyalty" else None
        email = c.email if c and order.identifier == "email" else None
        for i, (sku, qty) in enumerate(order.lines):
            p = BY_SKU[sku]
            f.row(
                [
                    order.order_id,
                    f"{order.order_id}-{i + 1}",
                    _local(order.at),
                    order.store_id,
                    sku,
                    p.name,
                    p.category,
                    qty,
                    _price(rng, p.price),
                    CURRENCY,
                    loyalty,
                    email,
                ]
            )
        if n == planted:  # a receipt keyed in by hand, with a word for a number: held whole, line and all
            order_id = f"S{order.store_id[-3:] if order.store_id else '001'}-MANUAL1"
            first = f.row(
                [
                    order_id,
                    f"{order_id}-1",
                    _local(order.at + timedelta(minutes=3)),
                    order.store_id,
                    "sku-hd-01",
                    "HDMI 2.1 Cable",
                    "Accessories",
                    "two",
                    "15.00",
                    CURRENCY,
                    None,
                    None,
                ]
            )
            second = f.row(
                [
                    order_id,
                    f"{order_id}-2",
                    _local(order.at + timedelta(minutes=3)),
                    order.store_id,
                    "sku-wm-01",
                    "TV Wall Mount",
                    "Accessories",
                    1,
                    "49.00",
                    CURRENCY,
                    None,
                    None,
                ]
            )
            _bad(out, "transactions.csv", first, "quantity 'two' is not a number", "a hand-keyed receipt")
            _bad(
                out,
                "transactions.csv",
                second,
                f"order {order_id} is held because row {first} of it is bad",
                "the other line of the same receipt",
            )
    return f.close()


def _store_visits(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    f = _Csv(path, ("message_id", "timestamp", "type", "event", "loyalty_id", "store_id", "visit_id"))
    visits = [(v, c) for c in world.customers for v in c.store_visits if c.loyalty_id]
    for v, c in sorted(visits, key=lambda item: (item[0].at, item[0].visit_id)):
        f.row(
            [
                f"checkin-{v.visit_id}",
                _z(v.at),
                "track",
                "Store Visited",
                c.loyalty_id,
                v.store_id,
                v.visit_id,
            ]
        )
    return f.close()


# -- e-mail -------------------------------------------------------------------------------------------------


def _email(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    f = _Csv(
        path,
        (
            "email",
            "timestamp",
            "status",
            "email_id",
            "campaign_id",
            "campaign_name",
            "subject",
            "bounce_type",
            "customer_id",
        ),
    )
    for k, (campaign_id, name, subject, sent, _feature) in enumerate(EMAIL_CAMPAIGNS):
        for c in world.customers:
            for send in c.emails:
                if send.campaign != k:
                    continue
                at = send.sent_at
                base = [send.email_id, campaign_id, name, subject]
                f.row([c.email, _z(at), "sent", *base, None, c.user_id])
                if send.outcome == "bounced":
                    f.row([c.email, _z(at + timedelta(seconds=4)), "bounced", *base, "hard", c.user_id])
                    continue
                f.row([c.email, _z(at + timedelta(seconds=3)), "delivered", *base, None, c.user_id])
                if send.unsubscribed_at is not None:
                    f.row([c.email, _z(send.unsubscribed_at), "unsubscribed", *base, None, c.user_id])
        if k == 2:  # the ESP's export has a mangled address in it
            row = f.row(
                [
                    "customer at example.com",
                    _z(sent),
                    "sent",
                    "e03-bad",
                    campaign_id,
                    name,
                    subject,
                    None,
                    None,
                ]
            )
            _bad(
                out,
                "email_activity.csv",
                row,
                "email 'customer at example.com' is not an email address",
                "an address mangled by the sending service",
            )
    return f.close()


# -- voice of the customer ---------------------------------------------------------------------------------


def _who(c: Customer) -> tuple[str | None, str | None, str | None]:
    """(customer_id, email, loyalty_id) as a support desk or a survey tool knows the customer."""
    if c.user_id:
        return c.user_id, None, None
    if c.email:
        return None, c.email, None
    return None, None, c.loyalty_id


def _tickets(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    f = _Csv(
        path,
        (
            "ticket_id",
            "timestamp",
            "status",
            "contact_channel",
            "subject",
            "category",
            "priority",
            "agent",
            "satisfaction",
            "customer_id",
            "email",
            "loyalty_id",
        ),
    )
    rows: list[tuple[datetime, list[Any]]] = []
    for c in world.customers:
        who = _who(c)
        for t in c.tickets:
            common = [t.contact_channel, t.subject, t.category, t.priority, t.agent]
            rows.append((t.opened_at, [t.ticket_id, _z(t.opened_at), "opened", *common, None, *who]))
            if t.updated_at is not None:
                rows.append((t.updated_at, [t.ticket_id, _z(t.updated_at), "updated", *common, None, *who]))
            if t.resolved_at is not None:
                rows.append(
                    (
                        t.resolved_at,
                        [
                            t.ticket_id,
                            _z(t.resolved_at),
                            "solved" if rng.random() < 0.2 else "resolved",
                            *common,
                            t.satisfaction,
                            *who,
                        ],
                    )
                )
    rows.sort(key=lambda r: (r[0], r[1][0]))
    for n, (_, values) in enumerate(rows):
        f.row(values)
        if n == len(rows) // 3:
            bad = f.row(
                [
                    "T-IMPORTED-1",
                    values[1],
                    "escalated",
                    "phone",
                    "Escalation",
                    "billing",
                    "high",
                    "Dev",
                    None,
                    None,
                    "unknown.caller@example.net",
                    None,
                ]
            )
            _bad(
                out,
                "tickets.csv",
                bad,
                "status 'escalated' is not one of opened, updated, resolved",
                "a status the helpdesk added without telling anyone",
            )
    return f.close()


def _surveys(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    f = _Csv(
        path,
        (
            "response_id",
            "timestamp",
            "survey_id",
            "nps",
            "csat",
            "ces",
            "comment",
            "customer_id",
            "email",
            "loyalty_id",
        ),
    )
    rows = [(s, c) for c in world.customers for s in c.surveys]
    rows.sort(key=lambda item: (item[0].at, item[0].response_id))
    for n, (s, c) in enumerate(rows):
        f.row([s.response_id, _z(s.at), s.survey_id, s.nps, s.csat, s.ces, s.comment, *_who(c)])
        if n == len(rows) // 2:
            bad = f.row(
                [
                    "resp-test-11",
                    _z(s.at),
                    s.survey_id,
                    11,
                    None,
                    None,
                    "testing the form",
                    None,
                    "qa@example.com",
                    None,
                ]
            )
            _bad(
                out, "surveys.csv", bad, "nps 11 is out of range (0 to 10)", "a test answer outside the scale"
            )
            empty = f.row(
                [
                    "resp-test-empty",
                    _z(s.at),
                    s.survey_id,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "qa@example.com",
                    None,
                ]
            )
            _bad(
                out,
                "surveys.csv",
                empty,
                "the response has no answer: nps, csat, ces and comment are all empty",
                "an abandoned form",
            )
    return f.close()


def _reviews(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    rows = [(r, c) for c in world.customers for r in c.reviews]
    rows.sort(key=lambda item: (item[0].at, item[0].review_id))
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for n, (r, c) in enumerate(rows):
            title, text = REVIEW_TEXT[r.rating]
            shop = r.site == "shop.example.com"
            record: dict[str, Any] = {
                "review_id": r.review_id,
                "timestamp": _z(r.at),
                "rating": r.rating,
                "sku": r.sku,
                "title": title,
                "text": text,
                "site": r.site,
                "url": f"{SHOP}{BY_SKU[r.sku].path}#reviews"
                if shop
                else f"https://reviews.example.org/r/{r.review_id}",
                "author": f"{c.first_name} {c.last_name[:1]}.",
            }
            if shop and c.user_id:
                record["customer_id"] = c.user_id
            else:
                record["email"] = c.email
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
            if n == len(rows) // 2:  # a six-star review: the site's scale is 1 to 5
                bad = {
                    "review_id": "RV-SIX-1",
                    "timestamp": record["timestamp"],
                    "rating": 6,
                    "sku": r.sku,
                    "title": "Six stars!",
                    "site": "reviews.example.org",
                    "email": "fan@example.net",
                }
                fh.write(json.dumps(bad) + "\n")
                count += 1
                _bad(
                    out, "reviews.jsonl", count, "rating 6 is out of range (1 to 5)", "a rating off the scale"
                )
    return count


def _social(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    # likes and shares are left out: the importer cannot read them yet (an integer with a low bound and
    # no high one makes its SQL compare with a bare `infinity`)
    f = _Csv(path, ("post_id", "timestamp", "platform", "handle", "text", "url", "sku", "media_url"))
    posts = [p for c in world.customers for p in c.posts] + list(world.noise_posts)
    for p in sorted(posts, key=lambda p: (p.at, p.post_id)):
        url = {
            "instagram": f"https://www.instagram.com/p/{p.post_id}/",
            "x": f"https://x.com/{p.handle}/status/{p.post_id}",
            "tiktok": f"https://www.tiktok.com/@{p.handle}/video/{p.post_id}",
            "facebook": f"https://www.facebook.com/{p.handle}/posts/{p.post_id}",
        }[p.platform]
        media = f"https://media.example.net/{p.post_id}.jpg" if p.platform == "instagram" else None
        f.row([p.post_id, _z(p.at), p.platform, p.handle, p.text, url, p.sku, media])
    return f.close()


def _census(world: World, path: Path, rng: random.Random, out: FileSet) -> int:
    f = _Csv(path, ("postcode", "census_band", "income_band", "urbanity", "households"))
    local = random.Random(f"{world.seed}:census")
    for postcode in world.postcodes:
        f.row(
            [
                postcode,
                local.choice(CENSUS_BANDS),
                local.choice(INCOME_BANDS),
                local.choice(("urban", "urban", "suburban")),
                local.randrange(8, 40),
            ]
        )
    return f.close()


# -- loyalty (Parquet) -----------------------------------------------------------------------------------


def loyalty_rows(c: Customer) -> list[dict[str, Any]]:
    """The customer's loyalty activity: enrolment, points for each order paid with the card (online
    orders of members too), a redemption now and then, tier changes."""
    if c.loyalty_id is None or c.loyalty_joined is None:
        return []
    rows: list[dict[str, Any]] = []
    n = 0

    def add(at: datetime, activity: str, **values: Any) -> None:
        nonlocal n
        n += 1
        rows.append(
            {
                "loyalty_id": c.loyalty_id,
                "timestamp": at,
                "activity": activity,
                "activity_id": f"{c.loyalty_id}-{n:04d}",
                **values,
            }
        )

    online = c.loyalty_joined_in == "online"
    add(
        c.loyalty_joined,
        "enrolled",
        points=0,
        balance=0,
        tier="bronze",
        email=c.email,
        customer_id=c.user_id if online else None,
        store_id=None if online else _store_of(c),
    )
    balance = lifetime = 0
    tier = "bronze"
    for order in sorted(c.orders, key=lambda o: o.at):
        if order.at < c.loyalty_joined or (order.channel == "pos" and order.identifier != "loyalty"):
            continue
        points = int(order.total)
        balance += points
        lifetime += points
        add(
            order.at,
            "earned",
            points=points,
            balance=balance,
            tier=tier,
            store_id=order.store_id,
            order_id=order.order_id,
        )
        new_tier = next(name for threshold, name in TIERS if lifetime >= threshold)
        if new_tier != tier:
            tier = new_tier
            add(order.at + timedelta(seconds=1), "tier_changed", points=0, balance=balance, tier=tier)
        if balance >= 2500 and order.channel == "pos":
            balance -= 2000
            add(
                order.at + timedelta(seconds=2),
                "redeemed",
                points=-2000,
                balance=balance,
                tier=tier,
                store_id=order.store_id,
                order_id=order.order_id,
            )
    return rows


def _store_of(c: Customer) -> str | None:
    if c.duplicate:
        store = c.duplicate.get("store_id")
        return store if isinstance(store, str) else None
    first = min((o for o in c.orders if o.channel == "pos"), key=lambda o: o.at, default=None)
    return first.store_id if first else None


def _loyalty(world: World, path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = (
        "loyalty_id",
        "timestamp",
        "activity",
        "activity_id",
        "points",
        "balance",
        "tier",
        "store_id",
        "order_id",
        "email",
        "customer_id",
    )
    rows = sorted(
        (r for c in world.customers for r in loyalty_rows(c)),
        key=lambda r: (r["timestamp"], r["activity_id"]),
    )
    data = {name: [r.get(name) for r in rows] for name in columns}
    schema = pa.schema(
        [
            ("loyalty_id", pa.string()),
            ("timestamp", pa.timestamp("ms", tz="UTC")),
            ("activity", pa.string()),
            ("activity_id", pa.string()),
            ("points", pa.int64()),
            ("balance", pa.int64()),
            ("tier", pa.string()),
            ("store_id", pa.string()),
            ("order_id", pa.string()),
            ("email", pa.string()),
            ("customer_id", pa.string()),
        ]
    )
    pq.write_table(pa.table(data, schema=schema), path, compression="zstd")
    return len(rows)
