"""A new, empty store answers on Spark as on DuckDB: nothing, not an error (its exported folder holds no
Parquet file, so Spark must be given the schema instead of inferring it). Run through the CLI, in a
process of its own: the parity suite's shared Spark session keeps pointing at the demo world."""

from __future__ import annotations

import json

import pytest

from tests.analytics.conftest import cli, same, spark_or_skip
from tests.analytics.handmade import SPARK_WARNINGS
from tests.conftest import Home

pytestmark = [pytest.mark.spark, *SPARK_WARNINGS]


def test_an_empty_store_answers_the_same_on_spark(home: Home) -> None:
    spark_or_skip()
    asks = [
        ["funnel", "--steps", "Product Viewed,Order Completed"],
        ["trends", "--interval", "week"],
        ["retention", "--cohort-event", "Order Completed", "--return-event", "Order Completed"],
    ]
    found = []
    for ask in asks:
        answers = {}
        for engine in ("duckdb", "spark"):
            out = cli("analytics", *ask, "--engine", engine, "--json", "--home", str(home.path))
            answers[engine] = json.loads(out.stdout)
        for answer in answers.values():
            answer.pop("engine"), answer.pop("data")
        same(answers["duckdb"], answers["spark"])
        found.append(answers["spark"])
    assert [s["customers"] for s in found[0]["steps"]] == [0, 0]
    assert found[1]["series"] == [] and found[2]["cohorts"] == []
