"""Retention cohorts on a hand-made shop, worked out by hand and by a plain-Python reading of the rows:
December to January is one month later, a return in the cohort's own period does not count, a customer's
anonymous first order belongs to them, weeks from Monday and months in the time zone; and the demo
world's planted monthly purchase retention recovered exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.handmade import Row, local_date, people, store
from tests.conftest import Home, make_home
from touchpoints.analytics.common import AnalysisError, Scope
from touchpoints.analytics.engine import Engine, open_engine
from touchpoints.analytics.retention import retention
from touchpoints.config import load_settings

BERLIN = "Europe/Berlin"
DENIED = ("u-finn",)
ORDER = "Order Completed"
ROWS = [
    # Ann: December's cohort; again in December (period 0: not a return), on 31 January 23:30 UTC
    # (1 February in Berlin) and in March.
    Row("a1", "2025-12-10T10:00:00Z", ORDER, user="u-ann"),
    Row("a2", "2025-12-20T10:00:00Z", ORDER, user="u-ann"),
    Row("a3", "2026-01-31T23:30:00Z", ORDER, user="u-ann"),
    Row("a4", "2026-03-05T10:00:00Z", ORDER, user="u-ann"),
    # Ben orders anonymously on New Year's Eve, signs in in January and orders again: one customer,
    # December's cohort, back one month later.
    Row("b1", "2025-12-31T12:00:00Z", ORDER, anon="a-5"),
    Row("b2", "2026-01-02T09:00:00Z", "Identify", user="u-ben", anon="a-5"),
    Row("b3", "2026-01-15T09:00:00Z", ORDER, user="u-ben"),
    # Cleo and Dee: January's cohort; Cleo is back in February.
    Row("c1", "2026-01-05T10:00:00Z", ORDER, user="u-cleo"),
    Row("c2", "2026-02-10T10:00:00Z", ORDER, user="u-cleo"),
    Row("d1", "2026-01-20T10:00:00Z", ORDER, user="u-dee"),
    # Finn denied analytics: in no cohort.
    Row("f1", "2025-12-05T10:00:00Z", ORDER, user="u-finn"),
    Row("f2", "2026-01-06T10:00:00Z", ORDER, user="u-finn"),
    # Hana orders before she signs up (ignored for sign-up retention), then in the month she signed up
    # (period 0) and two months later.
    Row("h1", "2025-11-20T10:00:00Z", ORDER, user="u-hana"),
    Row("h2", "2025-12-01T10:00:00Z", "Signed Up", user="u-hana"),
    Row("h3", "2025-12-15T10:00:00Z", ORDER, user="u-hana"),
    Row("h4", "2026-02-01T10:00:00Z", ORDER, user="u-hana"),
    # Weeks: Ivy starts a trial on Sunday 4 January and opens the app on Monday 5 January (one week
    # later), and at 23:30 UTC on Sunday 4 January (the same week in UTC, Monday in Berlin).
    Row("i1", "2026-01-04T12:00:00Z", "Trial Started", user="u-ivy", channel="app"),
    Row("i2", "2026-01-04T23:30:00Z", "App Opened", user="u-ivy", channel="app"),
    Row("i3", "2026-01-05T08:00:00Z", "App Opened", user="u-ivy", channel="app"),
    # Jon starts on Monday 29 December and opens the app on Sunday 11 January (week 1 after the year's
    # turn) and Monday 12 January (week 2).
    Row("j1", "2025-12-29T10:00:00Z", "Trial Started", user="u-jon", channel="app"),
    Row("j2", "2026-01-11T10:00:00Z", "App Opened", user="u-jon", channel="app"),
    Row("j3", "2026-01-12T10:00:00Z", "App Opened", user="u-jon", channel="app"),
]
PERSON = people(ROWS, DENIED)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = make_home(tmp_path_factory.mktemp("retention") / "home")
    store(home, ROWS, DENIED)
    return home


@pytest.fixture
def utc(shop: Home) -> Iterator[Engine]:
    with open_engine(shop.settings, "duckdb", "UTC") as eng:
        yield eng


@pytest.fixture
def berlin(shop: Home) -> Iterator[Engine]:
    with open_engine(shop.settings, "duckdb", BERLIN) as eng:
        yield eng


# Each period as (its number, its first date), in plain date arithmetic.
PERIODS: dict[str, Callable[[date], tuple[int, date]]] = {
    "day": lambda d: (d.toordinal(), d),
    "week": lambda d: ((d.toordinal() - d.weekday()) // 7, d - timedelta(days=d.weekday())),
    "month": lambda d: (d.year * 12 + d.month, d.replace(day=1)),
}


def expected(
    cohort_event: str, return_event: str, period: str, tz: str, periods: int | None = None
) -> list[dict[str, Any]]:
    """The cohorts read from the rows: first cohort event per person, returns N >= 1 periods later, up to
    the last period with any event."""
    of = PERIODS[period]
    last = max(of(local_date(r, tz))[0] for r in ROWS)
    first: dict[str, tuple[int, date]] = {}
    for r in sorted(ROWS, key=lambda r: r.time):
        person = PERSON[r.id]
        if person and r.event == cohort_event and person not in first:
            first[person] = of(local_date(r, tz))
    returns = {(PERSON[r.id], of(local_date(r, tz))[0]) for r in ROWS if r.event == return_event}
    cohorts = []
    for n, start in sorted(set(first.values())):
        members = [p for p, c in first.items() if c[0] == n]
        reach = last - n if periods is None else min(last - n, periods)
        returned = [sum((p, n + k) in returns for p in members) for k in range(1, reach + 1)]
        cohorts.append({"cohort": start.isoformat(), "customers": len(members), "returned": returned})
    return cohorts


def figures(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: c[k] for k in ("cohort", "customers", "returned")} for c in answer["cohorts"]]


def test_december_to_january_is_one_month_later(utc: Engine) -> None:
    answer = retention(utc, ORDER, ORDER, "month")
    cohorts = {c["cohort"]: c for c in answer["cohorts"]}
    # December: Ann and Ben (Finn denied analytics). January: Ben (his anonymous December order is his)
    # and Ann (31 January, UTC); nobody in February; Ann in March. Ann's second December order is period 0.
    assert cohorts["2025-12-01"]["customers"] == 2
    assert cohorts["2025-12-01"]["returned"] == [2, 0, 1]
    assert cohorts["2025-12-01"]["share"] == [1.0, 0.0, 0.5]
    # January: Cleo and Dee; Cleo back in February; March is the last month with events.
    assert cohorts["2026-01-01"]["customers"] == 2 and cohorts["2026-01-01"]["returned"] == [1, 0]
    assert figures(answer) == expected(ORDER, ORDER, "month", "UTC")


def test_months_are_the_time_zones(berlin: Engine) -> None:
    cohorts = {c["cohort"]: c for c in retention(berlin, ORDER, ORDER, "month")["cohorts"]}
    # Ann's order of 31 January 23:30 UTC is 1 February in Berlin: back in month 2, not 1.
    assert cohorts["2025-12-01"]["returned"] == [1, 1, 1]
    assert figures(retention(berlin, ORDER, ORDER, "month")) == expected(ORDER, ORDER, "month", BERLIN)


def test_a_return_in_the_cohorts_own_period_or_before_it_does_not_count(utc: Engine) -> None:
    answer = retention(utc, "Signed Up", ORDER, "month")
    # Hana: ordered in November (before signing up) and December (her cohort's month); back in February.
    assert figures(answer) == [{"cohort": "2025-12-01", "customers": 1, "returned": [0, 1, 0]}]
    assert answer["overall"] == [
        {"offset": 1, "customers": 1, "returned": 0, "share": 0.0},
        {"offset": 2, "customers": 1, "returned": 1, "share": 1.0},
        {"offset": 3, "customers": 1, "returned": 0, "share": 0.0},
    ]


def test_weeks_start_on_monday_in_the_time_zone(utc: Engine, berlin: Engine) -> None:
    in_utc = {
        c["cohort"]: c["returned"]
        for c in retention(utc, "Trial Started", "App Opened", "week", periods=3)["cohorts"]
    }
    # One cohort, the week of Monday 29 December: Jon, and Ivy (Sunday 4 January). Week 1: Ivy (Monday
    # 5 January; her Sunday 23:30 UTC is week 0 in UTC) and Jon (Sunday 11 January); week 2: Jon.
    assert in_utc == {"2025-12-29": [2, 1, 0]}
    in_berlin = retention(berlin, "Trial Started", "App Opened", "week", periods=3)
    assert figures(in_berlin) == expected("Trial Started", "App Opened", "week", BERLIN, 3)
    for eng, tz in ((utc, "UTC"), (berlin, BERLIN)):
        got = figures(retention(eng, ORDER, ORDER, "week", periods=4))
        assert got == expected(ORDER, ORDER, "week", tz, 4)
        assert all(date.fromisoformat(c["cohort"]).weekday() == 0 for c in got)


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_every_cohort_matches_the_rows_read_by_hand(utc: Engine, berlin: Engine, period: str) -> None:
    for eng, tz in ((utc, "UTC"), (berlin, BERLIN)):
        assert figures(retention(eng, ORDER, ORDER, period)) == expected(ORDER, ORDER, period, tz)
        assert figures(retention(eng, ORDER, ORDER, period, periods=2)) == expected(
            ORDER, ORDER, period, tz, 2
        )


def test_the_scope_limits_cohorts_and_returns(utc: Engine) -> None:
    answer = retention(utc, ORDER, ORDER, "month", Scope(start="2026-01-01", end="2026-03-01"))
    # January's first orders in the range: Ann, Ben, Cleo, Dee; February, the last month, has Cleo back,
    # and Hana, whose earlier orders are out of the range, is February's cohort.
    assert figures(answer) == [
        {"cohort": "2026-01-01", "customers": 4, "returned": [1]},
        {"cohort": "2026-02-01", "customers": 1, "returned": []},
    ]
    assert retention(utc, ORDER, ORDER, "month", Scope(channels=("app",)))["cohorts"] == []


@pytest.mark.parametrize(
    ("args", "option"),
    [
        ((ORDER, ORDER, "year"), "--period"),
        (("", ORDER, "month"), "--cohort-event"),
        ((ORDER, " ", "month"), "--return-event"),
        ((ORDER, ORDER, "month", None, 0), "--periods"),
        ((ORDER, ORDER, "month", Scope(end="2020-01-01", start="2021-01-01")), "--end"),
    ],
)
def test_a_bad_parameter_is_an_error_that_names_it(utc: Engine, args: tuple[Any, ...], option: str) -> None:
    with pytest.raises(AnalysisError, match=option):
        retention(utc, *args)


@pytest.mark.slow
def test_the_demo_worlds_planted_purchase_retention(demo_world: tuple[Path, dict[str, Any]]) -> None:
    """Every buyer, each walk-in sale a customer of its own, by calendar month in UTC (the truth's)."""
    home, truth = demo_world
    with open_engine(load_settings(home), "duckdb", "UTC") as eng:
        answer = retention(eng, ORDER, ORDER, "month")
    found = {
        c["cohort"][:7]: {"customers": c["customers"], "returned": c["returned"]} for c in answer["cohorts"]
    }
    assert found == truth["retention"]["cohorts"]
    assert sum(c["customers"] for c in answer["cohorts"]) == truth["retention"]["customers"]
