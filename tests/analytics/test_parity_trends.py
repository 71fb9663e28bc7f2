"""Trends on the demo world give identical answers on DuckDB and on Spark local[2], in several time
zones (a zone is the engine's: the same Spark session, asked for Berlin or New York days)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.analytics.conftest import same
from tests.analytics.handmade import SPARK_WARNINGS
from touchpoints.analytics.common import Scope
from touchpoints.analytics.engine import Engine
from touchpoints.analytics.trends import trends

pytestmark = [pytest.mark.spark, *SPARK_WARNINGS]

CASES: list[tuple[str, dict[str, Any]]] = [
    ("UTC", {"interval": "month"}),
    ("UTC", {"events": ["Order Completed"], "interval": "week", "by": "channel"}),
    ("Europe/Berlin", {"interval": "day", "by": "event",
                       "scope": Scope(start="2026-03-25", end="2026-04-05", channels=("web", "app"))}),
    ("Europe/Berlin", {"events": ["Product Viewed", "Product Added"], "interval": "month", "by": "category"}),
    ("America/New_York", {"events": ["Page Viewed"], "interval": "day", "by": "utm_source",
                          "scope": Scope(start="2026-10-25", end="2026-11-05")}),
    ("Asia/Kolkata", {"interval": "week", "by": "device_type"}),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "case"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_trends_are_the_same_on_duckdb_and_spark(
    demo_engines: tuple[Engine, Engine], zone: str, case: dict[str, Any]
) -> None:
    duck, spark = (replace(e, timezone=zone) for e in demo_engines)
    on_duckdb = trends(duck, **case)
    on_spark = trends(spark, **case)
    assert sum(s["events"] for s in on_duckdb["series"]) > 0
    same(on_duckdb, on_spark)
