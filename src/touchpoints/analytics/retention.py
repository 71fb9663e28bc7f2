"""Retention cohorts: of the customers who first did X in a period, how many did Y 1, 2, 3 ... periods later.

A customer's cohort is the period (day, week from Monday, or month, in the analysis' time zone) of their
first ``cohort_event`` in the scope. They returned in period N (N >= 1) if they did ``return_event`` at least
once in the N-th calendar period after their cohort's: a purchase on 31 December and another on 1 January
is a return in month 1. Period 0, the cohort's own period, is the cohort event itself (100%) and is not
reported; a return event in it does not count. Events before the cohort event are ignored. Customers are
counted after identity resolution (anonymous events before a sign-in included); events without a customer
(no analytics consent) are not counted.

A cohort's list runs to the last period with events in the scope (periods not yet seen are left out, so
later cohorts have shorter lists), or to ``periods`` when that is shorter.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir

from touchpoints.analytics import periods as calendar
from touchpoints.analytics.common import AnalysisError, Scope, check_period, clean
from touchpoints.analytics.engine import Engine


def retention_table(
    engine: Engine,
    cohort_event: str,
    return_event: str,
    period: str = "month",
    scope: Scope | None = None,
    periods: int | None = None,
) -> ir.Table:
    """One row per cohort and offset with customers: ``cohort`` (the period's first date), ``offset``
    (0: the cohort's size; N: customers who returned N periods later), ``customers``, and ``last`` (the
    number of the last period with events in the scope, ``periods.period_number``)."""
    _check(cohort_event, return_event, period, periods)
    t = (scope or Scope()).apply(engine, engine.events())
    # the last period with events is the latest event's (a period's number grows with time): one value
    # converted, not a period number for every event in the scope
    latest = t.agg(_latest=t.timestamp.max())
    last = latest.select(
        last=calendar.period_number(calendar.period_start(engine, latest._latest, period), period)
    )
    # customers by their number (``customer_no``: the same customers, faster to group than the text id)
    t = t.filter(t.customer_no.notnull() & t.event.isin([cohort_event, return_event]))
    t = t.mutate(_start=calendar.period_start(engine, t.timestamp, period))
    # one row per customer and period (did the cohort event, did the return event): a much smaller table
    # than the events, so the cohort's window runs over it and a count of rows is a count of customers
    w = t.group_by(["customer_no", "_start"]).agg(
        is_c=(t.event == cohort_event).any(), is_r=(t.event == return_event).any()
    )
    w = w.mutate(_n=calendar.period_number(w._start, period))
    # each customer's cohort: the period of their first cohort event, on every one of their rows
    first = ibis.window(group_by=w.customer_no)
    w = w.mutate(
        _cohort=ibis.ifelse(w.is_c, w._n, ibis.null("int64")).min().over(first),
        cohort=ibis.ifelse(w.is_c, w._start, ibis.null("date")).min().over(first),
    )
    w = w.mutate(offset=w._n - w._cohort)
    # offset 0 from the cohort event (every member has one: the cohort's size), N >= 1 from return events
    kept = w.is_c & (w.offset == 0) | w.is_r & (w.offset >= 1)
    if periods is not None:
        kept = kept & (w.offset <= periods)
    w = w.filter(w._cohort.notnull() & kept)
    cohorts = w.group_by(["cohort", "offset"]).agg(customers=w.count())
    return cohorts.cross_join(last)


def retention(
    engine: Engine,
    cohort_event: str,
    return_event: str,
    period: str = "month",
    scope: Scope | None = None,
    periods: int | None = None,
) -> dict[str, Any]:
    """Retention as JSON: ``{"period": "month", "timezone": ..., "cohorts": [{"cohort": "2026-01-01",
    "customers": n, "returned": [n1, n2, ...], "share": [s1, s2, ...]}, ...], "overall": [{"offset": 1,
    "customers": n, "returned": n, "share": s}, ...]}``; item N-1 of ``returned`` is how many of the
    cohort's customers did the return event in period N after the cohort's, ``share`` that over
    ``customers``. ``overall`` pools every cohort that has reached period N."""
    scope = scope or Scope()
    rows = engine.run(retention_table, cohort_event, return_event, period, scope, periods).to_pylist()
    sizes: dict[date, int] = {}
    returned: dict[tuple[date, int], int] = {}
    last: int | None = None
    for r in rows:
        last = r["last"]
        if r["offset"] == 0:
            sizes[r["cohort"]] = r["customers"]
        else:
            returned[(r["cohort"], r["offset"])] = r["customers"]
    cohorts = []
    pooled: dict[int, list[int]] = {}
    for cohort in sorted(sizes):
        size = sizes[cohort]
        seen = (last or 0) - calendar.number(cohort, period)
        reach = seen if periods is None else min(seen, periods)
        counts = [returned.get((cohort, n), 0) for n in range(1, reach + 1)]
        for n, count in enumerate(counts, start=1):
            pool = pooled.setdefault(n, [0, 0])
            pool[0] += size
            pool[1] += count
        cohorts.append(
            {
                "cohort": cohort.isoformat(),
                "customers": size,
                "returned": counts,
                "share": [clean(c / size) for c in counts],
            }
        )
    return {
        "cohort_event": cohort_event,
        "return_event": return_event,
        "period": period,
        "timezone": engine.timezone,
        "periods": periods,
        "scope": scope.about(),
        "engine": engine.name,
        "data": engine.about,
        "cohorts": cohorts,
        "overall": [
            {"offset": n, "customers": size, "returned": count, "share": clean(count / size)}
            for n, (size, count) in sorted(pooled.items())
        ],
    }


def _check(cohort_event: str, return_event: str, period: str, periods: int | None) -> None:
    for name, value in (("--cohort-event", cohort_event), ("--return-event", return_event)):
        if not isinstance(value, str) or not value.strip():
            raise AnalysisError(f"{name} {value!r}: give an event name, e.g. 'Order Completed'")
    check_period(period)
    if periods is not None and (isinstance(periods, bool) or not isinstance(periods, int) or periods < 1):
        raise AnalysisError(f"--periods {periods!r}: give a whole number of periods, 1 or more")
