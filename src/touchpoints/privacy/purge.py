"""Making erasure physical: ``purge`` rewrites the store so no deleted byte survives, and blanks spooled
records of every suppressed identifier.

DuckDB marks deleted rows and reuses their blocks later; until then the bytes are still in the file (and
a checkpoint does not overwrite them). The purge copies every table, view and sequence into a new file
(``COPY FROM DATABASE``, which writes only live rows) and swaps it in atomically; the old file's blocks go
back to the file system with it. Its cost is that of writing the whole store once (see BENCHMARKS.md).

Run it with the server stopped: while it rewrites the file, nothing else may write to it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from touchpoints.analytics.prepared import invalidate as invalidate_prepared
from touchpoints.collector.spool import Spool
from touchpoints.config import Settings
from touchpoints.privacy.audit import AuditLog
from touchpoints.privacy.erasure import scrub_spool_suppressed
from touchpoints.privacy.gate import Gate
from touchpoints.store.duckdb import open_store


class PurgeRefused(RuntimeError):
    """The purge cannot run now, with what to do."""


def purge(settings: Settings, *, actor: str) -> dict[str, Any]:
    started = time.perf_counter()
    pid = Spool.writer_pid(settings.spool_dir)
    if pid is not None:
        raise PurgeRefused(
            f"a server (pid {pid}) is running on this home; stop it first: the purge rewrites the store file"
        )
    path = settings.store_path
    new = path.with_name(path.name + ".purging")
    for leftover in (new, new.with_name(new.name + ".wal")):
        leftover.unlink(missing_ok=True)
    gate = Gate.for_settings(settings)
    with open_store(path) as db:  # migrated, and held: nobody else opens it meanwhile
        # Anything of a suppressed identifier that is still held (a consent statement or a quarantined item
        # of someone never in the graph, a bad row that came before the erasure) goes first.
        swept = _sweep_suppressed(db, gate)
        # the prepared copy for analytics may hold values redacted in events since: rebuilt from them later
        invalidate_prepared(db)
        db.execute("CHECKPOINT")
        before = path.stat().st_size
        db.execute(f"ATTACH '{new}' AS _tp_purged")
        try:
            db.execute(f'COPY FROM DATABASE "{_catalog(db)}" TO _tp_purged')
        finally:
            db.execute("DETACH _tp_purged")
        with open(new, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(new, path)  # the old file is freed when this connection closes
    _fsync_dir(path.parent)
    wal = path.with_name(path.name + ".wal")
    if wal.exists() and wal.stat().st_size == 0:
        wal.unlink()
    spool = scrub_spool_suppressed(settings.spool_dir, gate)
    leftovers = [p for p in settings.home.rglob("*.tmp") if p.is_file()]
    for p in leftovers:
        p.unlink()
    report = {
        "store_bytes_before": before,
        "store_bytes_after": path.stat().st_size,
        "spool_records_blanked": spool,
        "suppressed_rows_removed": swept,
        "temporary_files_removed": len(leftovers),
        "seconds": round(time.perf_counter() - started, 3),
    }
    AuditLog(settings.audit_path).append(actor, "privacy.purge", None, **report)
    return report


def _sweep_suppressed(db: Any, gate: Gate) -> int:
    hashes = gate.hashes()
    if not hashes:
        return 0
    import pyarrow as pa

    with db.transaction():
        swept = gate.sweep_quarantine(db)
        db.register("_tp_hashes", pa.table({"hash": pa.array(sorted(hashes), pa.string())}))
        try:
            swept += len(db.execute(
                "DELETE FROM consents WHERE sha256(node) IN (SELECT hash FROM _tp_hashes) RETURNING 1"))  # fmt: skip
        finally:
            db.unregister("_tp_hashes")
    return int(swept)


def _catalog(db: Any) -> str:
    return str(db.execute("SELECT current_database()")[0][0])


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
