"""Probabilistic resolution: matching imported contact records across sources, and the review queue.

``resolve`` reads every contact record in the graph (its latest name, e-mail, phone, birth date and
address), scores candidate pairs with the Splink model kept in the store (trained on first use, or when
asked), and acts on each pair by the thresholds of the home's rules: at or above ``match_threshold`` the
pair is linked through the same rules as any evidence (so never across two userIds, nor across an
unmerge); between the thresholds it waits in the review queue; below, nothing. Pairs already one customer
are left alone, and a pair a reviewer rejected is never queued or merged by matching again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from touchpoints.identity.rules import IdentityRules
from touchpoints.identity.stitch import Evidence, StitchResult, stitch
from touchpoints.store.backend import Backend

# The latest value of each contact field of every record node. Phones are compared on their last ten
# digits, which agree between "+44 7700 900123" and "07700 900123" (or "+1 415..." and "(415) ...").
RECORDS_SQL = """
SELECT i.node AS record_id, i.source,
    arg_max(e.traits->>'$.firstName', e.timestamp) AS first_name,
    arg_max(e.traits->>'$.lastName', e.timestamp) AS last_name,
    lower(trim(arg_max(e.traits->>'$.email', e.timestamp))) AS email,
    nullif(right(regexp_replace(arg_max(e.traits->>'$.phone', e.timestamp), '[^0-9]', '', 'g'), 10), '') AS phone,
    arg_max(e.traits->>'$.birthday', e.timestamp) AS dob,
    arg_max(e.traits->>'$.address.street', e.timestamp) AS address,
    arg_max(e.traits->>'$.address.postalCode', e.timestamp) AS postcode,
    arg_max(e.traits->>'$.address.city', e.timestamp) AS city
FROM identities i
JOIN events e ON e.source = i.source AND e.context->>'$.import.kind' = 'contacts'
    AND e.context->>'$.import.record' = i.value
WHERE i.kind = 'record'{only}
GROUP BY i.node, i.source
ORDER BY i.node
"""


def contact_records(db: Backend, nodes: Sequence[str] | None = None) -> pa.Table:
    """Every record's latest contact fields, or only those of ``nodes`` (filtered before the grouping, so
    a few records cost a few lookups, not a pass over every record)."""
    if nodes is None:
        return db.arrow(RECORDS_SQL.format(only=""))
    if not nodes:
        return db.arrow(RECORDS_SQL.format(only=" AND false"))
    only = f" AND i.node IN ({', '.join('?' for _ in nodes)})"
    return db.arrow(RECORDS_SQL.format(only=only), list(nodes))


def explain_match(db: Backend, a: str, b: str, model: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Why the ``model`` (by default the stored one) scores records ``a`` and ``b`` as it does (per
    comparison), or None without a model or when either record is gone."""
    from touchpoints.identity import matching

    model = model or stored_model(db)
    if model is None:
        return None
    pair = contact_records(db, [a, b])
    if pair.num_rows != 2:
        return None
    return matching.explain(pair, model, a, b)


def stored_model(db: Backend) -> dict[str, Any] | None:
    rows = db.execute("SELECT model FROM identity_model ORDER BY trained_at DESC LIMIT 1")
    return json.loads(rows[0][0]) if rows else None


def train_model(db: Backend, records: pa.Table, seed: int = 42) -> dict[str, Any]:
    from touchpoints.identity import matching

    model = matching.train(records, seed=seed)
    db.execute(
        "INSERT INTO identity_model VALUES (?, ?, ?)",
        [datetime.now(UTC), records.num_rows, json.dumps(model)],
    )
    return model


def resolve(db: Backend, rules: IdentityRules, *, retrain: bool = False, seed: int = 42) -> dict[str, Any]:
    """Scores the contact records and applies the pairs; call inside a transaction. Returns the report."""
    from touchpoints.identity import matching

    records = contact_records(db)
    before = _customer_count(db)
    model = None if retrain else stored_model(db)
    trained = model is None
    if model is None:
        model = train_model(db, records, seed=seed)
    pairs = matching.predict(records, model, threshold=rules.review_threshold)
    ids = pairs.column("record_id_l").to_pylist(), pairs.column("record_id_r").to_pylist()
    probability = pairs.column("match_probability").to_pylist()
    weight = pairs.column("match_weight").to_pylist()
    nodes = sorted({n for side in ids for n in side})
    rows = (
        db.execute(
            f"SELECT node, customer_id, kind, value, source FROM identities WHERE node IN "
            f"({', '.join('?' for _ in nodes)})",
            nodes,
        )
        if nodes
        else []
    )
    customer = {n: c for n, c, _, _, _ in rows}
    meta = {n: (k, v, s) for n, _, k, v, s in rows}
    decided = {(a, b): status for a, b, status in db.execute("SELECT a, b, status FROM identity_reviews")}
    undone = {(a, b) for a, b in db.execute("SELECT a, b FROM identity_links WHERE status = 'unmerged'")}
    now = datetime.now(UTC)
    evidence: list[Evidence] = []
    queued = already = rejected = kept_apart = 0
    order = sorted(range(len(probability)), key=lambda i: (-probability[i], ids[0][i], ids[1][i]))
    for i in order:
        a, b = sorted((ids[0][i], ids[1][i]))
        if customer.get(a) == customer.get(b):
            already += 1
            continue
        if decided.get((a, b)) == "rejected":
            rejected += 1
            continue
        if (a, b) in undone:  # a person split this pair: matching does not overrule them
            kept_apart += 1
            continue
        if probability[i] >= rules.match_threshold:
            evidence.append(
                Evidence(
                    identifiers=(meta[a], meta[b]),
                    cause="match",
                    cause_ref=f"{a} ~ {b}",
                    source="matching",
                    at=now,
                    score=probability[i],
                )
            )
        elif (a, b) not in decided:
            db.execute(
                "INSERT INTO identity_reviews (a, b, score, weight, status, created_at) VALUES (?, ?, ?, ?, 'pending', ?)",
                [a, b, probability[i], weight[i], now],
            )
            queued += 1
    result = stitch(db, evidence, rules)
    return {
        "records": records.num_rows,
        "model": {"trained": trained},
        "pairs_scored": pairs.num_rows,
        "already_one_customer": already,
        "merged": result.merged,
        "refused": result.refused,
        "refusals": result.refusals,
        "queued_for_review": queued,
        "rejected_before": rejected,
        "kept_apart_by_unmerge": kept_apart,
        "customers_before": before,
        "customers_after": _customer_count(db),
        "thresholds": {"match": rules.match_threshold, "review": rules.review_threshold},
    }


def _customer_count(db: Backend) -> int:
    return int(db.execute("SELECT count(DISTINCT customer_id) FROM identities")[0][0])


def reviews(db: Backend, status: str = "pending") -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT id, a, b, score, weight, status, created_at, decided_at, note FROM identity_reviews "
        "WHERE status = ? ORDER BY score DESC, id",
        [status],
    )
    keys = ("id", "a", "b", "score", "weight", "status", "created_at", "decided_at", "note")
    return [dict(zip(keys, r, strict=True)) for r in rows]


class ReviewError(ValueError):
    pass


def decide(
    db: Backend, rules: IdentityRules, review_id: int, accept: bool, note: str | None = None
) -> dict[str, Any]:
    """Accepts (links the pair, through the rules) or rejects (remembered) a queued pair."""
    rows = db.execute("SELECT a, b, score, status FROM identity_reviews WHERE id = ?", [review_id])
    if not rows:
        raise ReviewError(f"no review #{review_id}; `touchpoints identity review` lists the pending ones")
    a, b, score, status = rows[0]
    if status != "pending":
        raise ReviewError(f"review #{review_id} was already {status}")
    now = datetime.now(UTC)
    result = StitchResult()
    if accept:
        meta = {n: (k, v, s) for n, k, v, s in db.execute(
            "SELECT node, kind, value, source FROM identities WHERE node IN (?, ?)", [a, b])}  # fmt: skip
        result = stitch(
            db,
            [Evidence((meta[a], meta[b]), "review", f"review #{review_id}", "review", now, score=score)],
            rules,
        )
    db.execute(
        "UPDATE identity_reviews SET status = ?, decided_at = ?, note = ? WHERE id = ?",
        ["accepted" if accept else "rejected", now, note, review_id],
    )
    return {"review": review_id, "a": a, "b": b, "decision": "accepted" if accept else "rejected",
            **result.as_dict(), "refusals": result.refusals}  # fmt: skip
