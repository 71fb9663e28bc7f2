"""Funnels: how many customers go through steps A, B, C ... in order, within a window.

A customer reaches step k if occurrences t1 <= t2 <= ... <= tk of steps 1..k exist with tk - t1 within the
window. For each occurrence of the first step the earliest later occurrence of each next step is taken
(earliest is best: it leaves the most room for the steps after it), so an attempt is one chain of joins,
no loop over rows. A customer's best attempt is the deepest, and of those the earliest; its times give the
time to convert, its first step's value the breakdown group.

The plan, for speed (BENCHMARKS.md): each step reads only its own events, by the customer's number
(``customer_no``; the prepared events are stored by event name, so a step skips the others); only the
attempts still going are joined to the next step (most stop early), those that stopped are set aside with
their depth; and each customer's best attempt is the largest of one number made of depth and start.

Customers are counted after identity resolution, so the anonymous events before a sign-in count toward
the customer's funnel. ``unit="session"`` counts sessions instead (all steps within one visit).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from touchpoints.analytics.common import AnalysisError, Scope, breakdown, clean, parse_duration, seconds
from touchpoints.analytics.engine import Engine

UNITS = ("customer", "session")


def funnel_table(
    engine: Engine,
    steps: list[str],
    within: str | int = "7d",
    scope: Scope | None = None,
    by: str | None = None,
    unit: str = "customer",
) -> ir.Table:
    """One row per breakdown group: ``customers_k`` reaching step k, and the median seconds to reach it
    from the first step (``first_k``) and from the previous one (``previous_k``)."""
    if len(steps) < 2:
        raise AnalysisError("--steps: give at least two steps, e.g. 'Product Viewed,Order Completed'")
    if unit not in UNITS:
        raise AnalysisError(f"--unit {unit!r}: use customer or session")
    window = within if isinstance(within, int) else parse_duration(within)
    scope = scope or Scope()
    n = len(steps)
    events = engine.events()

    def occurrences(name: str) -> ir.Table:
        # each step reads only its own events (the prepared events are stored by event name)
        key = events.customer_no if unit == "customer" else events.session_id
        s = scope.apply(engine, events, events.event == name, key.notnull())
        return s.select(u=key, ts=s.timestamp, **({"b": breakdown(engine, s, by)} if by else {}))

    def next_step(chain: ir.Table, k: int, previous: ir.TimestampValue, t1: ir.TimestampValue) -> ir.Table:
        """``chain`` left-joined to step k's occurrences after ``previous`` and within the window of t1."""
        o = occurrences(steps[k - 1])
        nxt = o.select(u2=o.u, tn=o.ts)
        # a step named again (A, B, A) must be a later occurrence, not the one already used
        after = nxt.tn > previous if steps[k - 1] in steps[: k - 1] else nxt.tn >= previous
        return chain.left_join(nxt, [chain.u == nxt.u2, after, nxt.tn <= t1 + ibis.interval(seconds=window)])

    # Attempts: one per (unit, t1), joined to their earliest second step (same-time duplicates of the first
    # step keep one breakdown value). A left join, so an attempt that stops there keeps its row.
    first = occurrences(steps[0])
    joined = next_step(first, 2, first.ts, first.ts)
    group = {"b": joined.b.min()} if by else {}
    level = joined.group_by(["u", "ts"]).agg(**group, t_2=joined.tn.min()).rename(t1="ts")
    # Each further step only for the attempts still going (fewer at each step); those that stopped are
    # set aside with their depth.
    ended: list[tuple[ir.Table, ir.IntegerValue]] = []
    for k in range(3, n + 1):
        reached = level[f"t_{k - 1}"]
        ended.append((level.filter(reached.isnull()), ibis.literal(k - 2, type="int64")))
        going = level.filter(reached.notnull())
        joined = next_step(going, k, going[f"t_{k - 1}"], going.t1)
        level = joined.group_by(list(going.columns)).agg(**{f"t_{k}": joined.tn.min()})
    # the last step's level once (Spark computes a table named twice twice): depth n - 1 or n
    last = ibis.ifelse(level[f"t_{n}"].isnull(), n - 1, n).cast("int64")
    ended.append((level, last))
    none = ibis.literal(None, type=level.t1.type())
    attempts = ibis.union(
        *(
            a.select(
                "u",
                "t1",
                *group,
                *(a[f"t_{k}"] if f"t_{k}" in a.columns else none.name(f"t_{k}") for k in range(2, n + 1)),
                depth=d,
            )
            for a, d in ended
        ),
        distinct=False,
    )
    # a unit's best attempt: the deepest, then the earliest, as the largest of one number (depth times 2^64
    # less the start in microseconds, which is under 2^63 either side of 1970 on every engine: exact)
    decimal = "decimal(38, 0)"
    rank = attempts.depth.cast(decimal) * ibis.literal(2**64, type=decimal) - engine.micros(attempts.t1).cast(
        decimal
    )
    attempts = attempts.mutate(_rank=rank)
    top = attempts.group_by("u").agg(_top=attempts._rank.max())
    best = attempts.join(top, [attempts.u == top.u, attempts._rank == top._top])
    metrics: dict[str, ir.Value] = {}
    t1 = seconds(best.t1)
    for k in range(1, n + 1):
        metrics[f"customers_{k}"] = (best.depth >= k).cast("int64").sum()
        if k > 1:
            tk = seconds(best[f"t_{k}"])
            tprev = t1 if k == 2 else seconds(best[f"t_{k - 1}"])
            metrics[f"first_{k}"] = (tk - t1).median().cast("float64")
            metrics[f"previous_{k}"] = (tk - tprev).median().cast("float64")
    if by:
        return best.group_by("b").agg(**metrics).rename(group="b")
    return best.aggregate(**metrics).mutate(group=ibis.literal("", type="string"))


def _rows(table: Any, n: int) -> list[dict[str, Any]]:
    """The one-row-per-group answer as rows per group and step."""
    rows = []
    for r in table.to_pylist():
        for k in range(1, n + 1):
            rows.append(
                {
                    "group": r["group"],
                    "step": k,
                    "customers": r[f"customers_{k}"] or 0,
                    "median_seconds_from_first": r.get(f"first_{k}"),
                    "median_seconds_from_previous": r.get(f"previous_{k}"),
                }
            )
    return rows


def funnel(
    engine: Engine,
    steps: list[str],
    within: str | int = "7d",
    scope: Scope | None = None,
    by: str | None = None,
    unit: str = "customer",
) -> dict[str, Any]:
    """The funnel as JSON: ``{"steps": [{"step": "A", "customers": n, "conversion_from_previous": ...,
    "conversion_from_first": ..., "drop_off": ..., "median_seconds_to_convert": ...}, ...]}``, plus
    ``groups`` (the same per breakdown value) when ``by`` is given."""
    scope = scope or Scope()
    window = within if isinstance(within, int) else parse_duration(within)
    rows = _rows(engine.run(funnel_table, steps, window, scope, by, unit), len(steps))
    grouped: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(r["group"] if r["group"] is not None else "(none)", {})[r["step"]] = r
    answer: dict[str, Any] = {
        "unit": unit,
        "within_seconds": window,
        "scope": scope.about(),
        "by": by,
        "engine": engine.name,
        "data": engine.about,
    }
    if by:
        answer["steps"] = _steps(steps, _total(steps, grouped, engine, scope, window, unit))
        answer["groups"] = [
            {"group": g, "steps": _steps(steps, per)}
            for g, per in sorted(grouped.items(), key=lambda kv: kv[0])
        ]
    else:
        answer["steps"] = _steps(steps, grouped.get("", {}))
    return answer


def _total(
    steps: list[str],
    grouped: dict[str, dict[int, dict[str, Any]]],
    engine: Engine,
    scope: Scope,
    window: int,
    unit: str,
) -> dict[int, dict[str, Any]]:
    # Medians do not add up across groups: the overall funnel is computed on its own.
    rows = _rows(engine.run(funnel_table, steps, window, scope, None, unit), len(steps))
    return {r["step"]: r for r in rows}


def _steps(steps: list[str], per_step: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    first = int(per_step.get(1, {}).get("customers") or 0)
    previous = first
    for k, name in enumerate(steps, start=1):
        r = per_step.get(k, {})
        n = int(r.get("customers") or 0)
        out.append(
            {
                "step": name,
                "customers": n,
                "conversion_from_previous": clean(n / previous) if previous else None,
                "conversion_from_first": clean(n / first) if first else None,
                "drop_off": previous - n if k > 1 else 0,
                "median_seconds_to_convert": clean(r.get("median_seconds_from_previous")),
                "median_seconds_from_first": clean(r.get("median_seconds_from_first")),
            }
        )
        previous = n
    return out
