"""Exporting stored events: JSON Lines in the Segment shape (re-ingestible), CSV, or Parquet."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import msgspec
import pyarrow as pa

from touchpoints.store.backend import Backend

FORMATS = ("jsonl", "csv", "parquet")

_SEGMENT_NAMES = {
    "message_id": "messageId", "user_id": "userId", "anonymous_id": "anonymousId", "group_id": "groupId",
    "previous_id": "previousId", "received_at": "receivedAt", "original_timestamp": "originalTimestamp",
    "sent_at": "sentAt",
}  # fmt: skip
_JSON = ("context", "properties", "traits", "integrations", "extra")

_SELECT = """
SELECT message_id, type, source, channel, user_id, anonymous_id, group_id, previous_id, event, name,
       category, {timestamp} AS timestamp, {received_at} AS received_at, original_timestamp, sent_at,
       {flags} AS flags, context::VARCHAR AS context, properties::VARCHAR AS properties,
       traits::VARCHAR AS traits, integrations::VARCHAR AS integrations, extra::VARCHAR AS extra, ip
FROM events
WHERE (?::TIMESTAMPTZ IS NULL OR timestamp >= ?::TIMESTAMPTZ)
  AND (?::TIMESTAMPTZ IS NULL OR timestamp < ?::TIMESTAMPTZ)
ORDER BY events.timestamp, message_id
"""
# SQL writing a TIMESTAMPTZ as every Touchpoints output writes times: 2026-10-25T10:48:20.000000Z.
ISO_TIME = "strftime({}, '%Y-%m-%dT%H:%M:%S.%fZ')"


def _select(flags: str, native_times: bool = False) -> str:
    """Times as ISO-8601 text for text formats; as timestamps (UTC) for Parquet."""
    if native_times:
        return _SELECT.format(flags=flags, timestamp="events.timestamp", received_at="events.received_at")
    return _SELECT.format(
        flags=flags, timestamp=ISO_TIME.format("events.timestamp"), received_at=ISO_TIME.format("received_at")
    )


def _batches(
    db: Backend, since: datetime | None, until: datetime | None, sql: str
) -> Iterator[pa.RecordBatch]:
    yield from db.batches(sql, [since, since, until, until])


def export_events(
    db: Backend, out: IO[bytes], fmt: str, *, since: datetime | None = None, until: datetime | None = None
) -> int:
    """Writes every event (oldest first) to ``out``; returns how many."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    count = 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        writer: Any = None
        for batch in _batches(db, since, until, _select("flags", native_times=True)):
            if writer is None:
                writer = pq.ParquetWriter(out, batch.schema)
            writer.write_batch(batch)
            count += batch.num_rows
        if writer is None:  # no events: still a valid, empty file with the schema
            empty = db.arrow(_select("flags", native_times=True) + " LIMIT 0", [None] * 4)
            writer = pq.ParquetWriter(out, empty.schema)
        writer.close()
        return count
    if fmt == "csv":
        import io

        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer_csv: Any = None
        for batch in _batches(db, since, until, _select("to_json(flags)::VARCHAR")):
            rows = batch.to_pylist()
            if writer_csv is None:
                writer_csv = csv.DictWriter(text, fieldnames=batch.schema.names)
                writer_csv.writeheader()
            writer_csv.writerows(rows)
            count += len(rows)
        text.detach()
        return count
    encode = msgspec.json.Encoder().encode
    for batch in _batches(db, since, until, _select("flags")):
        for row in batch.to_pylist():
            record: dict[str, Any] = {}
            for key, value in row.items():
                if value is None or (key == "flags" and not value) or key == "ip":
                    continue  # the Segment shape has no top-level ip (context.ip is in the context)
                if key in _JSON:
                    if value == "{}":
                        continue
                    value = msgspec.Raw(value.encode())
                record[_SEGMENT_NAMES.get(key, key)] = value
            out.write(encode(record) + b"\n")
            count += 1
    return count
