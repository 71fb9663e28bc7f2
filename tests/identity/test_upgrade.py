"""A store written before the identity graph existed (schema 3) gets its graph when it is opened."""

from __future__ import annotations

from pathlib import Path

import duckdb

from touchpoints.store.duckdb import open_store
from touchpoints.store.schema import _STEPS


def test_a_version_3_store_is_stitched_on_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version in (1, 2, 3):
        for statement in _STEPS[version]:
            con.execute(statement)
        con.execute("INSERT INTO schema_version VALUES (?)", [version])
    rows = [
        ("m1", "page", None, "anon-1", "{}"),
        ("m2", "identify", "user-1", "anon-1", '{"email": "Ann@Example.com"}'),
        ("m3", "track", None, "anon-2", "{}"),
    ]
    for mid, etype, user, anon, traits in rows:
        con.execute(
            "INSERT INTO events (message_id, type, source, channel, user_id, anonymous_id, timestamp, received_at, "
            "flags, context, properties, traits, integrations, extra) VALUES (?, ?, 'web', 'web', ?, ?, now(), now(), "
            "[], '{}', '{}', ?, '{}', '{}')",
            [mid, etype, user, anon, traits],
        )
    con.close()
    with open_store(path) as db:
        groups = {
            frozenset(n) for (n,) in db.execute("SELECT list(node) FROM identities GROUP BY customer_id")
        }
        assert groups == {
            frozenset({"user_id:user-1", "anonymous_id:anon-1", "email:ann@example.com"}),
            frozenset({"anonymous_id:anon-2"}),
        }
        owners = dict(db.execute("SELECT message_id, customer_id FROM event_customers"))
        assert owners["m1"] == owners["m2"] != owners["m3"]
