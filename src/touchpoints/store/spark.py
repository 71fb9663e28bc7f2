"""Apache Spark, the scale-out engine: the prepared events as partitioned Parquet, and a Spark session.

The store's prepared tables (``analytics_events``, ``analytics_runs``) are written as Parquet (the events
partitioned by month, ``month=2026-09/``) to ``[spark] parquet``: a folder, or an object store URL
(``s3://``, ``gs://``, ``hdfs://``; pyarrow writes it, the cluster reads it). A manifest
(``_touchpoints.json``) records which preparation the files hold, so they are written again only when the
store changed. The session runs on ``[spark] master`` (``local[2]`` by default) with its time zone set to
UTC, so times mean the same as in DuckDB. Needs the ``[spark]`` extra (pyspark) and Java 17.

The files go in ``<location>/analytics_events/`` and ``<location>/analytics_runs/`` (each session's and
customer's runs of events, for paths), and only a folder with the manifest is ever deleted or rewritten.
They hold personal data as the store does: an erasure or a retention run deletes them (``forget``), and
the next analysis on Spark writes them again from the store.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from touchpoints.analytics.columns import COLUMNS, RUN_COLUMNS, RUNS, TABLE
from touchpoints.store.backend import Backend

if TYPE_CHECKING:
    from touchpoints.config import Settings

MANIFEST = "_touchpoints.json"


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in location:
        os.makedirs(location, exist_ok=True)
        return pafs.LocalFileSystem(), os.path.abspath(location)
    fs, path = pafs.FileSystem.from_uri(location)
    return fs, path


def _spark_uri(location: str) -> str:
    if location.startswith("s3://"):
        return "s3a://" + location[len("s3://") :]  # Hadoop's S3 connector
    return location


def _manifest(fs: pafs.FileSystem, path: str) -> dict[str, Any] | None:
    try:
        with fs.open_input_stream(f"{path}/{MANIFEST}") as f:
            data: dict[str, Any] = json.loads(f.read().decode("utf-8"))
            return data
    except (FileNotFoundError, ValueError):  # none, or not one Touchpoints wrote
        return None
    # any other OSError (an object store out of reach) goes up: an erasure must not report the copy
    # deleted when it could not even look


def export_prepared(db: Backend, location: str, prepared_at: datetime) -> str:
    """Writes the prepared tables under ``location`` (a folder each) unless they already hold this
    preparation; returns the location as Spark reads it."""
    names = ", ".join(n for n, _ in COLUMNS)
    events = f"SELECT {names}, strftime(timestamp, '%Y-%m') AS month FROM {TABLE} ORDER BY event, timestamp, message_id"
    runs = f"SELECT {', '.join(n for n, _ in RUN_COLUMNS)} FROM {RUNS} ORDER BY unit_no, run"
    fs, root = _filesystem(location)
    for table, sql, partitioning in [(TABLE, events, ["month"]), (RUNS, runs, None)]:
        _export(db, fs, f"{root.rstrip('/')}/{table}", table, sql, partitioning, prepared_at.isoformat())
    return _spark_uri(location if "://" in location else root)


def _export(
    db: Backend,
    fs: pafs.FileSystem,
    path: str,
    table: str,
    sql: str,
    partitioning: list[str] | None,
    mark: str,
) -> None:
    # a folder of its own: nothing else at the location is touched
    try:
        found = _manifest(fs, path)
    except OSError as exc:
        raise RuntimeError(f"[spark] parquet: cannot read {path}: {exc}") from exc
    if found is not None and found.get("prepared_at") == mark:
        return
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        if found is None:
            raise RuntimeError(
                f"{path} exists but Touchpoints did not write it (no {MANIFEST}); move it away or set "
                "[spark] parquet to another location"
            )
        fs.delete_dir_contents(path)
    fs.create_dir(path, recursive=True)
    # the manifest first (for no preparation yet), so that files left by a write that fails half-way are
    # still Touchpoints' own: ``forget`` deletes them, the next export replaces them
    _write_manifest(fs, path, table, None)
    batches = (_utc(b) for b in db.batches(sql, size=200_000))
    first = next(batches, None)
    schema = (
        first.schema
        if first is not None
        else _utc(pa.RecordBatch.from_pylist([], schema=db.arrow(sql + " LIMIT 0").schema)).schema
    )
    source = itertools.chain([first] if first is not None else [], batches)
    ds.write_dataset(
        source,
        path,
        schema=schema,
        filesystem=fs,
        format="parquet",
        partitioning=partitioning,
        partitioning_flavor="hive" if partitioning else None,
        existing_data_behavior="overwrite_or_ignore",
        max_rows_per_group=1_000_000,
    )
    _write_manifest(fs, path, table, mark)


def _write_manifest(fs: pafs.FileSystem, path: str, table: str, mark: str | None) -> None:
    with fs.open_output_stream(f"{path}/{MANIFEST}") as f:
        f.write(json.dumps({"prepared_at": mark, "table": table}).encode("utf-8"))


def _utc(batch: pa.RecordBatch) -> pa.RecordBatch:
    """UTC-adjusted timestamps, so Spark reads a TIMESTAMP in its (UTC) session time zone."""
    for i, field in enumerate(batch.schema):
        if pa.types.is_timestamp(field.type):
            ts = batch.column(i).cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
            batch = batch.set_column(i, field.name, ts)
    return batch


def forget(location: str) -> bool:
    """Deletes the exported Parquet (after an erasure or retention): only the folders Touchpoints wrote,
    the ones with its manifest; True when there was something to delete."""
    deleted = False
    for table in (TABLE, RUNS):
        if "://" not in location:
            folder = os.path.join(location, table)
            if os.path.isfile(os.path.join(folder, MANIFEST)):
                shutil.rmtree(folder)
                deleted = True
            continue
        fs, path = pafs.FileSystem.from_uri(location)
        path = f"{path.rstrip('/')}/{table}"
        if _manifest(fs, path) is not None:
            fs.delete_dir(path)
            deleted = True
    return deleted


_SESSION: Any = None


def session(settings: Settings) -> Any:
    """One Spark session per process (starting one takes seconds), UTC, on ``[spark] master``."""
    global _SESSION
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the Spark engine needs the [spark] extra: pip install 'touchpoints[spark]' (and Java 17)"
        ) from exc
    if _SESSION is not None:
        return _SESSION
    # Workers run this interpreter, so they import what the driver does.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(settings.spark_master)
        .appName("touchpoints")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if settings.spark_master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "8")
    try:
        _SESSION = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: say what to check, not a Java stack
        raise RuntimeError(
            f"[spark] could not start a Spark session on {settings.spark_master!r}: {str(exc).splitlines()[0]}; "
            "is Java 17 installed (java -version, JAVA_HOME)?"
        ) from exc
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


def ibis_backend(spark: Any, location: str) -> Any:
    """An Ibis backend on the session with the prepared tables under ``location`` (``analytics_events``
    and ``analytics_runs``) as views of those names."""
    import ibis

    # the schema given, not inferred: a store with no events yet exports a folder with no Parquet file
    types = {"VARCHAR": "STRING", "TIMESTAMP": "TIMESTAMP", "BIGINT": "BIGINT"}
    root = location.rstrip("/")
    for table, columns, extra in [(TABLE, COLUMNS, ", `month` STRING"), (RUNS, RUN_COLUMNS, "")]:
        schema = ", ".join(f"`{n}` {types[t]}" for n, t in columns) + extra
        frame = spark.read.schema(schema).parquet(f"{root}/{table}")
        frame.select(*(n for n, _ in columns)).createOrReplaceTempView(table)
    return ibis.pyspark.connect(spark)
