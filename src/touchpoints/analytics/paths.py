"""Paths: what people do next after an event (or did before it), step by step, for a Sankey diagram.

Each session's (``by_session``; web and app events) or each customer's events in the scope are put in order
(time, then message id: the same order on every engine). A run of the same event by the same customer (a page
refreshed, three products viewed in a row) is one step, so the step after ``Product Viewed`` is the first
different event. Every occurrence of the anchor event (every run of it) starts a path; its next ``steps``
steps (or previous ones) are read with ``lead`` / ``lag`` over the ordered events. A path that stops early
gets an ``(end)`` node after its last event (``(start)`` before its first, looking back), and nothing after
it. At each step the ``limit`` most frequent events keep their name; the rest are ``Other``. An event named
like one of those nodes shows as ``Other (event)``, ``(end) (event)``.

``count`` is the number of paths through a link (an anchor done twice is two paths); ``customers`` the
customers among them after identity resolution (paths of events without a customer count in ``count``
only).

Paths are read from the runs prepared with the events (``prepared``: each session's and each customer's
runs, numbered, with their neighbours' events), so a question joins each anchor run to the runs 1 ..
``steps`` away instead of putting a year of events in order. A time scope keeps the runs with an event in
it: within a session, events are at most the session gap (30 minutes) apart, so when the scope is at
least that long, a run that began before the scope's start and goes on into it has an event in it, and
the answer is the one the events give (a run is one customer's, so it counts for the same customer). A
customer's events can be months apart, so customers' paths use the runs with a scope open on one side
(or none). Shorter scopes, scopes with both ends for customers, and a filter on channels order the
events themselves (``paths_from_events``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from touchpoints.analytics.common import AnalysisError, Scope
from touchpoints.analytics.engine import Engine
from touchpoints.enrich.views import SESSION_GAP_MINUTES

DIRECTIONS = ("next", "previous")
MAX_STEPS = 10
OTHER = "Other"
END = {"next": "(end)", "previous": "(start)"}
MARKERS = (OTHER, *END.values())


def paths_table(
    engine: Engine,
    event: str,
    direction: str = "next",
    steps: int = 3,
    scope: Scope | None = None,
    limit: int = 10,
    by_session: bool = True,
) -> ir.Table:
    """One row per link between consecutive steps: ``step`` (of the node farther from the anchor, 1 ..
    ``steps``), ``near`` (the node at ``step - 1``: the anchor at step 1), ``far`` (the node at
    ``step``), ``count`` (paths) and ``customers``."""
    _check(event, direction, steps, limit)
    scope = scope or Scope()
    start, end = scope.bounds(engine)
    # (a customer's events may be months apart: a scope with both ends asks the events)
    exact = (
        start is None or end is None or (by_session and end - start >= timedelta(minutes=SESSION_GAP_MINUTES))
    )
    if exact and not scope.channels:
        return paths_from_runs(engine, event, direction, steps, scope, limit, by_session)
    return paths_from_events(engine, event, direction, steps, scope, limit, by_session)


def paths_from_runs(
    engine: Engine, event: str, direction: str, steps: int, scope: Scope, limit: int, by_session: bool = True
) -> ir.Table:
    """Paths from the prepared runs (see the module's doc for when they equal the events')."""
    start, end = scope.bounds(engine)
    forward = direction == "next"
    runs = engine.runs()
    unit = "session" if by_session else "customer"
    anchors = runs.filter(runs.unit == unit, runs.event == event, *_within(runs, start, end))
    anchors = anchors.select(a_unit=anchors.unit_no, a_run=anchors.run, who=anchors.customer_id)
    # each anchor once per step: the run step - 1 away (the anchor itself at step 1) and the one after it
    ks = ibis.range(1, steps + 1).unnest().name("k").as_table()
    ks = ks.select(step=ks.k.cast("int64"))
    offsets = anchors.cross_join(ks)
    near = engine.runs().view()
    here = offsets.a_run + (offsets.step - 1) if forward else offsets.a_run - (offsets.step - 1)
    # the run the step leaves from must be in the scope (a path ends at the scope's edge; the anchor
    # bounds it on the other side)
    edge = _within(near, None, end) if forward else _within(near, start, None)
    joined = offsets.join(
        near,
        [near.unit == unit, near.unit_no == offsets.a_unit, near.run == here, near.event.notnull(), *edge],
    )
    if forward:
        beyond = joined.next_event.notnull()
        if end is not None:
            beyond = beyond & (joined.next_first_ts < _ts(end))
        far = ibis.ifelse(beyond, _shown(joined.next_event), END[direction])
    else:
        beyond = joined.previous_event.notnull()
        if start is not None:
            beyond = beyond & (joined.previous_last_ts >= _ts(start))
        far = ibis.ifelse(beyond, _shown(joined.previous_event), END[direction])
    long = joined.select(step=offsets.step, who=offsets.who, near_event=_shown(near.event), far_event=far)
    # each step's most frequent events keep their name (the terminal node always does)
    counts = long.group_by(["step", "far_event"]).agg(paths=long.count())
    rank = ibis.dense_rank().over(
        ibis.window(
            group_by=counts.step,
            order_by=[counts.far_event == END[direction], counts.paths.desc(), counts.far_event],
        )
    )
    named = counts.select(
        "step", "far_event",
        name=ibis.ifelse((counts.far_event == END[direction]) | (rank < limit), counts.far_event, OTHER),
    )  # fmt: skip
    # the paths joined to their names (views: the names are computed from the paths themselves)
    base, far_names, near_names = long.view(), named.view(), named.view()
    out = base.join(far_names, [far_names.step == base.step, far_names.far_event == base.far_event])
    out = out.left_join(
        near_names, [near_names.step == base.step - 1, near_names.far_event == base.near_event]
    )
    out = out.select(
        step=base.step,
        near=ibis.ifelse(base.step == 1, ibis.literal(event), near_names.name),
        far=far_names.name,
        who=base.who,
    )
    return out.group_by(["step", "near", "far"]).agg(count=out.count(), customers=out.who.nunique())


def _within(runs: ir.Table, start: datetime | None, end: datetime | None) -> list[ir.BooleanValue]:
    """Runs with an event in the time scope."""
    return ([runs.last_ts >= _ts(start)] if start is not None else []) + (
        [runs.first_ts < _ts(end)] if end is not None else []
    )


def _shown(name: ir.StringValue) -> ir.StringValue:
    """An event named like a node Touchpoints adds (``Other``, ``(end)``, ``(start)``) shows as
    ``Other (event)``, so it is never taken for one."""
    return ibis.ifelse(name.isin(MARKERS), name + " (event)", name)


def _ts(value: datetime | None) -> ir.TimestampValue:
    return ibis.literal(value, type="timestamp")


def paths_from_events(
    engine: Engine, event: str, direction: str, steps: int, scope: Scope, limit: int, by_session: bool
) -> ir.Table:
    """Paths by ordering the events in the scope themselves: customers' paths, and what the runs cannot
    answer."""
    t = scope.apply(engine, engine.events())
    t = t.mutate(_unit=t.session_id if by_session else t.customer_id)
    t = t.filter(t._unit.notnull())
    order = ibis.window(group_by="_unit", order_by=["timestamp", "message_id"])
    # a run of one event is one step: keep its first row
    t = t.mutate(_before=t.event.lag().over(order), _by=t.customer_id.lag().over(order))
    # (by one customer: on a shared device, the next person's view is a step of its own)
    t = t.filter(t._before.isnull() | (t._before != t.event) | ~t._by.identical_to(t.customer_id))

    end = ibis.literal(END[direction])
    following: dict[str, ir.Value] = {}
    previous: ir.StringValue | None = None
    for k in range(1, steps + 1):
        here = (t.event.lead(k) if direction == "next" else t.event.lag(k)).over(order)
        # the terminal node right after the last event, nothing after that
        ended = ibis.literal(False) if previous is None else previous.isnull()
        following[f"s_{k}"] = ibis.ifelse(ended, ibis.null("string"), _shown(here).fill_null(end))
        previous = here
    t = t.mutate(**following)
    t = t.filter(t.event == event)  # each path is its anchor's row
    long = t.select("_unit", "message_id", "customer_id", *following).pivot_longer(
        ibis.selectors.startswith("s_"),
        names_to="step",
        names_transform=lambda name: ibis.literal(int(name[2:]), type="int64"),
        values_to="far",
    )
    long = long.filter(long.far.notnull())
    # each step's most frequent events keep their name (the terminal node always does)
    long = long.mutate(_paths=long.far.count().over(ibis.window(group_by=["step", "far"])))
    rank = ibis.dense_rank().over(
        ibis.window(group_by="step", order_by=[long.far == end, long._paths.desc(), long.far])
    )
    long = long.mutate(far=ibis.ifelse((long.far == end) | (rank < limit), long.far, OTHER))
    along = ibis.window(group_by=["_unit", "message_id"], order_by="step")
    long = long.mutate(near=long.far.lag().over(along).fill_null(event))
    return long.group_by(["step", "near", "far"]).agg(
        count=long.count(), customers=long.customer_id.nunique()
    )


def paths(
    engine: Engine,
    event: str,
    direction: str = "next",
    steps: int = 3,
    scope: Scope | None = None,
    limit: int = 10,
    by_session: bool = True,
) -> dict[str, Any]:
    """The paths as JSON for a Sankey diagram: ``{"nodes": [{"id": "1:Product Viewed", "step": 1,
    "event": "Product Viewed", "count": n}, ...], "links": [{"source": "0:Cart Viewed", "target":
    "1:Product Viewed", "customers": n, "count": n}, ...]}``. Step 0 is the anchor event, step k the k-th
    step after it (before it, for ``previous``); a node's ``count`` is the paths through it. Links go
    forward in time: looking back, a link's source is the earlier step (the higher number)."""
    scope = scope or Scope()
    rows = engine.run(paths_table, event, direction, steps, scope, limit, by_session).to_pylist()
    nodes: dict[str, dict[str, Any]] = {}
    links = []
    for r in sorted(rows, key=lambda r: (r["step"], r["near"], -r["count"], r["far"])):
        near = _node(nodes, r["step"] - 1, r["near"])
        far = _node(nodes, r["step"], r["far"])
        far["count"] += r["count"]
        if r["step"] == 1:
            near["count"] += r["count"]
        source, target = (near, far) if direction == "next" else (far, near)
        links.append(
            {"source": source["id"], "target": target["id"], "customers": r["customers"], "count": r["count"]}
        )
    last = {OTHER: 1, END[direction]: 2}
    return {
        "event": event,
        "direction": direction,
        "steps": steps,
        "limit": limit,
        "unit": "session" if by_session else "customer",
        "scope": scope.about(),
        "engine": engine.name,
        "data": engine.about,
        "nodes": sorted(
            nodes.values(), key=lambda n: (n["step"], last.get(n["event"], 0), -n["count"], n["event"])
        ),
        "links": links,
    }


def _node(nodes: dict[str, dict[str, Any]], step: int, name: str) -> dict[str, Any]:
    key = f"{step}:{name}"
    return nodes.setdefault(key, {"id": key, "step": step, "event": name, "count": 0})


def _check(event: str, direction: str, steps: int, limit: int) -> None:
    if not isinstance(event, str) or not event.strip():
        raise AnalysisError(f"--event {event!r}: give the event paths start from, e.g. 'Product Viewed'")
    if direction not in DIRECTIONS:
        raise AnalysisError(f"--direction {direction!r}: use next or previous")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise AnalysisError(f"--steps {steps!r}: give a whole number from 1 to {MAX_STEPS}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise AnalysisError(f"--limit {limit!r}: give a whole number of events per step, 1 or more")
