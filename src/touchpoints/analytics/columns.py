"""The prepared tables and their columns: the same on every engine (the Parquet Spark reads has them too)."""

from __future__ import annotations

TABLE = "analytics_events"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("message_id", "VARCHAR"),
    ("customer_id", "VARCHAR"),  # after identity resolution; empty without analytics consent
    ("customer_no", "BIGINT"),  # the same customer as a number (1, 2, ...; only within one preparation)
    ("anonymous_id", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("type", "VARCHAR"),
    ("event", "VARCHAR"),  # a track's name; Page Viewed, Screen Viewed, Identify, Group, Alias otherwise
    ("channel", "VARCHAR"),
    ("source", "VARCHAR"),
    ("timestamp", "TIMESTAMP"),  # UTC
    ("session_id", "VARCHAR"),  # web and app events only
    ("page_url", "VARCHAR"),
    ("page_path", "VARCHAR"),
    ("page_title", "VARCHAR"),
    ("referrer", "VARCHAR"),
    ("referrer_host", "VARCHAR"),
    ("referrer_class", "VARCHAR"),
    ("utm_source", "VARCHAR"),
    ("utm_medium", "VARCHAR"),
    ("utm_campaign", "VARCHAR"),
    ("browser", "VARCHAR"),
    ("os", "VARCHAR"),
    ("device_type", "VARCHAR"),
    ("properties", "VARCHAR"),  # JSON text
)

# Each session's and each customer's runs (``prepared``): a run is one event or several of the same name in
# a row (a page refreshed, three products viewed one after another), numbered in order within its session
# or customer, with its neighbours, so paths read what comes next or before with a join instead of
# ordering every event.
RUNS = "analytics_runs"

RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("unit", "VARCHAR"),  # session or customer
    ("unit_no", "BIGINT"),  # the session or customer, numbered (unique across both)
    ("run", "BIGINT"),  # 1, 2, ... within it
    ("event", "VARCHAR"),
    ("first_ts", "TIMESTAMP"),  # the run's first event (UTC)
    ("last_ts", "TIMESTAMP"),  # and its last
    ("customer_id", "VARCHAR"),  # of the run's first event, as in analytics_events
    ("next_event", "VARCHAR"),  # the next run's event, NULL after the last run
    ("next_first_ts", "TIMESTAMP"),
    ("previous_event", "VARCHAR"),  # the previous run's event, NULL before the first
    ("previous_last_ts", "TIMESTAMP"),
)
