"""Tables of the store, and the migrations that create them. Bump ``VERSION`` with every new step."""

from __future__ import annotations

from touchpoints.analytics.columns import COLUMNS as PREPARED_COLUMNS
from touchpoints.analytics.columns import RUN_COLUMNS
from touchpoints.enrich.views import events_enriched_sql
from touchpoints.store.backend import Backend

VERSION = 8

_STEPS: dict[int, list[str]] = {
    1: [
        """
        CREATE TABLE IF NOT EXISTS events (
            message_id VARCHAR NOT NULL,
            type VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            channel VARCHAR NOT NULL,
            user_id VARCHAR,
            anonymous_id VARCHAR,
            group_id VARCHAR,
            previous_id VARCHAR,
            event VARCHAR,
            name VARCHAR,
            category VARCHAR,
            timestamp TIMESTAMPTZ NOT NULL,
            received_at TIMESTAMPTZ NOT NULL,
            original_timestamp VARCHAR,
            sent_at VARCHAR,
            flags VARCHAR[] NOT NULL,
            context JSON NOT NULL,
            properties JSON NOT NULL,
            traits JSON NOT NULL,
            integrations JSON NOT NULL,
            extra JSON NOT NULL
        )
        """,
        # The deduplication window: one row per messageId seen, pruned after the configured window.
        """
        CREATE TABLE IF NOT EXISTS message_ids (
            message_id VARCHAR PRIMARY KEY,
            received_at TIMESTAMPTZ NOT NULL
        )
        """,
        "CREATE SEQUENCE IF NOT EXISTS quarantine_seq",
        """
        CREATE TABLE IF NOT EXISTS quarantine (
            seq BIGINT NOT NULL DEFAULT nextval('quarantine_seq'),
            quarantine_id VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            origin VARCHAR NOT NULL,
            received_at TIMESTAMPTZ NOT NULL,
            reason VARCHAR NOT NULL,
            payload VARCHAR NOT NULL,
            envelope JSON NOT NULL,
            status VARCHAR NOT NULL DEFAULT 'held',
            replayed_at TIMESTAMPTZ,
            message_id VARCHAR
        )
        """,
        # How far the loader has read the spool: every segment before segment_seq is loaded, and
        # segment_seq up to byte offset.
        """
        CREATE TABLE IF NOT EXISTS loader_state (
            segment_seq BIGINT NOT NULL,
            byte_offset BIGINT NOT NULL
        )
        """,
        "INSERT INTO loader_state SELECT 0, 0 WHERE NOT EXISTS (SELECT 1 FROM loader_state)",
    ],
    2: [
        # The client's address (context.ip, else the connection's), truncated when configured.
        "ALTER TABLE events ADD COLUMN IF NOT EXISTS ip VARCHAR",
        # Bought or partner tables keyed by a trait (postcode -> census band); one version per source.
        """
        CREATE TABLE IF NOT EXISTS enrichment (
            source VARCHAR NOT NULL,
            trait VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            attributes JSON NOT NULL,
            imported_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (source, key)
        )
        """,
        # Every distinct User-Agent seen, parsed once (ua-parser) by the loader.
        """
        CREATE TABLE IF NOT EXISTS user_agents (
            user_agent VARCHAR PRIMARY KEY,
            browser VARCHAR,
            browser_version VARCHAR,
            os VARCHAR,
            os_version VARCHAR,
            device VARCHAR,
            device_type VARCHAR NOT NULL
        )
        """,
        # Recreated by any later step that changes it.
        events_enriched_sql(),
    ],
    # events_enriched: referrer class from columns parsed once; app device types from context.device.
    3: [events_enriched_sql()],
    # The identity graph (identity/): identifiers and records with their customer, the ledger of every
    # link between two of them, unmerge decisions, the review queue and the matching model.
    4: [
        "CREATE SEQUENCE IF NOT EXISTS customer_seq START 1",
        "CREATE SEQUENCE IF NOT EXISTS identity_link_seq START 1",
        """
        CREATE TABLE IF NOT EXISTS identities (
            node VARCHAR PRIMARY KEY,  -- kind:value, or record:source/value
            kind VARCHAR NOT NULL,     -- user_id, anonymous_id, email, phone, loyalty_id, device_id, record, ...
            value VARCHAR NOT NULL,    -- normalised (e-mail lower-cased, phone E.164)
            source VARCHAR NOT NULL,   -- where it was first seen; for a record, its import source
            customer_id VARCHAR NOT NULL,
            first_seen TIMESTAMPTZ NOT NULL,
            first_message_id VARCHAR
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS identity_links (
            seq BIGINT PRIMARY KEY,
            a VARCHAR NOT NULL,          -- nodes, a < b; a row per decision: a pair's latest row is its status
            b VARCHAR NOT NULL,
            status VARCHAR NOT NULL,     -- merged | refused | unmerged
            cause VARCHAR NOT NULL,      -- event | import | match | review | manual
            cause_ref VARCHAR,           -- the message id, or the matched pair
            source VARCHAR,
            evidence_at TIMESTAMPTZ NOT NULL,  -- when the evidence happened
            recorded_at TIMESTAMPTZ NOT NULL,
            reason VARCHAR,              -- why refused or unmerged
            score DOUBLE,                -- match probability, for match and review links
            from_node VARCHAR,           -- merged: the endpoint whose customer was absorbed
            customer_from VARCHAR,       -- merged: the absorbed customer (NULL when it was new)
            customer_into VARCHAR        -- merged: the customer that remained
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS identity_separations (
            seq BIGINT NOT NULL,         -- the unmerge's number
            a VARCHAR NOT NULL,          -- these two nodes are never again one customer
            b VARCHAR NOT NULL,
            link_seq BIGINT,             -- the merge undone, if one was named
            reason VARCHAR,
            created_at TIMESTAMPTZ NOT NULL,
            customers JSON NOT NULL      -- the customers before and after
        )
        """,
        "CREATE SEQUENCE IF NOT EXISTS identity_review_seq START 1",
        """
        CREATE TABLE IF NOT EXISTS identity_reviews (
            id BIGINT NOT NULL DEFAULT nextval('identity_review_seq'),
            a VARCHAR NOT NULL,
            b VARCHAR NOT NULL,
            score DOUBLE NOT NULL,
            weight DOUBLE,
            status VARCHAR NOT NULL,     -- pending | accepted | rejected
            created_at TIMESTAMPTZ NOT NULL,
            decided_at TIMESTAMPTZ,
            note VARCHAR,
            PRIMARY KEY (a, b)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS identity_model (
            trained_at TIMESTAMPTZ NOT NULL,
            records BIGINT NOT NULL,
            model JSON NOT NULL
        )
        """,
        # Which customer each event belongs to: its userId's, else its anonymousId's.
        """
        CREATE OR REPLACE VIEW event_customers AS
        SELECT e.message_id, coalesce(u.customer_id, a.customer_id) AS customer_id
        FROM events e
        LEFT JOIN identities u ON u.node = 'user_id:' || e.user_id
        LEFT JOIN identities a ON a.node = 'anonymous_id:' || e.anonymous_id
        """,
    ],
    # Privacy (privacy/): the consent ledger, and the files Touchpoints wrote about customers (so an
    # erasure reaches them).
    5: [
        "CREATE SEQUENCE IF NOT EXISTS consent_seq START 1",
        """
        CREATE TABLE IF NOT EXISTS consents (
            seq BIGINT PRIMARY KEY DEFAULT nextval('consent_seq'),
            node VARCHAR NOT NULL,        -- the identifier that stated it (user_id:..., anonymous_id:...)
            purpose VARCHAR NOT NULL,     -- analytics, marketing, personalisation, sale_sharing, configured
            status VARCHAR NOT NULL,      -- granted | denied | withdrawn (a denial after a grant)
            stated_at TIMESTAMPTZ NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            source VARCHAR,               -- the write key or import source, or the admin key / CLI user
            channel VARCHAR,
            via VARCHAR NOT NULL,         -- event | api | cli | import
            evidence JSON NOT NULL        -- the message id and banner version, or the request
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS exports (
            id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,        -- audience | access | ...
            purpose VARCHAR,              -- the purpose the file serves (its consent gate)
            path VARCHAR NOT NULL,        -- absolute
            format VARCHAR NOT NULL,
            written_at TIMESTAMPTZ NOT NULL,
            rows BIGINT NOT NULL,
            actor VARCHAR
        )
        """,
        # Which customer each line of a written file is about (line 1 is the first after any header).
        """
        CREATE TABLE IF NOT EXISTS export_rows (
            export_id VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            line BIGINT NOT NULL
        )
        """,
    ],
    # Analytics (analytics/prepared.py): the prepared events every analysis reads, and how fresh they are.
    6: [
        f"CREATE TABLE IF NOT EXISTS analytics_events ({', '.join(f'{n} {t}' for n, t in PREPARED_COLUMNS)})",
        "CREATE TABLE IF NOT EXISTS analytics_state ("
        "fingerprint VARCHAR NOT NULL, prepared_at TIMESTAMPTZ NOT NULL, rows BIGINT NOT NULL)",
    ],
    # Customer value (predictive/value.py): each customer's scores from the last `touchpoints value
    # refresh`, and the models they came from.
    7: [
        """
        CREATE TABLE IF NOT EXISTS customer_values (
            customer_id VARCHAR PRIMARY KEY,
            refreshed_at TIMESTAMPTZ NOT NULL,
            as_of DATE NOT NULL,               -- the day the scores are as of (--as-of)
            currency VARCHAR,                  -- of spend, expected spend and clv: the models' one
            orders BIGINT NOT NULL,            -- purchase days (same-day orders are one), as the models count
            spend DOUBLE NOT NULL,             -- net of refunds, in the models' currency
            first_purchase DATE NOT NULL,
            last_purchase DATE NOT NULL,
            frequency DOUBLE NOT NULL,         -- repeat purchase days
            recency DOUBLE NOT NULL,           -- weeks from the first to the last purchase
            age DOUBLE NOT NULL,               -- weeks from the first purchase to the refresh's date (T)
            p_alive DOUBLE,                    -- Pareto/NBD or BG/NBD; NULL when they could not be fitted
            expected_purchases DOUBLE,         -- over the horizon
            expected_spend DOUBLE,             -- Gamma-Gamma, per purchase
            clv DOUBLE,                        -- discounted margin (revenue at --margin 1) over --months
            churn_risk DOUBLE,                 -- P(no purchase in the churn horizon): classifier or 1 - p_alive
            churn_basis VARCHAR,               -- classifier | p_alive
            churn_drivers VARCHAR,             -- JSON: the classifier's top features for this customer
            r_score INTEGER NOT NULL,
            f_score INTEGER NOT NULL,
            m_score INTEGER NOT NULL,
            rfm_segment VARCHAR NOT NULL,
            big_spender BOOLEAN NOT NULL,
            loyal_spender BOOLEAN NOT NULL,
            future_spender BOOLEAN NOT NULL
        )
        """,
        "CREATE TABLE IF NOT EXISTS value_models ("
        "refreshed_at TIMESTAMPTZ NOT NULL, as_of DATE NOT NULL, report JSON NOT NULL)",
    ],
    # Paths (analytics/prepared.py): each session's and customer's runs of events, built with the prepared events; the
    # prepared events are marked stale so the next analysis builds both.
    8: [
        f"CREATE TABLE IF NOT EXISTS analytics_runs ({', '.join(f'{n} {t}' for n, t in RUN_COLUMNS)})",
        "DELETE FROM analytics_state",
    ],
}


def migrate(db: Backend) -> int:
    """Brings the store up to ``VERSION``; returns the version it was at."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    rows = db.execute("SELECT max(version) FROM schema_version")
    current = rows[0][0] or 0
    if current > VERSION:
        raise RuntimeError(
            f"the store is at schema version {current}, newer than this Touchpoints ({VERSION}); upgrade it"
        )
    for version in range(current + 1, VERSION + 1):
        with db.transaction():
            for statement in _STEPS[version]:
                db.execute(statement)
            if version == 4:
                _stitch_stored_events(db)
            if version == 5:
                _capture_stored_consents(db)
            db.execute("INSERT INTO schema_version VALUES (?)", [version])
    return int(current)


def _stitch_stored_events(db: Backend) -> None:
    """A store from before the identity graph: its events join the graph in the order they arrived (with
    the default rules; ``[identity]`` settings apply to what comes next)."""
    if not db.execute("SELECT EXISTS (SELECT 1 FROM events)")[0][0]:
        return
    from touchpoints.identity.evidence import stitch_events

    stitch_events(
        db, "(SELECT *, row_number() OVER (ORDER BY received_at, timestamp, message_id) AS _seq FROM events)"
    )


def _capture_stored_consents(db: Backend) -> None:
    """A store from before the consent ledger: the consent its events stated is recorded (default
    category names)."""
    if not db.execute("SELECT EXISTS (SELECT 1 FROM events)")[0][0]:
        return
    from touchpoints.privacy.consent import PrivacyPolicy, capture

    capture(db, "(SELECT *, row_number() OVER (ORDER BY timestamp, received_at, message_id) AS _seq FROM events)",
            PrivacyPolicy())  # fmt: skip
