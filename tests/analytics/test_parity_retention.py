"""Retention cohorts on the demo world are identical on DuckDB and on Spark local[2]: the period numbers
(months as year * 12 + month, weeks from Monday) come out the same in every time zone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.analytics.conftest import same
from tests.analytics.handmade import SPARK_WARNINGS
from touchpoints.analytics.common import Scope
from touchpoints.analytics.engine import Engine
from touchpoints.analytics.retention import retention

pytestmark = [pytest.mark.spark, *SPARK_WARNINGS]

CASES: list[tuple[str, dict[str, Any]]] = [
    ("UTC", {"cohort_event": "Order Completed", "return_event": "Order Completed", "period": "month"}),
    ("Europe/Berlin", {"cohort_event": "Product Viewed", "return_event": "Order Completed", "period": "week",
                       "periods": 6}),
    ("UTC", {"cohort_event": "Identify", "return_event": "Page Viewed", "period": "day", "periods": 10,
             "scope": Scope(start="2026-03-01", end="2026-04-01")}),
    ("Asia/Kolkata", {"cohort_event": "Loyalty Program Joined", "return_event": "Order Completed",
                      "period": "month", "scope": Scope(channels=("pos", "loyalty"))}),
    ("America/New_York", {"cohort_event": "Order Completed", "return_event": "Order Completed",
                          "period": "week"}),
]  # fmt: skip


@pytest.mark.parametrize(("zone", "case"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_retention_is_the_same_on_duckdb_and_spark(
    demo_engines: tuple[Engine, Engine], zone: str, case: dict[str, Any]
) -> None:
    duck, spark = (replace(e, timezone=zone) for e in demo_engines)
    on_duckdb = retention(duck, **case)
    on_spark = retention(spark, **case)
    assert any(sum(c["returned"]) for c in on_duckdb["cohorts"])
    same(on_duckdb, on_spark)
