"""Web analytics on a hand-built store (``web_store.WEB``, sent to a real collector): every figure below is
worked out by hand from the visits listed there.

The nine sessions, by start (UTC), with pageviews, duration, bounce and conversion:

    S1 desk-1  Mon 09:00  google.com (search)          /  /p/tv  /checkout + order    3  750 s
    S2 desk-1  Mon 11:00  typed in (direct)            /blog + a scroll               1   20 s  bounce
    S3 phone-1 Mon 10:00  newsletter (email, autumn)   /  + a click                   1   40 s
    S4 phone-1 Tue 08:00  facebook.com (social)        /p/tv                          1    0 s  bounce
    S5 desk-2  Tue 12:00  google.com ad (paid)         /p/tv /checkout + order /thanks 3 240 s
    S6 app-1   Mon 15:00  app (direct)                 Home  Product + backgrounded   2  300 s
    S7 app-1   Mon+7 09:00 app (direct)                Home                           1    0 s  bounce
    S8 deny-1  Mon 23:50  blog.partner.example (referral) /deals + an identify        1  300 s  bounce
    S9 late-1  Tue 23:50  google.com (search)          /c/tvs  /p/tv (Wed 00:10)      2 1200 s

deny-1 refused analytics afterwards: a visitor (by anonymousId), not a customer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.web_store import WEB, WEB_DENIALS, build
from touchpoints.analytics.common import AnalysisError, Scope
from touchpoints.analytics.engine import Engine, open_engine
from touchpoints.analytics.web import campaigns, devices, exit_pages, landing_pages, referrers, sessions
from touchpoints.config import load_settings

pytestmark = pytest.mark.slow

DURATIONS = [750, 20, 40, 0, 240, 300, 0, 300, 1200]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("web") / "home", WEB, WEB_DENIALS).path


@pytest.fixture
def eng(store: Path) -> Iterator[Engine]:
    with open_engine(load_settings(store), "duckdb") as engine:
        yield engine


def _rows(answer: dict[str, Any], *keys: str) -> dict[Any, tuple[int, int, int]]:
    """(sessions, bounces, conversions) per row key."""
    out = {}
    for r in answer["rows"]:
        key = r[keys[0]] if len(keys) == 1 else tuple(r[k] for k in keys)
        out[key] = (r["sessions"], r["bounces"], r["conversions"])
    return out


def test_the_totals_follow_the_definitions(eng: Engine) -> None:
    total = sessions(eng)["total"]
    assert total == {
        "sessions": 9,
        "visitors": 6,  # desk-1, phone-1, desk-2, app-1, late-1, and deny-1 by its anonymousId
        "customers": 5,  # deny-1 refused analytics
        "pageviews": 15,
        "pages_per_session": round(15 / 9, 6),
        "bounces": 4,  # S2 (a scroll is no interaction), S4, S7, S8 (nor is an identify); S3 clicked
        "bounce_rate": round(4 / 9, 6),
        "median_duration_seconds": 240.0,  # 0 0 20 40 [240] 300 300 750 1200
        "mean_duration_seconds": round(sum(DURATIONS) / 9, 6),
        "conversions": 2,
        "conversion_rate": round(2 / 9, 6),
    }
    other_goal = sessions(eng, goal="Product Added")["total"]
    assert (other_goal["conversions"], other_goal["bounces"]) == (1, 4)


def test_per_day_and_week_in_the_analysis_time_zone(eng: Engine, store: Path) -> None:
    days = {r["period"]: r["sessions"] for r in sessions(eng, interval="day")["rows"]}
    # S9 runs past midnight: it counts on the day it began
    assert days == {"2026-10-05": 5, "2026-10-06": 3, "2026-10-12": 1}
    weeks = sessions(eng, interval="week")["rows"]
    assert [(r["period"], r["sessions"], r["bounces"]) for r in weeks] == [
        ("2026-10-05", 8, 3),
        ("2026-10-12", 1, 1),
    ]
    # Tokyo is 9 hours ahead: S6 (15:00 UTC) and S8 (23:50) begin on Tuesday there, S9 on Wednesday
    with open_engine(load_settings(store), "duckdb", "Asia/Tokyo") as tokyo:
        days = {r["period"]: r["sessions"] for r in sessions(tokyo, interval="day")["rows"]}
    assert days == {"2026-10-05": 3, "2026-10-06": 4, "2026-10-07": 1, "2026-10-12": 1}


def test_a_breakdown_takes_the_sessions_first_event(eng: Engine) -> None:
    rows = {r["group"]: r for r in sessions(eng, by="channel")["rows"]}
    assert set(rows) == {"app", "web"}
    app = rows["app"]
    assert (app["sessions"], app["visitors"], app["pageviews"], app["bounces"]) == (2, 1, 3, 1)
    assert app["median_duration_seconds"] == 150.0  # 0 and 300
    assert rows["web"]["sessions"] == 7
    both = sessions(eng, interval="day", by="referrer_class")["rows"]
    assert {(r["period"], r["group"]): r["sessions"] for r in both} == {
        ("2026-10-05", "search"): 1,
        ("2026-10-05", "direct"): 2,
        ("2026-10-05", "email"): 1,
        ("2026-10-05", "referral"): 1,
        ("2026-10-06", "social"): 1,
        ("2026-10-06", "paid"): 1,
        ("2026-10-06", "search"): 1,
        ("2026-10-12", "direct"): 1,
    }


def test_the_scope_selects_whole_sessions_by_their_start(eng: Engine) -> None:
    tuesday = sessions(eng, Scope(start="2026-10-06", end="2026-10-07"))["total"]
    # S4, S5 and S9, the last with its whole 20 minutes though it ends on Wednesday
    assert (tuesday["sessions"], tuesday["pageviews"], tuesday["mean_duration_seconds"]) == (3, 6, 480.0)
    app = sessions(eng, Scope(channels=("app",)))["total"]
    assert (app["sessions"], app["pageviews"]) == (2, 3)
    assert sessions(eng, Scope(channels=("pos",)))["total"]["sessions"] == 0


def test_landing_and_exit_pages_with_the_rest_as_other(eng: Engine) -> None:
    answer = landing_pages(eng, limit=4)
    # sessions, then the page's name, decide the order; an app's screen is its name
    assert _rows(answer, "landing_page") == {
        "/": (2, 0, 1),
        "/p/tv": (2, 1, 1),
        "Home": (2, 1, 0),
        "/blog": (1, 1, 0),
        "Other": (2, 1, 0),  # /c/tvs and /deals
    }
    assert [r["landing_page"] for r in answer["rows"]] == ["/", "/p/tv", "Home", "/blog", "Other"]
    assert answer["other_groups"] == 2
    first = answer["rows"][0]
    assert (first["bounce_rate"], first["conversion_rate"], first["share"]) == (0.0, 0.5, round(2 / 9, 6))
    assert answer["total"] == {
        "sessions": 9,
        "pageviews": 15,
        "bounces": 4,
        "bounce_rate": round(4 / 9, 6),
        "conversions": 2,
        "conversion_rate": round(2 / 9, 6),
    }
    exits = _rows(exit_pages(eng), "exit_page")
    assert exits == {
        "/p/tv": (2, 1, 0),
        "/": (1, 0, 0),
        "/blog": (1, 1, 0),
        "/checkout": (1, 0, 1),
        "/deals": (1, 1, 0),
        "/thanks": (1, 0, 1),
        "Home": (1, 1, 0),
        "Product": (1, 0, 0),
    }


def test_referrers_by_class_and_host(eng: Engine) -> None:
    assert _rows(referrers(eng), "referrer_class") == {
        "direct": (3, 2, 0),
        "search": (2, 0, 1),
        "email": (1, 0, 0),
        "paid": (1, 0, 1),
        "referral": (1, 1, 0),
        "social": (1, 1, 0),
    }
    hosts = referrers(eng, by="host")
    assert [(r["referrer_host"], r["sessions"]) for r in hosts["rows"]] == [
        ("(none)", 4),
        ("google.com", 3),
        ("blog.partner.example", 1),
        ("facebook.com", 1),
    ]


def test_campaigns_and_devices(eng: Engine) -> None:
    assert _rows(campaigns(eng), "utm_source", "utm_medium", "utm_campaign") == {
        ("(none)", "(none)", "(none)"): (8, 4, 2),
        ("newsletter", "email", "autumn"): (1, 0, 0),
    }
    assert _rows(devices(eng), "device_type") == {"desktop": (5, 2, 2), "mobile": (4, 2, 0)}
    assert _rows(devices(eng, by="browser"), "browser") == {
        "Chrome": (5, 2, 2),
        "(none)": (2, 1, 0),  # the app
        "Mobile Safari": (2, 1, 0),
    }
    assert _rows(devices(eng, by=["device_type", "os"], limit=1), "device_type", "os") == {
        ("desktop", "Windows"): (5, 2, 2),
        ("Other", "Other"): (4, 2, 0),
    }


def test_bad_parameters_say_what_to_give(eng: Engine) -> None:
    with pytest.raises(AnalysisError, match="--period 'year'"):
        sessions(eng, interval="year")
    with pytest.raises(AnalysisError, match="--goal"):
        sessions(eng, goal="")
    with pytest.raises(AnalysisError, match="--limit 0"):
        landing_pages(eng, limit=0)
    with pytest.raises(AnalysisError, match="use class or host"):
        referrers(eng, by="medium")
    with pytest.raises(AnalysisError, match="device_type, browser or os"):
        devices(eng, by="screen")
