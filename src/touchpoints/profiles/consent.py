"""The customer's consent state, as their events last stated it.

Read from ``context.consent.categoryPreferences`` (Segment's consent field, which ``tp.js`` sends too):
per purpose, the latest boolean seen, with when and where. A purpose never stated is not listed, and a
customer with no statement at all is ``unknown``. The consent ledger (issue 5) will replace this one
function; callers only use ``consent_state``.
"""

from __future__ import annotations

from typing import Any

from touchpoints.profiles.events import CUSTOMER_EVENTS, CustomerEvents
from touchpoints.store.backend import Backend
from touchpoints.store.export import ISO_TIME as _ISO


def consent_state(db: Backend, events: CustomerEvents) -> dict[str, Any]:
    """``{"state": "known"|"unknown", "purposes": {purpose: {granted, at, source, channel, message_id}}}``."""
    rows = db.execute(
        f"""
        WITH ev AS ({CUSTOMER_EVENTS}),
        stated AS (
            SELECT p.key AS purpose, p.value::VARCHAR = 'true' AS granted, ev.timestamp, ev.received_at,
                   ev.source, ev.channel, ev.message_id
            FROM ev, json_each(ev.context -> '$.consent.categoryPreferences') p
            WHERE json_type(ev.context -> '$.consent.categoryPreferences') = 'OBJECT'
                  AND p.type = 'BOOLEAN'
        )
        SELECT purpose, granted, {_ISO.format("timestamp")}, source, channel, message_id FROM stated
        QUALIFY row_number() OVER (
            PARTITION BY purpose ORDER BY timestamp DESC, received_at DESC, message_id DESC) = 1
        ORDER BY purpose
        """,
        [events.message_ids],
    )
    purposes = {
        purpose: {
            "granted": granted,
            "at": at,
            "source": source,
            "channel": channel,
            "message_id": message_id,
        }
        for purpose, granted, at, source, channel, message_id in rows
    }
    return {"state": "known" if purposes else "unknown", "purposes": purposes}
