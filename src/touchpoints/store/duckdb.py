"""The embedded DuckDB backend: one file under the home.

DuckDB lets one process at a time open a file for writing, so connections are short-lived: a process
opens the store, does its work and closes it, and ``open_store`` waits (with back-off) while another
process holds it. That is how the CLI reads a store while ``touchpoints serve`` is loading into it.
Extensions are never installed: only the bundled ones (json, parquet, icu) are used.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from touchpoints.store.backend import StoreBusy

_CONFIG: dict[str, str | int] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": True,
    "TimeZone": "UTC",
}


_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_lock(path: Path | None) -> threading.RLock:
    """One lock per store file in this process. Connections of one process to one file share the
    database, whose transactions are optimistic: two writers touching the same rows (the identity graph's
    customers) would make one of them fail at commit. So writers of one process take turns, as writers of
    two processes do through the file lock."""
    if path is None:
        return threading.RLock()
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(str(path.resolve()), threading.RLock())


class DuckDBBackend:
    """A DuckDB connection behind the ``Backend`` seam."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None = None) -> None:
        self.con = con
        self.path = path
        self._writer = _writer_lock(path)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return self.con.sql(sql, params=list(params) or None).to_arrow_table()

    def batches(self, sql: str, params: Sequence[Any] = (), size: int = 10_000) -> Iterator[pa.RecordBatch]:
        yield from self.con.sql(sql, params=list(params) or None).to_arrow_reader(size)

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._writer:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")

    def query_progress(self) -> float:
        """How far the running statement is, 0-100 (-1 when none runs); safe to call from another thread."""
        return float(self.con.query_progress())

    def close(self) -> None:
        self.con.close()


def connect(path: Path, *, wait_seconds: float = 30.0) -> DuckDBBackend:
    """Opens the store file for reading and writing, waiting while another process holds it."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.005
    while True:
        try:
            con = duckdb.connect(str(path), config=dict(_CONFIG))
            return DuckDBBackend(con, path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise StoreBusy(
                    f"the store {path} stayed locked by another process for {wait_seconds:.0f} s; "
                    "is a long-running command using it? Try again when it has finished"
                ) from exc
            time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not security
            delay = min(delay * 2, 0.1)


@contextmanager
def open_store(path: Path, *, wait_seconds: float = 30.0) -> Iterator[DuckDBBackend]:
    """``with open_store(path) as db:``, migrated to the current schema and closed afterwards."""
    from touchpoints.store.schema import migrate

    path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(path, wait_seconds=wait_seconds)
    try:
        migrate(db)
        yield db
    finally:
        db.close()
