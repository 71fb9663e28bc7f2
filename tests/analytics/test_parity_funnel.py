"""The funnel on the demo world gives identical answers on DuckDB and on Spark local[2]."""

from __future__ import annotations

import pytest

from tests.analytics.conftest import same
from touchpoints.analytics.common import Scope
from touchpoints.analytics.engine import Engine
from touchpoints.analytics.funnel import funnel

pytestmark = pytest.mark.spark

FUNNEL = ["Products Searched", "Product List Viewed", "Product Viewed", "Product Added", "Cart Viewed",
          "Checkout Started", "Order Completed"]  # fmt: skip
CASES = [
    {"steps": FUNNEL, "within": "400d", "scope": Scope(channels=("web", "app"))},
    {"steps": FUNNEL, "within": "400d", "scope": Scope(channels=("web", "app")), "unit": "session"},
    {"steps": ["Product Viewed", "Checkout Started", "Order Completed"], "within": "7d"},
    {"steps": ["Product Viewed", "Order Completed"], "within": "1d", "by": "channel"},
    {"steps": ["Page Viewed", "Product Viewed", "Order Completed"], "within": "2h", "by": "utm_source"},
    {"steps": ["Product Viewed", "Product Added"], "within": "30m", "by": "category"},  # a property
    {"steps": ["Product Viewed", "Product Viewed"], "within": "30d",
     "scope": Scope(start="2026-03-01", end="2026-07-01")},
    # a step named again, grouped by a property some first steps lack (the NULL group)
    {"steps": ["Product Viewed", "Product Added", "Product Viewed"], "within": "1d", "by": "category"},
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_the_funnel_is_the_same_on_duckdb_and_spark(demo_engines: tuple[Engine, Engine], case: dict) -> None:  # type: ignore[type-arg]
    duck, spark = demo_engines
    on_duckdb = funnel(duck, **case)
    on_spark = funnel(spark, **case)
    assert on_duckdb["steps"][0]["customers"] > 0
    same(on_duckdb, on_spark)
