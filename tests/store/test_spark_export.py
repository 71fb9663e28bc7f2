"""The Parquet copy for Spark (``store.spark.export_prepared``) without Spark: both prepared tables are
written with their manifests, and a write that fails half-way leaves files that are still Touchpoints'
own, so an erasure's ``forget`` deletes them and the next export replaces them (before, the manifest
came last: the half-written personal data was neither deleted nor overwritten, and every later export
refused the folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from tests.analytics.handmade import Row, store
from tests.conftest import make_home
from touchpoints.analytics import prepared
from touchpoints.privacy.gate import Gate
from touchpoints.store import spark
from touchpoints.store.duckdb import open_store

ROWS = [
    Row("e1", "2026-05-01T10:00:00Z", "Product Viewed", anon="v1"),
    Row("e2", "2026-05-01T10:01:00Z", "Product Added", anon="v1"),
    Row("e3", "2026-06-02T11:00:00Z", "Product Viewed", anon="v2"),
]


def test_a_failed_export_is_forgotten_and_written_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = make_home(tmp_path / "home")
    store(home, ROWS)
    location = str(tmp_path / "parquet")
    real = ds.write_dataset

    def fails_half_way(source: Any, path: str, **kwargs: Any) -> None:
        real(source, path, **kwargs)  # the files are written ...
        raise OSError("disk full")  # ... and then the write fails

    with open_store(home.settings.store_path) as db:
        ready = prepared.rebuild(db, Gate.for_settings(home.settings))
        monkeypatch.setattr(spark.ds, "write_dataset", fails_half_way)
        with pytest.raises(OSError, match="disk full"):
            spark.export_prepared(db, location, ready.prepared_at)
        events = tmp_path / "parquet" / "analytics_events"
        assert any(events.rglob("*.parquet")), "the failed write left files"
        assert json.loads((events / spark.MANIFEST).read_text())["prepared_at"] is None
        # an erasure deletes what the failed write left
        assert spark.forget(location) and not events.exists()
        # and the next export replaces it
        with pytest.raises(OSError, match="disk full"):
            spark.export_prepared(db, location, ready.prepared_at)
        monkeypatch.setattr(spark.ds, "write_dataset", real)
        spark.export_prepared(db, location, ready.prepared_at)
    for table, rows in [("analytics_events", 3), ("analytics_runs", 6)]:
        folder = tmp_path / "parquet" / table
        assert (
            json.loads((folder / spark.MANIFEST).read_text())["prepared_at"] == ready.prepared_at.isoformat()
        )
        assert ds.dataset(folder, format="parquet", exclude_invalid_files=True).count_rows() == rows, table


def test_a_copy_that_cannot_be_read_is_not_reported_forgotten(tmp_path: Path) -> None:
    """At a URL (an object store; ``file://`` here), ``forget`` raises when it cannot read a folder's
    manifest (a directory in its place, as a store out of reach would fail), so an erasure reports the
    copy as not reached instead of as deleted."""
    (tmp_path / "analytics_events" / spark.MANIFEST).mkdir(parents=True)
    with pytest.raises(OSError):
        spark.forget(f"file://{tmp_path}")
