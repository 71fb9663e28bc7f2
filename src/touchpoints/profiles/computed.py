"""Computed traits: what a customer's events add up to, computed in SQL at read time.

- ``first_seen``, ``last_seen``, ``events``, ``channels`` (events per channel, most used first);
- ``orders`` (Order Completed, one per order id and store), ``refunds`` (orders refunded: every Order
  Refunded of an order counts, one without an amount refunds the whole order, together never more than the
  order, as ``value refresh`` counts them), ``total_spend`` (orders less refunds) and
  ``average_order_value`` (orders before refunds, per order) in the customer's main ``currency`` (the one
  most of their orders are in; ``spend_by_currency`` has every currency), ``last_purchase``;
- ``favourite_category``: the product category with the most units across the customer's orders;
- ``open_tickets``: tickets whose latest Ticket event is not Ticket Resolved, with their ids;
- ``last_nps``: the latest survey answer's NPS score, with its group (promoter 9-10, passive 7-8,
  detractor 0-6).
"""

from __future__ import annotations

from typing import Any

from touchpoints.profiles.events import CUSTOMER_EVENTS, CustomerEvents
from touchpoints.store.backend import Backend
from touchpoints.store.export import ISO_TIME as _ISO

_LATEST = "timestamp DESC, received_at DESC, message_id DESC"


def _order_key(e: str) -> str:
    # Tills number receipts per store, so an order is its store's order id.
    return f"coalesce({e}.properties ->> '$.store_id', '') || '|' || coalesce({e}.properties ->> '$.order_id', {e}.message_id)"


def _amount(e: str) -> str:
    return f"TRY_CAST(coalesce({e}.properties ->> '$.total', {e}.properties ->> '$.revenue') AS DOUBLE)"


_ORDERS = f"""
orders AS (
    SELECT message_id, timestamp, channel, source, properties ->> '$.order_id' AS order_id,
           {_order_key("ev")} AS order_key, {_amount("ev")} AS amount,
           upper(properties ->> '$.currency') AS currency, properties -> '$.products' AS products
    FROM ev WHERE type = 'track' AND event = 'Order Completed'
    QUALIFY row_number() OVER (PARTITION BY order_key ORDER BY {_LATEST}) = 1
),
refunds AS (  -- per refunded order: every refund counts (one without an amount refunds the whole order),
               -- together never more than the order
    SELECT r.order_key,
           CASE WHEN any_value(o.amount) IS NULL THEN sum(abs(r.amount))
                WHEN bool_or(r.amount IS NULL) THEN any_value(o.amount)
                ELSE least(sum(abs(r.amount)), any_value(o.amount)) END AS amount,
           coalesce(max(r.currency), any_value(o.currency)) AS currency
    FROM (SELECT {_order_key("ev")} AS order_key, {_amount("ev")} AS amount,
                 upper(ev.properties ->> '$.currency') AS currency
          FROM ev WHERE ev.type = 'track' AND ev.event = 'Order Refunded') r
    LEFT JOIN orders o ON o.order_key = r.order_key
    GROUP BY r.order_key
)"""


def _activity(db: Backend, events: CustomerEvents) -> dict[str, Any]:
    first, last, count = db.execute(
        f"WITH ev AS ({CUSTOMER_EVENTS}) "
        f"SELECT {_ISO.format('min(timestamp)')}, {_ISO.format('max(timestamp)')}, count(*) FROM ev",
        [events.message_ids],
    )[0]
    channels = db.execute(
        f"WITH ev AS ({CUSTOMER_EVENTS}) "
        "SELECT channel, count(*) AS n FROM ev GROUP BY channel ORDER BY n DESC, channel",
        [events.message_ids],
    )
    return {
        "first_seen": first,
        "last_seen": last,
        "events": count,
        "channels": {channel: n for channel, n in channels},
    }


def _commerce(db: Backend, events: CustomerEvents) -> dict[str, Any]:
    rows = db.execute(
        f"""
        WITH ev AS ({CUSTOMER_EVENTS}), {_ORDERS},
        spend AS (
            SELECT currency, count(*) AS orders, sum(amount) AS gross, 0 AS refunds, 0.0 AS refunded
            FROM orders GROUP BY currency
            UNION ALL
            SELECT currency, 0, 0.0, count(*), sum(amount) FROM refunds GROUP BY currency
        )
        SELECT currency, sum(orders)::BIGINT AS orders, sum(refunds)::BIGINT AS refunds,
               round(coalesce(sum(gross), 0), 2) AS gross, round(coalesce(sum(refunded), 0), 2) AS refunded
        FROM spend GROUP BY currency ORDER BY orders DESC, gross DESC, currency NULLS LAST
        """,
        [events.message_ids],
    )
    by_currency = {
        (currency or "unknown"): {
            "orders": orders,
            "refunds": refunds,
            "gross": gross,
            "refunded": refunded,
            "net": round(gross - refunded, 2),
        }
        for currency, orders, refunds, gross, refunded in rows
    }
    main = rows[0] if rows else None
    last = db.execute(
        f"""
        WITH ev AS ({CUSTOMER_EVENTS}), {_ORDERS}
        SELECT {_ISO.format("timestamp")}, order_id, round(amount, 2), currency, channel, source, message_id
        FROM orders ORDER BY timestamp DESC, message_id DESC LIMIT 1
        """,
        [events.message_ids],
    )
    last_purchase = None
    if last:
        at, order_id, amount, currency, channel, source, message_id = last[0]
        last_purchase = {
            "at": at,
            "order_id": order_id,
            "total": amount,
            "currency": currency,
            "channel": channel,
            "source": source,
            "message_id": message_id,
        }
    return {
        "orders": sum(v["orders"] for v in by_currency.values()),
        "refunds": sum(v["refunds"] for v in by_currency.values()),
        "currency": main[0] if main else None,
        "total_spend": by_currency[main[0] or "unknown"]["net"] if main else 0.0,
        "average_order_value": (round(main[3] / main[1], 2) if main and main[1] else None),
        "spend_by_currency": by_currency,
        "last_purchase": last_purchase,
    }


def _favourite_category(db: Backend, events: CustomerEvents) -> str | None:
    rows = db.execute(
        f"""
        WITH ev AS ({CUSTOMER_EVENTS}), {_ORDERS},
        lines AS (
            SELECT o.order_key, p.value ->> '$.category' AS category,
                   coalesce(TRY_CAST(p.value ->> '$.quantity' AS DOUBLE), 1) AS quantity
            FROM orders o, json_each(o.products) p
            WHERE json_type(o.products) = 'ARRAY'
        )
        SELECT category FROM lines WHERE category IS NOT NULL AND category <> ''
        GROUP BY category HAVING sum(quantity) > 0
        ORDER BY sum(quantity) DESC, count(DISTINCT order_key) DESC, category LIMIT 1
        """,
        [events.message_ids],
    )
    return str(rows[0][0]) if rows else None


def _support(db: Backend, events: CustomerEvents) -> dict[str, Any]:
    rows = db.execute(
        f"""
        WITH ev AS ({CUSTOMER_EVENTS})
        SELECT properties ->> '$.ticket_id' AS ticket_id,
               arg_max(properties ->> '$.subject', timestamp) FILTER (properties ->> '$.subject' IS NOT NULL),
               {_ISO.format("min(timestamp)")}
        FROM ev
        WHERE type = 'track' AND event IN ('Ticket Opened', 'Ticket Updated', 'Ticket Resolved')
              AND properties ->> '$.ticket_id' IS NOT NULL
        GROUP BY ticket_id
        HAVING arg_max(event, timestamp) <> 'Ticket Resolved'
        ORDER BY min(timestamp), ticket_id
        """,
        [events.message_ids],
    )
    return {
        "open_tickets": len(rows),
        "open_ticket_list": [
            {"ticket_id": ticket_id, "subject": subject, "opened_at": opened}
            for ticket_id, subject, opened in rows
        ],
    }


def _last_nps(db: Backend, events: CustomerEvents) -> dict[str, Any] | None:
    rows = db.execute(
        f"""
        WITH ev AS ({CUSTOMER_EVENTS})
        SELECT TRY_CAST(properties ->> '$.nps' AS INTEGER) AS score, {_ISO.format("timestamp")}, source,
               channel, properties ->> '$.survey_id', message_id
        FROM ev
        WHERE type = 'track' AND event = 'Survey Responded' AND score IS NOT NULL
        ORDER BY {_LATEST} LIMIT 1
        """,
        [events.message_ids],
    )
    if not rows:
        return None
    score, at, source, channel, survey_id, message_id = rows[0]
    group = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    return {
        "score": score,
        "group": group,
        "at": at,
        "source": source,
        "channel": channel,
        "survey_id": survey_id,
        "message_id": message_id,
    }


def read_computed(db: Backend, events: CustomerEvents) -> dict[str, Any]:
    """Every computed trait of the customer, as documented in this module."""
    return {
        **_activity(db, events),
        **_commerce(db, events),
        "favourite_category": _favourite_category(db, events),
        **_support(db, events),
        "last_nps": _last_nps(db, events),
    }
