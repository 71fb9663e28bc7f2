"""Web analytics and heatmaps give identical answers on DuckDB and on Spark local[2]: on the demo world
(thousands of sessions: ties in the top lists, medians of many) and on the hand-built store of
``web_store`` (every definition's corner: app screens, a visitor without consent, a session over
midnight, unplaced clicks, scrolls at the instant of their view)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.conftest import same, spark_or_skip
from tests.analytics.web_store import HEATMAP, PRICING, WEB, WEB_DENIALS, at, build
from touchpoints.analytics import heatmap, web
from touchpoints.analytics.common import Scope
from touchpoints.analytics.engine import Engine, open_engine
from touchpoints.config import Settings, load_settings

pytestmark = [
    pytest.mark.spark,
    # pyspark 4.0's toPandas under pandas 3 (a deprecation, hidden outside tests), and py4j's sockets to
    # the JVM, left for the garbage collector
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]

Analysis = Callable[[Engine], dict[str, Any]]
WEB_CASES: dict[str, Analysis] = {
    "sessions": lambda e: web.sessions(e),
    "sessions per week and referrer": lambda e: web.sessions(e, interval="week", by="referrer_class"),
    "sessions per day, web, spring": lambda e: web.sessions(
        e, Scope(start="2026-03-01", end="2026-07-01", channels=("web",)), interval="day"
    ),
    "sessions per month in Tokyo": lambda e: web.sessions(
        replace(e, timezone="Asia/Tokyo"), interval="month"
    ),
    "sessions by device, goal": lambda e: web.sessions(e, by="device_type", goal="Product Added"),
    "sessions by a property": lambda e: web.sessions(e, by="properties.name"),
    "landing pages": lambda e: web.landing_pages(e, limit=5),
    "exit pages, app": lambda e: web.exit_pages(e, Scope(channels=("app",)), limit=3),
    "referrer classes": lambda e: web.referrers(e),
    "referrer hosts": lambda e: web.referrers(e, by="host", limit=3),
    "campaigns": lambda e: web.campaigns(e, limit=4),
    "devices": lambda e: web.devices(e, by="device_type,browser,os", limit=6),
}
HEATMAP_CASES: dict[str, Analysis] = {
    "heatmap": lambda e: heatmap.heatmap(e, PRICING),
    "heatmap 4 x 4, 2 elements": lambda e: heatmap.heatmap(e, PRICING, grid=4, limit=2),
    "heatmap later": lambda e: heatmap.heatmap(e, PRICING, Scope(start=at(10, 9, 4))),
    "heatmap of a page without clicks": lambda e: heatmap.heatmap(e, "/nowhere"),
    "pages": lambda e: heatmap.pages(e),
}


def _on(settings: Settings, engine: Engine) -> None:
    """Points Spark's one table of prepared events (a temporary view of the one session) at the Parquet
    ``engine`` was opened on: two stores on one Spark session take turns."""
    from touchpoints.store import spark

    spark.ibis_backend(spark.session(settings), engine.about["parquet"])


@pytest.fixture(scope="module")
def demo(
    demo_world: tuple[Path, dict[str, Any]], demo_engines: tuple[Engine, Engine]
) -> tuple[Settings, Engine]:
    return load_settings(demo_world[0]), demo_engines[1]


@pytest.fixture(scope="module")
def hand_built(
    tmp_path_factory: pytest.TempPathFactory, demo: tuple[Settings, Engine]
) -> Iterator[tuple[Settings, Engine, Engine]]:
    spark_or_skip()
    home = build(tmp_path_factory.mktemp("web-parity") / "home", WEB + HEATMAP, WEB_DENIALS)
    with open_engine(home.settings, "duckdb") as duck, open_engine(home.settings, "spark") as spark:
        yield home.settings, duck, spark
    _on(*demo)  # the demo world's again, for the suites after this one


@pytest.mark.parametrize("case", list(WEB_CASES))
def test_web_analytics_on_the_demo_world(
    demo: tuple[Settings, Engine], demo_engines: tuple[Engine, Engine], case: str
) -> None:
    duck, spark = demo_engines
    _on(*demo)
    on_duckdb, on_spark = WEB_CASES[case](duck), WEB_CASES[case](spark)
    assert on_duckdb["total"]["sessions"] > 0
    same(on_duckdb, on_spark)


@pytest.mark.parametrize("case", list(WEB_CASES) + list(HEATMAP_CASES))
def test_every_analysis_on_the_hand_built_store(
    hand_built: tuple[Settings, Engine, Engine], case: str
) -> None:
    settings, duck, spark = hand_built
    _on(settings, spark)
    analysis = WEB_CASES.get(case) or HEATMAP_CASES[case]
    same(analysis(duck), analysis(spark))
