"""Finding customers by what a caller knows of them: an email address, a phone number, or a name.

Email and phone are identifiers, found in the identity graph (normalised as the graph normalises them).
A name is a trait: every word of the query must appear, ignoring case, in a full name the customer's
events gave (``name``, else ``firstName lastName``; ``first_name``/``last_name`` too).
"""

from __future__ import annotations

from typing import Any

from touchpoints.identity.lookup import find_customer
from touchpoints.identity.rules import IdentityRules
from touchpoints.store.backend import Backend

MAX_RESULTS = 50

_FIRST = "coalesce(t ->> '$.firstName', t ->> '$.first_name')"
_LAST = "coalesce(t ->> '$.lastName', t ->> '$.last_name')"
_FULL = f"coalesce(nullif(trim(t ->> '$.name'), ''), nullif(concat_ws(' ', {_FIRST}, {_LAST}), ''))"

# (message_id, timestamp, full name) of every event that states a name.
_NAMED = f"""
named AS (
    SELECT message_id, timestamp, {_FULL} AS full_name, nullif(trim(t ->> '$.name'), '') AS name_trait,
           {_FIRST} AS first_name, {_LAST} AS last_name
    FROM (
        SELECT message_id, timestamp, traits AS t FROM events WHERE type = 'identify'
        UNION ALL
        SELECT message_id, timestamp, context -> '$.traits' AS t FROM events
        WHERE json_type(context -> '$.traits') = 'OBJECT'
    )
    WHERE full_name IS NOT NULL
)"""


def _by_identifier(db: Backend, kind: str, raw: str, rules: IdentityRules | None) -> list[str]:
    # The graph's lookup normalises the value with the home's rules (a phone's default region, say).
    customer = find_customer(db, f"{kind}:{raw.strip()}", rules)
    return [] if customer is None else [customer]


def _by_name(db: Backend, name: str) -> list[str]:
    words = [w.lower() for w in name.split()]
    if not words:
        return []
    match = " AND ".join("contains(lower(n.full_name), ?)" for _ in words)
    rows = db.execute(
        f"""
        WITH {_NAMED}
        SELECT c.customer_id FROM named n JOIN event_customers c ON c.message_id = n.message_id
        WHERE {match} AND c.customer_id IS NOT NULL
        GROUP BY c.customer_id ORDER BY max(n.timestamp) DESC LIMIT {MAX_RESULTS + 1}
        """,
        words,
    )
    return [str(r[0]) for r in rows]


def describe(db: Backend, customer_ids: list[str]) -> list[dict[str, Any]]:
    """For each customer, what tells them apart in a list: their name (the latest ``name`` trait, else the
    latest first and last names), emails, phones, user ids."""
    if not customer_ids:
        return []
    ids = db.execute(
        """
        SELECT customer_id, kind, list(value ORDER BY first_seen, value) FROM identities
        WHERE customer_id IN (SELECT unnest(?::VARCHAR[])) AND kind IN ('email', 'phone', 'user_id')
        GROUP BY customer_id, kind
        """,
        [customer_ids],
    )
    names = db.execute(
        f"""
        WITH {_NAMED}
        SELECT c.customer_id, coalesce(
                   arg_max(n.name_trait, n.timestamp) FILTER (n.name_trait IS NOT NULL),
                   nullif(concat_ws(' ', arg_max(n.first_name, n.timestamp) FILTER (n.first_name IS NOT NULL),
                                    arg_max(n.last_name, n.timestamp) FILTER (n.last_name IS NOT NULL)), ''))
        FROM named n
        JOIN event_customers c ON c.message_id = n.message_id
        WHERE c.customer_id IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY c.customer_id
        """,
        [customer_ids],
    )
    found: dict[str, dict[str, Any]] = {
        cid: {"customer_id": cid, "name": None, "emails": [], "phones": [], "user_ids": []}
        for cid in customer_ids
    }
    plural = {"email": "emails", "phone": "phones", "user_id": "user_ids"}
    for cid, kind, values in ids:
        found[cid][plural[kind]] = list(values)
    for cid, full_name in names:
        found[cid]["name"] = full_name
    return [found[cid] for cid in customer_ids]


def search(
    db: Backend,
    *,
    email: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    rules: IdentityRules | None = None,
) -> list[dict[str, Any]]:
    """The customers matching every criterion given (at most ``MAX_RESULTS``), described for a list."""
    return search_page(db, email=email, phone=phone, name=name, rules=rules)[0]


def search_page(
    db: Backend,
    *,
    email: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    rules: IdentityRules | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """``search``, and whether more than ``MAX_RESULTS`` customers matched (the list is cut: narrow the
    search). A name needs three letters or more: a name search is for finding a person, not for listing
    the customer base."""
    if name is not None and name.strip() and len("".join(name.split())) < 3:
        raise ValueError("a name search needs at least 3 letters, e.g. name=jan")
    matches: list[list[str]] = []
    if email:
        matches.append(_by_identifier(db, "email", email, rules))
    if phone:
        matches.append(_by_identifier(db, "phone", phone, rules))
    if name:
        matches.append(_by_name(db, name))
    if not matches:
        raise ValueError("search needs an email, a phone or a name")
    first, *rest = matches
    kept = [cid for cid in first if all(cid in other for other in rest)]
    return describe(db, kept[:MAX_RESULTS]), len(kept) > MAX_RESULTS
