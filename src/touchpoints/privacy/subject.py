"""The data subject: one person as the store knows them, found by any identifier.

``find`` resolves a customer id, ``kind:value`` or a bare identifier to the customer, and gathers what the
rights need: their identifiers (graph nodes), the message ids of their events, and the lower-cased values
that find them in free text (quarantined payloads, the spool, files Touchpoints wrote).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyarrow as pa

from touchpoints.identity.lookup import CUSTOMER_MESSAGE_IDS, candidates, find_customer
from touchpoints.identity.rules import IdentityRules
from touchpoints.privacy.suppression import node_hash, quarantine_hits, suppressed_message_ids
from touchpoints.store.backend import Backend

# The person's events: the profile's rule (their userId's, else their anonymousId's: CUSTOMER_MESSAGE_IDS),
# ids sent with stray spaces (the graph trims them), and every event that brought one of their identifiers
# or caused one of their merges (an identify whose userId was a placeholder such as "undefined", but whose
# e-mail joined them).
SUBJECT_MESSAGE_IDS = f"""
{CUSTOMER_MESSAGE_IDS}
UNION
SELECT e.message_id FROM events e
WHERE (e.user_id <> trim(e.user_id) AND trim(e.user_id) IN
           (SELECT value FROM identities WHERE customer_id = $1 AND kind = 'user_id'))
   OR (e.anonymous_id <> trim(e.anonymous_id) AND trim(e.anonymous_id) IN
           (SELECT value FROM identities WHERE customer_id = $1 AND kind = 'anonymous_id'))
UNION
SELECT first_message_id FROM identities WHERE customer_id = $1 AND first_message_id IS NOT NULL
UNION
SELECT l.cause_ref FROM identity_links l
WHERE l.status = 'merged' AND l.cause IN ('event', 'import') AND l.cause_ref IS NOT NULL
  AND l.a IN (SELECT node FROM identities WHERE customer_id = $1)
  AND l.b IN (SELECT node FROM identities WHERE customer_id = $1)
"""

# Events whose userId and anonymousId both have no identifier node. A node of these kinds is exactly
# kind:value, so the events' own columns are joined with the identifiers' values (building the node key
# for every event of the store cost 27 s at 10M events; this, 3.8 s).
ORPHAN_EVENTS = """(SELECT * FROM events e
WHERE (e.user_id IS NULL OR trim(e.user_id) NOT IN (SELECT value FROM identities WHERE kind = 'user_id'))
  AND (e.anonymous_id IS NULL
       OR trim(e.anonymous_id) NOT IN (SELECT value FROM identities WHERE kind = 'anonymous_id')))"""

# A value shorter than this is not searched for in free text: "42" would match everybody's payloads.
MIN_SCAN_LENGTH = 5


@dataclass
class Subject:
    customer_id: str
    nodes: list[str]
    identifiers: list[tuple[str, str, str]]  # (kind, value, source)
    message_ids: list[str] = field(repr=False)
    # Customer ids merged into this one over time (no longer in use): files written before a merge name
    # the person by those.
    absorbed: list[str] = field(default_factory=list)

    @property
    def customer_ids(self) -> list[str]:
        return [self.customer_id, *self.absorbed]

    @property
    def values(self) -> list[str]:
        """Lower-cased values to look for in free text: every identifier value, and a phone's digits."""
        found: set[str] = set()
        for kind, value, _ in self.identifiers:
            found.add(value.lower())
            if kind == "phone":
                found.add(re.sub(r"\D", "", value))
            if kind == "social":
                found.add(value.partition(":")[2].lower())
        return sorted(v for v in found if len(v) >= MIN_SCAN_LENGTH)

    @property
    def patterns(self) -> list[str]:
        """``values`` as whole-word patterns (RE2 and Python alike): ``jane1`` does not find ``jane12``."""
        return [f"(?:^|[^a-z0-9]){re.escape(v)}(?:$|[^a-z0-9])" for v in self.values]

    def search(self) -> re.Pattern[str]:
        """One Python pattern for all ``values`` (match it against lower-cased text)."""
        return re.compile("|".join(self.patterns) or r"(?!x)x")


def find(db: Backend, ref: str, rules: IdentityRules | None = None) -> Subject | None:
    customer_id = find_customer(db, ref, rules)
    if customer_id is None:
        return _unlinked(db, ref, rules)
    rows = db.execute(
        "SELECT node, kind, value, source FROM identities WHERE customer_id = ? ORDER BY first_seen, node",
        [customer_id],
    )
    messages = [r[0] for r in db.execute(SUBJECT_MESSAGE_IDS, [customer_id])]
    # Events that belong to no customer (their userId a placeholder, no anonymousId) but carry one of the
    # person's identifiers elsewhere (an e-mail in their traits), read as the identity graph reads them.
    nodes = [r[0] for r in db.execute("SELECT node FROM identities WHERE customer_id = ?", [customer_id])]
    refused, stripped = suppressed_message_ids(
        db, ORPHAN_EVENTS, frozenset(node_hash(n) for n in nodes), rules
    )
    messages = sorted({*messages, *refused, *stripped})
    absorbed = db.execute(
        """
        WITH RECURSIVE merged(customer_id) AS (
            SELECT ?::VARCHAR
            UNION
            SELECT l.customer_from FROM identity_links l JOIN merged m ON l.customer_into = m.customer_id
            WHERE l.status = 'merged' AND l.customer_from IS NOT NULL
        )
        SELECT customer_id FROM merged WHERE customer_id <> ?
        AND customer_id NOT IN (SELECT customer_id FROM identities) ORDER BY customer_id
        """,
        [customer_id, customer_id],
    )
    return Subject(
        customer_id=customer_id,
        nodes=[r[0] for r in rows],
        identifiers=[(r[1], r[2], r[3]) for r in rows],
        message_ids=messages,
        absorbed=[r[0] for r in absorbed],
    )


def _unlinked(db: Backend, ref: str, rules: IdentityRules | None) -> Subject | None:
    """Someone the identity graph never linked (their events were refused or anonymised for lack of
    consent, or only a bad row of theirs is held), who may still have a consent statement or a quarantined
    item: a subject of their own, ``unlinked-<hash>``, with those."""
    nodes = candidates(ref, rules)
    if not nodes:
        return None
    stated = [r[0] for r in db.execute(
        "SELECT DISTINCT node FROM consents WHERE node IN (SELECT unnest(?::VARCHAR[]))", [nodes])]  # fmt: skip
    held = quarantine_hits(db, frozenset(node_hash(n) for n in nodes), rules)
    if not stated and not held:
        return None
    found = stated or nodes
    identifiers = [(n.partition(":")[0], n.partition(":")[2], "") for n in found]
    return Subject(f"unlinked-{node_hash(found[0])[:16]}", found, identifiers, [])


@contextmanager
def registered(db: Backend, subject: Subject) -> Iterator[None]:
    """Registers ``_subject_nodes``, ``_subject_messages``, ``_subject_values`` and ``_subject_customers``
    for the inventory's predicates."""
    db.register("_subject_nodes", pa.table({"node": pa.array(subject.nodes, pa.string())}))
    db.register("_subject_messages", pa.table({"message_id": pa.array(subject.message_ids, pa.string())}))
    db.register("_subject_customers", pa.table({"customer_id": pa.array(subject.customer_ids, pa.string())}))
    # Quarantined items keep whatever was sent: any string anywhere in one may be the person's identifier.
    held = quarantine_hits(db, frozenset(node_hash(n) for n in subject.nodes))
    db.register("_subject_quarantine", pa.table({"quarantine_id": pa.array(held, pa.string())}))
    db.register(
        "_subject_values",
        pa.table(
            {
                "value": pa.array(subject.values, pa.string()),
                "pattern": pa.array(subject.patterns, pa.string()),
            }
        ),
    )
    try:
        yield
    finally:
        for name in ("_subject_nodes", "_subject_messages", "_subject_values", "_subject_customers",
                     "_subject_quarantine"):  # fmt: skip
            db.unregister(name)
