"""Jane Doe's world: one person across a CRM, the web shop, the tills, support and surveys, ingested the
way real data arrives (files through ``touchpoints import``, web events over HTTP to a real server).

The numbers the tests expect are worked out here, by hand, from these inputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import Home, ServerProcess, make_home
from tests.sources.helpers import do_import, write
from touchpoints.privacy.keys import KeyRing

CONTACTS = """
record_id,first_name,last_name,email,phone,loyalty_id,address,city,postcode,country,timestamp
R1,Jane,Doe,jane.doe@example.com,+44 7700 900123,L-100,1 High St,London,N1 1AA,GB,2026-01-05T09:00:00Z
R2,Omar,Farouk,omar@example.com,+44 7700 900999,,,Leeds,,GB,2026-01-06T09:00:00Z
"""
TRANSACTIONS = """
order_id,timestamp,sku,product_name,category,quantity,unit_price,store_id,currency,email
1001,2026-03-01T12:00:00Z,D1,Summer dress,Dresses,2,30.00,S1,GBP,jane.doe@example.com
1001,2026-03-01T12:00:00Z,B1,Tote bag,Bags,1,20.00,S1,GBP,jane.doe@example.com
C1001,2026-03-05T12:00:00Z,D1,Summer dress,Dresses,-1,30.00,S1,GBP,jane.doe@example.com
2001,2026-03-02T15:00:00Z,B1,Tote bag,Bags,1,20.00,S1,GBP,omar@example.com
"""
TICKETS = """
ticket_id,timestamp,status,subject,email
T-1,2026-03-02T09:00:00Z,opened,Where is my order?,jane.doe@example.com
T-1,2026-03-03T09:00:00Z,resolved,Where is my order?,jane.doe@example.com
T-2,2026-03-06T09:00:00Z,opened,Refund not received,jane.doe@example.com
"""
SURVEYS = """
response_id,timestamp,nps,comment,email
S-1,2026-01-20T18:00:00Z,9,Lovely shop,jane.doe@example.com
S-2,2026-03-07T18:00:00Z,3,Slow refund,JANE.DOE@example.com
"""


def web_events() -> list[dict[str, Any]]:
    """Jane browses anonymously, consents, identifies herself (with a different first name and city than
    the CRM has) and buys a pair of shoes online."""
    return [
        {
            "type": "page",
            "messageId": "w-1",
            "anonymousId": "a-1",
            "name": "Home",
            "timestamp": "2026-02-01T10:00:00Z",
            "context": {"consent": {"categoryPreferences": {"analytics": True, "marketing": True}}},
        },
        {
            "type": "track",
            "messageId": "w-2",
            "anonymousId": "a-1",
            "event": "Product Viewed",
            "properties": {"product_id": "P-9", "name": "Trail shoes", "category": "Shoes"},
            "timestamp": "2026-02-01T10:01:00Z",
        },
        {
            "type": "identify",
            "messageId": "w-3",
            "userId": "u-jane",
            "anonymousId": "a-1",
            "traits": {
                "email": "Jane.Doe@Example.com",
                "firstName": "Janet",
                "address": {"city": "Manchester"},
            },
            "timestamp": "2026-02-01T10:05:00Z",
            "context": {"consent": {"categoryPreferences": {"analytics": True, "marketing": False}}},
        },
        {
            "type": "track",
            "messageId": "w-4",
            "userId": "u-jane",
            "event": "Order Completed",
            "properties": {
                "order_id": "W-1",
                "total": 149.0,
                "currency": "GBP",
                "products": [{"product_id": "P-9", "category": "Shoes", "quantity": 1, "price": 149.0}],
            },
            "timestamp": "2026-02-01T10:10:00Z",
        },
    ]


# Jane's events: 1 contact record + 4 web + 2 receipts (an order, a refund) + 3 ticket changes + 2 surveys.
JANE_EVENTS = 12


@dataclass
class World:
    home: Home
    web_key: str


def profile_over_http(url: str, key: str, ref: str, **params: Any) -> httpx.Response:
    """``GET /v1/profiles/{ref}`` with ``ref`` URL-encoded, as a client must send it."""
    return httpx.get(
        f"{url}/v1/profiles/{quote(ref, safe='')}",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def build(path: Path) -> World:
    home = make_home(path)
    _, web_key = KeyRing(home.settings.keys_path).create("write", "web-shop", channel="web")
    files = path.parent / "files"
    for kind, text, source in (
        ("contacts", CONTACTS, "crm"),
        ("transactions", TRANSACTIONS, "pos"),
        ("tickets", TICKETS, "zendesk"),
        ("surveys", SURVEYS, "delighted"),
    ):
        result = do_import(home, kind, write(files / f"{kind}.csv", text), source=source)
        assert result["quarantined"] == 0, result
    server = ServerProcess(home.path).start()
    try:
        answer = httpx.post(
            f"{server.url}/v1/batch", json={"batch": web_events()}, auth=(web_key, ""), timeout=30
        )
        assert answer.status_code == 200 and answer.json()["accepted"] == 4, answer.text
        deadline = time.monotonic() + 30
        events = None
        while time.monotonic() < deadline:
            response = profile_over_http(server.url, home.read_key, "u-jane", timeline=0)
            if response.status_code == 200:
                events = response.json()["computed"]["events"]
                if events == JANE_EVENTS:
                    break
            time.sleep(0.2)
        assert events == JANE_EVENTS, f"Jane's profile has {events} events, expected {JANE_EVENTS}"
    finally:
        server.stop()
    return World(home, web_key)
