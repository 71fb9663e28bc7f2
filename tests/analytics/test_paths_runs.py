"""Paths read from the prepared runs (``paths_from_runs``: one join per step) are the paths the events
themselves give (``paths_from_events``: every event in the scope put in order), on the demo world:
both directions, one to six steps, few or many names kept, and time scopes whose edges cut through
sessions and through runs of one event (a run that began before the scope's start counts from its first
event inside it; a path stops at the scope's end)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from touchpoints.analytics.common import Scope
from touchpoints.analytics.engine import Engine, open_engine
from touchpoints.analytics.paths import paths_from_events, paths_from_runs, paths_table
from touchpoints.config import load_settings


@pytest.fixture(scope="module")
def duck(demo_world: tuple[Path, dict[str, Any]]) -> Iterator[Engine]:
    with open_engine(load_settings(demo_world[0]), "duckdb") as eng:
        yield eng


def rows(eng: Engine, expr: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(r.values()) for r in eng.to_arrow(expr).to_pylist())


def inside_runs(eng: Engine, n: int) -> list[Any]:
    """Times strictly inside runs of several events (after the run's first event, before its last)."""
    runs = eng.runs()
    long = runs.filter(runs.unit == "session", runs.last_ts > runs.first_ts + timedelta(seconds=2)).order_by(
        ["unit_no", "run"]
    )
    found = (
        long.select(at=long.first_ts + timedelta(seconds=1)).limit(2000).to_pyarrow().column("at").to_pylist()
    )
    assert len(found) >= n, "the demo world has too few runs of one event repeated to cut through"
    step = len(found) // n
    return [found[i * step] for i in range(n)]


def scopes(eng: Engine) -> list[Scope]:
    cuts = inside_runs(eng, 6)
    return [
        Scope(),
        Scope(start=cuts[0]),  # from the middle of a run on
        Scope(end=cuts[1]),  # up to the middle of a run
        Scope(start=cuts[2], end=cuts[4]),
        Scope(start=cuts[3], end=cuts[3] + timedelta(minutes=30)),  # as short as the runs answer
        Scope(start=cuts[5], end=cuts[5] + timedelta(days=20)),
        Scope(start="2026-03-01", end="2026-07-01"),
    ]


@pytest.mark.parametrize("event", ["Product Viewed", "Page Viewed", "Order Completed", "Cart Viewed"])
@pytest.mark.parametrize("direction", ["next", "previous"])
def test_the_runs_give_the_paths_the_events_give(duck: Engine, event: str, direction: str) -> None:
    compared = 0
    for scope in scopes(duck):
        for steps, limit in [(1, 10), (3, 3), (6, 1)]:
            expected = rows(duck, paths_from_events(duck, event, direction, steps, scope, limit, True))
            got = rows(duck, paths_from_runs(duck, event, direction, steps, scope, limit))
            assert got == expected, f"{event} {direction} {steps} steps, limit {limit}, {scope}"
            compared += len(expected) > 0
    assert compared >= 12, "too few of the questions had any path to compare"


@pytest.mark.parametrize("direction", ["next", "previous"])
def test_customers_runs_give_the_paths_their_events_give(duck: Engine, direction: str) -> None:
    """Each customer's runs (all their events, every channel): the whole time, or from or up to a time
    inside a run."""
    cuts = inside_runs(duck, 2)
    for scope in [Scope(), Scope(start=cuts[0]), Scope(end=cuts[1])]:
        for event, steps, limit in [
            ("Product Viewed", 3, 4),
            ("Order Completed", 5, 10),
            ("Page Viewed", 1, 2),
        ]:
            expected = rows(duck, paths_from_events(duck, event, direction, steps, scope, limit, False))
            got = rows(duck, paths_from_runs(duck, event, direction, steps, scope, limit, False))
            assert got == expected, f"{event} {direction} {steps} steps, limit {limit}, {scope}"
            assert expected


def test_paths_use_the_runs_only_where_they_give_the_same_answer(duck: Engine) -> None:
    """A scope shorter than the session gap, a filter on channels and customers' paths within a scope
    with both ends order the events."""
    at = inside_runs(duck, 1)[0]
    short = Scope(start=at, end=at + timedelta(minutes=29))
    for args in [
        ("Product Viewed", "next", 3, short, 10, True),
        ("Product Viewed", "next", 3, Scope(channels=("web",)), 10, True),
        ("Product Viewed", "next", 3, Scope(start="2026-03-01", end="2026-07-01"), 10, False),
    ]:
        assert duck.sql(paths_table(duck, *args)) == duck.sql(paths_from_events(duck, *args))
    for by_session in (True, False):
        assert duck.sql(paths_table(duck, "Product Viewed", "next", 3, Scope(), 10, by_session)) == duck.sql(
            paths_from_runs(duck, "Product Viewed", "next", 3, Scope(), 10, by_session)
        )


def test_on_a_shared_device_each_persons_views_are_their_own_steps(tmp_path: Path) -> None:
    """Two people on one kiosk (one session): Ann (who denied analytics, so no customer) views a product,
    then Bob views it and adds it. Bob's view is a step of its own (a run is one customer's), so a scope
    from 10:10 (inside what would otherwise be one run of views) counts Bob for the add, whichever way it
    is answered: the runs (a 30-minute scope) or the events (29 minutes). Before, the runs counted the
    run's first person (none) and the events Bob."""
    from tests.analytics.handmade import Row, store
    from tests.conftest import make_home

    home = make_home(tmp_path / "home")
    store(home, [
        Row("k1", "2026-11-10T10:00:00Z", "Product Viewed", user="u-ann", anon="kiosk"),
        Row("k2", "2026-11-10T10:20:00Z", "Product Viewed", user="u-bob", anon="kiosk"),
        Row("k3", "2026-11-10T10:26:00Z", "Product Added", user="u-bob", anon="kiosk"),
    ], denied=("u-ann",))  # fmt: skip
    with open_engine(load_settings(home.path), "duckdb") as eng:
        answers = [
            rows(
                eng,
                paths_table(eng, "Product Viewed", "next", 1, Scope(start="2026-11-10T10:10", end=end), 10),
            )
            for end in ("2026-11-10T10:40", "2026-11-10T10:39")
        ]
        whole = rows(eng, paths_table(eng, "Product Viewed", "next", 1, Scope(), 10))
    assert answers[0] == answers[1] == [(1, "Product Viewed", "Product Added", 1, 1)]
    # over the whole day: Ann's view is followed by Bob's, Bob's by his add
    assert whole == [
        (1, "Product Viewed", "Product Added", 1, 1),
        (1, "Product Viewed", "Product Viewed", 1, 0),  # Ann's view: a path, no customer
    ]


def test_events_named_like_the_added_nodes_are_not_taken_for_them(tmp_path: Path) -> None:
    """Events a site happened to call ``Other``, ``(end)`` or ``(start)`` show as ``Other (event)`` ...,
    so a path never seems to go on after its end, and ``Other`` is only the events beyond the limit."""
    from tests.analytics.handmade import Row, store
    from tests.conftest import make_home
    from touchpoints.analytics.paths import paths

    home = make_home(tmp_path / "home")
    store(home, [
        Row("m1", "2026-11-10T10:00:00Z", "Product Viewed", anon="v1"),
        Row("m2", "2026-11-10T10:01:00Z", "Other", anon="v1"),
        Row("m3", "2026-11-10T10:02:00Z", "(end)", anon="v1"),
        Row("m4", "2026-11-10T10:03:00Z", "Product Added", anon="v1"),
        Row("m5", "2026-11-10T11:00:00Z", "(start)", anon="v2"),
        Row("m6", "2026-11-10T11:01:00Z", "Product Viewed", anon="v2"),
    ])  # fmt: skip
    with open_engine(load_settings(home.path), "duckdb") as eng:
        for direction in ("next", "previous"):
            expected = rows(eng, paths_from_events(eng, "Product Viewed", direction, 4, Scope(), 10, True))
            assert rows(eng, paths_from_runs(eng, "Product Viewed", direction, 4, Scope(), 10)) == expected
        ahead = paths(eng, "Product Viewed", steps=4)
        back = paths(eng, "Product Viewed", "previous", steps=2)
    links = {(link["source"], link["target"]) for link in ahead["links"]}
    assert links == {
        ("0:Product Viewed", "1:Other (event)"), ("1:Other (event)", "2:(end) (event)"),
        ("2:(end) (event)", "3:Product Added"), ("3:Product Added", "4:(end)"), ("0:Product Viewed", "1:(end)"),
    }  # fmt: skip
    assert {(link["source"], link["target"]) for link in back["links"]} == {
        ("1:(start)", "0:Product Viewed"), ("2:(start)", "1:(start) (event)"), ("1:(start) (event)", "0:Product Viewed"),
    }  # fmt: skip
