"""Clients cannot set what only the server knows: when it received an event, which customer it belongs to,
and the store's own columns. Their values are dropped, and the event says so in its flags."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from tests.conftest import Home, ServerProcess, wait_for_events
from touchpoints.events.validate import Envelope, normalize_event
from touchpoints.store.duckdb import open_store

RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CANARY = "cus_CLIENT_CLAIMED_7f3a"


def norm(payload: dict[str, Any], envelope: Envelope | None = None) -> Any:
    return normalize_event(
        json.dumps(payload).encode(), source="web-shop", received_at=RECEIVED, envelope=envelope
    )


@pytest.mark.parametrize(
    "claimed",
    [
        {"customerId": CANARY},
        {"customer_id": CANARY},
        {"received_at": "2001-01-01T00:00:00Z"},
        {"source": "pos"},
        {"flags": ["vip"]},
        {"ip": "198.51.100.77"},
        {"originalTimestamp": "2001-01-01T00:00:00Z"},
        {"context": {"customerId": CANARY, "locale": "en-GB"}},
        {"context": {"customer_id": CANARY, "locale": "en-GB"}},
    ],
)
def test_a_server_owned_field_is_dropped_and_flagged(claimed: dict[str, Any]) -> None:
    event = norm({"type": "track", "event": "A", "userId": "u", "version": 2, **claimed})
    assert "server_field_ignored" in event.flags
    assert (event.source, event.received_at) == ("web-shop", RECEIVED)
    assert msgspec.json.decode(event.extra) == {"version": 2}, "other fields of the client's are kept"
    stored = msgspec.json.encode(event).decode()
    for value in claimed.values():
        for text in value.values() if isinstance(value, dict) else [value]:
            if text != "en-GB":
                assert json.dumps(text) not in stored
    if "context" in claimed:
        assert msgspec.json.decode(event.context) == {"locale": "en-GB"}


def test_a_customer_id_in_the_batch_context_is_dropped_too() -> None:
    event = norm({"type": "track", "event": "A", "userId": "u"}, Envelope(context={"customerId": CANARY}))
    assert "server_field_ignored" in event.flags and CANARY not in msgspec.json.encode(event).decode()


def test_what_is_not_a_server_field_is_left_alone() -> None:
    # A customer_id trait is the business's own customer number (the importers set it); deeper in the
    # context it is data too.
    event = norm({"type": "identify", "userId": "u", "traits": {"customer_id": "C-1"},
                  "context": {"traits": {"customer_id": "C-1"}, "page": {"path": "/customerId"}}})  # fmt: skip
    assert "server_field_ignored" not in event.flags
    assert msgspec.json.decode(event.traits) == {"customer_id": "C-1"}
    assert msgspec.json.decode(event.context)["traits"] == {"customer_id": "C-1"}
    assert "server_field_ignored" not in norm({"type": "track", "event": "A", "userId": "u"}).flags


@pytest.mark.slow
def test_the_stored_row_has_the_servers_values_whatever_the_client_sent(
    home: Home, server: ServerProcess
) -> None:
    claims = {
        "receivedAt": "2001-01-01T00:00:00Z",
        "received_at": "2001-01-01T00:00:00Z",
        "customerId": CANARY,
        "customer_id": CANARY,
        "source": "pos",
        "ip": "198.51.100.77",
    }
    event = {"type": "identify", "userId": "u-claim", "messageId": "m-claim", "traits": {"email": "c@example.com"},
             "context": {"customerId": CANARY, "customer_id": CANARY, "locale": "en-GB"}, **claims}  # fmt: skip
    before = datetime.now(UTC)
    single = httpx.post(f"{server.url}/v1/identify", json=event, auth=(home.write_key, ""))
    batch = httpx.post(
        f"{server.url}/v1/batch",
        json={"batch": [{**event, "messageId": "m-claim-2"}], "context": {"customerId": CANARY}},
        auth=(home.write_key, ""),
    )
    after = datetime.now(UTC)
    assert single.status_code == batch.status_code == 200
    assert single.json()["accepted"] == batch.json()["accepted"] == 1
    exported = wait_for_events(home, 2)
    assert len(exported) == 2
    for row in exported:
        assert before <= datetime.fromisoformat(str(row["receivedAt"])) <= after, "the server's receivedAt"
        assert row["source"] == "default", "the write key's name, not the client's claim"
        assert {"client_received_at_ignored", "server_field_ignored"} <= set(row["flags"])
        assert row["context"] == {"locale": "en-GB"}
        assert "extra" not in row
    server.stop()
    with open_store(home.settings.store_path) as db:
        # Every column of every table, the identity graph included: the client's customer id is nowhere,
        # nor its untruncated address or its receivedAt.
        tables = [r[0] for r in db.execute("SELECT table_name FROM information_schema.tables")]
        everything = json.dumps([db.execute(f'SELECT * FROM "{t}"') for t in tables], default=str)
        customers = {r[0] for r in db.execute("SELECT DISTINCT customer_id FROM identities")}
    for claimed in (CANARY, "198.51.100.77", "2001-01-01"):
        assert claimed not in everything
    assert len(customers) == 1 and CANARY not in customers
