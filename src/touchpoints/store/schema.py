"""Tables of the store, and the migrations that create them. Bump ``VERSION`` with every new step."""

from __future__ import annotations

from touchpoints.enrich.views import events_enriched_sql
from touchpoints.store.backend import Backend

VERSION = 3

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
            db.execute("INSERT INTO schema_version VALUES (?)", [version])
    return int(current)
