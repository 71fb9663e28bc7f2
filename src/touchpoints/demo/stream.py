"""Sending the demo world over HTTP, as the SDKs and a customer's browser would.

Online events go to ``POST /v1/batch`` gzipped, with HTTP Basic auth and keep-alive, in batches under the
collector's limits, from a few connections at once; without ``sentAt``, so that the stored times are the
world's exactly (no clock-skew correction to apply). E-mail opens, e-mail clicks and QR scans are ``GET``
requests to the link endpoints (``/o/{campaign}.gif``, ``/l/{id}``), with the device's User-Agent.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import msgspec

from touchpoints.demo.online import Hit

MAX_BATCH_BYTES = 450_000  # the collector takes 500 KB per request after decompression
MAX_BATCH_EVENTS = 2_000
_encode = msgspec.json.Encoder().encode


def batches(
    events: Iterable[dict[str, Any]], max_bytes: int = MAX_BATCH_BYTES, max_events: int = MAX_BATCH_EVENTS
) -> Iterator[tuple[bytes, int]]:
    """(``{"batch": [...]}`` as JSON bytes, number of events), under both limits."""
    parts: list[bytes] = []
    size = 0
    for event in events:
        encoded = _encode(event)
        if parts and (size + len(encoded) + 1 > max_bytes or len(parts) >= max_events):
            yield b'{"batch":[' + b",".join(parts) + b"]}", len(parts)
            parts, size = [], 0
        parts.append(encoded)
        size += len(encoded) + 1
    if parts:
        yield b'{"batch":[' + b",".join(parts) + b"]}", len(parts)


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)


def _parallel(
    work: Iterable[Any],
    handle: Callable[[http.client.HTTPConnection, Any], None],
    url: str,
    connections: int,
    depth: int = 8,
) -> None:
    """Runs ``handle(conn, item)`` for every item on ``connections`` threads with a connection each;
    the first error stops the work and is raised here."""
    todo: queue.Queue[Any] = queue.Queue(maxsize=depth)
    errors: list[BaseException] = []
    stop = object()

    def worker() -> None:
        conn = _connection(url)
        try:
            while True:
                item = todo.get()
                if item is stop:
                    return
                if errors:
                    continue
                try:
                    handle(conn, item)
                except BaseException as exc:  # reported by the caller
                    errors.append(exc)
        finally:
            conn.close()

    threads = [
        threading.Thread(target=worker, name=f"demo-sender-{i}", daemon=True) for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    try:
        for item in work:
            if errors:
                break
            todo.put(item)
    finally:
        for _ in threads:
            todo.put(stop)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def send(url: str, write_key: str, events: Iterable[dict[str, Any]], connections: int = 3) -> dict[str, int]:
    """Posts the events to ``url``'s ``/v1/batch`` (gzip, Basic auth, keep-alive), as an SDK would;
    retries a 503 (the spool was busy). Returns sent, accepted and quarantined counts."""
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Authorization": auth}
    totals = {"sent": 0, "accepted": 0, "quarantined": 0, "requests": 0}
    lock = threading.Lock()

    def compressed() -> Iterator[tuple[bytes, int]]:
        for body, n in batches(events):
            yield gzip.compress(body, compresslevel=1, mtime=0), n

    def post(conn: http.client.HTTPConnection, item: tuple[bytes, int]) -> None:
        body, n = item
        for attempt in range(20):
            conn.request("POST", "/v1/batch", body=body, headers=headers)
            response = conn.getresponse()
            payload = json.loads(response.read())
            if response.status == 503 and attempt < 19:
                time.sleep(0.1 * (attempt + 1))
                continue
            if response.status != 200:
                raise RuntimeError(f"the collector answered {response.status}: {payload.get('message')}")
            with lock:
                totals["sent"] += n
                totals["accepted"] += payload["accepted"]
                totals["quarantined"] += payload["quarantined"]
                totals["requests"] += 1
            return

    _parallel(compressed(), post, url, connections)
    return totals


def hit_links(url: str, hits: Iterable[Hit], write_key: str, connections: int = 16) -> dict[str, int]:
    """GETs each link (not following the redirect, as a browser would before loading the shop), as a
    relay with the write key, so each hit keeps the world's time and a stable id. Returns the count by
    channel."""
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def get(conn: http.client.HTTPConnection, item: Hit) -> None:
        conn.request("GET", item.path, headers={"User-Agent": item.user_agent, "Authorization": auth})
        response = conn.getresponse()
        response.read()
        if response.status not in (200, 302):
            raise RuntimeError(f"GET {item.path} answered {response.status}")
        with lock:
            counts[item.channel] = counts.get(item.channel, 0) + 1

    _parallel(hits, get, url, connections, depth=64)
    return counts
