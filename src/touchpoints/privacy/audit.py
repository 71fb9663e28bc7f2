"""The audit log: who read or changed personal data, and when, in a file no one can quietly edit.

``audit.jsonl`` in the home holds one JSON object per line: ``seq``, ``at`` (UTC), ``actor`` (a key's id and
name, or ``cli:<user>``), ``action`` (``profile.read``, ``identity.unmerge``, ...), ``subject`` (the customer
or identifier acted on), ``details``, ``prev`` (the previous entry's hash) and ``hash``: SHA-256 of the
entry without its hash, in canonical JSON. Editing, inserting or deleting any entry breaks the chain from
there on, which ``verify`` reports (``touchpoints privacy audit --verify``). Appends are serialised across
processes with ``flock`` and written with ``fsync``: the server and the CLI write the same file.

A chain cannot show that its newest entries were cut off: keep the last ``hash`` that ``verify`` prints
somewhere else (a ticket, a log shipper) to detect that.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def _digest(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cli_actor() -> str:
    """Who runs a command on this machine (the home's files are theirs to read anyway)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a container)
        return f"cli:uid-{os.getuid()}"


@dataclass(frozen=True)
class Verification:
    entries: int
    ok: bool
    last_hash: str
    problem: str | None = None  # where the chain breaks, and how


class AuditLog:
    """The audit log of one home."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, actor: str, action: str, subject: str | None = None, **details: Any) -> dict[str, Any]:
        """Adds an entry after the last one; returns it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev = self._tail(fd)
            entry: dict[str, Any] = {
                "seq": seq + 1,
                "at": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "actor": actor,
                "action": action,
                "subject": subject,
                "details": details,
                "prev": prev,
            }
            entry["hash"] = _digest(entry)
            os.write(fd, (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
            os.fsync(fd)
            return entry
        finally:
            os.close(fd)  # releases the lock

    def _tail(self, fd: int) -> tuple[int, str]:
        """(seq, hash) of the last entry, reading back from the end of the file."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS
        block = min(size, 65536)
        while True:
            data = os.pread(fd, block, size - block)
            lines = data.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or block == size:
                last = json.loads(lines[-1])
                return int(last["seq"]), str(last["hash"])
            block = min(size, block * 4)

    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    def verify(self) -> Verification:
        """Walks the chain from the start: every hash must be its entry's, every ``prev`` the previous hash,
        every ``seq`` one more than the last."""
        prev, count = GENESIS, 0
        try:
            for count, entry in enumerate(self.entries(), start=1):
                if entry.get("seq") != count:
                    return Verification(
                        count - 1,
                        False,
                        prev,
                        f"entry {count} has seq {entry.get('seq')}: one is missing or added",
                    )
                if entry.get("prev") != prev:
                    return Verification(
                        count - 1,
                        False,
                        prev,
                        f"entry {count} does not follow entry {count - 1}: one was removed or changed",
                    )
                if _digest(entry) != entry.get("hash"):
                    return Verification(
                        count - 1, False, prev, f"entry {count} was changed after it was written"
                    )
                prev = str(entry["hash"])
        except json.JSONDecodeError as exc:
            return Verification(
                count, False, prev, f"line {count + 1} is not JSON ({exc.msg}): the file was edited"
            )
        return Verification(count, True, prev)
