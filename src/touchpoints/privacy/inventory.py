"""What personal data each table of the store holds, and how one person's rows are found.

Export, erasure and retention go by this inventory, so a table added later is either listed here with
how a person's rows are found, or declared free of personal data with the reason; a test fails for any
table that is neither. Predicates may use ``_subject_nodes(node)``, ``_subject_messages(message_id)``,
``_subject_values(value, pattern)`` (lower-cased identifier values, and each as a whole-word pattern, for
free text), ``_subject_customers(customer_id)`` (theirs and those merged into it) and ``$customer``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PersonalTable:
    name: str
    holds: str  # what about a person is in it, for docs/privacy.md
    where: str  # SQL predicate selecting one person's rows
    order: str = ""  # how their rows are listed in an access export, when the table's own order is not it


_IN_NODES = "IN (SELECT node FROM _subject_nodes)"

PERSONAL: tuple[PersonalTable, ...] = (
    PersonalTable("events", "every event: identifiers, traits, context (page, device, IP network), properties",
                  "message_id IN (SELECT message_id FROM _subject_messages)"),
    PersonalTable("message_ids", "the ids of recent events (deduplication window)",
                  "message_id IN (SELECT message_id FROM _subject_messages)"),
    PersonalTable("identities", "identifiers (e-mail, phone, ids, social handles, records) and the customer id",
                  "customer_id = $customer"),
    PersonalTable("identity_links", "every merge and refusal between two identifiers, with its cause",
                  f"a {_IN_NODES} OR b {_IN_NODES}"),
    PersonalTable("identity_separations", "unmerge decisions between two identifiers",
                  f"a {_IN_NODES} OR b {_IN_NODES}"),
    PersonalTable("identity_reviews", "probable matches queued for a person to decide",
                  f"a {_IN_NODES} OR b {_IN_NODES}"),
    PersonalTable("consents", "consent statements per purpose, with their evidence", f"node {_IN_NODES}"),
    PersonalTable("quarantine", "events and rows that could not be accepted, kept whole for replay",
                  "message_id IN (SELECT message_id FROM _subject_messages) OR "
                  "quarantine_id IN (SELECT quarantine_id FROM _subject_quarantine) OR "
                  # The pattern (compiled per row) only where the cheap substring test matched: with AND,
                  # the engine ran the pattern first.
                  "EXISTS (SELECT 1 FROM _subject_values v WHERE CASE WHEN contains(lower(payload), v.value) "
                  "THEN regexp_matches(lower(payload), v.pattern) ELSE false END)"),
    PersonalTable("analytics_events", "the prepared copy of the events analyses read: customer id and number, ids, "
                  "pages, referrers, devices, properties (rebuilt from events; stale after an erasure)",
                  "message_id IN (SELECT message_id FROM _subject_messages)", "timestamp, message_id"),
    PersonalTable("analytics_runs", "each session's and customer's runs of events for paths (event names, times, customer id), "
                  "built with the prepared events; emptied with them by an erasure",
                  "customer_id IN (SELECT customer_id FROM _subject_customers)"),
    PersonalTable("customer_values", "each customer's value scores (purchases, spend, CLV, P(alive), churn risk, RFM "
                  "segment) from the last `value refresh`",
                  "customer_id IN (SELECT customer_id FROM _subject_customers)"),
    PersonalTable("export_rows", "which customer each line of a file Touchpoints wrote is about",
                  "customer_id IN (SELECT customer_id FROM _subject_customers)"),
)  # fmt: skip

NOT_PERSONAL: dict[str, str] = {
    "schema_version": "the store's schema version",
    "loader_state": "how far the spool is loaded",
    "enrichment": "bought or partner tables keyed by area (postcode to census band), about places, not people",
    "user_agents": "browser and device strings parsed once, each shared by many visitors",
    "identity_model": "the matching model's m and u probabilities per comparison level; no record values",
    "value_models": "the customer-value models' parameters and fit statistics (aggregates over every "
    "customer, no customer ids)",
    "analytics_state": "when the prepared events were built, and a fingerprint of the store's size then",
    "exports": "which files Touchpoints wrote, when, for which purpose, and how many rows (export_rows says "
    "who is in them)",
}

# Files under the home besides the store, and what they hold (for docs/privacy.md and the purge).
FILES: dict[str, str] = {
    "store.duckdb": "the store: every table above (DuckDB keeps deleted bytes until `privacy purge` rewrites it)",
    "spool/": "events acknowledged but not yet loaded; a segment is deleted once loaded",
    "audit.jsonl": "who did what: key ids and names, customer ids, counts; never an e-mail, phone or search value",
    "suppression.jsonl": "SHA-256 of erased people's identifiers; nothing readable",
    "keys.json": "API keys as SHA-256 hashes, names and roles",
    "links.json": "campaigns and their destinations; no person",
    "config.toml": "settings",
    "parquet/": "the prepared events as Parquet for Spark ([spark] parquet may put them elsewhere): deleted by "
    "an erasure, written again from the erased store by the next analysis on Spark",
}
