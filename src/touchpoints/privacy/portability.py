"""The rights of access and portability (GDPR articles 15 and 20): one machine-readable bundle of everything
held about a person, found by any of their identifiers.

The bundle is JSON: the profile as Touchpoints shows it (traits, computed values), the identifiers and how
they were joined (the merge ledger), consent now and its history, feedback, the files Touchpoints wrote
with them in, who read their data (the audit log), and then every row of every table the inventory lists
as personal, so nothing held is left out of it by a reader's oversight.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from touchpoints.config import Settings
from touchpoints.identity.ledger import LedgerError, explain
from touchpoints.privacy.audit import AuditLog
from touchpoints.privacy.consent import customer_consent, history
from touchpoints.privacy.inventory import PERSONAL
from touchpoints.privacy.subject import Subject, registered
from touchpoints.profiles.read import TraitPrecedence, profile
from touchpoints.store.backend import Backend

FORMAT = "touchpoints.access/1"
OTHER = "(another customer's identifier)"
FEEDBACK_EVENTS = (
    "Survey Responded", "Product Reviewed", "Social Mention", "Ticket Opened", "Ticket Updated",
    "Ticket Resolved", "NPS Submitted", "Review Submitted",
)  # fmt: skip
_JSON_COLUMNS = {
    "context",
    "properties",
    "traits",
    "integrations",
    "extra",
    "envelope",
    "evidence",
    "customers",
}


def _rows(db: Backend, table: str, where: str, customer_id: str, order: str = "") -> list[dict[str, Any]]:
    cursor = db.arrow(
        f"SELECT * FROM {table} WHERE {where.replace('$customer', '?')}"
        + (f" ORDER BY {order}" if order else ""),
        [customer_id] * where.count("$customer"),
    )
    rows: list[dict[str, Any]] = cursor.to_pylist()
    for row in rows:
        for key in list(row):
            value = row[key]
            # JSON columns, and a quarantined event's payload when it is JSON, as objects.
            if (key in _JSON_COLUMNS or key == "payload") and isinstance(value, str):
                with contextlib.suppress(json.JSONDecodeError):
                    row[key] = json.loads(value)
    return rows


def _redact(link: dict[str, Any], mine: set[str]) -> None:
    """Another customer's identifier at either end of a link, and in its reason, becomes ``OTHER``."""
    others = [
        link[k] for k in ("a", "b", "from_node") if isinstance(link.get(k), str) and link[k] not in mine
    ]
    for key in ("a", "b", "from_node"):
        if link.get(key) in others:
            link[key] = OTHER
    if isinstance(link.get("reason"), str):
        for node in others:
            value = node.partition(":")[2]
            link["reason"] = link["reason"].replace(value, OTHER) if value else link["reason"]


def bundle(db: Backend, settings: Settings, subject: Subject, found_by: str) -> dict[str, Any]:
    """Everything held about ``subject``."""
    customer_id = subject.customer_id
    shown = profile(db, customer_id, precedence=TraitPrecedence.from_settings(settings), timeline_limit=0)
    with registered(db, subject):
        tables = {t.name: _rows(db, t.name, t.where, customer_id, t.order) for t in PERSONAL}
    # The other end of a refused or undone link is someone else's identifier (GDPR art. 15(4)).
    mine = set(subject.nodes)
    for name in ("identity_links", "identity_separations", "identity_reviews"):
        for row in tables[name]:
            _redact(row, mine)
    try:
        identity = explain(db, customer_id)
    except LedgerError:  # someone the graph never linked: their identifiers are all there is
        identity = {"customer_id": None, "identifiers": [dict(zip(("kind", "value", "source"), i, strict=True))
                                                         for i in subject.identifiers], "links": [], "refused": []}  # fmt: skip
    for link in identity.get("refused", []) + identity.get("links", []):
        _redact(link, mine)
    feedback = [
        e for e in tables["events"] if e.get("event") in FEEDBACK_EVENTS or e.get("type") == "feedback"
    ]
    files = db.execute(
        "SELECT e.id, e.kind, e.purpose, e.path, e.format, e.written_at, count(*) FROM exports e "
        "JOIN export_rows r ON r.export_id = e.id WHERE r.customer_id = ? GROUP BY ALL ORDER BY e.written_at",
        [customer_id],
    )
    return {
        "format": FORMAT,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "found_by": found_by,
        "customer_id": customer_id,
        "profile": {k: v for k, v in (shown or {}).items() if k not in ("timeline", "next_before")},
        "identity": identity,
        "consent": {"current": customer_consent(db, subject.nodes), "history": history(db, subject.nodes)},
        "feedback": feedback,
        # Segments and model scores are computed on request today and not stored per customer; the
        # computed values are the profile's.
        "derived": {"computed": (shown or {}).get("computed", {}), "segments": []},
        "files": [
            {"id": i, "kind": k, "purpose": p, "path": path, "format": f, "written_at": w, "lines": n}
            for i, k, p, path, f, w, n in files
        ],
        "accessed_by": [
            e for e in AuditLog(settings.audit_path).entries() if e.get("subject") == customer_id
        ],
        "tables": tables,
        "counts": {name: len(rows) for name, rows in tables.items()},
    }


def write_bundle(data: dict[str, Any], out: Path) -> int:
    """Writes the bundle (mode 0600: it is personal data); returns its size in bytes."""
    import os

    text = json.dumps(data, indent=2, default=str, ensure_ascii=False).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(text)
    return len(text)


def export_person(settings: Settings, ref: str, out: Path, *, actor: str) -> dict[str, Any]:
    """Writes the bundle of the person ``ref`` names to ``out``, records the file (so an erasure deletes
    it) and the access in the audit log; returns a summary without personal data."""
    import secrets

    from touchpoints.collector.loader import Loader
    from touchpoints.privacy.erasure import NotFound
    from touchpoints.privacy.subject import find
    from touchpoints.store.duckdb import open_store

    out = out.expanduser().absolute()
    with open_store(settings.store_path) as db:
        Loader.for_settings(settings).load_pending(db, deadline=time.monotonic() + 10.0)
        subject = find(db, ref, settings.identity)
        if subject is None:
            raise NotFound(f"no customer has the identifier {ref!r}; see `touchpoints profiles search`")
        data = bundle(db, settings, subject, ref)
        size = write_bundle(data, out)
        export_id = "exp_" + secrets.token_hex(6)
        with db.transaction():
            db.execute(
                "INSERT INTO exports VALUES (?, 'access', NULL, ?, 'json', now(), 1, ?)",
                [export_id, str(out), actor],
            )
            db.execute("INSERT INTO export_rows VALUES (?, ?, 1)", [export_id, subject.customer_id])
    AuditLog(settings.audit_path).append(
        actor, "privacy.export", subject.customer_id, export_id=export_id, bytes=size, counts=data["counts"]
    )
    return {"customer_id": subject.customer_id, "out": str(out), "bytes": size, "counts": data["counts"],
            "export_id": export_id}  # fmt: skip
