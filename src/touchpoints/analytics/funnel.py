"""Funnels: how many customers go through steps A, B, C ... in order, within a window.

A customer reaches step k if occurrences t1 <= t2 <= ... <= tk of steps 1..k exist with tk - t1 within the
window. For each occurrence of the first step the earliest later occurrence of each next step is taken
(earliest is best: it leaves the most room for the steps after it), so an attempt is one chain of joins,
no loop over rows. A customer's best attempt is the deepest, and of those the earliest; its times give the
time to convert, its first step's value the breakdown group.

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
    t = scope.apply(engine, engine.events())
    key = t.customer_id if unit == "customer" else t.session_id
    t = t.filter(key.notnull() & t.event.isin(list(dict.fromkeys(steps))))
    t = t.mutate(_unit=key, _b=breakdown(engine, t, by))

    def occurrences(name: str) -> ir.Table:
        s = t.filter(t.event == name)
        return s.select(u=s._unit, ts=s.timestamp, b=s._b)

    first = occurrences(steps[0])
    # one attempt per (unit, t1); same-time duplicates of the first step keep one breakdown value
    chain = first.group_by(["u", "ts"]).agg(b=first.b.min()).rename(t1="ts")
    # each next step: its earliest occurrence after the previous step and within the window of t1 (a left
    # join, so an attempt that stops keeps its row with NULL times from there on: one linear plan)
    for k, name in enumerate(steps[1:], start=2):
        nxt = occurrences(name).rename(u2="u", tn="ts", b2="b")
        prev_t = chain.t1 if k == 2 else chain[f"t_{k - 1}"]
        # a step named again (A, B, A) must be a later occurrence, not the one already used
        after = nxt.tn > prev_t if name in steps[: k - 1] else nxt.tn >= prev_t
        joined = chain.left_join(
            nxt, [chain.u == nxt.u2, after, nxt.tn <= chain.t1 + ibis.interval(seconds=window)]
        )
        chain = joined.group_by(list(chain.columns)).agg(**{f"t_{k}": joined.tn.min()})
    depth = ibis.literal(1, type="int64")
    for k in range(2, len(steps) + 1):
        depth = depth + chain[f"t_{k}"].notnull().cast("int64")
    chain = chain.mutate(depth=depth)
    # a unit's best attempt: the deepest, then the earliest
    ranked = chain.mutate(
        _rank=ibis.row_number().over(ibis.window(group_by=chain.u, order_by=[chain.depth.desc(), chain.t1]))
    )
    best = ranked.filter(ranked._rank == 0)
    metrics: dict[str, ir.Value] = {}
    t1 = seconds(best.t1)
    for k in range(1, len(steps) + 1):
        metrics[f"customers_{k}"] = (best.depth >= k).cast("int64").sum()
        if k > 1:
            tk = seconds(best[f"t_{k}"])
            tprev = t1 if k == 2 else seconds(best[f"t_{k - 1}"])
            metrics[f"first_{k}"] = (tk - t1).median().cast("float64")
            metrics[f"previous_{k}"] = (tk - tprev).median().cast("float64")
    return best.group_by("b").agg(**metrics).rename(group="b")


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
