"""The events of one customer: every event whose identifiers belong to the customer in the identity graph
(``event_customers``), whichever channel or source they came through.

A profile read pins them once (``CustomerEvents.of``), so every part of one profile sees the same events,
and the graph's view is computed once rather than once per query.
"""

from __future__ import annotations

from dataclasses import dataclass

from touchpoints.identity.lookup import customer_message_ids
from touchpoints.store.backend import Backend

# A CTE body selecting the customer's events (every column of ``events``); ``$1`` is their message ids.
CUSTOMER_EVENTS = "SELECT * FROM events WHERE message_id IN (SELECT unnest($1::VARCHAR[]))"


@dataclass(frozen=True)
class CustomerEvents:
    """One customer and the message ids of their events, bound as ``$1`` of ``CUSTOMER_EVENTS``."""

    customer_id: str
    message_ids: list[str]

    @classmethod
    def of(cls, db: Backend, customer_id: str) -> CustomerEvents:
        return cls(customer_id, customer_message_ids(db, customer_id))
