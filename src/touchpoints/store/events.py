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
from typing import TYPE_CHECKING

import pyarrow as pa

from touchpoints.enrich.useragent import record_new_agents
from touchpoints.events.model import QuarantinedItem, StoredEvent
from touchpoints.store.backend import Backend

if TYPE_CHECKING:
    from touchpoints.identity.rules import IdentityRules
    from touchpoints.privacy.gate import Admission

_UTC_US = pa.timestamp("us", tz="UTC")

EVENT_COLUMNS = (
    "message_id", "type", "source", "channel", "user_id", "anonymous_id", "group_id", "previous_id",
    "event", "name", "category", "timestamp", "received_at", "original_timestamp", "sent_at", "flags",
    "context", "properties", "traits", "integrations", "extra", "ip",
)  # fmt: skip
_JSON_COLUMNS = ("context", "properties", "traits", "integrations", "extra")
_TIME_COLUMNS = ("timestamp", "received_at")


@dataclass
class AppendResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    suppressed: int = 0  # carried a suppressed identifier: not stored
    anonymised: int = 0  # stored without identifiers: no analytics consent
    dropped: int = 0  # not stored: no analytics consent, and the home drops such events

    def add(self, other: AppendResult) -> None:
        self.received += other.received
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.suppressed += other.suppressed
        self.anonymised += other.anonymised
        self.dropped += other.dropped


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


def _stitch(db: Backend, relation: str, rules: IdentityRules | None) -> None:
    """Every stored event joins the identity graph in the transaction that stores it."""
    from touchpoints.identity.evidence import stitch_events  # identity reads the store; not the reverse

    stitch_events(db, relation, rules)


def _admit(db: Backend, relation: str) -> Admission:
    """Every write of events passes the privacy gate of the store's home: suppressed identifiers are
    refused, consent statements recorded, events without analytics consent anonymised or dropped."""
    from touchpoints.privacy.gate import Gate

    return Gate.for_store(db).admit(db, relation)


def quarantine_mark(db: Backend) -> int | None:
    """Where the quarantine stands before an insert, when anyone is suppressed (else None: nothing to do)."""
    from touchpoints.privacy.gate import Gate

    if not Gate.for_store(db).hashes():
        return None
    return int(db.execute("SELECT coalesce(max(seq), 0) FROM quarantine")[0][0])


def sweep_quarantine(db: Backend, mark: int | None) -> int:
    """Quarantined items inserted since ``mark`` that name a suppressed identifier are not kept: a bad
    row or event of an erased person is refused like a good one."""
    if mark is None:
        return 0
    from touchpoints.privacy.gate import Gate

    return Gate.for_store(db).sweep_quarantine(db, f"seq > {int(mark)}")


def _insert_new_events(
    db: Backend, incoming: str, received: int, repeats: bool | None = None, rules: IdentityRules | None = None
) -> AppendResult:
    """Inserts the rows of ``incoming`` (a table, or a parenthesised query, with the event columns and
    ``_seq``) whose messageId is new, and stitches them into the identity graph. The primary key of
    ``message_ids`` decides, by index lookups, so the cost does not grow with the size of the dedup window.
    ``repeats``: whether a messageId occurs twice in ``incoming`` (computed when not given)."""
    fresh = db.arrow(
        f"INSERT INTO message_ids SELECT message_id, min(received_at) FROM {incoming} "
        "GROUP BY message_id ON CONFLICT DO NOTHING RETURNING message_id"
    )
    result = AppendResult(received=received, stored=fresh.num_rows, duplicates=received - fresh.num_rows)
    if fresh.num_rows:
        # Within one call the first occurrence of a messageId wins; the window is only paid for when the
        # call has repeats (SDK retries that arrived together).
        if repeats is None:
            repeats = db.execute(f"SELECT count(*) > count(DISTINCT message_id) FROM {incoming}")[0][0]
        first_only = (
            " QUALIFY row_number() OVER (PARTITION BY i.message_id ORDER BY i._seq) = 1" if repeats else ""
        )
        db.register("_tp_fresh", fresh)
        try:
            admitted = _admit(
                db,
                f"(SELECT i.* FROM {incoming} i SEMI JOIN _tp_fresh f ON i.message_id = f.message_id{first_only})",
            )
            db.execute(
                f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT {_SELECT_EVENTS} FROM {admitted.relation} i"
            )
            _stitch(db, admitted.relation, rules)
            # Only what was stored: refused events leave nothing, not even their browser's name.
            record_new_agents(db, f"SELECT context::JSON->>'$.userAgent' FROM {admitted.relation}")
        finally:
            db.unregister("_tp_fresh")
            db.execute("DROP TABLE IF EXISTS _tp_admitted")
        result.stored -= admitted.refused
        result.suppressed, result.anonymised, result.dropped = (
            admitted.suppressed, admitted.anonymised, admitted.dropped)  # fmt: skip
    return result


def claim_message_ids(db: Backend, ids_table: str) -> int:
    """Records the messageIds of ``ids_table`` (one column, ``message_id``, distinct) as seen, and keeps in
    it only those not seen before; returns how many that is. For writers that build their events after
    knowing which are new (the importers); call inside a transaction, before ``insert_events``."""
    fresh = db.arrow(
        f"INSERT INTO message_ids SELECT message_id, now() FROM {ids_table} ON CONFLICT DO NOTHING "
        "RETURNING message_id"
    )
    if fresh.num_rows < db.execute(f"SELECT count(*) FROM {ids_table}")[0][0]:
        db.register("_tp_fresh", fresh)
        try:
            db.execute(f"DELETE FROM {ids_table} WHERE message_id NOT IN (SELECT message_id FROM _tp_fresh)")
        finally:
            db.unregister("_tp_fresh")
    return int(fresh.num_rows)


def insert_events(db: Backend, select: str, ids_table: str, rules: IdentityRules | None = None) -> Admission:
    """Inserts the rows of ``select`` (the event columns, by name) whose ids were claimed in ``ids_table``,
    through the privacy gate, and stitches them into the identity graph in time order. Returns what the
    gate let in (``refused``: how many were not stored)."""
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE _tp_inserting AS SELECT {', '.join(EVENT_COLUMNS)}, "
        f"row_number() OVER (ORDER BY timestamp, message_id) AS _seq FROM ({select})"
    )
    try:
        admitted = _admit(db, "_tp_inserting")
        db.execute(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT {', '.join(EVENT_COLUMNS)} "
            f"FROM {admitted.relation} ORDER BY _seq"
        )
        _stitch(db, admitted.relation, rules)
        record_new_agents(db, f"SELECT context::JSON->>'$.userAgent' FROM {admitted.relation}")
    finally:
        db.execute("DROP TABLE IF EXISTS _tp_inserting")
        db.execute("DROP TABLE IF EXISTS _tp_admitted")
    return admitted


def append_events(
    db: Backend, events: Sequence[StoredEvent], rules: IdentityRules | None = None
) -> AppendResult:
    """Stores the events whose messageId is new; call inside a transaction."""
    if not events:
        return AppendResult()
    db.register("_tp_incoming", events_to_arrow(events))
    try:
        return _insert_new_events(db, "_tp_incoming", len(events), rules=rules)
    finally:
        db.unregister("_tp_incoming")


class UnreadableSpool(ValueError):
    """The spool file has a record the fast path cannot read; the caller falls back to reading it line
    by line, which quarantines the bad record instead of failing the rest."""


# Every field of both spool record kinds (``_k`` tells them apart), as the engine is to read them.
SPOOL_COLUMNS: dict[str, str] = {
    "_k": "VARCHAR",
    **{c: "VARCHAR" for c in EVENT_COLUMNS},
    "timestamp": "TIMESTAMPTZ",
    "received_at": "TIMESTAMPTZ",
    "flags": "VARCHAR[]",
    **{c: "JSON" for c in _JSON_COLUMNS},
    "quarantine_id": "VARCHAR",
    "origin": "VARCHAR",
    "reason": "VARCHAR",
    "payload": "VARCHAR",
    "envelope": "JSON",
}


def append_spool_file(db: Backend, path: str, rules: IdentityRules | None = None) -> AppendResult:
    """Stores the records of a newline-delimited spool file, read by the engine itself (no Python per
    record); call inside a transaction. Raises ``UnreadableSpool`` if any line is not a valid record.
    Every statement has a fixed cost, so there are as few as the work allows."""
    try:
        db.execute(
            "CREATE OR REPLACE TEMP TABLE _tp_staged AS SELECT * FROM read_json(?, format = 'newline_delimited', "
            "columns = ?, maximum_object_size = 16777216)",
            [path, SPOOL_COLUMNS],
        )
    except Exception as exc:  # the engine's parse errors differ by version; any of them means "unreadable"
        raise UnreadableSpool(f"{path}: {exc}") from exc
    try:
        events, quarantined, strange, repeats = db.execute(
            "SELECT count(*) FILTER (WHERE _k = 'e'), count(*) FILTER (WHERE _k = 'q'), "
            "count(*) FILTER (WHERE _k IS NULL OR _k NOT IN ('e', 'q')), "
            "count(message_id) FILTER (WHERE _k = 'e') > count(DISTINCT message_id) FILTER (WHERE _k = 'e') "
            "FROM _tp_staged"
        )[0]
        if strange:
            raise UnreadableSpool(f"{path}: {strange} records of no known kind")
        # rowid follows the file's order in a freshly created table: the first occurrence wins.
        incoming = "(SELECT *, rowid AS _seq FROM _tp_staged WHERE _k = 'e')"
        result = _insert_new_events(db, incoming, events, repeats, rules) if events else AppendResult()
        if quarantined:
            mark = quarantine_mark(db)
            db.execute(
                "INSERT INTO quarantine (quarantine_id, source, origin, received_at, reason, payload, envelope) "
                "SELECT quarantine_id, source, origin, received_at, reason, payload, coalesce(envelope, '{}') "
                "FROM _tp_staged WHERE _k = 'q' ORDER BY rowid"
            )
            result.quarantined = quarantined - sweep_quarantine(db, mark)
        return result
    finally:
        db.execute("DROP TABLE IF EXISTS _tp_staged")


def append_quarantine(db: Backend, items: Sequence[QuarantinedItem]) -> int:
    if not items:
        return 0
    db.register("_tp_quarantine", quarantine_to_arrow(items))
    mark = quarantine_mark(db)
    try:
        db.execute(
            "INSERT INTO quarantine (quarantine_id, source, origin, received_at, reason, payload, envelope) "
            "SELECT quarantine_id, source, origin, received_at, reason, payload, envelope::JSON "
            "FROM _tp_quarantine"
        )
    finally:
        db.unregister("_tp_quarantine")
    return len(items) - sweep_quarantine(db, mark)


def append_records(
    db: Backend, records: Sequence[StoredEvent | QuarantinedItem], rules: IdentityRules | None = None
) -> AppendResult:
    """Stores events (deduplicated) and quarantined items; call inside a transaction."""
    events = [r for r in records if isinstance(r, StoredEvent)]
    items = [r for r in records if isinstance(r, QuarantinedItem)]
    result = append_events(db, events, rules)
    result.quarantined = append_quarantine(db, items)
    return result


def prune_message_ids(db: Backend, now: datetime, window: timedelta) -> int:
    """Forgets messageIds older than the dedup window; returns how many."""
    rows = db.execute("DELETE FROM message_ids WHERE received_at < ? RETURNING 1", [now - window])
    return len(rows)
