"""A seeded stream of Segment-spec events for N customers across web, app and server channels.

Each customer arrives anonymously on the web (some through a UTM-tagged campaign), browses, may sign up
(identify), may buy (the e-commerce funnel: Product Viewed, Product Added, Checkout Started, Order
Completed), may use the app, and buyers get server-side events. Same seed, same events and messageIds.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

WORLD_END = datetime(2026, 10, 31, tzinfo=UTC)
WORLD_DAYS = 60

PRODUCTS = [
    ("sku-tv-55", "55-inch OLED TV", "TVs", 1299.0),
    ("sku-tv-43", "43-inch LED TV", "TVs", 449.0),
    ("sku-hp-01", "Noise-cancelling headphones", "Audio", 249.0),
    ("sku-sb-02", "Soundbar", "Audio", 399.0),
    ("sku-lp-14", "14-inch laptop", "Computers", 999.0),
    ("sku-ms-01", "Wireless mouse", "Computers", 29.0),
    ("sku-ph-15", "Smartphone", "Phones", 799.0),
    ("sku-cs-15", "Phone case", "Phones", 19.0),
]
CAMPAIGNS = [
    ("google", "cpc", "autumn-tv"),
    ("newsletter", "email", "october-deals"),
    ("instagram", "social", "new-audio"),
]
WEB_LIBRARY = {"name": "analytics.js", "version": "5.2.0"}
APP_LIBRARIES = [
    {"name": "analytics-ios", "version": "4.1.8"},
    {"name": "analytics-android", "version": "4.11.3"},
]
SERVER_LIBRARY = {"name": "analytics-python", "version": "2.4.0"}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[dict[str, Any]] = []

    def add(self, moment: datetime, body: dict[str, Any]) -> None:
        body["messageId"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        body["timestamp"] = _iso(moment)
        self.events.append(body)


def generate_events(customers: int = 2000, seed: int = 42) -> list[dict[str, Any]]:
    """The whole demo stream, ordered by time."""
    rng = random.Random(seed)
    b = _Builder(rng)
    start = WORLD_END - timedelta(days=WORLD_DAYS)
    for index in range(customers):
        anonymous_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        user_id = f"user-{index + 1:05d}"
        t = start + timedelta(seconds=rng.randrange(WORLD_DAYS * 86400 - 7 * 86400))
        campaign = rng.choice(CAMPAIGNS) if rng.random() < 0.4 else None
        page: dict[str, Any] = {
            "path": "/",
            "url": "https://shop.example.com/",
            "title": "Example Electronics",
        }
        context: dict[str, Any] = {
            "library": WEB_LIBRARY,
            "page": page,
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0",
            "ip": f"203.0.113.{rng.randrange(1, 255)}",
        }
        if campaign:
            source, medium, name = campaign
            page["search"] = f"?utm_source={source}&utm_medium={medium}&utm_campaign={name}"
            context["campaign"] = {"source": source, "medium": medium, "name": name}
        web = {"anonymousId": anonymous_id, "context": context}
        b.add(t, {"type": "page", "name": "Home", **web, "properties": {"path": "/"}})
        product = rng.choice(PRODUCTS)
        sku, title, category, price = product
        steps = [
            ("Products Searched", {"query": category.lower()}),
            ("Product Viewed", {"product_id": sku, "name": title, "category": category, "price": price}),
            ("Product Added", {"product_id": sku, "name": title, "price": price, "quantity": 1}),
            ("Checkout Started", {"value": price, "currency": "EUR"}),
        ]
        reach = [0.9, 0.7, 0.45, 0.6]  # conditional probability of each next step
        signed_up = False
        reached = 0
        for (event, props), chance in zip(steps, reach, strict=True):
            if rng.random() > chance:
                break
            t += timedelta(seconds=rng.randrange(20, 600))
            b.add(t, {"type": "track", "event": event, **web, "properties": props})
            reached += 1
        if reached >= 3 or rng.random() < 0.25:
            t += timedelta(seconds=rng.randrange(30, 300))
            first, last = f"Customer{index + 1}", rng.choice(["Smith", "Jones", "Garcia", "Müller", "Rossi"])
            traits = {"email": f"customer{index + 1}@example.com", "first_name": first, "last_name": last}
            b.add(t, {"type": "identify", "userId": user_id, **web, "traits": traits})
            signed_up = True
        if reached == 4 and rng.random() < 0.8:
            t += timedelta(seconds=rng.randrange(30, 600))
            order = {"order_id": f"o-{index + 1:05d}", "total": price, "currency": "EUR",
                     "products": [{"product_id": sku, "price": price, "quantity": 1}]}  # fmt: skip
            b.add(
                t,
                {"type": "track", "event": "Order Completed", "userId": user_id, **web, "properties": order},
            )
            t += timedelta(hours=rng.randrange(2, 48))
            b.add(t, {"type": "track", "event": "Order Shipped", "userId": user_id,
                      "context": {"library": SERVER_LIBRARY}, "properties": {"order_id": order["order_id"]}})  # fmt: skip
        if signed_up and rng.random() < 0.35:
            library = rng.choice(APP_LIBRARIES)
            device = {"type": "ios" if library["name"] == "analytics-ios" else "android"}
            app_context = {"library": library, "device": device, "app": {"name": "Example", "version": "3.2"}}
            for screen in ("Home", "Deals", rng.choice(["Orders", "Wishlist"])):
                t += timedelta(minutes=rng.randrange(1, 3000))
                b.add(t, {"type": "screen", "name": screen, "userId": user_id, "context": app_context})
    b.events.sort(key=lambda e: e["timestamp"])
    return b.events


def batches(events: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(events), size):
        yield events[i : i + size]


def send(url: str, write_key: str, events: list[dict[str, Any]], batch_size: int = 250) -> dict[str, int]:
    """Posts the events to ``url``'s ``/v1/batch`` (gzip, Basic auth, keep-alive), as an SDK would."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    totals = {"sent": 0, "accepted": 0, "quarantined": 0}
    try:
        for chunk in batches(events, batch_size):
            body = gzip.compress(json.dumps({"batch": chunk, "sentAt": _iso(datetime.now(UTC))}).encode())
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Authorization": auth}
            conn.request("POST", "/v1/batch", body=body, headers=headers)
            response = conn.getresponse()
            payload = json.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"the collector answered {response.status}: {payload.get('message')}")
            totals["sent"] += len(chunk)
            totals["accepted"] += payload["accepted"]
            totals["quarantined"] += payload["quarantined"]
    finally:
        conn.close()
    return totals
