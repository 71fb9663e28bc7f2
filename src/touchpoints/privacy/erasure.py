"""The right to erasure (GDPR article 17): one command removes a person, everything merged into them and
everything derived from them, and keeps them out.

``erase`` (any identifier):

1. loads what the spool holds, so events acknowledged a moment ago are erased with the rest;
2. puts every identifier of the person on the suppression list (hashed), so nothing about them is stored
   again: new events and imported rows carrying any of them are refused at the door;
3. deletes, in one transaction, their rows from every table the inventory lists as personal (events,
   identifiers, merge ledger, reviews, consents, quarantined items naming them, ...), and rewrites the
   files Touchpoints wrote with them in (audience exports; access bundles are deleted);
4. blanks their records still in the spool, in place.

The matching model keeps no record values, so it has nothing of them; profiles and computed values are
read from the tables on request, so they go with the rows.

Deleted rows are gone for every reader at once, but DuckDB keeps deleted bytes in free blocks of the file
until they are overwritten. ``purge`` makes erasure physical: it rewrites the store into a new file and
blanks spooled records of every suppressed identifier, so no byte of an erased person is left in any file
under the home.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from touchpoints.analytics.prepared import invalidate as invalidate_prepared
from touchpoints.collector.loader import Loader
from touchpoints.collector.spool import list_segments
from touchpoints.config import Settings
from touchpoints.privacy.audit import AuditLog
from touchpoints.privacy.gate import SUPPRESSION_FILE, Gate
from touchpoints.privacy.inventory import PERSONAL
from touchpoints.privacy.subject import Subject, find, registered
from touchpoints.privacy.suppression import SuppressionList, event_nodes, node_hash
from touchpoints.store.backend import Backend
from touchpoints.store.duckdb import open_store
from touchpoints.store.spark import forget as forget_parquet


class NotFound(LookupError):
    """No customer has the identifier given."""


def _where(table: Any) -> tuple[str, int]:
    return table.where.replace("$customer", "?"), table.where.count("$customer")


def count_rows(db: Backend, subject: Subject) -> dict[str, int]:
    counts = {}
    with registered(db, subject):
        for table in PERSONAL:
            where, n = _where(table)
            counts[table.name] = int(db.execute(f"SELECT count(*) FROM {table.name} WHERE {where}",
                                                [subject.customer_id] * n)[0][0])  # fmt: skip
    return counts


def delete_rows(db: Backend, subject: Subject) -> dict[str, int]:
    """Deletes the subject's rows from every personal table; call inside a transaction."""
    counts = {}
    with registered(db, subject):
        for table in PERSONAL:
            where, n = _where(table)
            # The engine's own count: RETURNING would read every column of the rows, JSON included.
            deleted = db.execute(f"DELETE FROM {table.name} WHERE {where}", [subject.customer_id] * n)
            counts[table.name] = int(deleted[0][0])
    return counts


def redact_others(db: Backend, subject: Subject) -> int:
    """Other customers' events that carried one of the subject's identifiers (a link the rules refused: a
    partner's account used with her e-mail): their events stay theirs, her values in them are replaced by
    ``[erased]``. Call inside the transaction that deletes the subject's rows."""
    refs = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT cause_ref FROM identity_links WHERE status <> 'merged' AND cause_ref IS NOT NULL "
            "AND (a IN (SELECT unnest($1::VARCHAR[])) OR b IN (SELECT unnest($1::VARCHAR[])))",
            [subject.nodes],
        )
        if r[0] not in set(subject.message_ids)
    ]
    if not refs or not subject.values:
        return 0
    pattern = "(?i)(" + "|".join(re.escape(v) for v in subject.values) + ")"
    rows = db.execute(
        "UPDATE events SET traits = regexp_replace(traits::VARCHAR, $2, '[erased]', 'g')::JSON, "
        "context = regexp_replace(context::VARCHAR, $2, '[erased]', 'g')::JSON, "
        "properties = regexp_replace(properties::VARCHAR, $2, '[erased]', 'g')::JSON "
        "WHERE message_id IN (SELECT unnest($1::VARCHAR[])) RETURNING 1",
        [refs, pattern],
    )
    return len(rows)


def scrub_files(db: Backend, subject: Subject) -> list[str]:
    """Rewrites (or, for access bundles, deletes) every file Touchpoints wrote with the subject in; call
    before their ``export_rows`` are deleted."""
    touched: list[str] = []
    for export_id, path in db.execute(
        "SELECT DISTINCT e.id, e.path FROM exports e JOIN export_rows r ON r.export_id = e.id "
        "WHERE r.customer_id IN (SELECT unnest(?::VARCHAR[])) AND e.kind = 'access'",
        [subject.customer_ids],
    ):
        Path(path).unlink(missing_ok=True)
        db.execute("DELETE FROM export_rows WHERE export_id = ?", [export_id])
        # Its path may name the person (jane-doe-sar.json): the record keeps that a bundle was written.
        db.execute("UPDATE exports SET rows = 0, path = '(erased)' WHERE id = ?", [export_id])
        touched.append(str(path))
    try:
        from touchpoints.audiences.export import scrub_export_rows
    except ImportError:  # pragma: no cover - the audiences package ships with the core
        return touched
    for customer_id in subject.customer_ids:
        touched += scrub_export_rows(db, customer_id)
    return touched


def related_customers(db: Backend, subject: Subject) -> list[str]:
    """Other customers the graph refused to merge with this one (a second account's userId, a shared
    device): perhaps the same person, kept apart by the rules. Listed so the operator can erase them too."""
    rows = db.execute(
        """
        SELECT DISTINCT i.customer_id FROM identity_links l
        JOIN identities i ON i.node = CASE WHEN l.a IN (SELECT unnest($1::VARCHAR[])) THEN l.b ELSE l.a END
        WHERE l.status = 'refused' AND (l.a IN (SELECT unnest($1::VARCHAR[])) OR l.b IN (SELECT unnest($1::VARCHAR[])))
          AND i.customer_id <> $2
        ORDER BY 1
        """,
        [subject.nodes, subject.customer_id],
    )
    return [r[0] for r in rows]


def _blank(path: Path, wanted: Any) -> int:
    """Overwrites, in place and at the same length, every complete line of ``path`` that ``wanted(line)``
    accepts; the writer may keep appending meanwhile (only whole lines before the end are touched)."""
    blanked = 0
    try:
        fh = path.open("r+b")
    except FileNotFoundError:
        return 0
    with fh:
        offset = 0
        for line in fh:
            if line.endswith(b"\n") and line.strip() and wanted(line):
                fh.seek(offset)
                fh.write(b" " * (len(line) - 1))
                fh.seek(offset + len(line))
                blanked += 1
            offset += len(line)
        fh.flush()
        os.fsync(fh.fileno())
    return blanked


def spool_files(spool_dir: Path) -> list[Path]:
    files = [p for _, p in list_segments(spool_dir)]
    staging = spool_dir / ".loading.jsonl"
    return [*files, staging] if staging.exists() else files


def scrub_spool_subject(spool_dir: Path, subject: Subject) -> int:
    """Blanks the spooled records that name the subject (an identifier value or one of their events)."""
    pattern = subject.search()
    values = [v.encode() for v in subject.values]
    ids = {m.encode() for m in subject.message_ids}

    def wanted(line: bytes) -> bool:
        low = line.lower()
        # A plain substring search first (fast); the whole-word pattern only for the few lines it finds.
        if any(v in low for v in values) and pattern.search(low.decode("utf-8", "replace")):
            return True
        found = re.search(rb'"message_id":"([^"]+)"', line)
        return bool(found and found.group(1) in ids)

    return sum(_blank(p, wanted) for p in spool_files(spool_dir))


def scrub_spool_suppressed(spool_dir: Path, gate: Gate) -> int:
    """Blanks the spooled events that carry any suppressed identifier (read as the graph reads them)."""
    hashes = gate.hashes()
    if not hashes:
        return 0

    def wanted(line: bytes) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return False
        if record.get("_k") == "q":
            try:
                record = json.loads(record.get("payload") or "{}")
            except ValueError:
                return False
            record = {"user_id": record.get("userId"), "anonymous_id": record.get("anonymousId"),
                      "previous_id": record.get("previousId"), **record}  # fmt: skip
        if not isinstance(record, dict):
            return False
        return any(node_hash(n) in hashes for n in event_nodes(record, str(record.get("source")), gate.rules))

    return sum(_blank(p, wanted) for p in spool_files(spool_dir))


# How long an erasure or export waits for the spool to load before it goes on (what arrives later is
# refused at the door once the person is suppressed, and blanked from the spool).
LOAD_SECONDS = 10.0


def erase(
    settings: Settings, ref: str, *, actor: str, dry_run: bool = False, loader: Loader | None = None
) -> dict[str, Any]:
    """Erases the person ``ref`` names; returns what was removed (counts and files, no personal data).
    ``loader``: the server's own, when called from it (one loader per process)."""
    started = time.perf_counter()
    loader = loader or Loader.for_settings(settings)
    with open_store(settings.store_path) as db:
        subject = find(db, ref, settings.identity)
        if subject is None:  # perhaps only just sent: what the spool holds first
            loader.load_pending(db, deadline=time.monotonic() + LOAD_SECONDS)
            subject = find(db, ref, settings.identity)
        if subject is None:
            raise NotFound(
                f"no customer has the identifier {ref!r}; try another (an e-mail, phone, userId, anonymousId "
                "or customer id), or `touchpoints profiles search`"
            )
        if dry_run:
            return {"customer_id": subject.customer_id, "identifiers": len(subject.nodes), "dry_run": True,
                    "rows": count_rows(db, subject), "related_customers": related_customers(db, subject)}  # fmt: skip
        # Suppressed first: from here on the door refuses them, so what is still in the spool, or arrives
        # while we work, is never stored; then the spool is loaded (up to a bound: under traffic it never
        # ends) and the person looked up again with everything that landed before the list took effect.
        suppression = SuppressionList(settings.home / SUPPRESSION_FILE)
        suppressed = suppression.add(subject.nodes, cause="erasure")
        loaded = loader.load_pending(db, deadline=time.monotonic() + LOAD_SECONDS)
        if loaded.stored or loaded.quarantined:  # else the store is as it was: the same answer
            subject = find(db, subject.customer_id, settings.identity) or subject
            suppressed += suppression.add(subject.nodes, cause="erasure")
        report: dict[str, Any] = {"customer_id": subject.customer_id, "identifiers": len(subject.nodes),
                                  "dry_run": False, "related_customers": related_customers(db, subject)}  # fmt: skip
        # Files first, committed on their own: a file rewritten is never out of step with its records, and
        # if the deletion then fails the person is already out of every file (it can simply be re-run).
        with db.transaction():
            report["files"] = scrub_files(db, subject)
        with db.transaction():
            report["redacted_in_others"] = redact_others(db, subject)
            report["rows"] = delete_rows(db, subject)
            # the prepared events lost the person's rows above; stale, they are rebuilt from the redacted
            # events before the next analysis, and Spark's Parquet copy is deleted (written again then)
            invalidate_prepared(db)
        try:
            if forget_parquet(settings.parquet_location):
                report["files"] = [*report["files"], settings.parquet_location]
        except OSError as exc:  # an object store out of reach: the erasure stands, the copy must go by hand
            report["not_reached"] = [f"{settings.parquet_location}: {exc}; delete it by hand"]
        report["spool_records"] = scrub_spool_subject(settings.spool_dir, subject)
        report["suppressed"] = suppressed
    report["seconds"] = round(time.perf_counter() - started, 3)
    AuditLog(settings.audit_path).append(
        actor, "privacy.erase", subject.customer_id,
        rows=report["rows"], files=len(report["files"]), spool_records=report["spool_records"],
        identifiers_suppressed=len(subject.nodes),
    )  # fmt: skip
    return report
