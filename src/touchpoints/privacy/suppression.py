"""The suppression list: hashed identifiers of people whose data must never be stored again.

Erasing a person puts every identifier they had (as the identity graph's node key, ``kind:value`` in
normal form) on the list as its SHA-256; nothing else is kept, so the list does not re-identify anyone by
being read. An event or imported row carrying any listed identifier is refused where it comes in: the
collector does not spool it (the answer still says 200, so the SDK does not retry it), link clicks and
pixels are not recorded, the loader and the importers do not store it.

The list is ``suppression.jsonl`` in the home (mode 0600): one ``{"hash", "added_at", "cause"}`` per line,
append-only. It outlives erasures and purges by design. Processes re-read it when it changes, as they do
the keys.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from touchpoints.identity.rules import SOCIAL_PLATFORMS, IdentityRules, node_key
from touchpoints.store.backend import Backend


def node_hash(node: str) -> str:
    return hashlib.sha256(node.encode("utf-8")).hexdigest()


class SuppressionList:
    """The suppression list of one home; cheap to consult on every request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._path_str = str(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._hashes: frozenset[str] = frozenset()

    def hashes(self) -> frozenset[str]:
        with self._lock:
            try:
                st = os.stat(self._path_str)
            except FileNotFoundError:
                self._stamp, self._hashes = None, frozenset()
                return self._hashes
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                self._hashes = frozenset(entry["hash"] for entry in self._entries())
                self._stamp = stamp
            return self._hashes

    def __bool__(self) -> bool:
        return bool(self.hashes())

    def __len__(self) -> int:
        return len(self.hashes())

    def _entries(self) -> Iterator[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)

    def add(self, nodes: Iterable[str], cause: str) -> int:
        """Adds the hashes of ``nodes``; returns how many were new."""
        known = self.hashes()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        fresh = sorted({node_hash(n) for n in nodes} - known)
        if not fresh:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = "".join(json.dumps({"hash": h, "added_at": now, "cause": cause}) + "\n" for h in fresh)
            os.write(fd, data.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return len(fresh)

    def contains(self, node: str) -> bool:
        return node_hash(node) in self.hashes()


def _get(doc: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = doc
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    if isinstance(value, dict | list):
        return None
    return value


def event_nodes(event: Mapping[str, Any], source: str, rules: IdentityRules | None = None) -> list[str]:
    """The identity graph's node keys for the identifiers an event carries (normalised as the graph does;
    ``event`` has the stored column names: type, user_id, anonymous_id, previous_id, traits, context,
    properties as dicts). Mirrors ``identity.evidence`` so that what the door refuses is what the graph
    would have linked."""
    rules = rules or IdentityRules()
    traits = event.get("traits") or {}
    context = event.get("context") or {}
    properties = event.get("properties") or {}

    def trait(name: str) -> Any:
        value = _get(traits, name)
        return value if value is not None else _get(context, "traits", name)

    raw: list[tuple[str, Any]] = [
        ("user_id", event.get("user_id")),
        ("anonymous_id", event.get("anonymous_id")),
        ("email", trait("email")),
        ("phone", trait("phone")),
        (
            "loyalty_id",
            next(
                (
                    v
                    for v in (trait("loyalty_id"), trait("loyaltyId"), _get(properties, "loyalty_id"))
                    if v is not None
                ),
                None,
            ),
        ),
        ("device_id", _get(context, "device", "id")),
    ]
    social = trait("social")
    if social is None and event.get("type") == "identify":
        social = next(
            (f"{p}:{_get(traits, p)}" for p in SOCIAL_PLATFORMS if _get(traits, p) is not None), None
        )
    raw.append(("social", social))
    for name in rules.custom:
        raw.append((name, trait(name)))
    if event.get("type") == "alias" and event.get("previous_id") is not None:
        raw.append(("anonymous_id", event.get("previous_id")))
        raw.append(("user_id", event.get("previous_id")))
    nodes = []
    for kind, value in raw:
        if value is not None and (normal := rules.normalise(kind, _text(value))) is not None:
            nodes.append(node_key(kind, normal))
    if _get(context, "import", "kind") == "contacts":
        record = _get(context, "import", "record")
        if record is not None and (normal := rules.normalise("record", _text(record))) is not None:
            nodes.append(node_key("record", normal, source))
    return nodes


def _text(value: Any) -> str:
    """A JSON scalar as the engine's ``json_extract_string`` gives it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def suppressed_message_ids(
    db: Backend, relation: str, hashes: frozenset[str], rules: IdentityRules | None = None
) -> tuple[list[str], list[str]]:
    """The message ids of ``relation``'s events that carry a suppressed identifier: those to refuse, and
    those to store without their anonymousId (``only_cookie``). The raw identifier values are read by the
    engine (the same columns the identity graph reads); each distinct value is normalised and hashed once
    in Python."""
    if not hashes:
        return [], []
    from touchpoints.identity.evidence import identifier_columns

    rules = rules or IdentityRules()
    columns, trait_paths, context_paths = identifier_columns(rules)
    tp = ", ".join(f"'$.{p}'" for p in trait_paths)
    cp = ", ".join(f"'$.{p}'" for p in context_paths)
    kinds = [k for k in columns if k != "previous_id"]
    pairs = ", ".join(f"{{'k': '{k}', 'v': {columns[k]}}}" for k in kinds)
    values = db.arrow(
        f"""
        WITH x AS (
            SELECT message_id, source, unnest([{pairs},
                   {{'k': 'alias', 'v': {columns["previous_id"]}}}]) AS p
            FROM (SELECT *, json_extract_string(traits, [{tp}]) AS t, json_extract_string(context, [{cp}]) AS c
                  FROM {relation})
        )
        SELECT DISTINCT p.k AS kind, p.v AS value, source FROM x WHERE p.v IS NOT NULL
        """
    )
    hits: list[dict[str, str]] = []
    for kind, value, source in zip(*(c.to_pylist() for c in values.columns), strict=True):
        for k in ("anonymous_id", "user_id") if kind == "alias" else (kind,):
            normal = rules.normalise(k, value)
            if normal is not None and node_hash(node_key(k, normal, source)) in hashes:
                hits.append({"kind": kind, "value": value, "source": source})
                break
    if not hits:
        return [], []
    db.register("_tp_suppressed_values", pa.Table.from_pylist(hits))
    try:
        rows = db.execute(
            f"""
            WITH x AS (
                SELECT message_id, source, user_id, unnest([{pairs},
                       {{'k': 'alias', 'v': {columns["previous_id"]}}}]) AS p
                FROM (SELECT *, json_extract_string(traits, [{tp}]) AS t, json_extract_string(context, [{cp}]) AS c
                      FROM {relation})
            )
            SELECT x.message_id, list(DISTINCT x.p.k), bool_or(x.user_id IS NOT NULL) FROM x
            JOIN _tp_suppressed_values s ON s.kind = x.p.k AND s.value = x.p.v AND s.source = x.source
            GROUP BY x.message_id
            """
        )
    finally:
        db.unregister("_tp_suppressed_values")
    refuse: list[str] = []
    strip: list[str] = []
    for message_id, kinds, has_user in rows:
        (strip if only_cookie(kinds, has_user) else refuse).append(message_id)
    return refuse, strip


def only_cookie(kinds: Iterable[str], has_user_id: bool) -> bool:
    """An event whose only suppressed identifier is its anonymousId, sent with a userId of someone else
    (another person signing in on an erased person's browser): it is theirs, stored without the cookie."""
    return has_user_id and set(kinds) == {"anonymous_id"}


# Kinds a free-standing string is tried as, when a quarantined payload (which may not even parse as an
# event) is checked: any string anywhere in it that is one of these identifiers counts.
_TEXT_KINDS = ("user_id", "anonymous_id", "email", "phone", "loyalty_id", "device_id")
_TOKEN = re.compile(r"[^\s\"',;<>(){}\[\]]{3,}")


def _strings(value: Any, out: list[str], limit: int = 5000) -> None:
    if len(out) >= limit:
        return
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out, limit)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out, limit)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.append(str(value))


def text_nodes_hit(texts: Iterable[str], hashes: frozenset[str], rules: IdentityRules | None = None) -> bool:
    """Whether any string in ``texts`` (JSON documents walked value by value, or plain text split into
    tokens) is an identifier whose node hash is in ``hashes``: for quarantined items, which keep whatever
    was sent, wherever in it an identifier sits."""
    if not hashes:
        return False
    rules = rules or IdentityRules()
    strings: list[str] = []
    for text in texts:
        if not text:
            continue
        try:
            _strings(json.loads(text), strings)
        except ValueError:
            strings.extend(_TOKEN.findall(text))
    for s in strings:
        for kind in _TEXT_KINDS:
            normal = rules.normalise(kind, s)
            if normal is not None and node_hash(node_key(kind, normal)) in hashes:
                return True
    return False


def quarantine_hits(
    db: Backend, hashes: frozenset[str], rules: IdentityRules | None = None, where: str = "TRUE"
) -> list[str]:
    """Quarantine ids (of the items ``where`` selects) that name an identifier in ``hashes``."""
    if not hashes:
        return []
    rows = db.execute(f"SELECT quarantine_id, payload, envelope::VARCHAR FROM quarantine WHERE {where}")
    return [qid for qid, payload, envelope in rows if text_nodes_hit((payload, envelope), hashes, rules)]
