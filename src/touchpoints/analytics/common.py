"""What every analysis shares: durations, the time range, the filter on channels, breakdowns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import ibis
import ibis.expr.types as ir

from touchpoints.analytics.engine import Engine

MAX_DURATION_DAYS = 36_500
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
PERIODS = ("day", "week", "month")
_TRUNC = {"day": "D", "week": "W", "month": "M"}
# Columns a breakdown may name directly; anything else is a property of the event (properties.<name>).
BREAKDOWN_COLUMNS = (
    "event", "channel", "source", "type", "referrer_class", "referrer_host", "utm_source", "utm_medium",
    "utm_campaign", "browser", "os", "device_type", "page_path",
)  # fmt: skip


class AnalysisError(ValueError):
    """A parameter of an analysis is wrong; the message says which and what to give instead."""


def parse_duration(text: str, name: str = "--within") -> int:
    """``7d``, ``24h``, ``30m``, ``90s``, ``2w`` (or a number of seconds) as seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text))
    if not m:
        raise AnalysisError(f"{name} {text!r}: give a duration such as 30m, 24h, 7d or 2w")
    seconds = int(float(m.group(1)) * _UNITS[m.group(2) or "s"])
    if seconds <= 0:
        raise AnalysisError(f"{name} {text!r}: the duration must be above zero")
    if seconds > MAX_DURATION_DAYS * 86400:
        raise AnalysisError(f"{name} {text!r}: at most {MAX_DURATION_DAYS} days ({MAX_DURATION_DAYS}d)")
    return seconds


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise AnalysisError(f"--period {period!r}: use one of {', '.join(PERIODS)}")
    return period


def zone(name: str) -> ZoneInfo:
    # the system's aliases (posix/..., right/... with leap seconds, localtime) are not names every engine knows
    if name.startswith(("posix/", "right/")) or name in ("localtime", "posixrules", "Factory"):
        raise AnalysisError(f"--timezone {name!r}: give an IANA time zone such as UTC or Europe/London")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AnalysisError(
            f"--timezone {name!r}: give an IANA time zone such as UTC or Europe/London"
        ) from exc


def to_utc(value: str | date | datetime | None, tz: str, name: str) -> datetime | None:
    """A date (midnight in ``tz``) or a time (``tz`` if it has no offset) as naive UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise AnalysisError(
                f"{name} {value!r}: give a date or time such as 2026-09-01 or 2026-09-01T08:00"
            ) from exc
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz))
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError as exc:
        raise AnalysisError(
            f"{name} {value.isoformat()}: out of range; give a date between years 1 and 9998"
        ) from exc


@dataclass(frozen=True)
class Scope:
    """Which events an analysis looks at: a time range (``start`` inclusive, ``end`` exclusive; dates are
    midnight in the analysis' time zone) and channels."""

    start: str | date | datetime | None = None
    end: str | date | datetime | None = None
    channels: tuple[str, ...] = ()

    def bounds(self, engine: Engine) -> tuple[datetime | None, datetime | None]:
        """The time range as naive UTC (``None``: open on that side)."""
        start = to_utc(self.start, engine.timezone, "--start")
        end = to_utc(self.end, engine.timezone, "--end")
        if start is not None and end is not None and end <= start:
            raise AnalysisError(f"--end {self.end} is not after --start {self.start}")
        return start, end

    def apply(self, engine: Engine, t: ir.Table, *also: ir.BooleanValue) -> ir.Table:
        """``t`` in the scope, and where ``also`` holds: one filter, so that each step of a funnel reads
        its own events instead of all the scope's events being held once for every step."""
        start, end = self.bounds(engine)
        conditions = list(also)
        if start is not None:
            conditions.append(t.timestamp >= ibis.literal(start, type="timestamp"))
        if end is not None:
            conditions.append(t.timestamp < ibis.literal(end, type="timestamp"))
        if self.channels:
            conditions.append(t.channel.isin(list(self.channels)))
        return t.filter(*conditions) if conditions else t

    def about(self) -> dict[str, object]:
        return {
            "start": str(self.start) if self.start else None,
            "end": str(self.end) if self.end else None,
            "channels": list(self.channels),
        }


def breakdown(engine: Engine, t: ir.Table, by: str | None) -> ir.StringValue:
    """The value to break results down by: a column (channel, utm_campaign, ...) or ``properties.x`` / a
    property's name."""
    if not by:
        return ibis.literal("", type="string")
    if by in BREAKDOWN_COLUMNS:
        return t[by].cast("string")
    key = by.removeprefix("properties.")
    try:
        return engine.json_get(t.properties, key)
    except ValueError as exc:
        raise AnalysisError(f"--by {by!r}: {exc}") from exc


def seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since 1970 (fractions dropped the same way on every engine)."""
    return ts.epoch_seconds().cast("float64").floor().cast("int64")


def clean(value: object) -> object:
    """A value for JSON: floats rounded to 6 places, NaN as None."""
    if isinstance(value, float):
        return None if value != value else round(value, 6)
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    return value
