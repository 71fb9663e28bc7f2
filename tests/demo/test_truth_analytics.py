"""The truth's customer analytics (``funnel.customers``, ``retention``): exactly what a correct analysis of
the demo store finds. Checked two ways: against the world's own rendered events (every funnel event of
every unit, in time order), and against a real demo store with plain SQL over ``events`` and
``event_customers`` (not the product's analytics: an independent reading of the store)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import DEMO_CUSTOMERS, DEMO_SEED
from touchpoints.demo import truth as truth_module
from touchpoints.demo.online import render_customer, render_visitor
from touchpoints.demo.truth import customer_funnel, joined_devices, retention
from touchpoints.demo.world import FUNNEL, Customer, Visit, World, build_world

CUSTOMERS, SEED = DEMO_CUSTOMERS, DEMO_SEED  # the shared demo world's


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _ordered(events: list[tuple[datetime, int]], steps: tuple[int, ...]) -> int:
    """How many of ``steps`` the (time, step) events reach in order, times t1 <= t2 <= ...: for each next
    step, its earliest occurrence at or after the previous one's."""
    reached, at = 0, None
    for step in steps:
        times = [t for t, s in events if s == step and (at is None or t >= at)]
        if not times:
            break
        reached, at = reached + 1, min(times)
    return reached


def _units_from_events(world: World) -> Iterator[list[tuple[datetime, int]]]:
    """Every unit's funnel events as the rendered events have them: a customer's joined devices are one
    unit (with their userId), each other device a unit, each visitor a unit."""

    def funnel_events(events: list[dict[str, Any]]) -> Iterator[tuple[str, datetime, int]]:
        for e in events:
            if e["type"] == "track" and e["event"] in FUNNEL:
                yield e["anonymousId"], _at(e["timestamp"]), FUNNEL.index(e["event"]) + 1

    for c in world.customers:
        joined = joined_devices(c)
        unit = {d.anonymous_id: -1 if i in joined else i for i, d in enumerate(c.devices)}
        units: dict[int, list[tuple[datetime, int]]] = {}
        for anonymous_id, at, step in funnel_events(render_customer(world, c)[0]):
            units.setdefault(unit[anonymous_id], []).append((at, step))
        yield from units.values()
    for visitor in world.visitors:
        found = [(at, step) for _, at, step in funnel_events(render_visitor(world, visitor))]
        if found:
            yield found


def _funnel_from_events(world: World) -> dict[str, Any]:
    units = list(_units_from_events(world))
    steps = tuple(range(1, len(FUNNEL) + 1))
    return {
        "window": "whole world",
        "units": len(units),
        "reached": {FUNNEL[k - 1]: sum(1 for u in units if _ordered(u, steps) >= k) for k in steps},
        "checkout": {
            "started": sum(1 for u in units if _ordered(u, (6, 7)) >= 1),
            "completed": sum(1 for u in units if _ordered(u, (6, 7)) >= 2),
        },
    }


def _interleave(world: World) -> Customer:
    """Replaces one customer's visits with two devices' interleaved ones: the laptop searches and lists at
    T, the phone (signed in the day before) views the product seconds before T and goes on to the cart. In
    visit order that is steps 1-5; in time order the Product Viewed comes before the list, so 1-2 only."""
    c = next(
        c
        for c in world.customers[1:]
        if c.user_id and len(c.devices) >= 2 and c.life_end - c.first_seen > timedelta(days=5)
    )
    start, sku = c.first_seen, c.visits[0].sku
    at = start + timedelta(days=3)
    c.visits = [
        Visit(start, 0, 0, 0, sku, identify=True, signup=True),
        Visit(start + timedelta(days=1), 1, 0, 0, sku, identify=True),
        Visit(at, 0, 1, 2, sku),
        Visit(
            at + timedelta(seconds=10), 1, 3, 5, sku
        ),  # its Product Viewed is 3 events, 24 s+, before its end
    ]
    c.emails = []
    return c


def test_the_customer_funnel_is_the_events_in_time_order(monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(CUSTOMERS, SEED)
    assert customer_funnel(world) == _funnel_from_events(world)
    _interleave(world)
    exact = customer_funnel(world)
    assert exact == _funnel_from_events(world)
    # ordering by visit would count the interleaved customer as reaching the cart
    monkeypatch.setattr(truth_module, "_VISIT_SPAN", timedelta(0))
    by_visit = customer_funnel(world)
    assert by_visit["reached"]["Product Viewed"] == exact["reached"]["Product Viewed"] + 1


def test_a_click_on_an_email_link_joins_the_device_to_the_customer() -> None:
    world = build_world(CUSTOMERS, SEED)
    clicked = [
        (c, s.click_device)
        for c in world.customers
        for s in c.emails
        if c.user_id
        and s.click_device is not None
        and not any(v.identify for v in c.visits if v.device == s.click_device)
    ]
    assert clicked, "the world has a device joined by an e-mail click only"
    for c, device in clicked:
        assert device in joined_devices(c)
    assert not any(joined_devices(c) for c in world.customers if c.user_id is None)


def test_retention_counts_every_buyer_and_each_walk_in_once() -> None:
    world = build_world(CUSTOMERS, SEED)
    found = retention(world)
    buyers = sum(1 for c in world.customers if c.orders)
    assert found["customers"] == buyers + len(world.anonymous_sales)
    assert found["walk_in_sales"] == len(world.anonymous_sales)
    cohorts = found["cohorts"]
    assert sum(c["customers"] for c in cohorts.values()) == found["customers"]
    months = list(cohorts)
    assert months == sorted(months) and months[-1] <= "2026-10"
    for month, cohort in cohorts.items():
        year, number = int(month[:4]), int(month[5:])
        assert len(cohort["returned"]) == (2026 - year) * 12 + 10 - number
        assert all(0 <= n <= cohort["customers"] for n in cohort["returned"])


# -- against a real demo store ------------------------------------------------------------------------


def _step_case() -> str:
    return "CASE e.event " + " ".join(f"WHEN '{name}' THEN {i + 1}" for i, name in enumerate(FUNNEL)) + " END"


def funnel_sql(steps: tuple[int, ...]) -> str:
    """Units (resolved customers) with any online funnel event, then per step of ``steps`` how many reach
    it in order: the step's earliest time at or after the previous step's."""
    names = ", ".join(f"'{name}'" for name in FUNNEL)
    ctes = [
        f"f AS (SELECT ec.customer_id AS unit, e.timestamp AS ts, {_step_case()} AS step "
        "FROM events e JOIN event_customers ec USING (message_id) "
        f"WHERE e.type = 'track' AND e.channel IN ('web', 'app') AND e.event IN ({names}))",
        f"s1 AS (SELECT unit, min(ts) AS t FROM f WHERE step = {steps[0]} GROUP BY unit)",
    ]
    for k in range(1, len(steps)):
        ctes.append(
            f"s{k + 1} AS (SELECT f.unit, min(f.ts) AS t FROM f JOIN s{k} p ON f.unit = p.unit AND f.ts >= p.t "
            f"WHERE f.step = {steps[k]} GROUP BY f.unit)"
        )
    counts = ", ".join(f"(SELECT count(*) FROM s{k + 1})" for k in range(len(steps)))
    return (
        f"WITH {', '.join(ctes)} SELECT (SELECT count(DISTINCT unit) FROM f), "
        f"(SELECT count(*) FROM f WHERE unit IS NULL), {counts}"
    )


RETENTION_SQL = """
WITH o AS (
    SELECT DISTINCT ec.customer_id AS c, date_trunc('month', e.timestamp AT TIME ZONE 'UTC') AS m
    FROM events e JOIN event_customers ec USING (message_id)
    WHERE e.type = 'track' AND e.event = 'Order Completed'
), cohort AS (SELECT c, min(m) AS first FROM o GROUP BY c)
SELECT strftime(first, '%Y-%m'), datediff('month', first, m), count(*)
FROM o JOIN cohort USING (c) GROUP BY ALL ORDER BY ALL
"""
UNRESOLVED_ORDERS_SQL = (
    "SELECT count(*) FROM events e JOIN event_customers ec USING (message_id) "
    "WHERE e.type = 'track' AND e.event = 'Order Completed' AND ec.customer_id IS NULL"
)


def analyse_store(path: Path, last_month: str) -> dict[str, Any]:
    """The customer funnel and the monthly retention of the store at ``path``, in the truth's shapes."""
    with duckdb.connect(str(path), read_only=True) as con:
        units, unresolved, *reached = con.execute(funnel_sql(tuple(range(1, len(FUNNEL) + 1)))).fetchall()[0]
        _, _, started, completed = con.execute(funnel_sql((6, 7))).fetchall()[0]
        rows = con.execute(RETENTION_SQL).fetchall()
        unresolved_orders = con.execute(UNRESOLVED_ORDERS_SQL).fetchall()[0][0]
    assert unresolved == 0, "every funnel event has a customer"
    assert unresolved_orders == 0, "every order has a customer"
    cohorts: dict[str, dict[str, Any]] = {}
    last = int(last_month[:4]) * 12 + int(last_month[5:])
    for month, n, count in rows:
        first = int(month[:4]) * 12 + int(month[5:])
        cohort = cohorts.setdefault(month, {"customers": 0, "returned": [0] * (last - first)})
        if n == 0:
            cohort["customers"] = count
        else:
            cohort["returned"][n - 1] = count
    return {
        "funnel": {
            "window": "whole world",
            "units": units,
            "reached": dict(zip(FUNNEL, reached, strict=True)),
            "checkout": {"started": started, "completed": completed},
        },
        "cohorts": cohorts,
    }


@pytest.fixture
def demo(demo_world: tuple[Path, dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """The shared demo world (tests/conftest.py: 400 customers, seed 11), read only."""
    home, truth = demo_world
    return home / "store.duckdb", truth


@pytest.mark.slow
def test_the_store_read_with_sql_finds_the_truths_funnel_and_retention(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    store, truth = demo
    last_month = (_at(truth["world"]["end"]) - timedelta(microseconds=1)).strftime("%Y-%m")
    found = analyse_store(store, last_month)
    assert found["funnel"] == truth["funnel"]["customers"]
    assert found["cohorts"] == truth["retention"]["cohorts"]
    assert sum(c["customers"] for c in found["cohorts"].values()) == truth["retention"]["customers"]
