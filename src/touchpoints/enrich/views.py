"""The ``events_enriched`` view: every event with its visit's context made into columns.

Sessions: the web and app events of one visitor (anonymousId, else userId) with no gap longer than
``SESSION_GAP_MINUTES``; a session's id is stable as long as no older event arrives late for that
visitor. Computed when queried, so a late event or a changed rule never leaves stale columns behind.
"""

from __future__ import annotations

from touchpoints.enrich.referrer import UTM_FIELDS, host_sql, referrer_class_sql, utm_sql
from touchpoints.store.backend import Backend

SESSION_GAP_MINUTES = 30
SESSION_CHANNELS = ("web", "app")


def events_enriched_sql() -> str:
    utm = ", ".join(f"{utm_sql(f, 'e.context')} AS utm_{f}" for f in UTM_FIELDS)
    channels = ", ".join(f"'{c}'" for c in SESSION_CHANNELS)
    referrer_class = referrer_class_sql(
        "referrer_host", "_page_host", "utm_medium", "_query", "utm_source", "referrer"
    )
    return f"""
    CREATE OR REPLACE VIEW events_enriched AS
    WITH parsed AS (
        SELECT e.*,
            e.context->>'$.page.url' AS page_url,
            e.context->>'$.page.path' AS page_path,
            nullif(e.context->>'$.page.referrer', '') AS referrer,
            {utm},
            coalesce(e.context->>'$.page.search', e.context->>'$.page.url') AS _query,
            e.context->>'$.userAgent' AS _agent,
            e.context->>'$.os.name' AS _app_os,
            lower(coalesce(e.context->>'$.device.model', '') || ' ' || coalesce(e.context->>'$.device.type', ''))
                AS _app_device
        FROM events e
    ),
    hosts AS (
        SELECT *, {host_sql("referrer")} AS referrer_host, {host_sql("page_url")} AS _page_host FROM parsed
    ),
    base AS (
        SELECT p.* EXCLUDE (_query, _agent, _app_os, _app_device, _page_host),
            {referrer_class} AS referrer_class,
            ua.browser AS ua_browser, ua.browser_version AS ua_browser_version,
            coalesce(ua.os, p._app_os) AS ua_os, ua.os_version AS ua_os_version, ua.device AS ua_device,
            -- an app says what it runs on in context.device and context.os, not in a browser's User-Agent
            CASE WHEN p.channel = 'app' THEN CASE WHEN p._app_device LIKE '%ipad%' OR p._app_device LIKE '%tablet%'
                THEN 'tablet' ELSE 'mobile' END ELSE ua.device_type END AS ua_device_type,
            CASE WHEN p.channel IN ({channels}) THEN coalesce(p.anonymous_id, p.user_id) END AS _visitor
        FROM hosts p
        LEFT JOIN user_agents ua ON ua.user_agent = p._agent
    ),
    gaps AS (
        SELECT *, CASE WHEN _visitor IS NULL THEN NULL
            WHEN lag(timestamp) OVER w IS NULL
              OR timestamp - lag(timestamp) OVER w > INTERVAL {SESSION_GAP_MINUTES} MINUTE THEN 1 ELSE 0 END
            AS _starts
        FROM base WINDOW w AS (PARTITION BY _visitor ORDER BY timestamp, message_id)
    ),
    numbered AS (
        SELECT *, sum(_starts) OVER (PARTITION BY _visitor ORDER BY timestamp, message_id
            ROWS UNBOUNDED PRECEDING) AS _session_number
        FROM gaps
    )
    SELECT * EXCLUDE (_visitor, _starts, _session_number),
        CASE WHEN _visitor IS NOT NULL THEN 's_' || substr(md5(_visitor || '|' || _session_number), 1, 16) END
            AS session_id,
        CASE WHEN _visitor IS NOT NULL THEN _session_number END AS session_number
    FROM numbered
    """


def create_views(db: Backend) -> None:
    """(Re)creates the views; run on every open, so a new Touchpoints version brings its own."""
    db.execute(events_enriched_sql())
