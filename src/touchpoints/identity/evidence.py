"""Reading identity evidence from events as they are stored: which identifiers each event carries.

The identifiers of an event are its ``userId`` and ``anonymousId``; an alias's ``previousId``; ``email``,
``phone``, ``loyalty_id`` and ``social`` (``platform:handle``) from its ``traits`` or ``context.traits``,
and an identify's social handles by platform (``traits.instagram``); ``context.device.id``; an
imported contact's record (``context.import.record``); and the configured custom traits. Events that
carry the same identifiers are one piece of evidence (the first of them is its cause), so a visitor's
hundred page views cost one lookup, not a hundred.
"""

from __future__ import annotations

from touchpoints.identity.rules import SOCIAL_PLATFORMS, IdentityRules
from touchpoints.identity.stitch import Evidence, StitchResult, stitch
from touchpoints.store.backend import Backend


def identifier_columns(rules: IdentityRules) -> tuple[dict[str, str], list[str], list[str]]:
    """SQL per identifier column, over ``t[i]`` (the traits' values) and ``c[i]`` (the context's), each JSON
    document being parsed once for all the paths it is asked for."""
    trait_paths = ["email", "phone", "loyalty_id", "loyaltyId", "social", *SOCIAL_PLATFORMS, *rules.custom]
    context_paths = [*(f"traits.{p}" for p in ("email", "phone", "loyalty_id", "loyaltyId", "social")),
                     "device.id", "import.kind", "import.record", *(f"traits.{p}" for p in rules.custom)]  # fmt: skip

    def t(path: str) -> str:
        return f"t[{trait_paths.index(path) + 1}]"

    def c(path: str) -> str:
        return f"c[{context_paths.index(path) + 1}]"

    def trait(name: str) -> str:
        return f"coalesce({t(name)}, {c('traits.' + name)})"

    columns = {
        "user_id": "user_id",
        "anonymous_id": "anonymous_id",
        "previous_id": "CASE WHEN type = 'alias' THEN previous_id END",
        "email": trait("email"),
        "phone": trait("phone"),
        "loyalty_id": f"coalesce({trait('loyalty_id')}, {trait('loyaltyId')}, properties->>'$.loyalty_id')",
        "device_id": c("device.id"),
        "record": f"CASE WHEN {c('import.kind')} = 'contacts' THEN {c('import.record')} END",
        # platform:handle; an identify may name it by platform (traits.instagram = "jane.doe.home")
        "social": f"coalesce({trait('social')}, CASE WHEN type = 'identify' THEN coalesce("
        + ", ".join(f"'{p}:' || {t(p)}" for p in SOCIAL_PLATFORMS)
        + ") END)",
    }
    for name in rules.custom:
        columns[name] = f"coalesce({t(name)}, {c('traits.' + name)})"
    return columns, trait_paths, context_paths


def evidence_sql(relation: str, rules: IdentityRules) -> tuple[str, list[str]]:
    """One row per distinct identifier tuple of ``relation`` (event columns and ``_seq``), in order of
    first appearance; returns the SQL and the identifier column names."""
    columns, trait_paths, context_paths = identifier_columns(rules)
    names = list(columns)
    select = ", ".join(f"{sql} AS {name}" for name, sql in columns.items())
    tp = ", ".join(f"'$.{p}'" for p in trait_paths)
    cp = ", ".join(f"'$.{p}'" for p in context_paths)
    sql = (
        f"SELECT {', '.join(names)}, min(_seq) AS _first, arg_min(message_id, _seq) AS _mid, "
        "epoch_us(arg_min(timestamp, _seq)) AS _at, arg_min(source, _seq) AS _source, "
        "bool_or(_imported) AS _imported FROM ("
        f"SELECT {select}, _seq, message_id, timestamp, source, "
        f"c[{context_paths.index('import.kind') + 1}] IS NOT NULL AS _imported, "
        "CASE WHEN type = 'alias' THEN _seq END AS _alias_seq FROM ("
        f"SELECT *, json_extract_string(traits, [{tp}]) AS t, json_extract_string(context, [{cp}]) AS c "
        f"FROM {relation})) "
        # An alias is never grouped with another: its previousId's kind depends on what came before it.
        f"GROUP BY {', '.join(names)}, _alias_seq"
    )
    # Evidence the graph already holds whole (each identifier, as sent, is a node, and all of them one
    # customer's) would change nothing: it is left here, not read into Python. Node values are normal forms
    # and normalising is idempotent, so a raw value found as a node is exactly what Python would make of it.
    keys = ", ".join(
        f"'record:' || _source || '/' || {name}" if name == "record" else f"'{name}:' || {name}"
        for name in names
        if name != "previous_id"
    )
    sql = (
        f"WITH g AS ({sql}), "
        f"k AS (SELECT _first, unnest([{keys}]) AS node FROM g WHERE previous_id IS NULL), "
        "m AS (SELECT k._first FROM k LEFT JOIN identities i ON i.node = k.node WHERE k.node IS NOT NULL "
        "GROUP BY k._first HAVING count(i.node) = count(*) AND count(DISTINCT i.customer_id) = 1) "
        "SELECT * FROM g ANTI JOIN m USING (_first) ORDER BY _first"
    )
    return sql, names


def read_evidence(db: Backend, relation: str, rules: IdentityRules) -> list[Evidence]:
    sql, names = evidence_sql(relation, rules)
    evidence: list[Evidence] = []
    normalise = rules.normalise
    n = len(names)
    previous_at = names.index("previous_id")
    # In priority order, so each piece of evidence comes out ranked (what the stitcher links by).
    kinds = sorted(((rules.rank(name), i, name) for i, name in enumerate(names) if name != "previous_id"))
    table = db.arrow(sql)  # columns to Python lists in C, then zipped: cheaper than fetching rows
    for row in zip(*(column.to_pylist() for column in table.columns), strict=True):
        source = row[n + 3]
        ranked = []
        for rank, i, kind in kinds:
            raw = row[i]
            if raw is not None and (value := normalise(kind, raw)) is not None:
                node = f"record:{source}/{value}" if kind == "record" else f"{kind}:{value}"
                ranked.append((rank, node, kind, value, source))
        raw_previous = row[previous_at]
        previous = normalise("anonymous_id", raw_previous) if raw_previous is not None else None
        if not ranked and previous is None:
            continue
        evidence.append(
            Evidence(
                identifiers=tuple((r[2], r[3], r[4]) for r in ranked),
                cause="import" if row[n + 4] else "event",
                cause_ref=row[n + 1],
                source=source,
                at=row[n + 2],
                previous_id=previous,
                ranked=ranked,
            )
        )
    return evidence


def stitch_events(db: Backend, relation: str, rules: IdentityRules | None = None) -> StitchResult:
    """Stitches the events of ``relation`` (a table or parenthesised query with the event columns and
    ``_seq``) into the graph; call inside the transaction that stores them."""
    return stitch(db, read_evidence(db, relation, rules or IdentityRules()), rules or IdentityRules())
