"""The product categories to feature for a customer: theirs when they allow personalisation, everyone's
otherwise.

Personal: the categories of the products the customer bought (3 points a unit) and viewed (1 point a
view) over the last ``days``. Non-personal: the same score over every customer's events in that window,
so a visitor without consent (or unknown) still gets a sensible answer.
"""

from __future__ import annotations

from typing import Any

from touchpoints.identity.lookup import customer_message_ids
from touchpoints.privacy.gate import Gate
from touchpoints.store.backend import Backend

WINDOW_DAYS = 90

_SCORES = """
WITH ev AS (SELECT * FROM events WHERE timestamp >= now() - to_days(CAST(? AS INTEGER)) {only}),
viewed AS (
    SELECT properties ->> '$.category' AS category, 1.0 AS points FROM ev
    WHERE type = 'track' AND event = 'Product Viewed'
),
bought AS (
    SELECT p.value ->> '$.category' AS category,
           3.0 * coalesce(TRY_CAST(p.value ->> '$.quantity' AS DOUBLE), 1) AS points
    FROM ev, json_each(ev.properties -> '$.products') p
    WHERE ev.type = 'track' AND ev.event = 'Order Completed' AND json_type(ev.properties -> '$.products') = 'ARRAY'
)
SELECT category, sum(points) AS score FROM (SELECT * FROM viewed UNION ALL SELECT * FROM bought)
WHERE category IS NOT NULL AND category <> ''
GROUP BY category HAVING sum(points) > 0 ORDER BY score DESC, category LIMIT ?
"""


def popular(db: Backend, limit: int = 5, days: int = WINDOW_DAYS) -> list[dict[str, Any]]:
    rows = db.execute(_SCORES.format(only=""), [days, limit])
    return [{"category": c, "score": round(s, 2)} for c, s in rows]


def featured(db: Backend, gate: Gate, customer_id: str | None, limit: int = 5,
             days: int = WINDOW_DAYS) -> dict[str, Any]:  # fmt: skip
    """``{personal, reason, categories: [{category, score}]}``: the customer's categories when the gate
    allows personalisation and they have some, else the popular ones."""
    if customer_id is None:
        return {"personal": False, "reason": "unknown visitor", "categories": popular(db, limit, days)}
    if not gate.allows(db, customer_id, "personalisation"):
        return {
            "personal": False,
            "reason": "no personalisation consent",
            "categories": popular(db, limit, days),
        }
    ids = customer_message_ids(db, customer_id)
    rows = db.execute(
        _SCORES.format(only="AND message_id IN (SELECT unnest(?::VARCHAR[]))"), [days, ids, limit]
    )
    if not rows:
        return {"personal": False, "reason": "no history yet", "categories": popular(db, limit, days)}
    return {
        "personal": True,
        "reason": None,
        "categories": [{"category": c, "score": round(s, 2)} for c, s in rows],
    }
