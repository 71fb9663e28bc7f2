"""Paths on hand-made visits, checked by hand and against a plain-Python reading of the rows: the next and
previous steps of an event, a page refresh as one step, the events beyond the top ones as ``Other``, a
path that stops as ``(end)``, sessions or whole customers (after identity resolution) as the unit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.analytics.handmade import Row, people, store
from tests.conftest import Home, make_home
from touchpoints.analytics.common import AnalysisError, Scope
from touchpoints.analytics.engine import Engine, open_engine
from touchpoints.analytics.paths import paths

PV, PA, CV, CS = "Product Viewed", "Product Added", "Cart Viewed", "Checkout Started"
DENIED = ("u-carol",)


def visit(anon: str, day: int, hour: int, *events: str, user: str | None = None) -> list[Row]:
    """One visit's events a minute apart (``Identify`` signs in as ``user``)."""
    return [
        Row(f"{anon}-{day}-{hour}-{i}", f"2026-05-{day:02d}T{hour:02d}:{i:02d}:00Z", e, anon=anon,
            user=user if e == "Identify" or user == "u-carol" else None)
        for i, e in enumerate(events)
    ]  # fmt: skip


ROWS = [
    # Zoe browses anonymously, signs in after checking out; back the next day and buys.
    *visit("v1", 1, 10, PV, PA, CV, CS, "Identify", user="u-zoe"),
    *visit("v1", 2, 10, PV, "Order Completed"),
    # A refresh: two views in a row are one step.
    *visit("v2", 1, 11, PV, PV, PA),
    *visit("v3", 1, 12, PV, PA, CV),
    # Two views in one visit: two paths.
    *visit("v4", 1, 13, PV, "Products Searched", PV, "Product Added to Wishlist"),
    *visit("v5", 1, 14, PV, CV),
    *visit("v6", 1, 15, PV),
    *visit("v7", 1, 16, "Page Viewed", PV, "Newsletter Subscribed"),
    # Carol denied analytics: her visit counts as a path, not as a customer.
    *visit("v8", 1, 17, PV, PA, user="u-carol"),
    # Two events at the same second: ordered by message id ("v9-1-18-0a" before "v9-1-18-0b").
    Row("v9-1-18-0b", "2026-05-01T18:00:00Z", CV, anon="v9"),
    Row("v9-1-18-0a", "2026-05-01T18:00:00Z", PV, anon="v9"),
]
PERSON = people(ROWS, DENIED)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = make_home(tmp_path_factory.mktemp("paths") / "home")
    store(home, ROWS, DENIED)
    return home


@pytest.fixture
def eng(shop: Home) -> Iterator[Engine]:
    with open_engine(shop.settings, "duckdb") as e:
        yield e


def units(by_session: bool) -> list[list[Row]]:
    """Each session's (30 minutes without an event of one visitor) or each customer's rows, in order."""
    ordered = sorted(ROWS, key=lambda r: (r.time, r.id))
    groups: dict[object, list[Row]] = {}
    if by_session:
        last: dict[str, Row] = {}
        number: Counter[str] = Counter()
        for r in ordered:
            visitor = r.anon or r.user or ""
            if visitor in last and r.time - last[visitor].time > timedelta(minutes=30):
                number[visitor] += 1
            last[visitor] = r
            groups.setdefault((visitor, number[visitor]), []).append(r)
    else:
        for r in ordered:
            if PERSON[r.id]:
                groups.setdefault(PERSON[r.id], []).append(r)
    return list(groups.values())


def expected(
    event: str, direction: str = "next", steps: int = 3, limit: int = 10, by_session: bool = True
) -> dict[tuple[int, str, str], tuple[int, int]]:
    """(step, near, far) -> (paths, customers), read from the rows."""
    terminal = "(end)" if direction == "next" else "(start)"
    walks = []
    for rows in units(by_session):
        collapsed = [r for i, r in enumerate(rows) if i == 0 or rows[i - 1].event != r.event]
        if direction == "previous":
            collapsed.reverse()
        for i, r in enumerate(collapsed):
            if r.event == event:
                after = [x.event for x in collapsed[i + 1 : i + 1 + steps]]
                if len(after) < steps:
                    after.append(terminal)
                walks.append((PERSON[r.id], after))
    top: dict[int, set[str]] = {}
    for k in range(steps):
        counts = Counter(w[k] for _, w in walks if len(w) > k)
        ranked = sorted(counts, key=lambda e: (e == terminal, -counts[e], e))
        top[k] = set(ranked[:limit]) | {terminal}
    links: dict[tuple[int, str, str], tuple[int, set[str]]] = {}
    for person, walk in walks:
        near = event
        for k, name in enumerate(walk):
            far = name if name in top[k] else "Other"
            n, who = links.get((k + 1, near, far), (0, set()))
            links[(k + 1, near, far)] = (n + 1, who | ({person} if person else set()))
            near = far
    return {key: (n, len(who)) for key, (n, who) in links.items()}


def found(answer: dict[str, Any]) -> dict[tuple[int, str, str], tuple[int, int]]:
    """The answer's links as (step of the farther node, nearer event, farther event) -> (paths, customers)."""
    nodes = {n["id"]: n for n in answer["nodes"]}
    out = {}
    for link in answer["links"]:
        a, b = nodes[link["source"]], nodes[link["target"]]
        near, far = (a, b) if a["step"] < b["step"] else (b, a)
        out[(far["step"], near["event"], far["event"])] = (link["count"], link["customers"])
    return out


def test_the_next_steps_with_other_and_end(eng: Engine) -> None:
    answer = paths(eng, PV, "next", steps=3, limit=2, scope=Scope(channels=("web",)))
    nodes = {n["id"]: n for n in answer["nodes"]}
    links = {(x["source"], x["target"]): (x["count"], x["customers"]) for x in answer["links"]}
    # Eleven views start paths (v4's two views are two; v2's refresh is one step). Product Added follows
    # four of them (Zoe, v2, v3 and Carol, who is no customer here), Cart Viewed two (v5; v9, whose view
    # comes first at the same second by message id); v6 ends at once.
    assert nodes["0:Product Viewed"]["count"] == 11
    assert links[("0:Product Viewed", "1:Product Added")] == (4, 3)
    assert links[("0:Product Viewed", "1:Cart Viewed")] == (2, 2)
    assert links[("0:Product Viewed", "1:(end)")] == (1, 1)
    # Other at step 1, beyond the top two: Order Completed (Zoe's second visit), Products Searched and the
    # wishlist (v4's two views: one customer), the newsletter (v7).
    assert links[("0:Product Viewed", "1:Other")] == (4, 3)
    assert {n["event"] for n in answer["nodes"] if n["step"] == 1} == {PA, CV, "Other", "(end)"}
    assert "1:Product Viewed" not in nodes  # the refresh
    assert found(answer) == expected(PV, "next", 3, 2)
    # every path through a node leaves it, or ends there
    for node in answer["nodes"]:
        leaving = sum(x["count"] for x in answer["links"] if x["source"] == node["id"])
        assert leaving in (0, node["count"])


def test_the_previous_steps_start_with_start(eng: Engine) -> None:
    answer = paths(eng, CV, "previous", steps=2, limit=10)
    links = {(x["source"], x["target"]): x["count"] for x in answer["links"]}
    # Before each Cart Viewed: Zoe and v3 added a product after a view; v5 and v9 came straight from a
    # view, at the start of their visit. Links run forward in time.
    assert links == {
        ("1:Product Added", "0:Cart Viewed"): 2,
        ("1:Product Viewed", "0:Cart Viewed"): 2,
        ("2:Product Viewed", "1:Product Added"): 2,
        ("2:(start)", "1:Product Viewed"): 2,
    }
    assert found(answer) == expected(CV, "previous", 2, 10)


def test_a_customers_path_crosses_visits_and_devices_after_sign_in(eng: Engine) -> None:
    answer = paths(eng, CS, "next", steps=3, by_session=False)
    # Zoe's checkout is followed by her sign-in, then the next day's view and order.
    assert [(x["target"], x["count"], x["customers"]) for x in answer["links"]] == [
        ("1:Identify", 1, 1),
        ("2:Product Viewed", 1, 1),
        ("3:Order Completed", 1, 1),
    ]
    by_visit = paths(eng, CS, "next", steps=3)
    assert [(x["target"], x["count"]) for x in by_visit["links"]] == [("1:Identify", 1), ("2:(end)", 1)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": PV},
        {"event": PV, "steps": 5, "limit": 1},
        {"event": PV, "by_session": False, "limit": 3},
        {"event": PA, "direction": "previous", "steps": 4},
        {"event": "Order Completed", "direction": "previous", "by_session": False, "steps": 6, "limit": 2},
        {"event": "Nothing Like It"},
    ],
)
def test_every_link_matches_the_rows_read_by_hand(eng: Engine, kwargs: dict[str, Any]) -> None:
    answer = paths(eng, **kwargs, scope=Scope(channels=("web",)))
    assert found(answer) == expected(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"event": ""}, "--event"),
        ({"event": PV, "direction": "back"}, "--direction"),
        ({"event": PV, "steps": 0}, "--steps"),
        ({"event": PV, "steps": 11}, "--steps"),
        ({"event": PV, "limit": 0}, "--limit"),
        ({"event": PV, "scope": Scope(start="May")}, "--start"),
    ],
)
def test_a_bad_parameter_is_an_error_that_names_it(eng: Engine, kwargs: dict[str, Any], option: str) -> None:
    with pytest.raises(AnalysisError, match=option):
        paths(eng, **kwargs)


def test_the_command_reads_step_by_step_and_says_when_there_is_no_such_event(shop: Home) -> None:
    from tests.analytics.conftest import cli

    home = ["--home", str(shop.path)]
    text = cli("analytics", "paths", "--event", CV, "--direction", "previous", "--steps", "2", *home).stdout
    lines = text.splitlines()[1:]
    # the step next to the event first (its links end at 0:), then the one before
    steps = [int(line.split()[0].split(":")[0]) for line in lines]
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] == 2, text
    nothing = cli("analytics", "paths", "--event", "product viewed", *home).stdout
    assert "No paths: no 'product viewed' events" in nothing and "case-sensitive" in nothing
