"""Audience exports: the customers of an audience written to a file, only those whose consent allows the
purpose the file serves, and every line of it recorded so an erasure can take a person out again.

Who is in it: every customer, or the customers a list names (customer ids or any identifier), narrowed
by traits (``city=London``: the value the profile shows, under the home's trait precedence). Who is
written: those of them the privacy gate allows for the purpose (``Gate.customers_sql``); the others are
only counted. The selection, the file and its record (``exports``, ``export_rows``) are made in one
transaction, so a consent change cannot slip in between and a written file is never unrecorded.

Formats, one line per customer with their most recently seen e-mail address and phone number:

- ``meta``: ``EMAIL,PHONE`` hashed as Meta expects (a Custom Audience customer list); ``google``:
  ``Email,Phone`` hashed as Google Customer Match expects. No customer id leaves with them, and a
  customer with neither an e-mail nor a phone is left out (nothing to match on).
- ``csv`` and ``jsonl``: ``customer_id``, ``email`` and ``phone`` in plain text, for the business's own
  tools.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from touchpoints.identity.lookup import find_customer
from touchpoints.identity.rules import IdentityRules
from touchpoints.privacy.gate import Gate
from touchpoints.privacy.hashing import hashed
from touchpoints.profiles.traits import RECTIFICATION_SOURCE
from touchpoints.store.backend import Backend

FORMATS = ("meta", "google", "csv", "jsonl")
KIND = "audience"
# Lines before the first customer's, per format: line 1 in export_rows is the first line after them.
HEADER_LINES = {"meta": 1, "google": 1, "csv": 1, "jsonl": 0}
_HEADERS = {
    "meta": ["EMAIL", "PHONE"],
    "google": ["Email", "Phone"],
    "csv": ["customer_id", "email", "phone"],
}


class ExportChanged(RuntimeError):
    """A recorded file no longer has the lines Touchpoints wrote, so its lines cannot be found by number."""


@dataclass(frozen=True)
class Member:
    customer_id: str
    email: str | None  # as the identity graph holds them: lower-cased; E.164
    phone: str | None


@dataclass(frozen=True)
class Selection:
    members: list[Member]  # in the audience and allowed for the purpose, by customer id
    left_out: int  # in the audience, but their consent does not allow the purpose
    not_found: int  # entries of the customer list that name no customer


@dataclass(frozen=True)
class AudienceExport:
    export_id: str
    path: Path
    format: str
    purpose: str
    rows: int  # customers written
    left_out: int
    not_found: int
    without_identifier: int  # allowed, but with no e-mail or phone the platform can match on

    def summary(self) -> dict[str, Any]:
        """Counts and where: what the CLI prints and the audit log keeps (never an identifier)."""
        return {
            "export_id": self.export_id,
            "path": str(self.path),
            "format": self.format,
            "purpose": self.purpose,
            "rows": self.rows,
            "left_out_without_consent": self.left_out,
            "not_found": self.not_found,
            "without_identifier": self.without_identifier,
        }


def _trait_path(name: str) -> str:
    """The JSON path of a trait name (``address.city`` is nested, as profiles flatten it)."""
    parts = name.split(".")
    if not name or any(not p or '"' in p for p in parts):
        raise ValueError(f"trait name {name!r} is not usable: give a name like city or address.city")
    return "$." + ".".join(f'"{p}"' for p in parts)


def _trait_sql(precedence: str, source_priority: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL for ``customer_id, value``: each customer's shown value of the trait at the path ``?`` (the
    rules of ``profiles.traits``: identify traits and every event's context.traits, the latest sighting
    wins, or the first source of ``source_priority`` that has one)."""
    params: list[Any] = []
    rank = f"(source <> '{RECTIFICATION_SOURCE}'), "  # a rectification wins, as in profiles
    if precedence == "source_priority":
        rank += "coalesce(least(list_position(?::VARCHAR[], source), list_position(?::VARCHAR[], channel)), 1000000), "
        params += [list(source_priority), list(source_priority)]
    sql = f"""
        SELECT customer_id, value FROM (
            SELECT c.customer_id, e.timestamp, e.received_at, e.message_id, e.source, e.channel,
                   CASE WHEN e.type = 'identify' THEN e.traits ->> $path END AS value
            FROM events e JOIN event_customers c ON c.message_id = e.message_id
            UNION ALL
            SELECT c.customer_id, e.timestamp, e.received_at, e.message_id, e.source, e.channel,
                   e.context -> '$.traits' ->> $path AS value
            FROM events e JOIN event_customers c ON c.message_id = e.message_id
        )
        WHERE value IS NOT NULL AND value <> '' AND customer_id IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY customer_id ORDER BY {rank}timestamp DESC, received_at DESC, message_id DESC) = 1
    """
    return sql, params


def select_members(
    db: Backend,
    gate: Gate,
    purpose: str,
    *,
    customers: Sequence[str] | None = None,
    traits: Mapping[str, str] | None = None,
    trait_precedence: str = "latest",
    source_priority: Sequence[str] = (),
    rules: IdentityRules | None = None,
) -> Selection:
    """The customers of an audience that ``purpose`` may reach: all customers, or those ``customers``
    names (customer ids or identifiers), whose shown traits equal every one of ``traits``."""
    allowed_sql = gate.customers_sql(purpose)  # raises for a purpose the home does not know
    paths = [_trait_path(name) for name in traits or {}]  # raises for a name that is no path
    not_found = 0
    params: list[Any] = []
    if customers is None:
        candidates = "SELECT DISTINCT customer_id FROM identities"
    else:
        found: set[str] = set()
        for ref in customers:
            customer = find_customer(db, ref, rules)
            if customer is None:
                not_found += 1
            else:
                found.add(customer)
        db.register("_tp_audience_list", pa.table({"customer_id": pa.array(sorted(found), pa.string())}))
        candidates = "SELECT customer_id FROM _tp_audience_list"
    filters = []
    for i, path in enumerate(paths):
        sql, trait_params = _trait_sql(trait_precedence, source_priority)
        filters.append(f"t{i} AS ({sql.replace('$path', '?')})")
        params += [path, path, *trait_params]  # in the order of their ?s
    matched = "SELECT customer_id FROM candidates"
    for i, value in enumerate((traits or {}).values()):
        matched += f" INTERSECT SELECT customer_id FROM t{i} WHERE value = ?"
        params.append(value)
    try:
        rows = db.execute(
            f"""
            WITH candidates AS ({candidates}),
            {"".join(f + "," for f in filters)}
            matched AS ({matched}),
            allowed AS (SELECT DISTINCT customer_id FROM ({allowed_sql})),
            contact AS (
                SELECT customer_id,
                       (list(value ORDER BY first_seen DESC, value) FILTER (kind = 'email'))[1] AS email,
                       (list(value ORDER BY first_seen DESC, value) FILTER (kind = 'phone'))[1] AS phone
                FROM identities WHERE kind IN ('email', 'phone') AND customer_id IN (SELECT customer_id FROM matched)
                GROUP BY customer_id
            )
            SELECT m.customer_id, a.customer_id IS NOT NULL, c.email, c.phone
            FROM matched m
            LEFT JOIN allowed a ON a.customer_id = m.customer_id
            LEFT JOIN contact c ON c.customer_id = m.customer_id
            ORDER BY m.customer_id
            """,
            params,
        )
    finally:
        if customers is not None:
            db.unregister("_tp_audience_list")
    members = [Member(str(cid), email, phone) for cid, allowed, email, phone in rows if allowed]
    return Selection(members, left_out=len(rows) - len(members), not_found=not_found)


def _render(members: Sequence[Member], fmt: str) -> tuple[list[str], list[str], int]:
    """The file's lines (header first), the customer of each data line, and how many members had
    nothing the platform can match on."""
    lines: list[str] = []
    written: list[str] = []
    without = 0

    def csv_line(values: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        return buffer.getvalue()

    if fmt in _HEADERS:
        lines.append(csv_line(_HEADERS[fmt]))
    for m in members:
        if fmt in ("meta", "google"):
            email = hashed(fmt, "email", m.email)
            phone = hashed(fmt, "phone", m.phone)
            if email is None and phone is None:
                without += 1
                continue
            lines.append(csv_line([email or "", phone or ""]))
        elif fmt == "csv":
            lines.append(csv_line([m.customer_id, m.email or "", m.phone or ""]))
        else:
            record = {"customer_id": m.customer_id, "email": m.email, "phone": m.phone}
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        written.append(m.customer_id)
    return lines, written, without


def _write_temp(directory: Path, lines: Sequence[str], mode: int = 0o600) -> Path:
    """The lines in a new file next to where they will go (owner-only: it is personal data), on disk."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=".tp-", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export_audience(
    db: Backend,
    gate: Gate,
    out: Path,
    fmt: str,
    *,
    purpose: str = "marketing",
    customers: Sequence[str] | None = None,
    traits: Mapping[str, str] | None = None,
    trait_precedence: str = "latest",
    source_priority: Sequence[str] = (),
    rules: IdentityRules | None = None,
    actor: str | None = None,
) -> AudienceExport:
    """Writes the audience (see ``select_members``) to ``out`` in ``fmt`` and records the file and the
    customer of each line; opens its own transaction. A file written before at the same path is
    replaced, and its lines' records go with it."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    path = out.resolve()
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    export_id = f"exp_{secrets.token_hex(8)}"
    temp: Path | None = None
    replaced = False
    try:
        with db.transaction():
            selection = select_members(
                db, gate, purpose, customers=customers, traits=traits, trait_precedence=trait_precedence,
                source_priority=source_priority, rules=rules,
            )  # fmt: skip
            lines, written, without = _render(selection.members, fmt)
            temp = _write_temp(path.parent, lines)
            db.execute(
                "DELETE FROM export_rows WHERE export_id IN (SELECT id FROM exports WHERE path = ?)",
                [str(path)],
            )
            db.execute(
                "INSERT INTO exports (id, kind, purpose, path, format, written_at, rows, actor) "
                "VALUES (?, ?, ?, ?, ?, now(), ?, ?)",
                [export_id, KIND, purpose, str(path), fmt, len(written), actor],
            )
            db.register(
                "_tp_export_rows",
                pa.table(
                    {
                        "customer_id": pa.array(written, pa.string()),
                        "line": pa.array(range(1, len(written) + 1), pa.int64()),
                    }
                ),
            )
            try:
                db.execute(
                    "INSERT INTO export_rows (export_id, customer_id, line) "
                    "SELECT ?, customer_id, line FROM _tp_export_rows",
                    [export_id],
                )
            finally:
                db.unregister("_tp_export_rows")
            os.replace(temp, path)  # last: if it fails, nothing is recorded
            replaced = True
    except BaseException:
        if replaced:  # the record did not commit: a file no erasure could find must not stay
            path.unlink(missing_ok=True)
        raise
    finally:
        if temp is not None and not replaced:
            temp.unlink(missing_ok=True)
    _sync_dir(path.parent)
    return AudienceExport(
        export_id, path, fmt, purpose, len(written), selection.left_out, selection.not_found, without
    )


def scrub_export_rows(db: Backend, customer_id: str) -> list[str]:
    """Rewrites every recorded audience file that has lines about ``customer_id`` without them (the
    header and every other line kept, each file replaced atomically), renumbers the other lines' records,
    and returns the paths rewritten. A file that no longer exists only loses its records.

    Call inside a transaction (the erasure's): the records change with it, while the files are rewritten
    at once, so commit right after. Every file is checked before any is rewritten: when one no longer has
    the number of lines Touchpoints wrote (edited by hand, or cut by an erasure whose transaction then
    failed), its lines cannot be found by number, and ``ExportChanged`` is raised before anything changes.
    Records are by the customer id at the time of the export: after a merge, call it for the absorbed
    customer ids too.
    """
    found = db.execute(
        """
        SELECT e.id, e.path, e.format, e.rows, list(r.line ORDER BY r.line)
        FROM export_rows r JOIN exports e ON e.id = r.export_id
        WHERE r.customer_id = ? AND e.kind = ?
        GROUP BY e.id, e.path, e.format, e.rows ORDER BY e.path, e.id
        """,
        [customer_id, KIND],
    )
    plans = []
    for export_id, path_text, fmt, rows, lines in found:
        header = HEADER_LINES.get(fmt)
        if header is None:  # not a format this module writes
            continue
        path = Path(path_text)
        plans.append((export_id, path, lines, _without(path, header, set(lines), rows)))
    touched: list[str] = []
    for export_id, path, lines, kept in plans:
        db.execute(
            "DELETE FROM export_rows WHERE export_id = ? AND customer_id = ?", [export_id, customer_id]
        )
        db.execute(
            "UPDATE export_rows SET line = line - "
            "(SELECT count(*) FROM unnest(?::BIGINT[]) AS gone(l) WHERE gone.l < export_rows.line) "
            "WHERE export_id = ?",
            [lines, export_id],
        )
        db.execute("UPDATE exports SET rows = rows - ? WHERE id = ?", [len(lines), export_id])
        if kept is not None:
            content, mode = kept
            temp = _write_temp(path.parent, content, mode)
            try:
                os.replace(temp, path)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            _sync_dir(path.parent)
            touched.append(str(path))
    return touched


def _without(path: Path, header: int, drop: set[int], rows: int) -> tuple[list[str], int] | None:
    """The lines of ``path`` without the data lines numbered in ``drop``, and the file's permissions;
    None when the file is gone."""
    try:
        content = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None
    lines = content.splitlines(keepends=True)
    body = lines[header:]
    if len(lines) < header or len(body) != rows:
        raise ExportChanged(
            f"{path} has {len(body)} data lines, but Touchpoints wrote {rows}: it was changed since, so the "
            "customer's lines cannot be found by number; remove them by hand, or delete the file"
        )
    return lines[:header] + [line for n, line in enumerate(body, start=1) if n not in drop], mode
