"""Bought or partner tables keyed by a trait: postcode to census band, company domain to industry.

``touchpoints import enrichment FILE --source census --key postcode`` stores the file as the current
version of that source: rows are kept by key in ``enrichment``, a key absent from a newer file is
removed, an unchanged row counts as a duplicate. ``lookup_sql`` joins any table with a trait column to
the attributes; profiles (issue 4) use it, and so can any query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from touchpoints.store.backend import Backend

if TYPE_CHECKING:
    from touchpoints.sources.importer import ImportOptions, ImportResult

_TRAIT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def normalise_key(sql: str) -> str:
    """Keys match case- and space-insensitively: ' sw1a 1aa ' finds 'SW1A1AA'."""
    return f"upper(regexp_replace({sql}, '\\s+', '', 'g'))"


def import_enrichment(
    db: Backend, opts: ImportOptions, columns: list[str], result: ImportResult, say: Callable[[str], None]
) -> ImportResult:
    from touchpoints.sources.importer import ImportError_, _lit, _origin, _q, payload_sql, release_fixed_rows

    if not opts.key:
        raise ImportError_(
            f"an enrichment table needs --key COLUMN, the column it is keyed by; {opts.path.name} has "
            f"{', '.join(columns)}"
        )
    key_column = next((c for c, t in opts.mapping.items() if t == opts.key), opts.key)
    if key_column not in columns:
        raise ImportError_(
            f"--key {opts.key!r} is not a column of {opts.path.name}; it has {', '.join(columns)}"
        )
    trait = opts.trait or opts.key
    if not _TRAIT.fullmatch(trait):
        raise ImportError_(
            f"--trait {trait!r}: use a trait name or path such as postcode or address.postalCode"
        )
    attributes = [c for c in columns if c != key_column]
    if not attributes:
        raise ImportError_(f"{opts.path.name} has only the key column; there is nothing to enrich with")
    names = {c: opts.mapping.get(c, c) for c in attributes}
    attrs = (
        "json_object(" + ", ".join(f"{_lit(names[c])}, nullif(trim({_q(c)}), '')" for c in attributes) + ")"
    )
    key = normalise_key(f"trim({_q(key_column)})")
    say("checking")
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE _imp_typed AS SELECT _row, {payload_sql('_imp_src')} AS _payload, _error, "
        f"nullif({key}, '') AS k, {attrs} AS attributes FROM _imp_src"
    )
    db.execute(
        "ALTER TABLE _imp_typed ADD COLUMN _reason VARCHAR; "
        "UPDATE _imp_typed SET _reason = coalesce(_error, CASE WHEN k IS NULL THEN "
        f"{_lit(key_column + ' (the key) is empty')} END)"
    )
    # A key given twice with different attributes is ambiguous: the later rows are held. The same row
    # twice is not a conflict.
    db.execute(
        "UPDATE _imp_typed t SET _reason = 'key ' || t.k || ' is also on row ' || f._row || ' with other values' "
        "FROM (SELECT k, arg_min(attributes::VARCHAR, _row) AS a, min(_row) AS _row FROM _imp_typed "
        "WHERE _reason IS NULL GROUP BY k) f "
        "WHERE t._reason IS NULL AND t.k = f.k AND t._row > f._row AND t.attributes::VARCHAR <> f.a"
    )
    result.rows = db.execute("SELECT count(*) FROM _imp_typed")[0][0]
    say("storing")
    good = "(SELECT k, attributes FROM _imp_typed WHERE _reason IS NULL QUALIFY row_number() OVER (PARTITION BY k ORDER BY _row) = 1)"
    unchanged = db.execute(
        f"SELECT count(*) FROM {good} g JOIN enrichment e ON e.source = ? AND e.key = g.k "
        "AND e.trait = ? AND e.attributes::VARCHAR = g.attributes::VARCHAR",
        [opts.source, trait],
    )[0][0]
    total = db.execute(f"SELECT count(*) FROM {good}")[0][0]
    existing = db.execute("SELECT count(*) FROM enrichment WHERE source = ?", [opts.source])[0][0]
    if total == 0 and existing:
        raise ImportError_(
            f"{opts.path.name} has no usable rows, so it cannot replace the {opts.source!r} table; the table is "
            "left as it was (fix the file: every row needs a key)"
        )
    removed = db.execute(
        f"SELECT count(*) FROM enrichment WHERE source = ? AND key NOT IN (SELECT k FROM {good})",
        [opts.source],
    )[0][0]
    result.removed = int(removed)
    db.execute(
        f"DELETE FROM enrichment WHERE source = ? AND key NOT IN (SELECT k FROM {good})", [opts.source]
    )
    db.execute(
        f"INSERT INTO enrichment SELECT ?, ?, k, attributes, now() FROM {good} g "
        "ON CONFLICT (source, key) DO UPDATE SET trait = excluded.trait, attributes = excluded.attributes, "
        "imported_at = excluded.imported_at WHERE enrichment.attributes::VARCHAR <> excluded.attributes::VARCHAR "
        "OR enrichment.trait <> excluded.trait",
        [opts.source, trait],
    )
    result.imported = total - unchanged
    result.duplicates = unchanged
    where = (
        "FROM _imp_typed WHERE _reason IS NOT NULL AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE "
        f"q.status = 'held' AND q.source = {_lit(opts.source)} AND q.origin = {_origin(opts)} "
        "AND q.reason = _reason)"
    )
    result.quarantined = db.execute(f"SELECT count(*) {where}")[0][0]
    if result.quarantined:
        db.execute(
            "INSERT INTO quarantine (quarantine_id, source, origin, received_at, reason, payload, envelope) "
            f"SELECT 'q_' || substr(md5(random()::VARCHAR || _row), 1, 12), {_lit(opts.source)}, "
            f"{_origin(opts)}, now(), _reason, _payload, json_object('import', json_object('kind', 'enrichment', "
            f"'file', {_lit(opts.path.name)}, 'row', _row, 'source', {_lit(opts.source)})) {where} ORDER BY abs(_row)"
        )
    release_fixed_rows(db, opts, key_column)
    for table in ("_imp_src", "_imp_typed"):
        db.execute(f"DROP TABLE IF EXISTS {table}")
    return result


def lookup_sql(source: str, trait_sql: str) -> str:
    """A correlated lookup of the attributes for ``trait_sql`` (an SQL expression) in table ``source``."""
    return (
        "(SELECT e.attributes FROM enrichment e WHERE e.source = "
        + "'"
        + source.replace("'", "''")
        + "' AND e.key = "
        + normalise_key(trait_sql)
        + ")"
    )
