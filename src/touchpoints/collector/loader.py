"""The loader: moves spooled records into the store in Arrow batches, and deletes what it has loaded.

Its position in the spool (segment, byte offset) is kept in the store and updated in the same
transaction as the rows it loads, so a crash at any moment neither loses nor doubles a record: on
restart, loading resumes from the last committed position. Any process may run it (the server does, in a
thread; CLI commands do before they read), because the store lets one writer in at a time.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from touchpoints.collector.spool import list_segments
from touchpoints.config import Settings
from touchpoints.events.model import QuarantinedItem, SpoolRecord, StoredEvent
from touchpoints.identity.rules import IdentityRules
from touchpoints.privacy.retention import RetentionSchedule
from touchpoints.store.backend import Backend, StoreBusy
from touchpoints.store.duckdb import open_store
from touchpoints.store.events import (
    AppendResult,
    UnreadableSpool,
    append_records,
    append_spool_file,
    prune_message_ids,
)

log = logging.getLogger(__name__)

_record_decoder = msgspec.json.Decoder(SpoolRecord)
_records_decoder = msgspec.json.Decoder(list[SpoolRecord])

MAX_CHUNK_BYTES = 32 * 1024 * 1024


@dataclass
class Position:
    seq: int
    offset: int


def decode_lines(chunk: bytes, origin: str) -> list[StoredEvent | QuarantinedItem]:
    """Decodes newline-terminated spool records; a corrupt line is quarantined, never dropped."""
    lines = chunk.split(b"\n")[:-1] if chunk.endswith(b"\n") else chunk.split(b"\n")
    # An erasure blanks a person's spooled records in place (spaces, same length): nothing to load.
    lines = [line for line in lines if line.strip()]
    try:
        return list(_records_decoder.decode(b"[" + b",".join(lines) + b"]"))
    except msgspec.DecodeError:
        pass
    records: list[StoredEvent | QuarantinedItem] = []
    for number, line in enumerate(lines):
        try:
            records.append(_record_decoder.decode(line))
        except msgspec.DecodeError as exc:
            records.append(_corrupt(line, f"{origin} record {number}: unreadable spool record ({exc})"))
    return records


def _corrupt(data: bytes, reason: str) -> QuarantinedItem:
    return QuarantinedItem(
        quarantine_id="q_" + secrets.token_hex(6),
        source="spool",
        origin="spool",
        received_at=datetime.now(UTC),
        reason=reason,
        payload=data.decode("utf-8", errors="replace"),
    )


class Loader:
    """Loads one home's spool into its store."""

    def __init__(
        self,
        spool_dir: Path,
        store_path: Path,
        dedup_window: timedelta = timedelta(days=7),
        rules: IdentityRules | None = None,
    ) -> None:
        self.spool_dir = spool_dir
        self.store_path = store_path
        self.dedup_window = dedup_window
        self.rules = rules
        self._known: Position | None = None
        self._last_prune = 0.0
        self._lock = threading.Lock()
        self.retention: RetentionSchedule | None = None  # applied by LoaderThread, about once a day

    @classmethod
    def for_settings(cls, settings: Settings) -> Loader:
        loader = cls(
            settings.spool_dir,
            settings.store_path,
            timedelta(days=settings.dedup_window_days),
            settings.identity,
        )
        loader.retention = RetentionSchedule.for_settings(settings)
        return loader

    def has_pending(self) -> bool:
        """Cheap check (file sizes only) for spooled bytes beyond the last position this loader saw."""
        if self._known is None:
            return True
        for seq, path in list_segments(self.spool_dir):
            if seq > self._known.seq:
                return True
            if seq == self._known.seq:
                try:
                    if path.stat().st_size > self._known.offset:
                        return True
                except FileNotFoundError:
                    continue
        return False

    def load_pending(self, db: Backend, deadline: float | None = None) -> AppendResult:
        """Loads what is spooled after the stored position, a chunk per transaction, until caught up or
        until ``deadline`` (``time.monotonic()``) has passed; returns what was stored."""
        with self._lock:
            total = AppendResult()
            while True:
                step = self._load_step(db)
                if step is None:
                    break
                total.add(step)
                if deadline is not None and time.monotonic() >= deadline:
                    break
            now = datetime.now(UTC)
            if now.timestamp() - self._last_prune > 3600:
                with db.transaction():
                    prune_message_ids(db, now, self.dedup_window)
                self._last_prune = now.timestamp()
            return total

    def _load_step(self, db: Backend) -> AppendResult | None:
        seq, offset = db.execute("SELECT segment_seq, byte_offset FROM loader_state")[0]
        segments = list_segments(self.spool_dir)
        newest = segments[-1][0] if segments else 0
        for s, path in segments:
            if s < seq:  # loaded before; its deletion was interrupted
                path.unlink(missing_ok=True)
        for s, path in segments:
            if s < seq:
                continue
            start = offset if s == seq else 0
            with path.open("rb") as fh:
                fh.seek(start)
                chunk = fh.read(MAX_CHUNK_BYTES)
            cut = chunk.rfind(b"\n") + 1
            complete = chunk[:cut]
            records: list[StoredEvent | QuarantinedItem] = []
            new_seq, new_offset = s, start + cut
            if not complete and s < newest:
                # A closed segment with nothing more to load; bytes without a newline are a record the
                # server was writing when it stopped (never acknowledged): kept in quarantine all the same.
                if chunk:
                    records = [_corrupt(chunk, f"{path.name}: incomplete record left by a stopped server")]
                new_seq, new_offset = s + 1, 0
            if (new_seq, new_offset) == (seq, offset):
                self._known = Position(seq, offset)
                return None
            result = self._commit(db, complete, records, path.name, (new_seq, new_offset))
            self._known = Position(new_seq, new_offset)
            if new_seq > s:
                path.unlink(missing_ok=True)
            return result
        self._known = Position(seq, offset)
        return None

    def _commit(
        self,
        db: Backend,
        complete: bytes,
        records: list[StoredEvent | QuarantinedItem],
        origin: str,
        position: tuple[int, int],
    ) -> AppendResult:
        """Stores a chunk of whole records and the new position in one transaction. The engine reads the
        chunk itself (fast); if any record in it is unreadable, it is read line by line instead."""
        if complete:
            staging = self.spool_dir / ".loading.jsonl"
            staging.write_bytes(complete)
            try:
                with db.transaction():
                    result = append_spool_file(db, str(staging), self.rules)
                    db.execute("UPDATE loader_state SET segment_seq = ?, byte_offset = ?", list(position))
                return result
            except UnreadableSpool as exc:
                log.warning("loader: %s; reading that chunk line by line", exc)
                records = decode_lines(complete, origin) + records
            finally:
                staging.unlink(missing_ok=True)
        with db.transaction():
            result = append_records(db, records, self.rules)
            db.execute("UPDATE loader_state SET segment_seq = ?, byte_offset = ?", list(position))
        return result

    def catch_up(self, wait_seconds: float = 30.0) -> AppendResult:
        """Opens the store, loads what is pending and closes it again."""
        with open_store(self.store_path, wait_seconds=wait_seconds) as db:
            return self.load_pending(db)


class LoaderThread(threading.Thread):
    """Keeps the store loaded while the server runs.

    Opening and closing the store costs tens of milliseconds (and a checkpoint), so while events keep
    arriving the thread holds the store open for up to ``hold`` seconds, loading every ``interval``; then
    it closes it and leaves it free for ``gap`` seconds, so that CLI commands (which wait their turn) get
    in. An acknowledged event is queryable within about ``interval + gap`` plus the load itself. Between
    sessions it applies the home's retention rules when it starts and about once a day
    (``privacy.retention``).
    """

    def __init__(self, loader: Loader, interval: float, hold: float = 1.0, gap: float = 0.25) -> None:
        super().__init__(name="touchpoints-loader", daemon=True)
        self.loader = loader
        self.interval = interval
        self.hold = hold
        self.gap = gap
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            if self.loader.retention is not None:  # one clock reading unless a run is due
                self.loader.retention.run_if_due(self.loader.store_path)
            if not self.loader.has_pending():
                self._stop_event.wait(self.interval)
                continue
            self._session()
            self._stop_event.wait(self.gap)
        self._session(final=True)  # drain what the spool got before the stop

    def _session(self, final: bool = False) -> None:
        try:
            with open_store(self.loader.store_path, wait_seconds=5.0) as db:
                release = time.monotonic() + self.hold
                while True:
                    self.loader.load_pending(db, deadline=None if final else release)
                    if final or time.monotonic() >= release or self._stop_event.is_set():
                        return
                    # Let records gather for a step's worth of time: each step has a fixed cost.
                    self._stop_event.wait(self.interval)
                    if not self.loader.has_pending():
                        return
        except StoreBusy as exc:
            log.warning("loader: %s; events stay safe in the spool and load on the next attempt", exc)
        except Exception:
            log.exception("loader: a load failed; events stay in the spool and are retried")

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
