"""The portable query layer: one Ibis connection to the engine the analyses run on.

An analysis is written once, as an Ibis expression over ``Engine.events()`` (the prepared events, see
``prepared``), and runs unchanged on DuckDB (the embedded store) or Apache Spark (the prepared events
exported as Parquet, ``touchpoints.store.spark``). The few functions Ibis does not make portable (reading
a JSON property, converting to a local time zone) are here, one builtin per engine, never a Python UDF.
Results come back as Arrow tables with the same types on every engine: timestamps are UTC (or the local
time asked for) without a zone, counts int64.

An expression is compiled to the engine's SQL once per question: ``Engine.run`` keeps the SQL (and the
result's schema) of the last ``COMPILED_MAX`` questions, keyed by the analysis, its parameters, the engine
and the time zone, so asking the same question again (a dashboard's tiles every morning) costs only the
query. The SQL names the prepared table, never its rows, so a kept query always reads the current data.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from touchpoints.analytics.columns import COLUMNS, RUN_COLUMNS, RUNS, TABLE

if TYPE_CHECKING:
    from touchpoints.config import Settings
    from touchpoints.store.duckdb import DuckDBBackend


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_json(doc: str, path: str) -> str:  # type: ignore[empty-body]
    ...


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_json(doc: str, path: str) -> str:  # type: ignore[empty-body]
    ...


@ibis.udf.scalar.builtin(name="from_utc_timestamp")
def _spark_local(ts: ibis.dtype("timestamp"), zone: str) -> ibis.dtype("timestamp"):  # type: ignore[valid-type]
    ...


@ibis.udf.scalar.builtin(name="timezone")
def _duckdb_local(zone: str, ts: ibis.dtype("timestamp('UTC')")) -> ibis.dtype("timestamp"):  # type: ignore[valid-type]
    ...


@ibis.udf.scalar.builtin(name="epoch_us")
def _duckdb_micros(ts: ibis.dtype("timestamp")) -> ibis.dtype("int64"):  # type: ignore[valid-type]
    ...


@ibis.udf.scalar.builtin(name="unix_micros")
def _spark_micros(ts: ibis.dtype("timestamp")) -> ibis.dtype("int64"):  # type: ignore[valid-type]
    ...


COMPILED_MAX = 512
_compiled: OrderedDict[tuple[Any, ...], tuple[str, pa.Schema]] = OrderedDict()
_compiled_lock = threading.Lock()


@dataclass
class Engine:
    """Where analyses run: ``name`` is ``duckdb`` or ``spark``; ``con`` the Ibis backend."""

    name: str
    con: Any  # an ibis backend (DuckDB or PySpark)
    timezone: str = "UTC"
    about: dict[str, Any] = field(default_factory=dict)  # how fresh the data is, where it came from

    def events(self) -> ir.Table:
        t = self.con.table(TABLE)
        return t.select(*(n for n, _ in COLUMNS))

    def runs(self) -> ir.Table:
        """Each session's and each customer's runs of events (``prepared``), for paths."""
        t = self.con.table(RUNS)
        return t.select(*(n for n, _ in RUN_COLUMNS))

    def json_get(self, doc: ir.StringValue, key: str) -> ir.StringValue:
        """A top-level property of a JSON text column as a string (NULL when absent)."""
        parts = key.split(".")
        if not all(p and (p.replace("_", "").replace("-", "").isalnum() or set(p) == {"_"}) for p in parts):
            raise ValueError(
                f"property name {key!r}: use letters, digits, '_' and '-', and '.' between nested names"
            )
        path = "$." + key
        fn = _duckdb_json if self.name == "duckdb" else _spark_json
        return fn(doc, path)

    def local(self, ts: ir.TimestampValue, zone: str | None = None) -> ir.TimestampValue:
        """A UTC time as wall-clock time in ``zone`` (default: the engine's), for days, weeks, months."""
        zone = zone or self.timezone
        if zone == "UTC":
            return ts
        if self.name == "duckdb":
            return _duckdb_local(zone, ts.cast("timestamp('UTC')"))
        return _spark_local(ts, zone)

    def micros(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        """Microseconds since 1970 (a UTC time without zone): exact, for ordering by time in a number."""
        return _duckdb_micros(ts) if self.name == "duckdb" else _spark_micros(ts)

    def run(self, build: Callable[..., ir.Table], *args: Any, **kwargs: Any) -> pa.Table:
        """``build(self, *args, **kwargs)`` run, compiled once per question (see the module's doc): the
        arguments must be plain values (strings, numbers, lists, a ``Scope``) whose ``repr`` says all."""
        key = (
            build.__module__, build.__qualname__, repr(args), repr(sorted(kwargs.items())),
            self.name, self.timezone,
        )  # fmt: skip
        with _compiled_lock:
            hit = _compiled.get(key)
            if hit is not None:
                _compiled.move_to_end(key)
        if hit is None:
            expr = build(self, *args, **kwargs)
            hit = (self.sql(expr), expr.schema().to_pyarrow())
            with _compiled_lock:
                _compiled[key] = hit
                while len(_compiled) > COMPILED_MAX:
                    _compiled.popitem(last=False)
        return self._execute(*hit)

    def to_arrow(self, expr: ir.Table) -> pa.Table:
        """Runs an expression; the same types whatever the engine."""
        return self._execute(self.sql(expr), expr.schema().to_pyarrow())

    def _execute(self, sql: str, schema: pa.Schema) -> pa.Table:
        if self.name == "duckdb":
            table = self.con.con.sql(sql).to_arrow_table()
        else:
            # Spark's own Arrow collection (dates stay dates), not Ibis' way through pandas, which turns
            # dates into timestamps and which pyspark 4.0 drives with arguments pandas 3 deprecates
            frame = self.con._session.sql(sql)
            to_arrow = getattr(frame, "toArrow", None)  # pyspark >= 4
            table = to_arrow() if to_arrow is not None else pa.Table.from_batches(frame._collect_as_arrow())
        # the expression's types (DuckDB sums integers as HUGEINT, Spark names columns its own way)
        return _normalise(table.rename_columns(schema.names).cast(schema))

    def sql(self, expr: ir.Table) -> str:
        return str(ibis.to_sql(expr, dialect="duckdb" if self.name == "duckdb" else "pyspark"))


def _normalise(table: pa.Table) -> pa.Table:
    """Timestamps as microseconds without a zone, integers int64, floats float64."""
    columns = []
    for column in table.columns:
        t = column.type
        if pa.types.is_timestamp(t):
            column = column.cast(pa.timestamp("us", tz=t.tz)) if t.unit != "us" else column
            if t.tz is not None:
                column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        elif pa.types.is_integer(t):
            column = column.cast(pa.int64())
        elif pa.types.is_floating(t):
            column = column.cast(pa.float64())
        elif pa.types.is_date(t):
            column = column.cast(pa.date32())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


@contextmanager
def duckdb_engine(db: DuckDBBackend, timezone: str = "UTC") -> Iterator[Engine]:
    """The embedded store as an engine (the prepared events must be current: ``prepared.ensure``)."""
    con = ibis.duckdb.from_connection(db.con)
    yield Engine("duckdb", con, timezone)


@contextmanager
def open_engine(
    settings: Settings,
    engine: str | None = None,
    timezone: str | None = None,
    *,
    max_staleness_seconds: float = 0.0,
) -> Iterator[Engine]:
    """The engine named (default: ``[analytics] engine``), with the prepared events current.

    DuckDB: the store, prepared in place. Spark: the store's prepared events are exported as Parquet to
    ``[spark] parquet`` (when they changed) and read by a Spark session on ``[spark] master``.
    """
    from touchpoints.analytics import prepared
    from touchpoints.analytics.common import zone as check_zone
    from touchpoints.privacy.gate import Gate
    from touchpoints.store.duckdb import open_store

    name = engine or settings.analytics_engine
    zone = timezone or settings.analytics_timezone
    check_zone(zone)  # a wrong name is an error even where no period is counted
    gate = Gate.for_settings(settings)
    if name == "duckdb":
        with open_store(settings.store_path) as db:
            ready = prepared.ensure(db, gate, max_staleness_seconds=max_staleness_seconds)
            with duckdb_engine(db, zone) as eng:
                eng.about = _about(ready)
                yield eng
        return
    if name != "spark":
        raise ValueError(f"unknown engine {name!r}: use duckdb or spark")
    from touchpoints.store import spark

    with open_store(settings.store_path) as db:
        ready = prepared.ensure(db, gate, max_staleness_seconds=max_staleness_seconds)
        location = spark.export_prepared(db, settings.parquet_location, ready.prepared_at)
    session = spark.session(settings)
    eng = Engine("spark", spark.ibis_backend(session, location), zone, _about(ready) | {"parquet": location})
    yield eng


def _about(ready: Any) -> dict[str, Any]:
    return {"prepared_at": ready.prepared_at.isoformat(), "events": ready.rows, "rebuilt": ready.rebuilt}
