"""The timeline: every event of every identifier merged into the customer, newest first, one line each.

Pages are ``limit`` entries long; ``before`` takes the ``next_before`` cursor of the previous page (or an
ISO-8601 time) and continues with older entries. Each entry carries a short summary for a person
("Order Completed 149.00 GBP (pos)"), formatted from the page of entries only.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from touchpoints.profiles.events import CUSTOMER_EVENTS, CustomerEvents
from touchpoints.store.backend import Backend
from touchpoints.store.export import ISO_TIME as _ISO

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class BadCursor(ValueError):
    """A ``before`` that is neither a timeline cursor nor an ISO-8601 time."""


@dataclass(frozen=True)
class Cursor:
    """A position in a timeline: entries strictly older than (time, message_id) come next."""

    time: datetime
    message_id: str

    def encode(self) -> str:
        raw = f"{self.time.isoformat()}|{self.message_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            # A plain time: everything strictly before it (no message id sorts below "").
            return cls(_aware(datetime.fromisoformat(text.replace("Z", "+00:00"))), "")
        except ValueError:
            pass
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            time, sep, message_id = raw.partition("|")
            if sep:
                return cls(_aware(datetime.fromisoformat(time)), message_id)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
        raise BadCursor(
            f"before={text[:80]!r} is neither a timeline cursor (next_before of a page) nor an ISO-8601 time "
            "such as 2026-11-01T12:00:00Z"
        )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_timeline(
    db: Backend, events: CustomerEvents, limit: int = DEFAULT_LIMIT, before: str | None = None
) -> dict[str, Any]:
    """``{"entries": [...], "next_before": cursor or None}``: up to ``limit`` entries older than ``before``."""
    limit = max(0, min(limit, MAX_LIMIT))
    cursor = Cursor.decode(before) if before else None
    rows = db.execute(
        f"""
        WITH ev AS ({CUSTOMER_EVENTS})
        SELECT timestamp, {_ISO.format("timestamp")}, channel, type, coalesce(event, name), source, message_id,
               properties::VARCHAR, traits::VARCHAR, context -> '$.page' ->> '$.path', previous_id, group_id,
               user_id, anonymous_id
        FROM ev
        WHERE $2::TIMESTAMPTZ IS NULL OR timestamp < $2::TIMESTAMPTZ
              OR (timestamp = $2::TIMESTAMPTZ AND message_id < $3)
        ORDER BY timestamp DESC, message_id DESC
        LIMIT $4
        """,
        [
            events.message_ids,
            cursor.time if cursor else None,
            cursor.message_id if cursor else None,
            limit + 1,
        ],
    )
    entries = []
    for row in rows[:limit]:
        _, at, channel, kind, name, source, message_id, props, traits, path, previous, group, user, anon = row
        properties = json.loads(props) if props else {}
        entry = {
            "at": at,
            "channel": channel,
            "type": kind,
            "event": name,
            "source": source,
            "message_id": message_id,
            "user_id": user,
            "anonymous_id": anon,
            "summary": summarise(
                kind, name, channel, properties, json.loads(traits) if traits else {}, path, previous, group
            ),
            "properties": properties,
        }
        entries.append(entry)
    more = len(rows) > limit and limit > 0
    next_before = Cursor(rows[limit - 1][0], rows[limit - 1][6]).encode() if more else None
    return {"entries": entries, "next_before": next_before}


def _money(properties: dict[str, Any]) -> str:
    amount = properties.get("total", properties.get("revenue"))
    if not isinstance(amount, int | float | str):
        return ""
    try:
        text = f"{abs(float(amount)):.2f}"
    except ValueError:
        return ""
    currency = properties.get("currency")
    return f" {text} {currency}" if currency else f" {text}"


def _first(properties: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = properties.get(name)
        if value not in (None, ""):
            return str(value)[:80]
    return None


def summarise(
    kind: str,
    name: str | None,
    channel: str,
    properties: dict[str, Any],
    traits: dict[str, Any],
    path: str | None = None,
    previous_id: str | None = None,
    group_id: str | None = None,
) -> str:
    """One line a person reads: what happened, its key figures, and the channel in brackets."""
    where = f" ({channel})"
    if kind == "identify":
        keys = ", ".join(sorted(traits)[:6]) + (", ..." if len(traits) > 6 else "")
        return f"Identified{': ' + keys if keys else ''}{where}"
    if kind == "page":
        page = name or path or _first(properties, "path", "url")
        return f"Viewed page{' ' + page if page else ''}{where}"
    if kind == "screen":
        return f"Viewed screen{' ' + name if name else ''}{where}"
    if kind == "alias":
        return f"Alias: {previous_id} is the same person{where}"
    if kind == "group":
        return f"Joined group {group_id}{where}"
    event = name or "track"
    if event in ("Order Completed", "Order Refunded", "Checkout Started"):
        items = properties.get("products")
        count = f", {len(items)} item{'s' if len(items) != 1 else ''}" if isinstance(items, list) else ""
        order = f" #{properties['order_id']}" if properties.get("order_id") else ""
        return f"{event}{_money(properties)}{order}{count}{where}"
    if event.startswith("Ticket "):
        subject = _first(properties, "subject")
        ticket = f" {properties.get('ticket_id')}" if properties.get("ticket_id") else ""
        return f"{event}{ticket}{': ' + subject if subject else ''}{where}"
    if event == "Survey Responded":
        labels = (("nps", "NPS"), ("csat", "CSAT"), ("ces", "CES"))
        scores = [f"{label} {properties[key]}" for key, label in labels if properties.get(key) is not None]
        comment = _first(properties, "comment")
        detail = ", ".join(scores) + (f' "{comment}"' if comment else "")
        return f"{event}{': ' + detail if detail else ''}{where}"
    if event == "Product Reviewed":
        product = _first(properties, "product_id", "title")
        return f"{event}: {properties.get('rating')}/5{' ' + product if product else ''}{where}"
    about = _first(
        properties,
        "name",
        "product_id",
        "query",
        "email_subject",
        "campaign_name",
        "link_url",
        "tier",
        "points",
        "platform",
        "store_id",
    )
    return f"{event}{': ' + about if about else ''}{where}"
