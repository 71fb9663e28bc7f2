"""The Backend seam: the small surface every capability uses to read and write the store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import pyarrow as pa


class StoreBusy(RuntimeError):
    """Another process held the store longer than we were willing to wait."""


class Backend(Protocol):
    """A connection to the store. Values are always bound parameters, never formatted into SQL."""

    name: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Runs one statement and returns its rows."""
        ...

    def arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Runs one query and returns its result as an Arrow table."""
        ...

    def batches(self, sql: str, params: Sequence[Any] = (), size: int = 10_000) -> Iterator[pa.RecordBatch]:
        """Streams a query's result in Arrow record batches (for exports of any size)."""
        ...

    def register(self, name: str, table: pa.Table) -> None:
        """Makes an Arrow table queryable as ``name`` until ``unregister``."""
        ...

    def unregister(self, name: str) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """All statements inside commit together, or not at all."""
        ...

    def close(self) -> None: ...
