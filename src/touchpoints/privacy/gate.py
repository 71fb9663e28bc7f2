"""The privacy gate: the one place where consent and suppression decide what comes in and what goes out.

In: every write of events into the store (the loader, the importers, quarantine replay) passes
``Gate.admit`` inside its transaction, and the collector's door (``Gate.refuses``) before anything is
spooled. An event carrying a suppressed identifier is not stored; its consent statements are recorded in
the ledger; an event the customer's analytics consent does not allow is stored without any identifier,
trait, IP or device id ("anonymised") or not at all ("drop"), as the home's ``[privacy]`` says.

Out: every output that serves a purpose asks the gate who may be in it. ``Gate.customers_sql(purpose)``
is the customers allowed for ``purpose`` (a marketing export, an audience, a webhook joins it), and
``Gate.allows(db, customer, purpose)`` answers for one customer (personalisation falls back to
non-personal results when it says no). A capability that adds an output takes its purpose and uses these;
there is no other consent check to keep in step.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from touchpoints.identity.rules import IdentityRules
from touchpoints.privacy.consent import PrivacyPolicy, capture, stated_sql
from touchpoints.privacy.suppression import (
    SuppressionList,
    event_nodes,
    node_hash,
    only_cookie,
    quarantine_hits,
    suppressed_message_ids,
    text_nodes_hit,
)
from touchpoints.store.backend import Backend

if TYPE_CHECKING:
    from touchpoints.config import Settings

SUPPRESSION_FILE = "suppression.jsonl"


@dataclass
class Admission:
    """What ``admit`` let in: ``relation`` holds the events to store (some perhaps anonymised)."""

    relation: str
    suppressed: int = 0
    anonymised: int = 0
    dropped: int = 0
    consents: int = 0

    @property
    def refused(self) -> int:
        return self.suppressed + self.dropped


# Anonymised: no identifier, trait, address, device or free-text context, and properties without
# identifiers or free text (STRIPPED_PROPERTIES); what a count or a funnel needs (the type, the event, the
# product and amounts, the page's path and title, the campaign) stays.
_ANONYMISED_CONTEXT = """json_object(
    'page', json_object('path', context->>'$.page.path', 'title', context->>'$.page.title'),
    'campaign', context->'$.campaign', 'library', context->'$.library', 'locale', context->>'$.locale',
    'channel', context->>'$.channel')"""


# Properties an anonymised event loses: identifiers, names, contact details and free text (what a count,
# a funnel or revenue needs, such as the product, price and order total, stays).
STRIPPED_PROPERTIES = (
    "email", "phone", "name", "first_name", "last_name", "firstName", "lastName", "username", "address",
    "loyalty_id", "loyaltyId", "user_id", "userId", "customer_id", "customerId", "anonymous_id",
    "anonymousId", "ip", "comment", "text", "message", "body", "query", "review", "note",
)  # fmt: skip
_STRIPPED_PROPERTIES = "{" + ", ".join(f'"{k}": null' for k in STRIPPED_PROPERTIES) + "}"


class Gate:
    """The consent and suppression rules of one home."""

    def __init__(
        self, policy: PrivacyPolicy, rules: IdentityRules, suppression: SuppressionList | None
    ) -> None:
        self.policy = policy
        self.rules = rules
        self.suppression = suppression

    @classmethod
    def for_settings(cls, settings: Settings) -> Gate:
        return cls(settings.privacy, settings.identity, SuppressionList(settings.home / SUPPRESSION_FILE))

    @classmethod
    def for_store(cls, db: Backend) -> Gate:
        """The gate of the home a store file lives in (settings re-read when config.toml changes)."""
        path: Path | None = getattr(db, "path", None)
        if path is None:
            return cls(PrivacyPolicy(), IdentityRules(), None)
        return _home_gate(path.parent)

    def hashes(self) -> frozenset[str]:
        return self.suppression.hashes() if self.suppression is not None else frozenset()

    # ---- in ----

    def refuses(self, event: dict[str, Any], source: str) -> bool | str:
        """Whether an event (stored column names, nested parts as dicts) carries a suppressed identifier:
        the collector's door, before anything is spooled. ``"strip"`` when the only one is its anonymousId
        and it has another person's userId: store it without the anonymousId."""
        hashes = self.hashes()
        if not hashes:
            return False
        hit = {n.partition(":")[0] for n in event_nodes(event, source, self.rules) if node_hash(n) in hashes}
        if not hit:
            return False
        return "strip" if only_cookie(hit, event.get("user_id") is not None) else True

    def refuses_text(self, *texts: str) -> bool:
        """Whether a quarantined item (its raw payload and envelope) names a suppressed identifier anywhere."""
        return text_nodes_hit(texts, self.hashes(), self.rules)

    def sweep_quarantine(self, db: Backend, where: str = "TRUE") -> int:
        """Deletes the quarantined items (of those ``where`` selects) that name a suppressed identifier; call
        after inserting some, in the same transaction. Returns how many."""
        hits = quarantine_hits(db, self.hashes(), self.rules, where)
        if hits:
            db.execute("DELETE FROM quarantine WHERE quarantine_id IN (SELECT unnest(?::VARCHAR[]))", [hits])
        return len(hits)

    def admit(self, db: Backend, relation: str) -> Admission:
        """Applies suppression and consent to ``relation`` (event columns and ``_seq``) inside the caller's
        transaction: records its consent statements and returns the relation of events to store."""
        admission = Admission(relation)
        refused: list[str] = []
        suppressed, stripped = suppressed_message_ids(db, relation, self.hashes(), self.rules)
        admission.suppressed = len(suppressed)
        refused += suppressed
        if suppressed:
            db.execute(
                "DELETE FROM message_ids WHERE message_id IN (SELECT unnest(?::VARCHAR[]))", [suppressed]
            )
            db.register("_tp_refused", pa.table({"message_id": pa.array(suppressed, pa.string())}))
            relation = (
                f"(SELECT * FROM {relation} WHERE message_id NOT IN (SELECT message_id FROM _tp_refused))"
            )
        try:
            admission.consents = capture(db, relation, self.policy, self.rules.blocked_values)
            withheld = self._withheld(db, relation)
        finally:
            if suppressed:
                db.unregister("_tp_refused")
        if not suppressed and not withheld and not stripped:
            return admission
        drop = self.policy.without_consent == "drop"
        if drop:
            admission.dropped = len(withheld)
            refused += withheld
            if withheld:
                db.execute(
                    "DELETE FROM message_ids WHERE message_id IN (SELECT unnest(?::VARCHAR[]))", [withheld]
                )
        else:
            admission.anonymised = len(withheld)
        db.register("_tp_gate_refused", pa.table({"message_id": pa.array(refused, pa.string())}))
        db.register(
            "_tp_gate_anon", pa.table({"message_id": pa.array([] if drop else withheld, pa.string())})
        )
        db.register("_tp_gate_strip", pa.table({"message_id": pa.array(stripped, pa.string())}))
        try:
            db.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE _tp_admitted AS
                SELECT r.* REPLACE (
                    CASE WHEN a.message_id IS NULL THEN r.user_id END AS user_id,
                    CASE WHEN a.message_id IS NULL AND r.message_id NOT IN (SELECT message_id FROM _tp_gate_strip)
                         THEN r.anonymous_id END AS anonymous_id,
                    CASE WHEN a.message_id IS NULL THEN r.previous_id END AS previous_id,
                    CASE WHEN a.message_id IS NULL THEN r.group_id END AS group_id,
                    CASE WHEN a.message_id IS NULL THEN r.ip END AS ip,
                    CASE WHEN a.message_id IS NULL THEN r.traits ELSE '{{}}' END AS traits,
                    CASE WHEN a.message_id IS NULL THEN r.properties
                         ELSE json_merge_patch(r.properties, '{_STRIPPED_PROPERTIES}') END AS properties,
                    CASE WHEN a.message_id IS NULL THEN r.extra ELSE '{{}}' END AS extra,
                    CASE WHEN a.message_id IS NULL THEN r.context ELSE {_ANONYMISED_CONTEXT} END AS context,
                    CASE WHEN a.message_id IS NULL THEN r.flags ELSE list_append(r.flags, 'anonymised') END AS flags
                )
                FROM {admission.relation} r
                LEFT JOIN _tp_gate_anon a ON a.message_id = r.message_id
                WHERE r.message_id NOT IN (SELECT message_id FROM _tp_gate_refused)
                """
            )
        finally:
            db.unregister("_tp_gate_refused")
            db.unregister("_tp_gate_anon")
            db.unregister("_tp_gate_strip")
        admission.relation = "_tp_admitted"
        return admission

    def _withheld(self, db: Backend, relation: str) -> list[str]:
        """Message ids of ``relation``'s events that analytics consent does not allow: the event's own
        statement if it makes one, else its customer's latest, else the purpose's default."""
        opt_in = self.policy.mode("analytics") == "opt_in"
        if (
            not opt_in
            and not db.execute(
                "SELECT EXISTS (SELECT 1 FROM consents WHERE purpose = 'analytics' AND status <> 'granted')"
            )[0][0]
        ):
            return []
        categories = [c for c, p in self.policy.categories.items() if p == "analytics"]
        allowed_unknown = "false" if opt_in else "true"
        rows = db.execute(
            f"""
            WITH ev AS (SELECT message_id, user_id, anonymous_id, source, timestamp FROM {relation}),
            own AS (
                SELECT message_id, arg_max(status, _seq) AS status FROM ({stated_sql(relation, self.rules.blocked_values)})
                WHERE category IN (SELECT unnest(?::VARCHAR[])) AND status IS NOT NULL GROUP BY message_id
            ),
            cust AS (
                SELECT e.message_id, e.timestamp,
                       coalesce(u.customer_id, a.customer_id,
                                CASE WHEN e.user_id IS NOT NULL THEN 'user_id:' || trim(e.user_id)
                                     ELSE 'anonymous_id:' || trim(e.anonymous_id) END) AS who
                FROM ev e
                LEFT JOIN identities u ON u.node = 'user_id:' || trim(e.user_id)
                LEFT JOIN identities a ON a.node = 'anonymous_id:' || trim(e.anonymous_id)
            ),
            said AS (
                SELECT coalesce(i.customer_id, c.node) AS who, c.stated_at, c.status, c.seq FROM consents c
                LEFT JOIN identities i ON i.node = c.node
                WHERE c.purpose = 'analytics' AND coalesce(i.customer_id, c.node) IN (SELECT who FROM cust)
                QUALIFY row_number() OVER (PARTITION BY who, c.stated_at ORDER BY c.seq DESC) = 1
            ),
            -- The statement in force when the event happened: the latest at or before its time.
            applied AS (
                SELECT k.message_id, s.status FROM cust k
                ASOF LEFT JOIN said s ON s.who = k.who AND s.stated_at <= k.timestamp
            )
            SELECT e.message_id FROM ev e
            LEFT JOIN own o ON o.message_id = e.message_id
            LEFT JOIN applied l ON l.message_id = e.message_id
            WHERE (e.user_id IS NOT NULL OR e.anonymous_id IS NOT NULL)
              AND e.source <> 'rectification'  -- a correction the person asked for is not analytics
              AND NOT coalesce(coalesce(o.status, l.status) = 'granted', {allowed_unknown})
            """,
            [categories],
        )
        return [r[0] for r in rows]

    # ---- out ----

    def customers_sql(self, purpose: str) -> str:
        """SQL for the customers (``customer_id``) that may be processed for ``purpose``; join it into any
        output that serves that purpose."""
        self.policy.mode(purpose)
        latest = (
            "SELECT i.customer_id, c.status FROM consents c JOIN identities i ON i.node = c.node "
            f"WHERE c.purpose = '{purpose}' "
            "QUALIFY row_number() OVER (PARTITION BY i.customer_id ORDER BY c.stated_at DESC, c.seq DESC) = 1"
        )
        if self.policy.mode(purpose) == "opt_in":
            return f"SELECT customer_id FROM ({latest}) WHERE status = 'granted'"
        return (
            "SELECT DISTINCT customer_id FROM identities "
            f"WHERE customer_id NOT IN (SELECT customer_id FROM ({latest}) WHERE status <> 'granted')"
        )

    def allows(self, db: Backend, customer_id: str, purpose: str) -> bool:
        """Whether one customer may be processed for ``purpose``."""
        rows = db.execute(
            "SELECT c.status FROM consents c JOIN identities i ON i.node = c.node "
            "WHERE i.customer_id = ? AND c.purpose = ? ORDER BY c.stated_at DESC, c.seq DESC LIMIT 1",
            [customer_id, purpose],
        )
        return self.policy.allowed(rows[0][0] if rows else None, purpose)


_HOME_GATES: dict[str, tuple[tuple[int, int] | None, Gate]] = {}
_HOME_LOCK = threading.Lock()


def _home_gate(home: Path) -> Gate:
    from touchpoints.config import CONFIG_FILE, load_settings

    try:
        st = os.stat(home / CONFIG_FILE)
        stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        stamp = None
    key = str(home)
    with _HOME_LOCK:
        cached = _HOME_GATES.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        gate = Gate.for_settings(load_settings(home))
        _HOME_GATES[key] = (stamp, gate)
        return gate
