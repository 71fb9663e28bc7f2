"""Files into the store: CSV, JSON Lines or Parquet, read and checked by the engine, row for row in SQL.

The file is staged once (every field as text, the row number, the row as JSON for quarantine), each
field is typed with ``TRY_CAST`` so that a bad value becomes a reason rather than an error, and good
rows become events with stable ids: re-importing a file, or an overlapping one, stores nothing twice,
and a row fixed in the file and imported again lands and releases its quarantine item. Nothing is done
row by row in Python, which is what makes 200,000 rows a second possible.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from touchpoints import __version__
from touchpoints.events.channel import CHANNELS
from touchpoints.identity.rules import IdentityRules
from touchpoints.privacy.keys import RESERVED_NAMES
from touchpoints.sources.kinds import CONSENT_PURPOSES, IDENTIFIERS, KINDS, Field, Kind
from touchpoints.store.backend import Backend
from touchpoints.store.events import (
    EVENT_COLUMNS,
    claim_message_ids,
    insert_events,
    quarantine_mark,
    sweep_quarantine,
)

FORMATS = ("csv", "jsonl", "parquet")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class ImportError_(ValueError):
    """The file cannot be imported at all (missing, unreadable, a required column absent); nothing was
    stored. Row-level problems never raise: those rows are quarantined."""


@dataclass
class ImportResult:
    imported: int = 0
    quarantined: int = 0
    duplicates: int = 0
    rows: int = 0
    suppressed: int = 0  # rows naming an erased person: refused (privacy.suppression)
    anonymised: int = 0  # stored without identifiers: no analytics consent
    dropped: int = 0  # not stored: no analytics consent
    released: int = 0  # quarantine items of earlier imports that now landed
    removed: int = 0  # enrichment: keys of the previous version absent from this one
    kind: str = ""
    file: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "rows": self.rows,
            **({"suppressed": self.suppressed} if self.suppressed else {}),
            **({"anonymised": self.anonymised} if self.anonymised else {}),
            **({"dropped_without_consent": self.dropped} if self.dropped else {}),
            "released_from_quarantine": self.released,
            **({"removed": self.removed} if self.kind == "enrichment" else {}),
            "kind": self.kind,
            "file": self.file,
            "source": self.source,
        }


@dataclass
class ImportOptions:
    kind: str
    path: Path
    source: str
    mapping: dict[str, str] = field(default_factory=dict)  # file column -> field
    file_format: str | None = None
    channel: str | None = None
    timezone: str | None = None  # for timestamps without an offset; UTC (flagged) when not given
    time_format: str | None = None  # strptime format, tried when ISO 8601 fails
    key: str | None = None  # enrichment: the key column
    trait: str | None = None  # enrichment: the trait it joins to (default: the key column's name)
    delimiter: str | None = None
    encoding: str | None = None  # CSV: utf-8 (default), latin-1, utf-16
    rules: IdentityRules | None = None  # identity rules of the home (defaults when None)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise ImportError_(f"--format {given!r} is not one of {', '.join(FORMATS)}")
        return given
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None and path.suffix.lower() == ".gz":
        found = _SUFFIXES.get(Path(path.stem).suffix.lower())
    if found is None:
        raise ImportError_(
            f"{path.name}: cannot tell the format from the suffix {path.suffix!r}; pass --format csv, jsonl or parquet"
        )
    return found


# -- staging: any format into one table of text fields ----------------------------------------------


def _stage(db: Backend, opts: ImportOptions, fmt: str) -> list[str]:
    """Creates ``_imp_src(_row, _payload, _error, <file columns>)`` and returns the file's column names.
    ``_error`` is set for rows that could not be read at all (a malformed CSV line, a line that is not a
    JSON object). ``_payload`` is the raw text where there is one (a JSON line, a rejected CSV line);
    otherwise ``payload_sql`` makes it from the columns, for the few rows that need it."""
    path = str(opts.path)
    if fmt == "csv":
        delimiter, names = _csv_header(opts.path, opts.encoding, opts.delimiter)
        encoding = f", encoding = {_lit(opts.encoding)}" if opts.encoding else ""
        columns_arg = "{" + ", ".join(f"{_lit(n)}: 'VARCHAR'" for n in names) + "}"
        # Quotes as RFC 4180 has them, every field as text: a malformed line is a rejected row.
        reader = (
            f"read_csv({_lit(path)}, header = true, auto_detect = false, columns = {columns_arg}, "
            f"delim = {_lit(delimiter)}, quote = '\"', escape = '\"', store_rejects = true{encoding})"
        )
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE _imp_src AS SELECT row_number() OVER () AS _row, "
            f"NULL::VARCHAR AS _payload, NULL::VARCHAR AS _error, * FROM {reader} t"
        )
        columns = _columns(db)
        rejects = db.execute(
            "SELECT line, error_type, error_message, csv_line FROM reject_errors ORDER BY line, column_idx"
        )
        seen: set[int] = set()
        for line, error_type, message, csv_line in rejects:
            if line in seen:
                continue
            seen.add(line)
            # The rows after a rejected line keep the numbers they have in the file (one line per row,
            # after the header).
            db.execute("UPDATE _imp_src SET _row = _row + 1 WHERE _row >= ?", [int(line) - 1])
            db.execute(
                "INSERT INTO _imp_src (_row, _payload, _error) VALUES (?, ?, ?)",
                [-int(line), csv_line or "", f"line {line} is not a valid CSV row ({error_type}: {message})"],
            )
        return columns
    if fmt == "parquet":
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE _imp_src AS SELECT row_number() OVER () AS _row, "
            # an events file's extra columns become properties with their types: the row as JSON
            f"{'to_json(t)::VARCHAR' if opts.kind == 'events' else 'NULL::VARCHAR'} AS _payload, "
            f"NULL::VARCHAR AS _error, COLUMNS(*)::VARCHAR FROM read_parquet({_lit(path)}) t"
        )
        return _columns(db)
    if path.endswith(".gz"):
        raise ImportError_(
            f"{opts.path.name}: compressed JSON Lines are not read; gunzip it first (CSV may be .csv.gz)"
        )
    with open(path, "rb") as fh:
        start = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith(b"["):
        raise ImportError_(
            f"{opts.path.name} is a JSON array; JSON Lines (one object per line) are expected: convert it with "
            f"jq -c '.[]' {opts.path.name} > {opts.path.stem}.jsonl"
        )
    # JSON Lines: the text read whole and split, so that a bad line is a quarantined row, not an error
    db.execute(
        "CREATE OR REPLACE TEMP TABLE _imp_lines AS SELECT _row, _line, CASE WHEN json_valid(_line) "
        "THEN json_type(_line) = 'OBJECT' ELSE false END AS _ok FROM (SELECT generate_subscripts(parts, 1) AS _row, "
        "unnest(parts) AS _line FROM (SELECT string_split(replace(content, chr(13), ''), chr(10)) AS parts "
        f"FROM read_text({_lit(path)}))) WHERE trim(_line) <> ''"
    )
    keys = sorted(
        row[0] for row in db.execute("SELECT DISTINCT unnest(json_keys(_line)) FROM _imp_lines WHERE _ok")
    )
    folded: dict[str, str] = {}
    for key in keys:
        other = folded.setdefault(key.lower(), key)
        if other != key:
            raise ImportError_(
                f"{opts.path.name}: the keys {other!r} and {key!r} differ only in case; they cannot be told "
                "apart as columns: rename one of them in the file"
            )

    def extract(key: str) -> str:
        at = _lit("$." + _q(key))
        return (
            f"CASE WHEN json_type(_obj, {at}) IN ('OBJECT', 'ARRAY') THEN json_extract(_obj, {at})::VARCHAR "
            f"ELSE json_extract_string(_obj, {at}) END AS {_q(key)}"
        )

    db.execute(
        "CREATE OR REPLACE TEMP TABLE _imp_src AS SELECT _row, _line AS _payload, "
        "CASE WHEN _ok THEN NULL WHEN NOT json_valid(_line) THEN 'line ' || _row || ' is not valid JSON' "
        "ELSE 'line ' || _row || ' is not a JSON object' END AS _error"
        + "".join(", " + extract(k) for k in keys)
        + " FROM (SELECT *, CASE WHEN _ok THEN _line END AS _obj FROM _imp_lines)"
    )
    db.execute("DROP TABLE _imp_lines")
    return keys


def _csv_header(path: Path, encoding: str | None, delimiter: str | None) -> tuple[str, list[str]]:
    """The delimiter (given, else the header's most frequent of , ; tab |) and the column names, read
    here rather than by DuckDB's sniffer, which one stray quote can lead to no quoting or no delimiter
    at all."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding=encoding or "utf-8-sig", errors="replace", newline="") as fh:
            header = fh.readline()
    except (OSError, LookupError) as exc:
        raise ImportError_(f"{path.name}: cannot read it ({exc})") from exc
    if not header.strip():
        raise ImportError_(f"{path.name} is empty: a CSV file needs a header line naming its columns")
    if delimiter is None:
        counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
        delimiter = max(counts, key=lambda sep: counts[sep])
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=delimiter, quotechar='"'))
    names = [n.strip() or f"column{i}" for i, n in enumerate(names)]
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise ImportError_(f"{path.name}: the column {name!r} appears twice in the header; rename one")
        seen.add(name.lower())
    return delimiter, names


def payload_sql(alias: str) -> str:
    """The row of ``_imp_src`` (as ``alias``) as the text kept in quarantine."""
    return (
        f"coalesce({alias}._payload, json_merge_patch(to_json({alias}), "
        """'{"_row": null, "_payload": null, "_error": null}')::VARCHAR)"""
    )


def _columns(db: Backend) -> list[str]:
    rows = db.execute("SELECT column_name FROM (DESCRIBE _imp_src)")
    return [r[0] for r in rows if r[0] not in ("_row", "_payload", "_error")]


# -- typing: each field checked, with a reason per bad value ---------------------------------------


def _timestamp_sql(raw: str, opts: ImportOptions) -> tuple[str, str]:
    """The typed timestamp and the 'had no offset' test, for a text expression ``raw``."""
    # An offset after a time: Z, +01, +0100 or +01:00 (a date alone, 2024-05-01, has none).
    has_offset = f"regexp_matches({raw}, '[0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}}([.,][0-9]+)?)?\\s*(Z|z|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$')"
    epoch = (
        f"WHEN regexp_full_match({raw}, '[0-9]{{9,10}}(\\.[0-9]+)?') THEN to_timestamp(TRY_CAST({raw} AS DOUBLE)) "
        f"WHEN regexp_full_match({raw}, '[0-9]{{13}}') THEN to_timestamp(TRY_CAST({raw} AS DOUBLE) / 1000) "
    )
    if not opts.time_format:
        epoch += (
            # Other runs of digits (202405011030) are not guessed at.
            f"WHEN regexp_full_match({raw}, '[0-9]+') THEN NULL "
            # Words the ISO reader would skip (PM, a zone name) must not be dropped silently.
            f"WHEN regexp_matches(regexp_replace({raw}, '^[0-9-]+[Tt]', ''), '[A-Ya-y]') THEN NULL "
        )
    naive = f"TRY_CAST({raw} AS TIMESTAMP)"
    if opts.time_format:
        naive = f"coalesce({naive}, try_strptime({raw}, {_lit(opts.time_format)}))"
    local = f"timezone({_lit(opts.timezone)}, {naive})" if opts.timezone else f"{naive}::TIMESTAMPTZ"
    typed = f"(CASE {epoch}WHEN {has_offset} THEN TRY_CAST({raw} AS TIMESTAMPTZ) ELSE {local} END)"
    naive_test = f"(NOT {has_offset} AND NOT regexp_full_match({raw}, '[0-9.]+'))"
    return typed, naive_test


def _typed_sql(f: Field, raw: str, opts: ImportOptions) -> tuple[str, str | None]:
    """(typed value, reason when bad) for one field; ``raw`` is its trimmed text or NULL."""
    label = f.name
    shown = f"'''' || left({raw}, 60) || ''''"
    if f.type == "timestamp":
        typed, _ = _timestamp_sql(raw, opts)
        hint = (
            "pass --time-format, e.g. %m/%d/%Y %H:%M (US) or %d/%m/%Y %I:%M %p"
            if not opts.time_format
            else "check --time-format"
        )
        return typed, (
            f"CASE WHEN {raw} IS NOT NULL AND {typed} IS NULL THEN '{label} ' || {shown} || "
            f"' is not a date-time; use ISO 8601 (2024-05-01T10:30:00Z) or {hint}' "
            f"WHEN year({typed}) < 1900 OR year({typed}) > 2200 THEN '{label} ' || {shown} || "
            "' is out of range (years 1900 to 2200)' END"
        )
    if f.type == "date":
        typed = f"TRY_CAST({raw} AS DATE)"
        if opts.time_format:
            typed = f"coalesce({typed}, try_strptime({raw}, {_lit(opts.time_format)})::DATE)"
        return typed, (
            f"CASE WHEN {raw} IS NOT NULL AND {typed} IS NULL THEN '{label} ' || {shown} || "
            "' is not a date; use YYYY-MM-DD' END"
        )
    if f.type in ("number", "integer"):
        # Thousands separators and a currency sign are common in exports; a comma decimal is not guessed.
        bare = f"regexp_replace({raw}, '^[$€£]', '')"
        cleaned = (
            f"CASE WHEN regexp_full_match({bare}, '-?[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]+)?') "
            f"THEN replace({bare}, ',', '') ELSE {bare} END"
        )
        number = f"TRY_CAST({cleaned} AS DOUBLE)"
        if f.type == "number":
            typed = f"(CASE WHEN isfinite({number}) AND abs({number}) < 1e15 THEN {number} END)"
        else:
            # A cast to an integer would round 4.5 to 5; a fraction is refused instead.
            typed = (
                f"(CASE WHEN isfinite({number}) AND {number} = trunc({number}) AND abs({number}) < 1e15 "
                f"THEN {number}::BIGINT END)"
            )
        what = "a number" if f.type == "number" else "a whole number"
        checks = [
            f"WHEN {raw} IS NOT NULL AND {typed} IS NULL THEN '{label} ' || {shown} || ' is not {what}'"
        ]
        bounds = [f"{typed} < {f.low}"] if f.low is not None else []
        bounds += [f"{typed} > {f.high}"] if f.high is not None else []
        if bounds:
            span = f"{_num(f.low)} to {_num(f.high)}" if f.high is not None else f"at least {_num(f.low)}"
            checks.append(
                f"WHEN {' OR '.join(bounds)} THEN '{label} ' || {raw} || ' is out of range ({span})'"
            )
        return typed, f"CASE {' '.join(checks)} END"
    if f.choices:
        norm = f"replace(lower({raw}), ' ', '_')"
        if f.aliases:
            whens = " ".join(f"WHEN {_lit(a)} THEN {_lit(c)}" for a, c in f.aliases.items())
            norm = f"(CASE {norm} {whens} ELSE {norm} END)"
        allowed = ", ".join(_lit(c) for c in f.choices)
        return norm, (
            f"CASE WHEN {raw} IS NOT NULL AND {norm} NOT IN ({allowed}) THEN '{label} ' || {shown} || "
            f"' is not one of {', '.join(f.choices)}' END"
        )
    if f.name == "email":
        return f"lower({raw})", (
            f"CASE WHEN {raw} IS NOT NULL AND NOT regexp_full_match({raw}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+') "
            f"THEN 'email ' || {shown} || ' is not an email address' END"
        )
    if f.name == "channel":
        allowed = ", ".join(_lit(c) for c in sorted(CHANNELS))
        return f"lower({raw})", (
            f"CASE WHEN {raw} IS NOT NULL AND lower({raw}) NOT IN ({allowed}) THEN 'channel ' || {shown} || "
            f"' is not one of {', '.join(sorted(CHANNELS))}' END"
        )
    return raw, None


def _num(value: float | None) -> str:
    return "" if value is None else (str(int(value)) if float(value).is_integer() else str(value))


def _loose(name: str) -> str:
    """Column names match ignoring case, spaces, hyphens and underscores: userId, user_id, User ID."""
    return re.sub(r"[\s_-]+", "", name).lower()


def _resolve_columns(kind: Kind, columns: Sequence[str], opts: ImportOptions) -> dict[str, str]:
    """field -> file column, after --map; raises if a mapped or required column is missing."""
    unknown = [c for c in opts.mapping if c not in columns]
    if unknown:
        raise ImportError_(
            f"{opts.path.name}: --map names column(s) {', '.join(map(repr, unknown))} that the file does not "
            f"have; its columns are {', '.join(columns)}"
        )
    known = {f.name for f in kind.fields}
    bad_targets = [t for t in opts.mapping.values() if t not in known and kind.name != "events"]
    if bad_targets:
        raise ImportError_(
            f"--map target(s) {', '.join(map(repr, bad_targets))} are not fields of {kind.name}; "
            f"its fields are {', '.join(sorted(known))}"
        )
    found: dict[str, str] = {}
    lowered = {_loose(c): c for c in columns}
    mapped_from = set(opts.mapping)
    for f in kind.fields:
        source = next((c for c, t in opts.mapping.items() if t == f.name), None)
        if source is None and _loose(f.name) in lowered and lowered[_loose(f.name)] not in mapped_from:
            source = lowered[_loose(f.name)]
        if source is not None:
            found[f.name] = source
    missing = [name for name in kind.required if name not in found]
    if missing and len(columns) == 1 and any(sep in columns[0] for sep in (";", "\t", "|", ",")):
        raise ImportError_(
            f"{opts.path.name}: its whole header was read as one column ({columns[0][:80]!r}); "
            "say how columns are separated with --delimiter (e.g. --delimiter ';')"
        )
    if missing:
        unused = [c for c in columns if c not in found.values()]
        raise ImportError_(
            f"{opts.path.name}: a {kind.name} file needs the column(s) {', '.join(missing)}; it has "
            f"{', '.join(columns) or 'none'}. Rename them in the file or map them, e.g. "
            f"--map {unused[0] if unused else 'Column'}={missing[0]}"
        )
    if kind.name == "events" and "event" not in found and "type" not in found:
        raise ImportError_(
            f"{opts.path.name}: an events file needs an event column (or a type column for page/identify "
            f"rows); it has {', '.join(columns)}"
        )
    return found


def _type_rows(db: Backend, kind: Kind, found: dict[str, str], opts: ImportOptions) -> None:
    """Creates ``_imp_typed``: every field as ``v_<name>`` and ``_reason`` (NULL for a good row)."""
    selects = ["_row", "_error"]
    reasons = ["_error"]
    for f in kind.fields:
        raw = f"nullif(trim({_q(found[f.name])}), '')" if f.name in found else "NULL::VARCHAR"
        if f.type == "timestamp":
            selects.append(f"{raw} AS r_{f.name}")
        typed, reason = _typed_sql(f, raw, opts)
        selects.append(f"{typed} AS v_{f.name}")
        if reason is not None and f.name in found:
            reasons.append(reason)
        if f.required:
            reasons.append(f"CASE WHEN {raw} IS NULL THEN '{f.name} is empty' END")
    if "timestamp" in found:
        _, naive = _timestamp_sql(f"nullif(trim({_q(found['timestamp'])}), '')", opts)
        selects.append(f"coalesce({naive}, false) AS _naive_time")
    else:
        selects.append("false AS _naive_time")
    if not _key_is_required(kind) or kind.key_includes_content:
        # The key may be incomplete, or the content is part of it: such a row is known by its whole content.
        texts = [f"{_q(c)}::VARCHAR" for c in _columns(db)]
        selects.append(f"md5(to_json(list_value({', '.join(texts)}))::VARCHAR) AS _rowhash")
    if kind.name == "events":
        others = [c for c in _columns(db) if c not in found.values()]
        props = ", ".join(f"{_lit(c)}, nullif(trim({_q(c)}), '')" for c in others)
        as_text = f"json_merge_patch('{{}}', json_object({props}))" if others else "'{}'::JSON"
        # JSON Lines and Parquet rows keep their types (numbers, booleans, objects): the row's JSON less
        # the columns read as fields. A CSV has only text.
        known = "{" + ", ".join(f"{json.dumps(c)}: null" for c in found.values()) + "}"
        typed = f"json_merge_patch(_payload::JSON, {_lit(known)})"
        selects.append(
            f"CASE WHEN _payload IS NOT NULL AND _error IS NULL THEN {typed} ELSE {as_text} END AS _props"
        )
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE _imp_typed AS SELECT {', '.join(selects)}, "
        f"coalesce(_error, nullif(concat_ws('; ', {', '.join(reasons[1:]) or 'NULL'}), '')) AS _reason FROM _imp_src"
    )
    if kind.row_rule is not None:
        rule, why = kind.row_rule
        db.execute(f"UPDATE _imp_typed SET _reason = {_lit(why)} WHERE _reason IS NULL AND NOT ({rule})")
    if kind.name == "events":
        db.execute(
            "UPDATE _imp_typed SET _reason = 'event is empty (a track row needs an event name)' "
            "WHERE _reason IS NULL AND coalesce(v_type, 'track') = 'track' AND v_event IS NULL"
        )
    if kind.name != "contacts":
        ids = [f"v_{f.name}" for f in IDENTIFIERS if kind.field(f.name) is not None]
        if kind.name not in ("transactions", "social") and ids:
            db.execute(
                "UPDATE _imp_typed SET _reason = 'the row names no customer: set one of "
                + ", ".join(i[2:] for i in ids)
                + f"' WHERE _reason IS NULL AND coalesce({', '.join(ids)}) IS NULL"
            )


# -- events -------------------------------------------------------------------------------------------


def _key_is_required(kind: Kind) -> bool:
    return bool(kind.key) and all((f := kind.field(k)) is not None and f.required for k in kind.key)


def _row_key(kind: Kind, opts: ImportOptions, prefix: str = "") -> str:
    """SQL for the stable id of a row: the kind's key fields when all are present, else the whole row."""
    parts = [f"{prefix}r_timestamp" if k == "timestamp" else f"{prefix}v_{k}::VARCHAR" for k in kind.key]
    whole = f"{prefix}_rowhash"
    if not parts:
        return whole
    if kind.key_includes_content:
        return f"concat_ws('|', {', '.join(parts)}, {whole})"
    if _key_is_required(kind):
        return f"concat_ws('|', {', '.join(parts)})"
    present = " AND ".join(f"{p} IS NOT NULL" for p in parts)
    return f"CASE WHEN {present} THEN concat_ws('|', {', '.join(parts)}) ELSE 'row:' || {whole} END"


def _identity_sql(kind: Kind) -> tuple[str, str, str]:
    """(user_id, anonymous_id, context.traits) SQL over the typed row."""
    has = {f.name for f in kind.fields}

    def v(name: str) -> str:
        return f"v_{name}" if name in has else "NULL"

    user = f"coalesce({v('user_id')}, {v('customer_id')})"
    anonymous = (
        f"coalesce({v('anonymous_id')}, "
        f"'loyalty:' || {v('loyalty_id')}, 'email:' || {v('email')}, 'phone:' || {v('phone')}"
        + (f", {kind.anonymous}" if kind.anonymous else "")
        + ", 'anon:' || _sid)"
    )
    social = (
        ", 'social', lower(v_platform) || ':' || lower(ltrim(v_handle, '@'))"
        if {"platform", "handle"} <= has
        else ""
    )
    traits = (
        "json_merge_patch('{}', json_object("
        + ", ".join(f"'{name}', {v(name)}" for name in ("email", "phone", "loyalty_id", "customer_id"))
        + social
        + "))"
    )
    return user, anonymous, traits


def _context_sql(opts: ImportOptions, traits: str, row: str = "_row", record: str | None = None) -> str:
    """The import's context; ``record``: SQL naming the row as a record of its source (contacts), the
    node identity resolution matches and links; a contact's consent columns become its statement."""
    consent = ""
    if record:
        prefs = ", ".join(f"'{p}', v_consent_{p}" for p in CONSENT_PURPOSES)
        consent = (
            f", 'consent', CASE WHEN coalesce({', '.join(f'v_consent_{p}' for p in CONSENT_PURPOSES)}) IS NOT NULL "
            f"THEN json_object('categoryPreferences', json_merge_patch('{{}}', json_object({prefs})), "
            f"'version', {_lit('import:' + opts.path.name)}) END"
        )
    return (
        "json_object('library', json_object('name', 'touchpoints-import', 'version', "
        f"{_lit(__version__)}), 'traits', {traits}, 'import', json_object('kind', {_lit(opts.kind)}, "
        f"'file', {_lit(opts.path.name)}, 'row', {row}"
        + (f", 'record', {record}" if record else "")
        + ")"
        + consent
        + ")"
    )


def _message_id(opts: ImportOptions, key_sql: str) -> str:
    return f"'imp-' || md5({_lit(opts.source + '|' + opts.kind + '|')} || {key_sql})"


def _events_select(kind: Kind, opts: ImportOptions, good: str = "_imp_good") -> str:
    """SELECT producing the event columns (and ``_seq``) from the good rows of ``_imp_typed``."""
    user, anonymous, traits = _identity_sql(kind)
    channel = (
        _lit(opts.channel)
        if opts.channel
        else (f"coalesce(v_channel, {_lit(kind.channel)})" if kind.field("channel") else _lit(kind.channel))
    )
    flags = "CASE WHEN _naive_time AND _tz_unknown THEN ['timezone_assumed_utc'] ELSE [] END::VARCHAR[]"
    if kind.name == "events":
        etype = "coalesce(v_type, 'track')"
        event = "CASE WHEN coalesce(v_type, 'track') = 'track' THEN v_event END"
        name = "v_name"
        traits_col = "CASE WHEN v_type = 'identify' THEN _props ELSE '{}' END"
        properties = "CASE WHEN v_type = 'identify' THEN '{}' ELSE _props END"
        mid = "_mid"
    elif kind.name == "contacts":
        etype, event, name, properties = "'identify'", "NULL", "NULL", "'{}'"
        traits_col = (
            "json_merge_patch('{}', json_object('record_id', v_record_id, 'firstName', v_first_name, "
            "'lastName', v_last_name, 'name', nullif(concat_ws(' ', v_first_name, v_last_name), ''), "
            "'email', v_email, 'phone', v_phone, 'birthday', v_dob::VARCHAR, 'customer_id', v_customer_id, "
            "'loyalty_id', v_loyalty_id, 'address', CASE WHEN coalesce(v_address, v_city, v_postcode, v_state, "
            "v_country) IS NOT NULL THEN json_object('street', v_address, 'city', v_city, 'postalCode', v_postcode, "
            "'state', v_state, 'country', v_country) END))"
        )
        mid = "_mid"
        # A record id names the record, not the person: two records of one person are matched and linked
        # by identity resolution, which a record id as userId would forbid (one userId per customer).
        user = "coalesce(v_user_id, v_customer_id)"
    else:
        etype, name = "'track'", "NULL"
        event = kind.event
        properties = (
            "json_merge_patch('{}', json_object("
            + ", ".join(f"{_lit(p)}, v_{f}" for p, f in kind.properties)
            + "))"
        )
        traits_col = "'{}'"
        mid = "_mid"
    timestamp = "coalesce(v_timestamp, _now)" if kind.name == "contacts" else "v_timestamp"
    flags_sql = flags
    if kind.name == "contacts":
        flags_sql = (
            "CASE WHEN v_timestamp IS NULL THEN ['timestamp_missing'] WHEN _naive_time AND _tz_unknown "
            "THEN ['timezone_assumed_utc'] ELSE [] END::VARCHAR[]"
        )
    values = {
        "message_id": mid,
        "type": etype,
        "source": _lit(opts.source),
        "channel": channel,
        "user_id": user,
        "anonymous_id": f"CASE WHEN {user} IS NULL THEN {anonymous} END"
        if kind.name != "events"
        else f"coalesce(v_anonymous_id, CASE WHEN {user} IS NULL THEN {anonymous} END)",
        "group_id": "NULL",
        "previous_id": "NULL",
        "event": event,
        "name": name,
        "category": "NULL",
        "timestamp": timestamp,
        "received_at": "_now",
        "original_timestamp": "r_timestamp",
        "sent_at": "NULL",
        "flags": flags_sql,
        "context": _context_sql(
            opts, traits, record="coalesce(v_record_id, _key)" if kind.name == "contacts" else None
        ),
        "properties": properties,
        "traits": traits_col,
        "integrations": "'{}'",
        "extra": "'{}'",
        "ip": "NULL",
    }
    cols = ", ".join(f"{values[c]} AS {c}" for c in EVENT_COLUMNS)
    return f"SELECT {cols}, _row AS _seq FROM {good}"


# An order is its store's receipt: tills number receipts per store, so two stores' receipt 1001 are two
# orders. Without a store_id, the order id alone.
ORDER_KEY = "CASE WHEN v_store_id IS NULL THEN v_order_id ELSE v_store_id || '|' || v_order_id END"


def _transactions_select(opts: ImportOptions, good: str = "_imp_good") -> str:
    """Order events from the good lines: one per order_id. The lines are aggregated first (plain values),
    and the JSON is built once per order, not once per line."""
    kind = KINDS["transactions"]
    user, anonymous, traits = _identity_sql(kind)
    channel = _lit(opts.channel) if opts.channel else "coalesce(v_channel, 'pos')"
    product = (
        "json_object('product_id', v_sku, 'sku', v_sku, 'name', v_product_name, 'category', v_category, "
        "'quantity', v_quantity, 'price', v_unit_price, 'line_id', v_line_id)"
    )
    identifiers = ", ".join(f"max(v_{f.name}) AS v_{f.name}" for f in IDENTIFIERS)
    lines = (
        f"SELECT v_order_id, {identifiers}, max({channel}) AS channel, max(v_currency) AS currency, "
        "v_store_id AS store_id, min(v_timestamp) AS ts, arg_min(r_timestamp, v_timestamp) AS raw_ts, "
        "bool_and(v_quantity < 0) AS refund, round(sum(v_quantity * v_unit_price), 2) AS revenue, "
        "bool_or(_naive_time AND _tz_unknown) AS naive, any_value(_now) AS _now, min(_row) AS _row, "
        "any_value(_mid) AS _mid, any_value(_sid) AS _sid, "
        f"'[' || string_agg({product}::VARCHAR, ',' ORDER BY _row) || ']' AS products FROM _imp_good "
        "GROUP BY v_order_id, v_store_id"
    ).replace("FROM _imp_good", f"FROM {good}")
    values = {
        "message_id": "_mid",
        "type": "'track'",
        "source": _lit(opts.source),
        "channel": "channel",
        "user_id": user,
        "anonymous_id": f"CASE WHEN {user} IS NULL THEN {anonymous} END",
        "group_id": "NULL",
        "previous_id": "NULL",
        "event": "CASE WHEN refund THEN 'Order Refunded' ELSE 'Order Completed' END",
        "name": "NULL",
        "category": "NULL",
        "timestamp": "ts",
        "received_at": "_now",
        "original_timestamp": "raw_ts",
        "sent_at": "NULL",
        "flags": "CASE WHEN naive THEN ['timezone_assumed_utc'] ELSE [] END::VARCHAR[]",
        "context": _context_sql(opts, traits),
        # The products array is appended as text: patching it into the object would parse it again.
        "properties": "rtrim(json_merge_patch('{}', json_object('order_id', v_order_id, 'revenue', revenue, "
        "'total', revenue, 'currency', currency, 'store_id', store_id))::VARCHAR, '}') || ',\"products\":' "
        "|| products || '}'",
        "traits": "'{}'",
        "integrations": "'{}'",
        "extra": "'{}'",
        "ip": "NULL",
    }
    cols = ", ".join(f"{values[c]} AS {c}" for c in EVENT_COLUMNS)
    return f"SELECT {cols}, _row AS _seq FROM ({lines})"


# -- the whole import -------------------------------------------------------------------------------


def run_import(
    db: Backend, opts: ImportOptions, progress: Callable[[str], None] | None = None
) -> ImportResult:
    """Imports one file in one transaction: either the whole file is accounted for (stored, duplicate,
    or quarantined) or, if the import fails, nothing changed."""
    say = progress or (lambda _phase: None)
    kind = KINDS.get(opts.kind)
    if kind is None:
        raise ImportError_(f"unknown kind {opts.kind!r}; use one of {', '.join(KINDS)}")
    if not opts.path.is_file():
        raise ImportError_(f"{opts.path}: no such file")
    if opts.channel is not None and opts.channel not in CHANNELS:
        raise ImportError_(f"--channel {opts.channel!r} is not one of {', '.join(sorted(CHANNELS))}")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", opts.source):
        raise ImportError_(f"--source {opts.source!r}: use letters, digits and _ . : - (at most 64)")
    if opts.source.lower() in RESERVED_NAMES:
        raise ImportError_(
            f"--source {opts.source!r} is the source of events Touchpoints makes itself (a correction wins over "
            "every source); choose another name"
        )
    fmt = detect_format(opts.path, opts.file_format)
    _check_time_options(db, opts)
    result = ImportResult(kind=kind.name, file=opts.path.name, source=opts.source)
    try:
        with db.transaction():
            say("reading")
            try:
                columns = _stage(db, opts, fmt)
            except Exception as exc:
                if isinstance(exc, ImportError_):
                    raise
                raise ImportError_(
                    f"{opts.path.name}: could not read it as {fmt}: {_first_line(exc)}"
                ) from exc
            if kind.name == "enrichment":
                from touchpoints.sources.enrichment import import_enrichment

                return import_enrichment(db, opts, columns, result, say)
            found = _resolve_columns(kind, columns, opts)
            # Every row now carries its number, so the engine need not keep rows in order: it writes in
            # parallel (about a fifth faster). Reset at the end, for the connection's other users.
            db.execute("SET preserve_insertion_order = false")
            say("checking")
            _type_rows(db, kind, found, opts)
            now_and_tz = f"now() AS _now, {'false' if opts.timezone else 'true'} AS _tz_unknown"
            result.rows = db.execute("SELECT count(*) FROM _imp_typed")[0][0]
            if kind.name == "transactions":
                # An order is held whole when any of its lines is bad: a partial receipt has a wrong total.
                db.execute(
                    "UPDATE _imp_typed t SET _reason = 'order ' || t.v_order_id || ' is held because row ' || b._row "
                    f"|| ' of it is bad' FROM (SELECT {ORDER_KEY} AS k, min(_row) AS _row FROM _imp_typed "
                    "WHERE _reason IS NOT NULL AND v_order_id IS NOT NULL GROUP BY k) b "
                    f"WHERE t._reason IS NULL AND {ORDER_KEY.replace('v_', 't.v_')} = b.k"
                )
                key = ORDER_KEY
            else:
                key = _row_key(kind, opts)
            mid = _message_id(opts, key)
            if kind.name == "events" and "message_id" in found:
                mid = f"coalesce(v_message_id, {mid})"
            sid = f"md5({_lit(opts.source + '|' + opts.kind + '|')} || {key})"
            db.execute(
                f"CREATE OR REPLACE TEMP VIEW _imp_good AS SELECT *, {key} AS _key, {mid} AS _mid, {sid} AS _sid, "
                f"{now_and_tz} FROM _imp_typed WHERE _reason IS NULL"
            )
            say("storing")
            # The ids first: only the events that are new are built (JSON is the costly part) and written.
            db.execute(
                "CREATE OR REPLACE TEMP TABLE _imp_ids AS SELECT DISTINCT _mid AS message_id FROM _imp_good"
            )
            total = db.execute("SELECT count(*) FROM _imp_ids")[0][0]
            # Imported ids are checked against the stored events too, not only the dedup window: a file
            # re-imported a year later still stores nothing twice. Derived ids include the source, so only
            # this source's events can hold them; ids the file brings are global, as a messageId is.
            explicit = kind.name == "events" and "message_id" in found
            db.execute(
                "DELETE FROM _imp_ids WHERE message_id IN (SELECT message_id FROM events"
                + ("" if explicit else " WHERE source = ?")
                + ")",
                [] if explicit else [opts.source],
            )
            fresh = claim_message_ids(db, "_imp_ids")
            if fresh:
                good = (
                    "_imp_good"
                    if fresh == total
                    else "(SELECT * FROM _imp_good WHERE _mid IN (SELECT message_id FROM _imp_ids))"
                )
                if kind.name == "transactions":
                    select = _transactions_select(opts, good)
                else:
                    select = _events_select(kind, opts, good)
                    repeats = db.execute(f"SELECT count(*) > count(DISTINCT _mid) FROM {good}")[0][0]
                    if repeats:  # the same row twice in one file: the first is stored
                        select += " QUALIFY row_number() OVER (PARTITION BY message_id ORDER BY _seq) = 1"
                admitted = insert_events(db, select, "_imp_ids", opts.rules)
                result.suppressed, result.anonymised = admitted.suppressed, admitted.anonymised
                result.dropped = admitted.dropped
            # Quarantine items take their sequence numbers in row order.
            db.execute("RESET preserve_insertion_order")
            result.imported = fresh - result.suppressed - result.dropped
            result.duplicates = total - fresh
            result.quarantined = _quarantine_bad_rows(db, kind, opts)
            # The column that names the row (the ticket, the response, the email address): the first
            # required field of the kind's key.
            identity = next(
                (
                    found[k]
                    for k in kind.key
                    if (f := kind.field(k)) is not None and f.required and k in found
                ),
                found.get("user_id")
                or found.get("anonymous_id")
                or found.get("customer_id")
                or found.get("email"),
            )
            result.released = _release_quarantine(db, opts, identity)
            db.execute("DROP VIEW IF EXISTS _imp_good")
            for table in ("_imp_src", "_imp_typed", "_imp_ids"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        db.execute("RESET preserve_insertion_order")  # the import may have stopped half-way
    return result


def _quarantine_bad_rows(db: Backend, kind: Kind, opts: ImportOptions) -> int:
    """Bad rows into quarantine with file, row and reason; a row already held for the same reason (the
    same file imported again, unfixed) is not held twice."""
    key = ORDER_KEY.replace("v_", "t.v_") if kind.name == "transactions" else _row_key(kind, opts, "t.")
    envelope = (
        f"json_object('import', json_object('kind', {_lit(opts.kind)}, 'file', {_lit(opts.path.name)}, "
        f"'row', t._row, 'source', {_lit(opts.source)}))"
    )
    where = (
        "FROM _imp_typed t JOIN _imp_src s ON s._row = t._row WHERE t._reason IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM quarantine q WHERE q.status = 'held' AND q.source = {_lit(opts.source)} "
        f"AND q.origin = {_origin(opts, 't._row')} AND q.reason = t._reason)"
    )
    count: int = db.execute(f"SELECT count(*) {where}")[0][0]
    if count:
        mark = quarantine_mark(db)
        db.execute(
            "INSERT INTO quarantine (quarantine_id, source, origin, received_at, reason, payload, envelope, "
            f"message_id) SELECT 'q_' || substr(md5(random()::VARCHAR || t._row), 1, 12), {_lit(opts.source)}, "
            f"{_origin(opts, 't._row')}, now(), t._reason, {payload_sql('s')}, {envelope}, "
            f"CASE WHEN t._error IS NULL THEN {_message_id(opts, key)} END {where} ORDER BY abs(t._row)"
        )
        count -= sweep_quarantine(db, mark)  # an erased person's bad rows are refused like good ones
    return count


def _origin(opts: ImportOptions, row: str = "_row") -> str:
    return f"{_lit(opts.path.name)} || CASE WHEN {row} < 0 THEN ' line ' || -{row} ELSE ' row ' || {row} END"


def _release_quarantine(db: Backend, opts: ImportOptions, identity: str | None) -> int:
    """Items held by earlier imports whose row has now landed (fixed in the file, imported again): by
    the row's id, or by the same row of the same file now being good."""
    rows = db.execute(
        "UPDATE quarantine SET status = 'replayed', replayed_at = now() WHERE status = 'held' AND source = ? "
        # the good rows of this file, now stored (new or already): no scan of the stored events
        "AND message_id IN (SELECT _mid FROM _imp_good) RETURNING 1",
        [opts.source],
    )
    return len(rows) + release_fixed_rows(db, opts, identity)


def release_fixed_rows(db: Backend, opts: ImportOptions, identity: str | None = None) -> int:
    """Items of this file and kind whose row is now good: the same row number, and the same value in
    the row's identifying column (``identity``, a file column), so that another file of the same name
    (every month's export.csv) never releases what it did not fix. Without such a column, only ids do."""
    if identity is None:
        return 0
    rows = db.execute(
        "UPDATE quarantine q SET status = 'replayed', replayed_at = now() WHERE q.status = 'held' AND q.source = ? "
        "AND json_extract_string(q.envelope, '$.import.kind') = ? "
        "AND json_extract_string(q.envelope, '$.import.file') = ? AND json_valid(q.payload) "
        "AND EXISTS (SELECT 1 FROM _imp_typed t JOIN _imp_src s ON s._row = t._row WHERE t._reason IS NULL "
        f"AND {_origin(opts, 't._row')} = q.origin "
        f"AND s.{_q(identity)} = json_extract_string(CASE WHEN json_valid(q.payload) THEN q.payload END, "
        f"{_lit('$.' + _q(identity))})) RETURNING 1",
        [opts.source, opts.kind, opts.path.name],
    )
    return len(rows)


def _check_time_options(db: Backend, opts: ImportOptions) -> None:
    if opts.timezone:
        try:
            db.execute("SELECT timezone(?, TIMESTAMP '2000-01-01')", [opts.timezone])
        except Exception as exc:
            raise ImportError_(
                f"--timezone {opts.timezone!r} is not a time zone; use a name such as Europe/London or UTC"
            ) from exc
    if opts.time_format:
        try:
            db.execute("SELECT try_strptime('2000-01-01', ?)", [opts.time_format])
        except Exception as exc:
            raise ImportError_(
                f"--time-format {opts.time_format!r} is not a strptime format ({_first_line(exc)}); "
                "e.g. %m/%d/%Y %H:%M"
            ) from exc


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def watching(poll: Callable[[], float], show: Callable[[float], None], every: float = 0.2) -> Iterator[None]:
    """Calls ``show(poll())`` from a thread while the block runs (the engine's own progress, for a bar)."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                show(poll())
            except Exception:  # progress is best effort; it never fails an import
                return

    thread = threading.Thread(target=run, name="touchpoints-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
