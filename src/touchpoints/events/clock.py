"""Event time: parsing ISO-8601 timestamps and correcting client clock skew.

When a client sends ``sentAt``, its clock may be wrong by the same amount in ``timestamp`` and ``sentAt``;
the server's ``receivedAt`` is trusted, so the event time is ``receivedAt - (sentAt - timestamp)``, as
Segment and RudderStack do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def parse_time(value: Any) -> tuple[datetime | None, bool]:
    """Returns ``(aware datetime, assumed_utc)``; ``(None, False)`` when ``value`` is not ISO-8601 text.

    A time without a zone is read as UTC (``assumed_utc`` is then True), as Segment does.
    """
    if not isinstance(value, str) or not 10 <= len(value) <= 64:
        return None, False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, False
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC), True
    try:
        return parsed.astimezone(UTC), False
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before the first representable instant
        return None, False


def correct_timestamp(
    timestamp: Any,
    sent_at: Any,
    received_at: datetime,
    future_tolerance: timedelta = timedelta(hours=23),
    *,
    sent_time: tuple[datetime | None, bool] | None = None,
) -> tuple[datetime, list[str]]:
    """Returns the event time to store and the flags that explain how it was obtained.

    Flags: ``timestamp_missing`` / ``timestamp_unparseable`` (``receivedAt`` used instead),
    ``sent_at_unparseable`` (no skew correction), ``timezone_assumed_utc``, ``timestamp_future`` (the
    stored time is more than ``future_tolerance`` after ``receivedAt``). ``sent_time``, when given, is
    ``parse_time(sent_at)`` done once for a whole batch.
    """
    flags: list[str] = []
    if timestamp is None:
        return received_at, ["timestamp_missing"]
    event_time, assumed = parse_time(timestamp)
    if event_time is None:
        return received_at, ["timestamp_unparseable"]
    if assumed:
        flags.append("timezone_assumed_utc")
    if sent_at is not None:
        sent, sent_assumed = sent_time if sent_time is not None else parse_time(sent_at)
        if sent is None:
            flags.append("sent_at_unparseable")
        else:
            if sent_assumed and not assumed:
                flags.append("timezone_assumed_utc")
            try:
                event_time = received_at - (sent - event_time)
            except OverflowError:
                flags.append("sent_at_unparseable")
    if event_time - received_at > future_tolerance:
        flags.append("timestamp_future")
    return event_time, flags
