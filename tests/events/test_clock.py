"""Event time: clock-skew correction and the flags that explain a fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from touchpoints.events.clock import correct_timestamp, parse_time

RECEIVED = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
skews = st.timedeltas(min_value=timedelta(days=-3000), max_value=timedelta(days=3000))


def iso(moment: datetime) -> str:
    return moment.isoformat()


@given(timestamp=moments, sent_at=moments, received=moments)
def test_skew_correction_is_received_minus_sent_minus_timestamp(
    timestamp: datetime, sent_at: datetime, received: datetime
) -> None:
    corrected, flags = correct_timestamp(iso(timestamp), iso(sent_at), received)
    assert corrected == received - (sent_at - timestamp)
    assert "timestamp_missing" not in flags and "timestamp_unparseable" not in flags


@given(true_time=moments, client_skew=skews, delay=st.timedeltas(timedelta(0), timedelta(hours=2)))
def test_a_wrong_client_clock_does_not_move_the_event(
    true_time: datetime, client_skew: timedelta, delay: timedelta
) -> None:
    """A client whose clock is off by any amount still gets the true event time (up to transit delay)."""
    received = true_time + delay
    timestamp = true_time + client_skew
    sent_at = received + client_skew  # sent at the moment of receipt, on the client's wrong clock
    corrected, _ = correct_timestamp(iso(timestamp), iso(sent_at), received)
    assert corrected == true_time


def test_without_sent_at_the_timestamp_is_kept() -> None:
    corrected, flags = correct_timestamp("2026-11-20T08:00:00+01:00", None, RECEIVED)
    assert corrected == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert flags == []


def test_missing_timestamp_falls_back_to_received_at_and_is_flagged() -> None:
    assert correct_timestamp(None, None, RECEIVED) == (RECEIVED, ["timestamp_missing"])


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.lists(st.integers(), max_size=3)))
def test_unparseable_timestamp_falls_back_to_received_at_and_is_flagged(value: object) -> None:
    if isinstance(value, str) and parse_time(value)[0] is not None:
        return
    corrected, flags = correct_timestamp(value, "2026-11-23T12:00:00Z", RECEIVED)
    assert corrected == RECEIVED
    assert flags == ["timestamp_unparseable"]


def test_unparseable_sent_at_skips_correction_and_is_flagged() -> None:
    corrected, flags = correct_timestamp("2026-11-23T10:00:00Z", "yesterday", RECEIVED)
    assert corrected == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert flags == ["sent_at_unparseable"]


def test_more_than_23_hours_in_the_future_is_flagged() -> None:
    soon = RECEIVED + timedelta(hours=22)
    late = RECEIVED + timedelta(hours=24)
    assert "timestamp_future" not in correct_timestamp(iso(soon), None, RECEIVED)[1]
    corrected, flags = correct_timestamp(iso(late), None, RECEIVED)
    assert corrected == late
    assert "timestamp_future" in flags


def test_a_time_without_zone_is_read_as_utc_and_flagged() -> None:
    corrected, flags = correct_timestamp("2026-11-23T09:30:00", None, RECEIVED)
    assert corrected == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert flags == ["timezone_assumed_utc"]
