"""Web analytics: sessions, pages, bounces and where visits came from, over the web and app sessions.

A session is a visit (``session_id``: the web and app events of one visitor with no gap over 30 minutes,
see ``touchpoints.enrich.views``). Everything here is counted per whole session, then filtered: a session
is in the scope when its first event is (its start in the time range, its first event's channel among the
channels), and keeps all its events, so a visit that runs past midnight counts once, on the day it began,
with its whole duration. Events without a session (other channels, events anonymised for lack of consent)
are not part of web analytics.

Definitions:

- **pageviews**: ``Page Viewed`` and ``Screen Viewed`` events; a page is the path (``page_path``), an app
  screen its name (``properties.name``).
- **visitors**: distinct people with a session: the customer after identity resolution, or, without one
  (no sign-in ever, or no analytics consent), the device's anonymousId (else the userId). Such a visitor
  on two devices counts twice, as in any cookie-based web analytics; ``customers`` counts the resolved
  customers only.
- **bounce**: a session with exactly one page or screen view and no interaction: no event other than
  ``NOT_INTERACTIONS`` (identify calls and signals sent without the visitor doing anything: scroll depth,
  consent, app lifecycle). A session without any view is not a bounce.
- **duration**: the last event's time minus the first's, in whole seconds (each time truncated to the
  second, as on every engine); a one-event session lasts 0 s.
- **conversion**: a session with at least one ``goal`` event (default ``Order Completed``).
- The session's **landing page** is its first view, its **exit page** its last; its referrer (class and
  host), UTM campaign, device, browser and OS are those of its first event.

Each answer is one Ibis expression (a pass over the session's events with window functions, one
aggregation per session, one per group), so it runs unchanged on DuckDB and Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from touchpoints.analytics.common import AnalysisError, Scope, breakdown, check_period, clean, seconds
from touchpoints.analytics.engine import Engine
from touchpoints.analytics.periods import period_start

GOAL = "Order Completed"
VIEWS = ("Page Viewed", "Screen Viewed")
NOT_INTERACTIONS = (
    *VIEWS, "Identify", "Group", "Alias", "Page Scrolled", "Consent Preference Updated",
    "Application Installed", "Application Updated", "Application Opened", "Application Backgrounded",
    "Application Foregrounded",
)  # fmt: skip
DEVICE_COLUMNS = ("device_type", "browser", "os")
OTHER = "Other"
NONE = "(none)"
# The session's columns that are its first event's.
_FIRST = ("channel", "referrer_class", "referrer_host", "utm_source", "utm_medium", "utm_campaign",
          *DEVICE_COLUMNS)  # fmt: skip


def visitor_key(t: ir.Table) -> ir.StringValue:
    """Who an event's visitor is: the customer, else the device (anonymousId), else the userId."""
    return ("c:" + t.customer_id).coalesce("a:" + t.anonymous_id, "u:" + t.user_id).cast("string")


def session_table(
    engine: Engine, scope: Scope | None = None, goal: str = GOAL, by: str | None = None
) -> ir.Table:
    """One row per session in the scope: ``timestamp`` (its start), ``channel``, ``visitor``, ``customer``,
    ``duration`` (s), ``pageviews``, ``bounce`` and ``converted`` (0/1), ``landing_page``, ``exit_page``,
    the first event's referrer, UTM and device columns, and ``group`` (its first event's value of ``by``)."""
    if not goal:
        raise AnalysisError("--goal: give the event that counts as a conversion, e.g. 'Order Completed'")
    t = engine.events()
    t = t.filter(t.session_id.notnull())
    is_view = t.event.isin(list(VIEWS))
    page = ibis.cases(
        (t.event == "Page Viewed", t.page_path),
        (t.event == "Screen Viewed", engine.json_get(t.properties, "name")),
        else_=ibis.null("string"),
    )
    t = t.mutate(
        _view=is_view.cast("int64"),
        _page=page,
        _interaction=(~t.event.isin(list(NOT_INTERACTIONS))).cast("int64"),
        _goal=(t.event == goal).cast("int64"),
        _visitor=visitor_key(t),
        _group=breakdown(engine, t, by),
    )
    # Positions, not first()/last(): DuckDB's FIRST_VALUE keeps NULLs, Spark's FIRST skips them. One
    # ordering for all of them, so Spark sorts each session's events once.
    order = [t.timestamp, t.message_id]
    t = t.mutate(
        _first=ibis.row_number().over(ibis.window(group_by=t.session_id, order_by=order)),
        _view_no=t._view.sum().over(ibis.cumulative_window(group_by=t.session_id, order_by=order)),
        _views=t._view.sum().over(ibis.window(group_by=t.session_id)),
    )
    is_first = t._first == 0
    s = t.group_by(t.session_id).agg(
        timestamp=t.timestamp.min(),
        _end=t.timestamp.max(),
        visitor=t._visitor.max(),
        customer=t.customer_id.max(),
        pageviews=t._view.sum(),
        _interactions=t._interaction.sum(),
        _goals=t._goal.sum(),
        landing_page=t._page.max(where=(t._view == 1) & (t._view_no == 1)),
        exit_page=t._page.max(where=(t._view == 1) & (t._view_no == t._views)),
        group=t._group.max(where=is_first),
        **{name: t[name].max(where=is_first) for name in _FIRST},
    )
    s = scope.apply(engine, s) if scope else s
    return s.mutate(
        duration=seconds(s._end) - seconds(s.timestamp),
        bounce=((s.pageviews == 1) & (s._interactions == 0)).cast("int64"),
        converted=(s._goals > 0).cast("int64"),
    ).drop("_end", "_interactions", "_goals")


def _metrics(s: ir.Table) -> dict[str, ir.Value]:
    return {
        "sessions": s.count(),
        "visitors": s.visitor.nunique(),
        "customers": s.customer.nunique(),
        "pageviews": s.pageviews.sum().fill_null(0),
        "bounces": s.bounce.sum().fill_null(0),
        "conversions": s.converted.sum().fill_null(0),
        "median_duration_seconds": s.duration.median().cast("float64"),
        "mean_duration_seconds": s.duration.mean().cast("float64"),
    }


def _shape(r: dict[str, Any]) -> dict[str, Any]:
    n = int(r["sessions"] or 0)
    pageviews, bounces, conversions = (int(r[k] or 0) for k in ("pageviews", "bounces", "conversions"))
    return {
        "sessions": n,
        "visitors": int(r["visitors"] or 0),
        "customers": int(r["customers"] or 0),
        "pageviews": pageviews,
        "pages_per_session": clean(pageviews / n) if n else None,
        "bounces": bounces,
        "bounce_rate": clean(bounces / n) if n else None,
        "median_duration_seconds": clean(r["median_duration_seconds"]) if n else None,
        "mean_duration_seconds": clean(r["mean_duration_seconds"]) if n else None,
        "conversions": conversions,
        "conversion_rate": clean(conversions / n) if n else None,
    }


def _day(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None


def sessions(
    engine: Engine,
    scope: Scope | None = None,
    interval: str | None = None,
    by: str | None = None,
    goal: str = GOAL,
) -> dict[str, Any]:
    """Sessions, visitors, pageviews, bounce rate, duration and conversion: ``{"total": {...}}``, plus
    ``rows`` (one per ``period`` the sessions began in, local time, and/or ``group`` of ``by``, taken from
    the session's first event) when ``interval`` (day, week, month) or ``by`` is given."""
    scope = scope or Scope()
    if interval is not None:
        check_period(interval)
    s = session_table(engine, scope, goal, by)
    total = engine.to_arrow(s.aggregate(**_metrics(s))).to_pylist()[0]
    answer: dict[str, Any] = {
        "goal": goal,
        "interval": interval,
        "timezone": engine.timezone,
        "by": by,
        "scope": scope.about(),
        "engine": engine.name,
        "data": engine.about,
        "total": _shape(total),
    }
    if interval or by:
        keys: dict[str, ir.Value] = {}
        if interval:
            keys["period"] = period_start(engine, s.timestamp, interval)
        if by:
            keys["group"] = s["group"].fill_null(NONE)
        per = s.group_by(**keys).agg(**_metrics(s))
        rows = engine.to_arrow(per).to_pylist()
        shaped = []
        for r in rows:
            row: dict[str, Any] = {}
            if interval:
                row["period"] = _day(r["period"])
            if by:
                row["group"] = r["group"]
            shaped.append(row | _shape(r))
        answer["rows"] = sorted(shaped, key=lambda r: (r.get("period") or "", r.get("group") or ""))
    return answer


def _top(
    engine: Engine,
    dimension: str,
    keys: Sequence[str],
    scope: Scope | None,
    goal: str,
    limit: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Sessions per value of ``keys`` (session columns), the ``limit`` biggest, the rest summed as
    ``Other``; ties in size go by the values, in order."""
    if limit < 1:
        raise AnalysisError(f"--limit {limit}: give a number of rows of 1 or more")
    scope = scope or Scope()
    s = session_table(engine, scope, goal)
    s = s.mutate(**{k: s[k].fill_null(NONE) for k in keys})
    g = s.group_by(list(keys)).agg(
        sessions=s.count(),
        pageviews=s.pageviews.sum().fill_null(0),
        bounces=s.bounce.sum().fill_null(0),
        conversions=s.converted.sum().fill_null(0),
    )
    rank = ibis.row_number().over(ibis.window(order_by=[g.sessions.desc(), *(g[k] for k in keys)]))
    g = g.mutate(_other=(rank >= limit).cast("int64"))
    g = g.mutate(**{k: ibis.ifelse(g._other == 1, ibis.null("string"), g[k]) for k in keys})
    folded = g.group_by(["_other", *keys]).agg(
        sessions=g.sessions.sum(),
        pageviews=g.pageviews.sum(),
        bounces=g.bounces.sum(),
        conversions=g.conversions.sum(),
        groups=g.count(),
    )
    found = engine.to_arrow(folded).to_pylist()
    found.sort(key=lambda r: (r["_other"], -r["sessions"], *(r[k] or "" for k in keys)))
    rows: list[dict[str, Any]] = [
        {k: (OTHER if r["_other"] else r[k]) for k in keys} | _rates(r, r["sessions"]) for r in found
    ]
    total = {
        name: sum(int(r[name]) for r in found) for name in ("sessions", "pageviews", "bounces", "conversions")
    }
    for row in rows:
        row["share"] = clean(row["sessions"] / total["sessions"])
    return {
        "dimension": dimension,
        "goal": goal,
        "limit": limit,
        **(extra or {}),
        "scope": scope.about(),
        "engine": engine.name,
        "data": engine.about,
        "rows": rows,
        "other_groups": sum(int(r["groups"]) for r in found if r["_other"]),
        "total": _rates(total, total["sessions"]),
    }


def _rates(r: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "sessions": int(n),
        "pageviews": int(r["pageviews"]),
        "bounces": int(r["bounces"]),
        "bounce_rate": clean(r["bounces"] / n) if n else None,
        "conversions": int(r["conversions"]),
        "conversion_rate": clean(r["conversions"] / n) if n else None,
    }


def landing_pages(
    engine: Engine, scope: Scope | None = None, goal: str = GOAL, limit: int = 20
) -> dict[str, Any]:
    """Sessions per landing page (the first page or screen viewed): ``{"rows": [{"landing_page": "/",
    "sessions": n, "share": x, "pageviews": n, "bounces": n, "bounce_rate": x, "conversions": n,
    "conversion_rate": x}, ..., {"landing_page": "Other", ...}], "total": {...}}``."""
    return _top(engine, "landing_page", ("landing_page",), scope, goal, limit)


def exit_pages(
    engine: Engine, scope: Scope | None = None, goal: str = GOAL, limit: int = 20
) -> dict[str, Any]:
    """Sessions per exit page (the last page or screen viewed), shaped as ``landing_pages``."""
    return _top(engine, "exit_page", ("exit_page",), scope, goal, limit)


REFERRER_LEVELS = {"class": "referrer_class", "host": "referrer_host"}


def referrers(
    engine: Engine, scope: Scope | None = None, by: str = "class", goal: str = GOAL, limit: int = 20
) -> dict[str, Any]:
    """Sessions per referrer of the session's first event: ``by="class"`` (paid, email, social, search,
    internal, referral, direct) or ``by="host"`` (the referring site; ``(none)`` without a referrer)."""
    if by not in REFERRER_LEVELS:
        raise AnalysisError(f"--by {by!r}: use class or host")
    column = REFERRER_LEVELS[by]
    return _top(engine, column, (column,), scope, goal, limit, {"by": by})


def campaigns(
    engine: Engine, scope: Scope | None = None, goal: str = GOAL, limit: int = 20
) -> dict[str, Any]:
    """Sessions per UTM campaign of the session's first event: rows keyed by ``utm_source``,
    ``utm_medium`` and ``utm_campaign`` (``(none)`` where absent; sessions without a campaign are a row
    too, so the rows add up to every session)."""
    return _top(engine, "campaign", ("utm_source", "utm_medium", "utm_campaign"), scope, goal, limit)


def devices(
    engine: Engine,
    scope: Scope | None = None,
    by: str | Sequence[str] = "device_type",
    goal: str = GOAL,
    limit: int = 20,
) -> dict[str, Any]:
    """Sessions per device of the session's first event: ``by`` is ``device_type`` (desktop, mobile,
    tablet, bot), ``browser`` or ``os``, or several of them (a list, or comma-separated)."""
    names = [n.strip() for n in by.split(",")] if isinstance(by, str) else list(by)
    bad = [n for n in names if n not in DEVICE_COLUMNS] or ([] if names else [""])
    if bad or len(set(names)) != len(names):
        raise AnalysisError(
            f"--by {','.join(names)!r}: use device_type, browser or os, or several (device_type,browser)"
        )
    return _top(engine, ",".join(names), tuple(names), scope, goal, limit, {"by": names})
