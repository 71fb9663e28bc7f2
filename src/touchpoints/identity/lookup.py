"""Finding a customer by anything a user may have in hand: a customer id, ``kind:value``, or a bare value
(a userId, an e-mail in any case, a phone number in any format, an anonymousId, a loyalty id, a record id).
"""

from __future__ import annotations

from touchpoints.identity.rules import KINDS, IdentityRules, node_key
from touchpoints.store.backend import Backend


def candidates(ref: str, rules: IdentityRules | None = None) -> list[str]:
    """Node keys ``ref`` may mean, most specific first."""
    rules = rules or IdentityRules()
    ref = ref.strip()
    kind, sep, value = ref.partition(":")
    kinds = (*KINDS, *rules.custom)
    if sep and kind in kinds and kind != "record":
        normal = rules.normalise(kind, value)
        return [node_key(kind, normal)] if normal else []
    if sep and kind == "record":
        return [ref]
    keys: list[str] = []
    for kind in ("user_id", "email", "phone", "loyalty_id", "anonymous_id", "device_id", *rules.custom):
        normal = rules.normalise(kind, ref)
        if normal is not None:
            keys.append(node_key(kind, normal))
    return keys


def find_customer(db: Backend, ref: str, rules: IdentityRules | None = None) -> str | None:
    """The customer id ``ref`` names, or None. A bare value that names identifiers of two customers (a
    userId equal to another's anonymousId, say) resolves by kind priority: userId first."""
    ref = ref.strip()
    if not ref:
        return None
    if ref.lower().startswith("cus_"):
        rows = db.execute("SELECT customer_id FROM identities WHERE customer_id = ? LIMIT 1", [ref.lower()])
        if rows:
            return str(rows[0][0])
    keys = candidates(ref, rules)
    if keys:
        rows = db.execute(
            f"SELECT node, customer_id FROM identities WHERE node IN ({', '.join('?' for _ in keys)})", keys
        )
        found = dict(rows)
        for key in keys:
            if key in found:
                return str(found[key])
    # A record id without its source: unique across sources, or ambiguous.
    rows = db.execute(
        "SELECT DISTINCT customer_id FROM identities WHERE kind = 'record' AND value = ?", [ref]
    )
    if len(rows) == 1:
        return str(rows[0][0])
    return None


def identifiers(db: Backend, customer_id: str) -> list[dict[str, object]]:
    """Every identifier and record of a customer, oldest first."""
    rows = db.execute(
        "SELECT kind, value, source, first_seen, first_message_id, node FROM identities WHERE customer_id = ? "
        "ORDER BY first_seen, node",
        [customer_id],
    )
    return [
        {"kind": k, "value": v, "source": s, "first_seen": f, "first_message_id": m, "node": n}
        for k, v, s, f, m, n in rows
    ]


# The message ids of one customer's events ($1: the customer id), the same rule as the view
# ``event_customers`` (its userId's customer, else its anonymousId's) without resolving every event: the
# customer's own ids are few, so this is two scans, each filtered by one id column; "has this event's userId
# a customer?" is asked only of the few events found by anonymousId (an OR made the engine ask it of every
# event of the store). The branches cannot both hold for one event: no duplicates.
CUSTOMER_MESSAGE_IDS = """
WITH mine AS (SELECT kind, value FROM identities WHERE customer_id = $1 AND kind IN ('user_id', 'anonymous_id'))
SELECT message_id FROM events WHERE user_id IN (SELECT value FROM mine WHERE kind = 'user_id')
UNION ALL
SELECT e.message_id FROM (
    SELECT message_id, user_id FROM events WHERE anonymous_id IN (SELECT value FROM mine WHERE kind = 'anonymous_id')
) e
WHERE e.user_id IS NULL OR NOT EXISTS (SELECT 1 FROM identities u WHERE u.node = 'user_id:' || e.user_id)
"""


def customer_message_ids(db: Backend, customer_id: str) -> list[str]:
    return [str(r[0]) for r in db.execute(CUSTOMER_MESSAGE_IDS, [customer_id])]
