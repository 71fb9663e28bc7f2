"""The prepared events every analysis reads: ``analytics_events``, one row per stored event.

Preparing does once what every analysis would otherwise repeat per query over the raw store: the customer
each event belongs to after identity resolution (an anonymous visitor's events before they signed in
included), the session (30 minutes without an event of one visitor, from ``events_enriched``), the page,
referrer class, UTM campaign and device, and the event's name (a page view is ``Page Viewed``, a screen
``Screen Viewed``). Times are UTC without a zone (``timestamp``); analyses convert to the zone asked for.
The rows are stored by event name, then time: a question about a few events reads only their row groups.
Each customer has a number too (``customer_no``, only within one preparation), for joins on a number.

Consent: ``customer_id`` (and ``customer_no``) is empty for an event whose customer may not be processed
for ``analytics`` (an opt-out, or no grant where analytics is opt-in), so they still count as events and
sessions but never as a customer. Erasure deletes the person's rows here as in ``events`` (the privacy
inventory lists this table) and marks the copy stale, so redactions reach it at the next refresh.

With them, each session's and each customer's runs (``analytics_runs``): the events in order with a run of
one event by one customer folded into one row (``Product Viewed`` three times in a row is one step),
numbered, each with the events of the runs before and after it. Paths read those instead of putting every
event of the year in order at each question (``paths``).

The copy is rebuilt when the store changed since (``fingerprint``: events, identities, links, consents),
or, for the HTTP API, when it is older than ``[analytics] max_staleness_seconds``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from touchpoints.analytics.columns import COLUMNS, RUN_COLUMNS, RUNS, TABLE
from touchpoints.privacy.gate import Gate
from touchpoints.store.backend import Backend

EVENT_NAME_SQL = """CASE e.type WHEN 'track' THEN e.event WHEN 'page' THEN 'Page Viewed'
    WHEN 'screen' THEN 'Screen Viewed' WHEN 'identify' THEN 'Identify' WHEN 'group' THEN 'Group'
    WHEN 'alias' THEN 'Alias' ELSE e.type END"""


@dataclass(frozen=True)
class Prepared:
    """What the analyses read, and how fresh it is."""

    rows: int
    prepared_at: datetime
    rebuilt: bool
    seconds: float


# What the prepared tables hold and how: changed whenever a version of Touchpoints builds them differently,
# so a store prepared by another version is prepared again before it is read.
LAYOUT = "layout-4"


def fingerprint(db: Backend, gate: Gate | None = None) -> str:
    """Changes whenever what the prepared events show could change: events added or deleted, identifiers
    linked, split or moved to another customer (an unmerge updates in place, hence the checksum), consent
    given or withdrawn, the analytics consent mode changed."""
    policy = "" if gate is None else gate.policy.mode("analytics")
    row = db.execute(
        "SELECT (SELECT count(*) FROM events), (SELECT max(received_at) FROM events), "
        "(SELECT count(*) FROM identities), (SELECT max(seq) FROM identity_links), "
        "(SELECT count(*) FROM identity_links), (SELECT max(seq) FROM consents), "
        "(SELECT count(*) FROM consents), (SELECT count(*) FROM user_agents), "
        "(SELECT sum(hash(node, customer_id)) FROM identities), (SELECT count(*) FROM identity_separations)"
    )[0]
    return "|".join([LAYOUT] + ["" if v is None else str(v) for v in row] + [policy])


def state(db: Backend) -> tuple[str, datetime, int] | None:
    rows = db.execute("SELECT fingerprint, prepared_at, rows FROM analytics_state LIMIT 1")
    if not rows:
        return None
    return str(rows[0][0]), rows[0][1], int(rows[0][2])


def invalidate(db: Backend) -> None:
    """Empties the prepared events and marks them stale (after an erasure, a redaction, retention), so
    nothing deleted or redacted in ``events`` lives on here, and the next analysis rebuilds them."""
    db.execute("DELETE FROM analytics_state")
    db.execute(f"DELETE FROM {TABLE}")
    db.execute(f"DELETE FROM {RUNS}")


def build_sql(gate: Gate) -> str:
    allowed = gate.customers_sql("analytics")
    return f"""
    CREATE OR REPLACE TABLE {TABLE} AS SELECT {", ".join(n for n, _ in COLUMNS)} FROM (
    WITH numbered AS (  -- each customer's number, for joins on a number instead of a text
        SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS customer_no
        FROM (SELECT DISTINCT customer_id FROM identities)
    ),
    ids AS (SELECT i.node, i.customer_id, n.customer_no FROM identities i JOIN numbered n USING (customer_id)),
    resolved AS (
        SELECT e.*, coalesce(u.customer_id, a.customer_id) AS _customer,
            coalesce(u.customer_no, a.customer_no) AS _customer_no
        FROM events_enriched e
        LEFT JOIN ids u ON u.node = 'user_id:' || e.user_id
        LEFT JOIN ids a ON a.node = 'anonymous_id:' || e.anonymous_id
    ),
    allowed AS ({allowed})
    SELECT e.message_id,
        CASE WHEN e._allowed THEN e._customer END AS customer_id,
        CASE WHEN e._allowed THEN e._customer_no END AS customer_no,
        e.anonymous_id, e.user_id, e.type, {EVENT_NAME_SQL} AS event, e.channel, e.source,
        (e.timestamp AT TIME ZONE 'UTC') AS timestamp,
        e.session_id, e.page_url, e.page_path,
        coalesce(e.context->>'$.page.title', e.properties->>'$.title') AS page_title,
        e.referrer, e.referrer_host, e.referrer_class, e.utm_source, e.utm_medium, e.utm_campaign,
        e.ua_browser AS browser, e.ua_os AS os, e.ua_device_type AS device_type,
        e.properties::VARCHAR AS properties
    FROM (SELECT *, _customer IN (SELECT customer_id FROM allowed) AS _allowed FROM resolved) e
    ) ORDER BY event, timestamp, message_id
    """


# The order of a session's or a customer's events is (timestamp, message_id) everywhere: in the sessions
# themselves (``events_enriched``), in ``paths`` and here. A run starts where the event, or its customer,
# differs from the one before.
RUNS_SQL = f"""
    CREATE OR REPLACE TABLE {RUNS} AS SELECT {", ".join(f"{n}::{t} AS {n}" for n, t in RUN_COLUMNS)} FROM (
    WITH keyed AS (
        SELECT 'session' AS unit, session_id AS k, event, timestamp, message_id, customer_id
        FROM {TABLE} WHERE session_id IS NOT NULL
        UNION ALL
        SELECT 'customer' AS unit, customer_id AS k, event, timestamp, message_id, customer_id
        FROM {TABLE} WHERE customer_id IS NOT NULL
    ),
    numbers AS (
        SELECT unit, k, row_number() OVER (ORDER BY unit DESC, min(timestamp), k) AS unit_no
        FROM keyed GROUP BY unit, k
    ),
    marked AS (  -- each event with the one before it (and its time), and its unit's last time
        SELECT n.unit, n.unit_no, e.event, e.timestamp, e.message_id, e.customer_id,
            lag(e.event) OVER w AS before, lag(e.timestamp) OVER w AS before_ts,
            lag(e.customer_id) OVER w AS before_by,
            max(e.timestamp) OVER (PARTITION BY n.unit_no) AS unit_last_ts
        FROM keyed e JOIN numbers n USING (unit, k)
        WINDOW w AS (PARTITION BY n.unit_no ORDER BY e.timestamp, e.message_id)
    ),
    starts AS (  -- a run is one event by one customer (on a shared device, the next person starts a run)
        SELECT * FROM marked WHERE before IS NULL OR before <> event OR before_by IS DISTINCT FROM customer_id
    )
    -- a run ends where the next begins: its last event is the one before the next run's first
    SELECT unit, unit_no, row_number() OVER s AS run, event, timestamp AS first_ts,
        coalesce(lead(before_ts) OVER s, unit_last_ts) AS last_ts, customer_id,
        lead(event) OVER s AS next_event, lead(timestamp) OVER s AS next_first_ts,
        lag(event) OVER s AS previous_event, before_ts AS previous_last_ts
    FROM starts WINDOW s AS (PARTITION BY unit_no ORDER BY timestamp, message_id)
    ) ORDER BY unit_no, run
"""


def ensure(db: Backend, gate: Gate, *, max_staleness_seconds: float = 0.0) -> Prepared:
    """The prepared events, rebuilt first if the store changed (and the copy is older than
    ``max_staleness_seconds``)."""
    current = state(db)
    if current is not None:
        mark, prepared_at, rows = current
        age = (datetime.now(UTC) - prepared_at).total_seconds()
        same_layout = mark.startswith(LAYOUT + "|")
        if (same_layout and age < max_staleness_seconds) or mark == fingerprint(db, gate):
            return Prepared(rows, prepared_at, False, 0.0)
    return rebuild(db, gate, unless_current=True)


def rebuild(db: Backend, gate: Gate, *, unless_current: bool = False) -> Prepared:
    """Builds the prepared events; ``unless_current``: not if another request has just built them from
    the same store (concurrent requests wait for one rebuild instead of each doing their own)."""
    started = time.perf_counter()
    with db.transaction():
        mark = fingerprint(db, gate)
        if unless_current:
            done = db.execute("SELECT fingerprint, prepared_at, rows FROM analytics_state LIMIT 1")
            if done and done[0][0] == mark:
                return Prepared(int(done[0][2]), done[0][1], False, time.perf_counter() - started)
        db.execute(build_sql(gate))
        db.execute(RUNS_SQL)
        rows = int(db.execute(f"SELECT count(*) FROM {TABLE}")[0][0])
        db.execute("DELETE FROM analytics_state")
        prepared_at = datetime.now(UTC)
        db.execute("INSERT INTO analytics_state VALUES (?, ?, ?)", [mark, prepared_at, rows])
    return Prepared(rows, prepared_at, True, time.perf_counter() - started)
