"""Calendar periods (day, week, month) in the analysis' time zone, the same on every engine.

A period is named by the date it starts on (``2026-09-01``); weeks start on Monday (ISO). Each period also
has a number that counts periods since 1970 (days, weeks or months), so the distance between two periods is
a subtraction: December 2025 to January 2026 is one month, whatever the year. The numbers are computed
from the period's first date with integer arithmetic, never with an engine's own "date difference" (DuckDB
and Spark count partial weeks and months differently).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import ibis.expr.types as ir

from touchpoints.analytics.common import AnalysisError, Scope, to_utc, zone
from touchpoints.analytics.engine import Engine

_TRUNC = {"day": "D", "week": "W", "month": "M"}
_EPOCH = date(1970, 1, 1)
_FIRST_MONDAY = 4  # 1970-01-05, the first Monday after the epoch, is day 4
MAX_PERIODS = 10_000  # about 27 years of days: a longer series is a mistaken interval


def period_start(engine: Engine, ts: ir.TimestampValue, period: str) -> ir.DateValue:
    """The first date of the period (in the engine's time zone) a UTC time falls in."""
    return engine.local(ts).truncate(_TRUNC[period]).date()


def period_number(start: ir.DateValue, period: str) -> ir.IntegerValue:
    """The period's number since 1970, from its first date (``period_start``)."""
    if period == "month":
        return start.year().cast("int64") * 12 + start.month().cast("int64") - 1
    days = start.epoch_days().cast("int64")
    return days if period == "day" else (days - _FIRST_MONDAY) // 7


def first_day(d: date, period: str) -> date:
    """The first date of the period ``d`` falls in (plain Python, for labels and gaps)."""
    if period == "month":
        return d.replace(day=1)
    if period == "week":
        return d - timedelta(days=d.weekday())
    return d


def number(d: date, period: str) -> int:
    """``period_number`` in plain Python."""
    d = first_day(d, period)
    if period == "month":
        return d.year * 12 + d.month - 1
    days = (d - _EPOCH).days
    return days if period == "day" else (days - _FIRST_MONDAY) // 7


def from_number(n: int, period: str) -> date:
    """The first date of period number ``n``."""
    if period == "month":
        return date(n // 12, n % 12 + 1, 1)
    if period == "week":
        return _EPOCH + timedelta(days=n * 7 + _FIRST_MONDAY)
    return _EPOCH + timedelta(days=n)


def starts(first: date, last: date, period: str, name: str = "--interval") -> list[date]:
    """Every period's first date from ``first``'s period to ``last``'s, both included."""
    a, b = number(first, period), number(last, period)
    if b - a >= MAX_PERIODS:
        raise AnalysisError(
            f"{name} {period}: {b - a + 1} periods from {first} to {last}; "
            f"narrow --start/--end or use a longer {name.lstrip('-')}"
        )
    return [from_number(n, period) for n in range(a, b + 1)]


def scope_dates(scope: Scope, tz: str) -> tuple[date | None, date | None]:
    """The local dates of the scope's first and last instants (its ``end`` is exclusive), when given."""
    first = to_utc(scope.start, tz, "--start")
    stop = to_utc(scope.end, tz, "--end")
    return (
        _local_date(first, tz) if first is not None else None,
        _local_date(stop - timedelta(microseconds=1), tz) if stop is not None else None,
    )


def _local_date(utc: datetime, tz: str) -> date:
    return utc.replace(tzinfo=UTC).astimezone(zone(tz)).date()
