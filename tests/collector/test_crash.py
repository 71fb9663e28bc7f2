"""Crash: ``kill -9`` of a collector under load loses no acknowledged event and stores none twice.

A load generator posts batches with unique messageIds to a real ``touchpoints serve`` and remembers every
batch answered ``200``; the server is killed mid-load and started again on the same home. Every
acknowledged event is then in the store exactly once, and acknowledged batches sent again (as an SDK
retrying after the crash would) are accepted and not stored a second time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.conftest import Home, ServerProcess, stored_events

pytestmark = pytest.mark.slow

ROUNDS = 2
WORKERS = 3
BATCH_SIZE = 50
LOAD_SECONDS = 1.5
# From the second round on: small spool segments, so segment rollover and deletion happen under fire too.
SMALL_SEGMENTS = "[loader]\nsegment_bytes = 262144\n"


class LoadGenerator:
    """Worker threads posting batches of unique events over keep-alive connections until stopped."""

    def __init__(self, url: str, headers: dict[str, str], prefix: str) -> None:
        self.url = url
        self.headers = headers
        self.prefix = prefix
        self.acknowledged: list[list[dict[str, Any]]] = []
        self.attempted: set[str] = set()
        self.unexpected: list[str] = []
        self.failed_requests = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, args=(n,), name=f"load-{n}", daemon=True)
            for n in range(WORKERS)
        ]

    def start(self) -> LoadGenerator:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        assert not any(thread.is_alive() for thread in self._threads), "a load worker did not stop"

    def acknowledged_ids(self) -> set[str]:
        with self._lock:
            return {event["messageId"] for batch in self.acknowledged for event in batch}

    def _batch(self, worker: int, number: int) -> list[dict[str, Any]]:
        now = datetime.now(UTC).isoformat()
        return [
            {
                "type": "track",
                "messageId": f"{self.prefix}-{worker}-{number}-{index}",
                "userId": f"user-{worker}-{index % 7}",
                "event": "Product Viewed",
                "properties": {"worker": worker, "batch": number, "index": index},
                "timestamp": now,
            }
            for index in range(BATCH_SIZE)
        ]

    def _work(self, worker: int) -> None:
        timeout = httpx.Timeout(5.0)
        with httpx.Client(
            base_url=self.url, headers=self.headers, timeout=timeout, trust_env=False
        ) as client:
            number = 0
            while not self._stop.is_set():
                batch = self._batch(worker, number)
                number += 1
                with self._lock:
                    self.attempted.update(event["messageId"] for event in batch)
                try:
                    response = client.post(
                        "/v1/batch", json={"batch": batch, "sentAt": batch[0]["timestamp"]}
                    )
                except httpx.TransportError:  # the server is gone: the batch is simply not acknowledged
                    with self._lock:
                        self.failed_requests += 1
                    self._stop.wait(0.02)
                    continue
                with self._lock:
                    if response.status_code == 200 and response.json().get("accepted") == BATCH_SIZE:
                        self.acknowledged.append(batch)
                    else:
                        self.unexpected.append(f"{response.status_code} {response.text[:200]}")


def wait_until_stored(home: Home, message_ids: set[str], timeout: float = 30.0) -> Counter[str]:
    """How often each messageId is stored, once every one of ``message_ids`` is (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = Counter(str(event["messageId"]) for event in stored_events(home))
        missing = message_ids - counts.keys()
        if not missing:
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(missing)} of {len(message_ids)} acknowledged events were lost in the crash, "
                f"e.g. {sorted(missing)[:5]}"
            )
        time.sleep(0.2)


def assert_each_stored_once(counts: Counter[str], acknowledged: set[str], attempted: set[str]) -> None:
    missing = acknowledged - counts.keys()
    assert not missing, f"{len(missing)} acknowledged events are not stored, e.g. {sorted(missing)[:5]}"
    doubled = {message_id: n for message_id, n in counts.items() if n != 1}
    assert not doubled, f"{len(doubled)} events are stored more than once, e.g. {list(doubled.items())[:5]}"
    strangers = counts.keys() - attempted
    assert not strangers, f"events nobody sent are stored: {sorted(strangers)[:5]}"


def test_kill_9_under_load_keeps_every_acknowledged_event_exactly_once(home: Home) -> None:
    """kill -9 under load, restart: every event answered 200 is stored once; resent batches are not doubled."""
    started = time.monotonic()
    servers = [ServerProcess(home.path).start()]
    acknowledged: set[str] = set()
    attempted: set[str] = set()
    try:
        for round_number in range(ROUNDS):
            server = servers[-1]
            load = LoadGenerator(server.url, home.basic, f"r{round_number}-{uuid4().hex[:6]}").start()
            try:
                time.sleep(LOAD_SECONDS)
                server.kill()  # mid-load: requests are in flight, the spool and the loader are busy
                time.sleep(0.2)  # let in-flight requests fail
            finally:
                load.stop()
            assert load.unexpected == [], "the collector answered a well-formed batch with an error"
            assert load.acknowledged, "no batch was acknowledged before the kill; the load never ran"
            assert load.failed_requests > 0, "no request failed, so the server was not killed under load"
            acknowledged |= load.acknowledged_ids()
            attempted |= load.attempted

            (home.path / "config.toml").write_text(SMALL_SEGMENTS, encoding="utf-8")
            servers.append(restarted := ServerProcess(home.path).start())
            counts = wait_until_stored(home, acknowledged)
            assert_each_stored_once(counts, acknowledged, attempted)

            # An SDK that sent batches before the crash may send them again: accepted, but not stored again.
            resent = load.acknowledged[:3] + load.acknowledged[-3:]
            marker = [{"type": "track", "messageId": f"marker-{uuid4()}", "userId": "u", "event": "Marker"}]
            with httpx.Client(
                base_url=restarted.url, headers=home.basic, timeout=10, trust_env=False
            ) as client:
                for batch in [*resent, marker]:
                    response = client.post("/v1/batch", json={"batch": batch})
                    assert response.status_code == 200
                    assert response.json()["accepted"] == len(batch)
            attempted.add(marker[0]["messageId"])
            acknowledged.add(marker[0]["messageId"])
            counts = wait_until_stored(home, acknowledged)
            assert_each_stored_once(counts, acknowledged, attempted)
    finally:
        for server in servers:
            server.kill()
    assert time.monotonic() - started < 60, "the crash test took too long"
