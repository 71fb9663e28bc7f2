"""The spool: an append-only, fsync'd log of accepted events, written before anything is acknowledged.

Requests hand their encoded records to ``Spool.append`` and wait; one writer thread writes whatever has
gathered, fsyncs once for all of it (group commit) and wakes every waiter, so throughput does not pay one
fsync per request. Segments are files named by a growing sequence number; the writer only ever appends to
the newest one, and starts a new one on start-up and when a segment is full. The loader reads segments
and deletes those it has loaded.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"


def segment_path(directory: Path, seq: int) -> Path:
    return directory / f"{seq:012d}{SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """The spool's segments, oldest first."""
    found = []
    if directory.exists():
        for path in directory.iterdir():
            if path.suffix == SUFFIX and path.stem.isdigit():
                found.append((int(path.stem), path))
    return sorted(found)


class SpoolLocked(RuntimeError):
    """Another process is already writing this spool."""


class SpoolClosed(RuntimeError):
    """The spool is shutting down and takes no more records."""


@dataclass
class _Pending:
    data: bytes
    done: Future[None]


class Spool:
    """Durable append with group commit. ``start()`` before use, ``close()`` to drain and stop."""

    def __init__(
        self,
        directory: Path,
        segment_bytes: int = 64 * 1024 * 1024,
        fsync: bool = True,
        segment_seconds: float = 3600.0,
    ) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        # A segment is closed after this long too, so the loader can delete it: loaded events do not linger
        # in the spool of a quiet site for weeks (it holds personal data; see docs/privacy.md).
        self.segment_seconds = segment_seconds
        self._opened_at = 0.0
        self.fsync = fsync
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._closing = False
        self._thread: threading.Thread | None = None
        self._fd = -1
        self._lock_fd = -1
        self._size = 0
        self.seq = 0
        self.commits = 0

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        existing = list_segments(self.directory)
        self._open_segment((existing[-1][0] if existing else 0) + 1)
        self._thread = threading.Thread(target=self._run, name="touchpoints-spool", daemon=True)
        self._thread.start()

    @staticmethod
    def writer_pid(directory: Path) -> str | None:
        """The pid of the server writing this spool, or None if no process is."""
        path = directory / ".writer.lock"
        if not path.exists():
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        finally:
            os.close(fd)
        return None

    def _take_lock(self) -> None:
        """One writer per spool: a second server on the same home would interleave segments."""
        path = self.directory / ".writer.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SpoolLocked(
                f"another Touchpoints server (pid {holder}) is already collecting into {self.directory.parent}; "
                "stop it first, or use another --home"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _open_segment(self, seq: int) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        path = segment_path(self.directory, seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        self._opened_at = time.monotonic()
        self.seq = seq
        if self.fsync:  # make the new file's directory entry durable too
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def submit(self, data: bytes) -> Future[None]:
        """Queues ``data`` (whole newline-terminated records); the future resolves once it is on disk."""
        done: Future[None] = Future()
        with self._cond:
            if self._closing or self._thread is None:
                raise SpoolClosed(
                    "the collector is not running (starting or shutting down); retry the request"
                )
            self._pending.append(_Pending(data, done))
            self._cond.notify()
        return done

    async def append(self, data: bytes) -> None:
        """Returns when ``data`` is durably on disk; raises ``OSError`` if it could not be written."""
        await asyncio.wrap_future(self.submit(data))

    def append_sync(self, data: bytes) -> None:
        self.submit(data).result()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    if not self._cond.wait(timeout=self.segment_seconds):
                        break
                batch, self._pending = self._pending, []
                if not batch and self._closing:
                    return
            if not batch:
                self._rotate_if_old()
                continue
            error = self._write(b"".join(item.data for item in batch))
            for item in batch:
                if error is None:
                    item.done.set_result(None)
                else:
                    item.done.set_exception(error)

    def _write(self, data: bytes) -> OSError | None:
        if self._fd < 0:
            return OSError("no spool segment is open")
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self.fsync:
                os.fdatasync(self._fd)
        except OSError as exc:
            log.error(
                "spool write failed (%s); the requests in this group are refused, not acknowledged", exc
            )
            # Part of the group may be on disk and even loaded already (the loader reads whole lines), so
            # the segment is never cut back: it is closed as it is (a torn last record is quarantined by
            # the loader) and writing goes on in a new one. Refused requests are retried by their clients,
            # and deduplication keeps what did land from being stored twice.
            try:
                self._open_segment(self.seq + 1)
            except OSError:
                log.exception("could not start a new spool segment after a failed write")
            return exc
        self._size += len(data)
        self.commits += 1
        if self._size >= self.segment_bytes:
            self._open_segment(self.seq + 1)
        else:
            self._rotate_if_old()
        return None

    def _rotate_if_old(self) -> None:
        """Starts a new segment when the open one has records and is older than ``segment_seconds``."""
        if self._size and time.monotonic() - self._opened_at >= self.segment_seconds:
            try:
                self._open_segment(self.seq + 1)
            except OSError:
                log.exception("could not start a new spool segment; the current one stays open")

    def close(self) -> None:
        """Writes everything already submitted, then stops."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = -1
