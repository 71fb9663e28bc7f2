"""The customer's consent as the profile shows it: per purpose, their latest statement in the consent
ledger (``privacy.consent``), from any of their identifiers and any way it was given (events'
``context.consent``, the admin API, the CLI, imports). A purpose never stated is not listed, and a customer
with no statement at all is ``unknown``. What a purpose allows is the privacy gate's to say
(``privacy.gate``), with the home's opt-in or opt-out default for purposes never stated.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from touchpoints.privacy.consent import customer_consent
from touchpoints.profiles.events import CustomerEvents
from touchpoints.store.backend import Backend


def consent_state(db: Backend, events: CustomerEvents) -> dict[str, Any]:
    """``{"state": "known"|"unknown", "purposes": {purpose: {granted, status, at, source, channel, via,
    message_id, evidence}}}``."""
    nodes = [
        r[0] for r in db.execute("SELECT node FROM identities WHERE customer_id = ?", [events.customer_id])
    ]
    purposes = {
        purpose: {
            "granted": s["status"] == "granted",
            "status": s["status"],
            "at": s["stated_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "source": s["source"],
            "channel": s["channel"],
            "via": s["via"],
            "message_id": s["evidence"].get("message_id"),
            "evidence": s["evidence"],
        }
        for purpose, s in customer_consent(db, nodes).items()
    }
    return {"state": "known" if purposes else "unknown", "purposes": purposes}
