"""The store: the one place that talks to a database engine.

``backend`` defines the ``Backend`` seam every capability reads and writes through; ``duckdb`` is the
embedded default (one file under the home); ``schema`` creates and migrates the tables; ``spark`` is the scale-out engine: the prepared events
exported as partitioned Parquet (a folder or an object store URL) and a Spark session that reads them.
Nothing outside this package imports ``duckdb`` or ``pyspark`` (the analytics query layer reaches both
through Ibis).
"""

from touchpoints.store.backend import Backend, StoreBusy
from touchpoints.store.duckdb import DuckDBBackend, open_store

__all__ = ["Backend", "DuckDBBackend", "StoreBusy", "open_store"]
