"""Trends on a hand-made shop: per-period events and customers worked out by hand from the rows written,
a customer's anonymous events before sign-in counted once with the rest, days, weeks and months in the
analysis' time zone (23:30 UTC is the next day in Berlin), empty periods filled, breakdowns."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests.analytics.handmade import Row, local_date, people, store
from tests.conftest import Home, make_home
from touchpoints.analytics.common import AnalysisError, Scope
from touchpoints.analytics.engine import Engine, open_engine
from touchpoints.analytics.trends import trends

BERLIN = "Europe/Berlin"
DENIED = ("u-carol",)
ROWS = [
    # Alice browses anonymously on Monday 2 March, signs in and buys: one customer that day.
    Row("a1", "2026-03-02T10:00:00Z", "Product Viewed", anon="a-1", props={"plan": "basic", "category": "Shoes"}),
    Row("a2", "2026-03-02T10:05:00Z", "Identify", user="u-alice", anon="a-1"),
    Row("a3", "2026-03-02T10:10:00Z", "Order Completed", user="u-alice", props={"plan": "pro"}),
    Row("a4", "2026-03-03T09:00:00Z", "Order Completed", user="u-alice", channel="pos"),
    # Bob buys at 23:30 UTC on Sunday 1 March: 00:30 on Monday 2 March in Berlin (a new day and week).
    Row("b1", "2026-03-01T23:30:00Z", "Order Completed", user="u-bob", channel="pos"),
    # Carol denied analytics: her events count, she does not.
    Row("c1", "2026-03-03T11:00:00Z", "Product Viewed", user="u-carol", props={"category": "Bags"}),
    Row("c2", "2026-03-03T12:00:00Z", "Order Completed", user="u-carol"),
    # An app visitor who never signs in is a customer of their own. Nothing happens on 4 March.
    Row("d1", "2026-03-05T09:00:00Z", "Product Viewed", anon="a-9", channel="app", props={"category": "Shoes"}),
    # Eve buys at 22:30 UTC on 31 March: 00:30 on 1 April in Berlin (summer time, UTC+2).
    Row("e1", "2026-03-31T22:30:00Z", "Order Completed", user="u-eve", props={"plan": "basic"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Home:
    home = make_home(tmp_path_factory.mktemp("trends") / "home")
    store(home, ROWS, DENIED)
    return home


@pytest.fixture
def berlin(shop: Home) -> Iterator[Engine]:
    with open_engine(shop.settings, "duckdb", BERLIN) as eng:
        yield eng


@pytest.fixture
def utc(shop: Home) -> Iterator[Engine]:
    with open_engine(shop.settings, "duckdb", "UTC") as eng:
        yield eng


PERSON = people(ROWS, DENIED)
SHOP_EVENTS = sorted({r.event for r in ROWS})
# The contact import that records Carol's denial is an event too (an identify of channel "other", in
# 2020): the tests look at the shop's channels only.
SHOP = Scope(channels=("web", "app", "pos"))


def expected(
    tz: str,
    period: Callable[[date], date],
    group: Callable[[Row], str | None] = lambda r: None,
    keep: Callable[[Row], bool] = lambda r: True,
) -> dict[tuple[str, str | None], dict[str, int]]:
    """Events and distinct people per (period, group), from the rows."""
    found: dict[tuple[str, str | None], tuple[int, set[str]]] = {}
    for r in ROWS:
        if not keep(r):
            continue
        key = (period(local_date(r, tz)).isoformat(), group(r))
        events, who = found.get(key, (0, set()))
        person = PERSON[r.id]
        found[key] = (events + 1, who | ({person} if person else set()))
    return {k: {"events": n, "customers": len(who)} for k, (n, who) in found.items()}


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def by_key(answer: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, int]]:
    return {
        (s["period"], s["group"]): {"events": s["events"], "customers": s["customers"]}
        for s in answer["series"]
    }


def nonzero(answer: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, int]]:
    return {k: v for k, v in by_key(answer).items() if v["events"]}


def test_daily_events_and_customers_per_event_in_berlin(berlin: Engine) -> None:
    answer = trends(berlin, SHOP_EVENTS, "day", by="event", scope=SHOP)
    assert answer["interval"] == "day" and answer["timezone"] == BERLIN
    assert nonzero(answer) == expected(BERLIN, lambda d: d, lambda r: r.event)
    # Every day from the first to the last event, every event in each: 2 March to 1 April.
    days = sorted({s["period"] for s in answer["series"]})
    assert days[0] == "2026-03-02" and days[-1] == "2026-04-01" and len(days) == 31
    assert len(answer["series"]) == 31 * len(SHOP_EVENTS)
    assert answer["series"] == sorted(answer["series"], key=lambda s: (s["period"], s["group"]))


def test_anonymous_events_before_sign_in_count_once_with_the_customer(utc: Engine) -> None:
    day = by_key(trends(utc, SHOP_EVENTS, "day", scope=SHOP))
    # Alice's anonymous view, her sign-in and her order: three events, one customer.
    assert day[("2026-03-02", None)] == {"events": 3, "customers": 1}


def test_a_day_in_berlin_starts_at_23_00_utc(utc: Engine, berlin: Engine) -> None:
    in_utc = by_key(trends(utc, ["Order Completed"], "day", scope=SHOP))
    in_berlin = by_key(trends(berlin, ["Order Completed"], "day", scope=SHOP))
    assert in_utc[("2026-03-01", None)] == {"events": 1, "customers": 1}  # Bob, 23:30 UTC
    assert ("2026-03-01", None) not in in_berlin  # before the first event there
    assert in_berlin[("2026-03-02", None)] == {"events": 2, "customers": 2}  # Bob and Alice
    months_utc = by_key(trends(utc, ["Order Completed"], "month", scope=SHOP))
    months_berlin = by_key(trends(berlin, ["Order Completed"], "month", scope=SHOP))
    # Alice's two orders, Bob's, Carol's (not a customer here) and Eve's.
    assert months_utc == {("2026-03-01", None): {"events": 5, "customers": 3}}
    # Eve's order of 31 March 22:30 UTC is April in Berlin.
    assert months_berlin == {
        ("2026-03-01", None): {"events": 4, "customers": 2},
        ("2026-04-01", None): {"events": 1, "customers": 1},
    }


def test_weeks_start_on_monday_in_the_time_zone(utc: Engine, berlin: Engine) -> None:
    for eng, tz in ((utc, "UTC"), (berlin, BERLIN)):
        answer = trends(eng, SHOP_EVENTS, "week", scope=SHOP)
        assert nonzero(answer) == expected(tz, monday)
        assert all(date.fromisoformat(s["period"]).weekday() == 0 for s in answer["series"])
    # Bob's Sunday-night order is the week of 23 February in UTC, of 2 March in Berlin.
    assert by_key(trends(utc, ["Order Completed"], "week", scope=SHOP))[("2026-02-23", None)]["events"] == 1
    assert ("2026-02-23", None) not in by_key(trends(berlin, ["Order Completed"], "week", scope=SHOP))


def test_a_customer_without_analytics_consent_counts_as_events_only(utc: Engine) -> None:
    day = by_key(trends(utc, SHOP_EVENTS, "day", scope=SHOP))
    # 3 March: Carol's view and order (she denied analytics) and Alice's order at the till.
    assert day[("2026-03-03", None)] == {"events": 3, "customers": 1}


def test_breakdown_by_a_property_and_by_a_column(berlin: Engine) -> None:
    by_plan = trends(berlin, SHOP_EVENTS, "month", by="plan", scope=SHOP)
    assert nonzero(by_plan) == expected(
        BERLIN, lambda d: d.replace(day=1), lambda r: r.props.get("plan", "(none)")
    )
    assert {s["group"] for s in by_plan["series"]} == {"basic", "pro", "(none)"}
    by_channel = trends(berlin, SHOP_EVENTS, "month", by="channel", scope=SHOP)
    assert nonzero(by_channel) == expected(BERLIN, lambda d: d.replace(day=1), lambda r: r.channel)


def test_the_scope_keeps_its_channels_and_fills_every_day_of_its_range(berlin: Engine) -> None:
    scope = Scope(start="2026-03-01", end="2026-03-08", channels=("web",))
    answer = trends(berlin, None, "day", scope=scope)
    assert [s["period"] for s in answer["series"]] == [f"2026-03-0{d}" for d in range(1, 8)]
    web = expected(BERLIN, lambda d: d, keep=lambda r: r.channel == "web")
    for s in answer["series"]:
        assert {"events": s["events"], "customers": s["customers"]} == web.get(
            (s["period"], None), {"events": 0, "customers": 0}
        )
    assert by_key(answer)[("2026-03-04", None)] == {"events": 0, "customers": 0}


def test_an_event_asked_for_that_never_happened_is_a_group_of_zeros(berlin: Engine) -> None:
    answer = trends(berlin, ["Order Completed", "Order Refunded"], "month", by="event", scope=SHOP)
    assert by_key(answer)[("2026-03-01", "Order Refunded")] == {"events": 0, "customers": 0}


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"interval": "year"}, "--interval"),
        ({"events": [""]}, "--events"),
        ({"scope": Scope(start="2026-03-08", end="2026-03-01")}, "--end"),
        ({"scope": Scope(start="1 March")}, "--start"),
        ({"by": "properties.a b"}, "--by"),
        ({"interval": "day", "scope": Scope(start="1900-01-01", end="2026-01-01")}, "--interval"),
    ],
)
def test_a_bad_parameter_is_an_error_that_names_it(utc: Engine, kwargs: dict[str, Any], option: str) -> None:
    with pytest.raises(AnalysisError, match=option):
        trends(utc, **kwargs)


def test_the_shop_was_stored_as_written(utc: Engine) -> None:
    t = SHOP.apply(utc, utc.events())
    assert sorted(utc.to_arrow(t.select("message_id")).column(0).to_pylist()) == sorted(r.id for r in ROWS)
