"""The prepared events' table and columns: the same on every engine (the Parquet Spark reads has them too)."""

from __future__ import annotations

TABLE = "analytics_events"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("message_id", "VARCHAR"),
    ("customer_id", "VARCHAR"),  # after identity resolution; empty without analytics consent
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
