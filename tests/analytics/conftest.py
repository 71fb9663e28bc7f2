"""What the analytics tests share: the demo world (``demo_world`` in tests/conftest.py), a Spark session
when the parity suite runs, and the comparison of two engines' answers."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from touchpoints.analytics.engine import Engine, open_engine
from touchpoints.config import load_settings


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "touchpoints", *args], capture_output=True, text=True)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def spark_or_skip() -> None:
    """The parity suite needs pyspark and Java; .ci/run sets TOUCHPOINTS_REQUIRE_SPARK=1 so that a missing
    piece fails there instead of skipping."""
    missing = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing = "pyspark is not installed (pip install -e '.[spark]')"
    if missing is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing = "no Java runtime (apt-get install openjdk-17-jre-headless)"
    if missing:
        if os.environ.get("TOUCHPOINTS_REQUIRE_SPARK") == "1":
            pytest.fail(f"the Spark parity suite cannot run: {missing}")
        pytest.skip(f"the Spark parity suite cannot run: {missing}")


@pytest.fixture(scope="session")
def demo_engines(demo_world: tuple[Path, dict[str, Any]]) -> Iterator[tuple[Engine, Engine]]:
    """The demo world on DuckDB and on Spark local[2] (its prepared events exported as Parquet)."""
    spark_or_skip()
    settings = load_settings(demo_world[0])
    with open_engine(settings, "spark") as spark, open_engine(settings, "duckdb") as duck:
        yield duck, spark


def same(a: Any, b: Any, path: str = "") -> None:
    """Asserts two answers are identical: the same keys, lists and values; floats equal to 1e-9; the
    ``engine`` and ``data`` entries (which engine, where the data came from) are not compared."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) - {"engine", "data"}
        assert keys == set(b) - {"engine", "data"}, f"{path}: keys {sorted(keys)} != {sorted(set(b))}"
        for k in keys:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), f"{path}: {len(a)} items on DuckDB, {len(b)} on Spark"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, f"{path}: {a!r} != {b!r}"
        assert math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
