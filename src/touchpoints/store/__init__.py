"""The store: the one place that talks to a database engine.

``backend`` defines the ``Backend`` seam every capability reads and writes through; ``duckdb`` is the
embedded default (one file under the home); ``schema`` creates and migrates the tables. Apache Spark
joins as a second backend later. Nothing outside this package imports ``duckdb``.
"""

from touchpoints.store.backend import Backend, StoreBusy
from touchpoints.store.duckdb import DuckDBBackend, open_store

__all__ = ["Backend", "DuckDBBackend", "StoreBusy", "open_store"]
