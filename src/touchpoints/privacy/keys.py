"""API keys: created with at least 128 random bits, shown once, stored only as SHA-256 hashes.

Keys live in ``keys.json`` in the home (mode 0600), so the collector can check them without opening the
store, and sees a key created or revoked by the CLI at once (it re-reads the file when it changes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from touchpoints.events.channel import CHANNELS

ROLES = ("write", "read", "admin")
# Sources of the events Touchpoints makes itself: a write key so named could pass its events off as them
# (a "rectification" wins over every other source in a profile).
RESERVED_NAMES = frozenset({"rectification", "spool"})
_PREFIX = {"write": "tpw_", "read": "tpr_", "admin": "tpa_"}


class KeyError_(ValueError):
    """A key operation that cannot be done, with the reason."""


class KeyExists(KeyError_):
    """An active key already has the name asked for."""


class NoSuchKey(KeyError_):
    """No active key has the id or name given."""


MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    role: str
    hash: str
    created_at: str
    channel: str | None = None
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, str | None]:
        """What may be shown about a key: everything but its hash."""
        data = asdict(self)
        del data["hash"]
        return data


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyRing:
    """The keys of one home."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._path_str = str(path)  # os.stat on a str: this runs on every request
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: list[KeyRecord] = []
        self._by_hash: dict[str, KeyRecord] = {}

    def _reload(self) -> None:
        try:
            st = os.stat(self._path_str)
        except FileNotFoundError:
            self._stamp, self._records, self._by_hash = None, [], {}
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        data = json.loads(self.path.read_text(encoding="utf-8"))
        records = [KeyRecord(**item) for item in data.get("keys", [])]
        self._records = records
        self._by_hash = {r.hash: r for r in records if r.active}
        self._stamp = stamp

    def records(self) -> list[KeyRecord]:
        with self._lock:
            self._reload()
            return list(self._records)

    def verify(self, secret: str, role: str | None = None) -> KeyRecord | None:
        """The active key record for ``secret`` (of ``role``, if given), else None."""
        if not secret or len(secret) > 200:
            return None
        digest = _hash(secret)
        with self._lock:
            self._reload()
            record = self._by_hash.get(digest)
        # The lookup is by hash, so timing reveals nothing about the secret; the compare is constant-time.
        if record is None or not hmac.compare_digest(record.hash, digest):
            return None
        if role is not None and record.role != role:
            return None
        return record

    def create(self, role: str, name: str, channel: str | None = None) -> tuple[KeyRecord, str]:
        """Creates a key and returns its record and its secret (the only time the secret is seen)."""
        if role not in ROLES:
            raise KeyError_(f"role {role!r} is not one of {', '.join(ROLES)}")
        name = name.strip()
        if not name:
            raise KeyError_("a key needs a name, e.g. --name web-shop")
        if len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise KeyError_(f"a key's name is at most {MAX_NAME_LENGTH} printable characters, e.g. web-shop")
        if name.lower() in RESERVED_NAMES:
            raise KeyError_(
                f"{name!r} is the source name of events Touchpoints makes itself (a key's name is its events' "
                "source); choose another name"
            )
        if channel is not None and channel not in CHANNELS:
            raise KeyError_(f"channel {channel!r} is not one of {', '.join(sorted(CHANNELS))}")
        if channel is not None and role != "write":
            raise KeyError_("only write keys have a channel")
        with self._lock:
            self._reload()
            if any(r.name == name and r.active for r in self._records):
                raise KeyExists(f"an active key named {name!r} exists; revoke it or choose another name")
            secret = _PREFIX[role] + secrets.token_urlsafe(24)  # 192 random bits
            record = KeyRecord(
                id="key_" + secrets.token_hex(4),
                name=name,
                role=role,
                hash=_hash(secret),
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                channel=channel,
            )
            self._write([*self._records, record])
        return record, secret

    def revoke(self, id_or_name: str) -> KeyRecord:
        with self._lock:
            self._reload()
            matches = [r for r in self._records if r.active and id_or_name in (r.id, r.name)]
            if not matches:
                raise NoSuchKey(
                    f"no active key with id or name {id_or_name[:200]!r}; see `touchpoints keys list`"
                )
            target = matches[0]
            now = datetime.now(UTC).isoformat(timespec="seconds")
            revoked = KeyRecord(**{**asdict(target), "revoked_at": now})
            self._write([revoked if r.id == target.id else r for r in self._records])
        return revoked

    def _write(self, records: list[KeyRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"keys": [asdict(r) for r in records]}, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._stamp = None
        self._reload()
