"""Writing normalised events and quarantined items into the store, exactly once per messageId.

``append_records`` is the single door into the ``events`` and ``quarantine`` tables: the loader uses it
for the spool, quarantine replay uses it, and importers will. Deduplication: a messageId is stored only if
it was not seen within the dedup window (``message_ids`` has it as primary key); within one call the
first occurrence wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa

from touchpoints.events.model import QuarantinedItem, StoredEvent
from touchpoints.store.backend import Backend

_UTC_US = pa.timestamp("us", tz="UTC")

EVENT_COLUMNS = (
    "message_id", "type", "source", "channel", "user_id", "anonymous_id", "group_id", "previous_id",
    "event", "name", "category", "timestamp", "received_at", "original_timestamp", "sent_at", "flags",
    "context", "properties", "traits", "integrations", "extra",
)  # fmt: skip
_JSON_COLUMNS = ("context", "properties", "traits", "integrations", "extra")
_TIME_COLUMNS = ("timestamp", "received_at")


@dataclass
class AppendResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0

    def add(self, other: AppendResult) -> None:
        self.received += other.received
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined


def events_to_arrow(events: Sequence[StoredEvent]) -> pa.Table:
    """Column-wise conversion: one list comprehension per column, no per-row dicts."""
    arrays: dict[str, pa.Array] = {"_seq": pa.array(range(len(events)), pa.int64())}
    for column in EVENT_COLUMNS:
        if column in _JSON_COLUMNS:
            arrays[column] = pa.array([bytes(getattr(e, column)) for e in events], pa.binary()).cast(
                pa.string()
            )
        elif column in _TIME_COLUMNS:
            arrays[column] = pa.array([getattr(e, column) for e in events], _UTC_US)
        elif column == "flags":
            arrays[column] = pa.array([e.flags for e in events], pa.list_(pa.string()))
        else:
            arrays[column] = pa.array([getattr(e, column) for e in events], pa.string())
    return pa.table(arrays)


def quarantine_to_arrow(items: Sequence[QuarantinedItem]) -> pa.Table:
    return pa.table(
        {
            "quarantine_id": pa.array([q.quarantine_id for q in items], pa.string()),
            "source": pa.array([q.source for q in items], pa.string()),
            "origin": pa.array([q.origin for q in items], pa.string()),
            "received_at": pa.array([q.received_at for q in items], _UTC_US),
            "reason": pa.array([q.reason for q in items], pa.string()),
            "payload": pa.array([q.payload for q in items], pa.string()),
            "envelope": pa.array([bytes(q.envelope) for q in items], pa.binary()).cast(pa.string()),
        }
    )


_SELECT_EVENTS = ", ".join(f"i.{c}::JSON" if c in _JSON_COLUMNS else f"i.{c}" for c in EVENT_COLUMNS)


def append_events(db: Backend, events: Sequence[StoredEvent]) -> AppendResult:
    """Stores the events whose messageId is new; call inside a transaction."""
    result = AppendResult(received=len(events))
    if not events:
        return result
    db.register("_tp_incoming", events_to_arrow(events))
    try:
        rows = db.execute(
            "INSERT INTO message_ids SELECT message_id, min(received_at) FROM _tp_incoming "
            "GROUP BY message_id ON CONFLICT DO NOTHING RETURNING message_id"
        )
        fresh = pa.table({"message_id": pa.array([r[0] for r in rows], pa.string())})
        result.stored = fresh.num_rows
        result.duplicates = len(events) - fresh.num_rows
        if fresh.num_rows:
            db.register("_tp_fresh", fresh)
            try:
                db.execute(
                    f"INSERT INTO events SELECT {_SELECT_EVENTS} FROM _tp_incoming i "
                    "SEMI JOIN _tp_fresh f ON i.message_id = f.message_id "
                    "QUALIFY row_number() OVER (PARTITION BY i.message_id ORDER BY i._seq) = 1"
                )
            finally:
                db.unregister("_tp_fresh")
    finally:
        db.unregister("_tp_incoming")
    return result


def append_quarantine(db: Backend, items: Sequence[QuarantinedItem]) -> int:
    if not items:
        return 0
    db.register("_tp_quarantine", quarantine_to_arrow(items))
    try:
        db.execute(
            "INSERT INTO quarantine (quarantine_id, source, origin, received_at, reason, payload, envelope) "
            "SELECT quarantine_id, source, origin, received_at, reason, payload, envelope::JSON "
            "FROM _tp_quarantine"
        )
    finally:
        db.unregister("_tp_quarantine")
    return len(items)


def append_records(db: Backend, records: Sequence[StoredEvent | QuarantinedItem]) -> AppendResult:
    """Stores events (deduplicated) and quarantined items; call inside a transaction."""
    events = [r for r in records if isinstance(r, StoredEvent)]
    items = [r for r in records if isinstance(r, QuarantinedItem)]
    result = append_events(db, events)
    result.quarantined = append_quarantine(db, items)
    return result


def prune_message_ids(db: Backend, now: datetime, window: timedelta) -> int:
    """Forgets messageIds older than the dedup window; returns how many."""
    rows = db.execute("DELETE FROM message_ids WHERE received_at < ? RETURNING 1", [now - window])
    return len(rows)
