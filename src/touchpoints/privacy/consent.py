"""The consent ledger: per identifier and purpose, every change of a person's consent, with when it was
stated, where (source, channel, via) and the evidence (the event, the banner version, the API call).

A customer's consent for a purpose is the latest statement of any of their identifiers: ``granted``,
``denied`` or ``withdrawn`` (a denial after a grant). A purpose nobody stated follows the home's default
for it: ``opt_in`` purposes need a grant, ``opt_out`` purposes are allowed until denied.

Statements come from events (``context.consent.categoryPreferences``, Segment's shape, which ``tp.js``
sends too; the consent manager's category names are mapped to purposes), from imported rows (which become
events), and from the admin API and the CLI (``record``). Only changes are written: a tracker that
repeats the same preferences on every page view adds nothing.

Reading what a purpose allows is ``privacy.gate``'s job: every output goes through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from touchpoints.identity.rules import DEFAULT_BLOCKED
from touchpoints.store.backend import Backend

PURPOSES = ("analytics", "marketing", "personalisation", "sale_sharing")
STATUSES = ("granted", "denied", "withdrawn")
MODES = ("opt_in", "opt_out")
WITHOUT_CONSENT = ("anonymise", "drop")

# Consent-manager category names (compared lower-cased) and the purpose each one means. tp.js sends the
# purpose names themselves; Segment's consent integrations send OneTrust- or Didomi-style categories.
DEFAULT_CATEGORIES: dict[str, str] = {
    **{p: p for p in PURPOSES},
    "statistics": "analytics", "performance": "analytics", "measurement": "analytics",
    "advertising": "marketing", "targeting": "marketing", "ads": "marketing",
    "personalization": "personalisation", "functional": "personalisation", "preferences": "personalisation",
    "datasharing": "sale_sharing", "data_sharing": "sale_sharing", "sale": "sale_sharing",
    "sharing": "sale_sharing", "sale_of_data": "sale_sharing",
}  # fmt: skip

# GDPR and the ePrivacy directive want a grant before marketing; analytics and personalisation follow
# the home's choice (set them to "opt_in" in the EU); CCPA's "do not sell or share" is an opt-out.
DEFAULT_MODES: dict[str, str] = {
    "analytics": "opt_out",
    "marketing": "opt_in",
    "personalisation": "opt_out",
    "sale_sharing": "opt_out",
}


@dataclass(frozen=True)
class PrivacyPolicy:
    """The consent rules of one home (``[privacy]`` in config.toml)."""

    modes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MODES))
    categories: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    # What becomes of an event that analytics consent does not allow: stored with no identifier
    # ("anonymise"), or not stored at all ("drop").
    without_consent: str = "anonymise"

    @property
    def purposes(self) -> tuple[str, ...]:
        return tuple(self.modes)

    def mode(self, purpose: str) -> str:
        try:
            return self.modes[purpose]
        except KeyError:
            raise ValueError(
                f"unknown purpose {purpose!r}; known: {', '.join(self.modes)} (add one under [privacy] modes)"
            ) from None

    def allowed(self, status: str | None, purpose: str) -> bool:
        """Whether a customer whose latest statement for ``purpose`` is ``status`` (None: never stated) may
        be processed for it."""
        if status is None:
            return self.mode(purpose) == "opt_out"
        return status == "granted"


class ConsentError(ValueError):
    """A consent statement that cannot be recorded, with the reason."""


def _categories_table(policy: PrivacyPolicy) -> pa.Table:
    return pa.table(
        {
            "category": pa.array(list(policy.categories), pa.string()),
            "purpose": pa.array(list(policy.categories.values()), pa.string()),
        }
    )


def _node_sql(blocked: Iterable[str]) -> str:
    """The identifier an event's statement is recorded under: its userId, else its anonymousId, normalised
    as the identity graph's node keys are (trimmed; a placeholder such as "undefined" is no identifier)."""
    listed = ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(blocked)) or "''"

    def usable(column: str) -> str:
        return f"(nullif(trim(r.{column}), '') IS NOT NULL AND lower(trim(r.{column})) NOT IN ({listed}))"

    return (
        f"CASE WHEN {usable('user_id')} THEN 'user_id:' || trim(r.user_id) "
        f"WHEN {usable('anonymous_id')} THEN 'anonymous_id:' || trim(r.anonymous_id) END"
    )


def stated_sql(relation: str, blocked: Iterable[str] = DEFAULT_BLOCKED) -> str:
    """Every purpose statement of ``relation``'s events, one row per (event, category):
    ``message_id, node, category, status, stated_at, received_at, source, channel, version, _seq``."""
    return f"""
        SELECT r.message_id, {_node_sql(blocked)} AS node, lower(p.key) AS category,
               CASE WHEN p.type = 'BOOLEAN' THEN (CASE WHEN p.value::VARCHAR = 'true' THEN 'granted' ELSE 'denied' END)
                    WHEN p.type = 'VARCHAR' AND lower(p.value->>'$') IN ('granted', 'true', 'yes') THEN 'granted'
                    WHEN p.type = 'VARCHAR' AND lower(p.value->>'$') IN ('denied', 'false', 'no') THEN 'denied'
                    WHEN p.type = 'VARCHAR' AND lower(p.value->>'$') = 'withdrawn' THEN 'withdrawn'
               END AS status,
               -- A client's clock (or a forged timestamp) cannot date a statement after its arrival: a
               -- grant dated 2099 must not outrank a withdrawal recorded today.
               least(r.timestamp, r.received_at) AS stated_at, r.received_at, r.source, r.channel,
               coalesce(r.context->>'$.consent.version', r.context->>'$.consent.bannerVersion') AS version,
               r.context->>'$.import.file' AS import_file, r.context->>'$.import.row' AS import_row,
               r._seq
        FROM (SELECT * FROM {relation} WHERE contains(context::VARCHAR, 'categoryPreferences')) r,
             json_each(r.context -> '$.consent.categoryPreferences') p
        WHERE json_type(r.context -> '$.consent.categoryPreferences') = 'OBJECT'
    """


def capture(
    db: Backend, relation: str, policy: PrivacyPolicy, blocked: Iterable[str] = DEFAULT_BLOCKED
) -> int:
    """Records the consent changes stated by the events of ``relation`` (event columns and ``_seq``);
    call inside the transaction that stores them. Returns how many rows the ledger gained."""
    db.register("_tp_categories", _categories_table(policy))
    try:
        rows = db.execute(
            f"""
            INSERT INTO consents (node, purpose, status, stated_at, recorded_at, source, channel, via, evidence)
            WITH stated AS (
                SELECT s.*, c.purpose, coalesce(i.customer_id, s.node) AS who FROM ({stated_sql(relation, blocked)}) s
                JOIN _tp_categories c ON c.category = s.category
                LEFT JOIN identities i ON i.node = s.node
                WHERE s.status IS NOT NULL AND s.node IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY s.node, c.purpose, s.stated_at ORDER BY s._seq DESC) = 1
            ),
            -- What the person (their customer, or the identifier alone when it is new) last said.
            known AS (
                SELECT coalesce(i.customer_id, c.node) AS who, c.node, c.purpose, c.status, c.stated_at
                FROM consents c LEFT JOIN identities i ON i.node = c.node
                WHERE coalesce(i.customer_id, c.node) IN (SELECT who FROM stated)
                QUALIFY row_number() OVER (PARTITION BY who, c.purpose ORDER BY c.stated_at DESC, c.seq DESC) = 1
            ),
            seq AS (
                SELECT who, node, purpose, status, stated_at, _seq, message_id, source, channel, version, import_file,
                       import_row, false AS old
                FROM stated
                UNION ALL
                SELECT who, node, purpose, status, stated_at, -1, NULL, NULL, NULL, NULL, NULL, NULL, true
                FROM known
            ),
            ordered AS (
                SELECT *, lag(status) OVER (PARTITION BY who, purpose ORDER BY stated_at, old DESC, _seq) AS before
                FROM seq
            )
            SELECT node, purpose,
                   CASE WHEN status = 'denied' AND before = 'granted' THEN 'withdrawn' ELSE status END,
                   stated_at, now(), source, channel, CASE WHEN import_file IS NULL THEN 'event' ELSE 'import' END,
                   CASE WHEN import_file IS NULL THEN json_object('message_id', message_id, 'version', version)
                        ELSE json_object('message_id', message_id, 'version', version, 'file', import_file,
                                         'row', import_row) END
            FROM ordered
            WHERE NOT old AND (before IS NULL OR
                  (CASE WHEN status = 'denied' AND before IN ('granted', 'withdrawn') THEN 'withdrawn' ELSE status END)
                  IS DISTINCT FROM before)
            ORDER BY stated_at, _seq, purpose  -- one event's statements in a fixed order
            RETURNING 1
            """
        )
    finally:
        db.unregister("_tp_categories")
    return len(rows)


def record(
    db: Backend,
    nodes: Iterable[str],
    changes: Mapping[str, str],
    *,
    policy: PrivacyPolicy,
    source: str,
    via: str,
    evidence: Mapping[str, Any] | None = None,
    stated_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Records ``changes`` ({purpose: granted|denied|withdrawn}) for a customer, under the first of
    ``nodes`` (their identifiers); returns the rows written. A denial of a granted purpose is a withdrawal."""
    nodes = list(nodes)
    if not nodes:
        raise ConsentError("the customer has no identifier to record consent under")
    for purpose, status in changes.items():
        policy.mode(purpose)
        if status not in STATUSES:
            raise ConsentError(
                f"consent status {status!r} for {purpose!r} is not one of {', '.join(STATUSES)}"
            )
    when = stated_at or datetime.now(UTC)
    current = customer_consent(db, nodes)
    written = []
    for purpose, status in changes.items():
        before = current.get(purpose, {}).get("status")
        if status == "denied" and before in ("granted", "withdrawn"):
            status = "withdrawn"
        db.execute(
            "INSERT INTO consents (node, purpose, status, stated_at, recorded_at, source, channel, via, evidence) "
            "VALUES (?, ?, ?, ?, now(), ?, NULL, ?, ?)",
            [nodes[0], purpose, status, when, source, via, json.dumps(dict(evidence or {}), default=str)],
        )
        written.append({"purpose": purpose, "status": status, "before": before})
    return written


def customer_consent(db: Backend, nodes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The latest statement per purpose among ``nodes`` (one customer's identifiers)."""
    nodes = list(nodes)
    if not nodes:
        return {}
    rows = db.execute(
        """
        SELECT purpose, status, stated_at, source, channel, via, evidence, node FROM consents
        WHERE node IN (SELECT unnest(?::VARCHAR[]))
        QUALIFY row_number() OVER (PARTITION BY purpose ORDER BY stated_at DESC, seq DESC) = 1
        ORDER BY purpose
        """,
        [nodes],
    )
    return {
        purpose: {
            "status": status,
            "stated_at": stated_at,
            "source": source,
            "channel": channel,
            "via": via,
            "evidence": json.loads(evidence) if evidence else {},
            "identifier": node,
        }
        for purpose, status, stated_at, source, channel, via, evidence, node in rows
    }


def by_purpose(policy: PrivacyPolicy, current: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every purpose of the home with its latest statement (``current``, from ``customer_consent``), its
    mode, and whether it is allowed: what the CLI and the admin API show."""
    return {
        p: {
            "status": (status := current.get(p, {}).get("status")),
            "mode": policy.mode(p),
            "allowed": policy.allowed(status, p),
            "stated_at": current.get(p, {}).get("stated_at"),
            "via": current.get(p, {}).get("via"),
        }
        for p in policy.purposes
    }


def history(db: Backend, nodes: Iterable[str]) -> list[dict[str, Any]]:
    """Every recorded change among ``nodes``, oldest first."""
    rows = db.execute(
        "SELECT seq, node, purpose, status, stated_at, recorded_at, source, channel, via, evidence FROM consents "
        "WHERE node IN (SELECT unnest(?::VARCHAR[])) ORDER BY stated_at, purpose, seq",
        [list(nodes)],
    )
    return [
        {
            "seq": seq,
            "identifier": node,
            "purpose": purpose,
            "status": status,
            "stated_at": stated_at,
            "recorded_at": recorded_at,
            "source": source,
            "channel": channel,
            "via": via,
            "evidence": json.loads(evidence) if evidence else {},
        }
        for seq, node, purpose, status, stated_at, recorded_at, source, channel, via, evidence in rows
    ]


def latest_by_customer_sql() -> str:
    """``customer_id, purpose, status``: each customer's latest statement per purpose."""
    return """
        SELECT i.customer_id, c.purpose, c.status FROM consents c JOIN identities i ON i.node = c.node
        QUALIFY row_number() OVER (PARTITION BY i.customer_id, c.purpose ORDER BY c.stated_at DESC, c.seq DESC) = 1
    """
