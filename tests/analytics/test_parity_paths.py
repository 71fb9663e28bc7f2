"""Paths on the demo world are identical on DuckDB and on Spark local[2]: the events are put in the same
order (time, then message id), ``Other`` and ``(end)`` fall on the same paths; sessions' paths read the
prepared runs, exported as Parquet with the events."""

from __future__ import annotations

from typing import Any

import pytest

from tests.analytics.conftest import same
from tests.analytics.handmade import SPARK_WARNINGS
from touchpoints.analytics.common import Scope
from touchpoints.analytics.engine import Engine
from touchpoints.analytics.paths import paths

pytestmark = [pytest.mark.spark, *SPARK_WARNINGS]

CASES: list[dict[str, Any]] = [
    {"event": "Product Viewed"},
    {"event": "Order Completed", "direction": "previous", "steps": 4, "limit": 3},
    {"event": "Order Completed", "by_session": False, "steps": 5, "limit": 5},
    {"event": "Checkout Started", "steps": 2, "limit": 1, "scope": Scope(channels=("web",))},
    {"event": "Page Viewed", "direction": "previous", "by_session": False, "steps": 3,
     "scope": Scope(start="2026-06-01", end="2026-09-01")},
    # sessions' paths come from the prepared runs (Parquet on Spark), cut by a scope
    {"event": "Page Viewed", "direction": "previous", "steps": 4, "limit": 4,
     "scope": Scope(start="2026-02-01T13:00", end="2026-08-01T09:30")},
    {"event": "Product Added", "steps": 6, "limit": 2, "scope": Scope(end="2026-05-17T20:10")},
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_paths_are_the_same_on_duckdb_and_spark(
    demo_engines: tuple[Engine, Engine], case: dict[str, Any]
) -> None:
    duck, spark = demo_engines
    on_duckdb = paths(duck, **case)
    on_spark = paths(spark, **case)
    assert len(on_duckdb["links"]) > 1
    same(on_duckdb, on_spark)
