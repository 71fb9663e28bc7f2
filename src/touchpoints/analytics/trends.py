"""Trends: how many events, and how many customers did them, per day, week or month.

Periods are calendar days, weeks (from Monday) or months in the analysis' time zone (``periods``). Events
count whoever did them; customers are counted after identity resolution (an anonymous visitor's events
before they signed in belong to the customer they became), so a customer is counted once per period and
group whatever device they used, and events without a customer (no analytics consent) count as events
only. A breakdown (``by``) splits each period by the event's name (``event``), a column (``channel``,
``utm_campaign``, ...) or a property; a missing value is the group ``(none)``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import ibis.expr.types as ir

from touchpoints.analytics import periods
from touchpoints.analytics.common import AnalysisError, Scope, breakdown, check_period
from touchpoints.analytics.engine import Engine

NONE = "(none)"
MAX_CELLS = 100_000  # periods x groups in one answer


def trends_table(
    engine: Engine,
    events: list[str] | None = None,
    interval: str = "day",
    by: str | None = None,
    scope: Scope | None = None,
) -> ir.Table:
    """One row per period and group that has events: ``period`` (its first date), ``group`` (NULL when
    the value is missing; empty without ``by``), ``events`` and ``customers``."""
    _check(events, interval)
    t = (scope or Scope()).apply(engine, engine.events())
    if events:
        t = t.filter(t.event.isin(list(dict.fromkeys(events))))
    t = t.mutate(period=periods.period_start(engine, t.timestamp, interval), group=breakdown(engine, t, by))
    # customers counted by their number (``customer_no``): the same customers, faster to count than the text id
    return t.group_by(["period", "group"]).agg(events=t.count(), customers=t.customer_no.nunique())


def trends(
    engine: Engine,
    events: list[str] | None = None,
    interval: str = "day",
    by: str | None = None,
    scope: Scope | None = None,
) -> dict[str, Any]:
    """Events and customers per period as JSON: ``{"interval": "day", "timezone": "UTC", "series":
    [{"period": "2026-09-01", "group": None, "events": n, "customers": n}, ...]}``, sorted by period then
    group. Every period from the scope's start (else the first period with events) to its end (else the
    last period with events) is there, and every group in each: a period without events shows zeros.
    ``group`` is None without ``by``; with ``by="event"`` and ``events`` given, every event named is a
    group even if it never happened."""
    scope = scope or Scope()
    rows = engine.run(trends_table, events, interval, by, scope).to_pylist()
    found: dict[tuple[date, str | None], dict[str, int]] = {}
    for r in rows:
        group = (r["group"] if r["group"] is not None else NONE) if by else None
        found[(r["period"], group)] = {"events": r["events"], "customers": r["customers"]}
    groups: set[str | None] = {g for _, g in found} if by else {None}
    if by == "event" and events:
        groups |= set(events)
    first, last = periods.scope_dates(scope, engine.timezone)
    if found:
        first = first or min(p for p, _ in found)
        last = last or max(p for p, _ in found)
    series = []
    if first is not None and last is not None and first <= last:
        cells = len(groups) * len(periods.starts(first, last, interval))
        if cells > MAX_CELLS:
            raise AnalysisError(
                f"--by {by}: {len(groups):,} groups over the periods make {cells:,} rows (at most {MAX_CELLS:,}); "
                "break down by something with fewer values, or narrow --start/--end, --event or --interval"
            )
        for start in periods.starts(first, last, interval):
            for group in sorted(groups, key=lambda g: g or ""):
                counts = found.get((start, group), {"events": 0, "customers": 0})
                series.append({"period": start.isoformat(), "group": group, **counts})
    return {
        "interval": interval,
        "timezone": engine.timezone,
        "events": list(dict.fromkeys(events)) if events else None,
        "by": by,
        "scope": scope.about(),
        "engine": engine.name,
        "data": engine.about,
        "series": series,
    }


def _check(events: list[str] | None, interval: str) -> None:
    try:
        check_period(interval)
    except AnalysisError as exc:
        raise AnalysisError(str(exc).replace("--period", "--interval", 1)) from None
    if events is not None and any(not isinstance(e, str) or not e.strip() for e in events):
        raise AnalysisError(f"--events {events!r}: give event names, e.g. 'Order Completed,Product Viewed'")
