"""Real clients: the published Segment and RudderStack Python SDKs send to a running collector.

Every call type each SDK offers arrives in the store exactly once, with the fields the SDK sent (ids,
names, properties, traits, context), on the ``server`` channel and at the time the SDK stamped it, with
and without gzip; a message the SDK sends again, on purpose or because an answer was lost, is acknowledged
and not stored twice.
"""

from __future__ import annotations

import atexit
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

import pytest
import rudderstack.analytics
import segment.analytics

from tests.conftest import Home, ServerProcess, stored_events, wait_for_events

pytestmark = pytest.mark.slow

SDKS = ("segment", "rudderstack")
CLOCK_SLACK = timedelta(seconds=5)


@contextmanager
def sdk_client(
    sdk: str, write_key: str, host: str, *, gzip: bool, sync_mode: bool = False
) -> Iterator[tuple[Any, list[Exception]]]:
    """An SDK client as an app would make one; on leaving, its queue is delivered and its thread stopped.

    Yields the client and the upload errors its consumer reported (sync mode raises them instead).
    """
    errors: list[Exception] = []

    def on_error(exc: Exception, batch: list[dict[str, Any]]) -> None:
        errors.append(exc)

    client: Any
    if sdk == "segment":
        client = segment.analytics.Client(
            write_key,
            host=host,
            gzip=gzip,
            sync_mode=sync_mode,
            max_retries=3,
            timeout=10,
            upload_interval=0.05,
            on_error=on_error,
            max_total_backoff_duration=15,
        )
    else:
        client = rudderstack.analytics.Client(
            write_key,
            host=host,
            gzip=gzip,
            sync_mode=sync_mode,
            max_retries=3,
            timeout=10,
            upload_interval=0.05,
            on_error=on_error,
        )
    delivered = True
    try:
        yield client, errors
    finally:
        if not sync_mode:  # sync mode has no consumer thread (and shutdown() would fail on it)
            delivered = stop_client(client)
    assert delivered, f"the {sdk} SDK did not deliver its queue within 30 s"


def stop_client(client: Any, timeout: float = 30.0) -> bool:
    """Waits (bounded) until the SDK has delivered its queue, then shuts it down; True if it delivered."""
    deadline = time.monotonic() + timeout
    while client.queue.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.02)
    delivered = not client.queue.unfinished_tasks
    if delivered:
        client.shutdown()  # flush + join: returns at once now that the queue is empty
    else:  # never block on flush(): just stop the consumer threads
        for consumer in client.consumers:
            consumer.pause()
            consumer.join(timeout=10)
    atexit.unregister(client.join)
    return delivered


def wait_for_ids(home: Home, message_ids: set[str], timeout: float = 20.0) -> list[dict[str, Any]]:
    """Every stored event, once all of ``message_ids`` are in the store (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        events = cast(list[dict[str, Any]], stored_events(home))
        missing = message_ids - {e["messageId"] for e in events}
        if not missing:
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(missing)} messages never reached the store: {sorted(missing)[:5]}")
        time.sleep(0.2)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def send_every_call(client: Any, sdk: str) -> dict[str, dict[str, Any]]:
    """One call of each type, as an app would make them; returns each message as the SDK sent it."""
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    tag = uuid4().hex[:8]
    calls = {
        "identify": lambda: client.identify(
            user_id=f"user-{tag}",
            traits={"email": "ada@example.com", "plan": "pro", "seats": 3, "vip": True},
            timestamp=two_days_ago,
            message_id=f"{sdk}-identify-{tag}",
        ),
        "track": lambda: client.track(
            user_id=f"user-{tag}",
            anonymous_id=f"anon-{tag}",
            event="Order Completed",
            properties={
                "revenue": 19.99,
                "currency": "EUR",
                "items": [{"sku": "A-1", "qty": 2}],
                "note": "ünï",
            },
            context={"ip": "203.0.113.7", "locale": "de-DE"},
            timestamp=two_days_ago,
        ),
        "page": lambda: client.page(
            anonymous_id=f"anon-{tag}",
            category="Docs",
            name="Pricing",
            properties={"url": "https://example.com/pricing", "path": "/pricing"},
        ),
        "screen": lambda: client.screen(
            user_id=f"user-{tag}", name="Basket", properties={"items": 2}, message_id=f"{sdk}-screen-{tag}"
        ),
        "group": lambda: client.group(
            user_id=f"user-{tag}",
            group_id=f"org-{tag}",
            traits={"name": "Example GmbH", "employees": 42},
            timestamp=two_days_ago,
        ),
        "alias": lambda: client.alias(previous_id=f"anon-{tag}", user_id=f"user-{tag}"),
    }
    sent = {}
    for call, send in calls.items():
        ok, message = send()
        assert ok, f"the {sdk} SDK refused to queue the {call} call"
        sent[call] = message
    return sent


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("sdk", SDKS)
def test_every_sdk_call_is_stored_once_with_its_fields(
    sdk: str, gzip: bool, server: ServerProcess, home: Home
) -> None:
    """identify, track, page, screen, group and alias from a real SDK are each stored once, intact."""
    with sdk_client(sdk, home.write_key, server.url, gzip=gzip) as (client, errors):
        sent = send_every_call(client, sdk)
    assert errors == []
    ids = {message["messageId"] for message in sent.values()}
    assert len(ids) == len(sent)
    events = wait_for_ids(home, ids)
    counts = Counter(event["messageId"] for event in events)
    assert {message_id: counts[message_id] for message_id in ids} == dict.fromkeys(ids, 1)
    stored = {event["messageId"]: event for event in events}

    for call, message in sent.items():
        event = stored[message["messageId"]]
        assert event["type"] == call
        assert event["channel"] == "server", f"{call}: a server-side SDK's event is on {event['channel']}"
        assert event["source"] == "default"  # the name of the write key that sent it
        assert "flags" not in event, f"{call}: the SDK's event was flagged {event.get('flags')}"
        for field in ("userId", "anonymousId", "event", "name", "category", "groupId", "previousId"):
            assert event.get(field) == message.get(field), f"{call}.{field}"
        for field in ("properties", "traits", "context", "integrations"):
            if (sdk, call, field) == ("rudderstack", "identify", "traits"):
                continue  # taken from context.traits; checked below
            expected = message.get(field, {})
            if field == "context" and "ip" in expected:
                # IP addresses are truncated at the door by default (collector.truncate_ip).
                expected = {**expected, "ip": expected["ip"].rsplit(".", 1)[0] + ".0"}
            assert event.get(field, {}) == expected, f"{call}.{field}"
        assert event["context"]["library"]["name"] == "analytics-python"
        assert "extra" not in event, f"{call}: SDK fields were not recognised: {event.get('extra')}"
        # No clock skew between SDK and collector here, so skew correction must give back the SDK's time.
        assert event["originalTimestamp"] == message["timestamp"]
        assert abs(parse_time(event["timestamp"]) - parse_time(message["timestamp"])) < CLOCK_SLACK, call
        assert abs(parse_time(event["receivedAt"]) - datetime.now(UTC)) < timedelta(minutes=1)

    by_type = {call: stored[message["messageId"]] for call, message in sent.items()}
    assert by_type["track"]["event"] == "Order Completed"
    assert by_type["track"]["properties"]["revenue"] == 19.99
    assert by_type["track"]["properties"]["items"] == [{"sku": "A-1", "qty": 2}]
    assert by_type["track"]["properties"]["note"] == "ünï"
    assert by_type["track"]["context"]["ip"] == "203.0.113.0"  # truncated at the door
    assert by_type["page"]["name"] == "Pricing"
    assert by_type["page"]["properties"]["path"] == "/pricing"
    assert by_type["screen"]["name"] == "Basket"
    assert by_type["group"]["groupId"].startswith("org-")
    assert by_type["group"]["traits"] == {"name": "Example GmbH", "employees": 42}
    assert by_type["alias"]["previousId"].startswith("anon-")
    identify_traits = {"email": "ada@example.com", "plan": "pro", "seats": 3, "vip": True}
    if sdk == "segment":
        assert by_type["identify"]["traits"] == identify_traits
    else:  # RudderStack's SDK sends identify traits only as context.traits: they become the traits
        assert by_type["identify"]["context"]["traits"] == identify_traits
        assert by_type["identify"]["traits"] == identify_traits
    assert by_type["identify"]["messageId"] == sent["identify"]["messageId"]
    # Events sent with a timestamp two days back are stored two days back, not at their arrival.
    for call in ("identify", "track", "group"):
        age = datetime.now(UTC) - parse_time(by_type[call]["timestamp"])
        assert timedelta(days=2) - CLOCK_SLACK < age < timedelta(days=2) + CLOCK_SLACK, call


@pytest.mark.parametrize("sdk", SDKS)
def test_a_message_sent_again_is_acknowledged_and_stored_once(
    sdk: str, server: ServerProcess, home: Home
) -> None:
    """Sending a messageId again (after it was stored, or twice in a row) succeeds and keeps the first copy."""
    tag = uuid4().hex[:8]
    loaded_first, back_to_back, sentinel = f"{sdk}-again-{tag}", f"{sdk}-twice-{tag}", f"{sdk}-last-{tag}"
    # Sync mode raises on anything but a 2xx answer, so each call returning means it was acknowledged.
    with sdk_client(sdk, home.write_key, server.url, gzip=True, sync_mode=True) as (client, _):
        client.track(
            user_id="u-1", event="Checkout Started", properties={"attempt": 1}, message_id=loaded_first
        )
        wait_for_ids(home, {loaded_first})
        client.track(
            user_id="u-1", event="Checkout Started", properties={"attempt": 2}, message_id=loaded_first
        )
        client.track(user_id="u-1", event="Cart Viewed", properties={"attempt": 1}, message_id=back_to_back)
        client.track(user_id="u-1", event="Cart Viewed", properties={"attempt": 2}, message_id=back_to_back)
        client.track(user_id="u-1", event="Checkout Left", message_id=sentinel)
    events = wait_for_ids(home, {sentinel})
    counts = Counter(event["messageId"] for event in events)
    assert counts[loaded_first] == 1
    assert counts[back_to_back] == 1
    stored = {event["messageId"]: event for event in events}
    assert stored[loaded_first]["properties"] == {"attempt": 1}
    assert stored[back_to_back]["properties"] == {"attempt": 1}


class LoseFirstAnswerProxy:
    """A TCP relay to the collector that forwards the first request but drops its answer and cuts the
    connection, as a network failure after the server has acted does; later connections pass through."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> LoseFirstAnswerProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        with self._lock:
            for sock in self._sockets:
                self._cut(sock)
        for thread in list(self._threads):
            thread.join(timeout=5)
        self.listener.close()
        for sock in self._sockets:
            sock.close()

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    @staticmethod
    def _cut(sock: socket.socket) -> None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pipe, client, upstream, True)
            self._spawn(self._pipe, upstream, client, False)

    def _pipe(self, src: socket.socket, dst: socket.socket, to_server: bool) -> None:
        try:
            while chunk := src.recv(65536):
                with self._lock:
                    if to_server:
                        self.requests += chunk.count(b"POST /v1/batch")
                        drop = False
                    else:
                        drop = self.dropped == 0
                        self.dropped = 1
                if drop:
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            self._cut(src)
            self._cut(dst)


@pytest.mark.parametrize("sdk", SDKS)
def test_an_sdk_retry_after_a_lost_answer_stores_the_batch_once(
    sdk: str, server: ServerProcess, home: Home
) -> None:
    """When the answer to a delivered batch is lost, the SDK retries it, and the events are stored once."""
    with LoseFirstAnswerProxy(server.port) as proxy:
        with sdk_client(sdk, home.write_key, proxy.url, gzip=False) as (client, errors):
            sent = [
                client.track(user_id=f"u-{n}", event="Signed Up", properties={"n": n})[1] for n in range(5)
            ]
        assert errors == [], "the SDK gave up although the collector was reachable again"
        assert proxy.dropped == 1
        assert proxy.requests >= 2, "the SDK did not send the batch again"
    ids = {message["messageId"] for message in sent}
    events = wait_for_ids(home, ids)
    counts = Counter(event["messageId"] for event in events)
    assert {message_id: counts[message_id] for message_id in ids} == dict.fromkeys(ids, 1)
    assert sorted(e["properties"]["n"] for e in events if e["messageId"] in ids) == list(range(5))


@pytest.mark.parametrize("sdk", SDKS)
def test_an_sdk_s_alias_and_identify_join_one_customer_at_once(
    sdk: str, server: ServerProcess, home: Home
) -> None:
    """A visitor browses anonymously, signs in (identify), and the app aliases an old device id: the
    store, read the moment the events are queryable, has one customer holding all three ids and their
    events, and its profile is read with a read key."""
    import httpx

    run = uuid4().hex[:8]
    anon, old_device, user = f"anon-{run}", f"device-{run}", f"user-{run}"
    with sdk_client(sdk, home.write_key, server.url, gzip=True) as (client, errors):
        client.page(anonymous_id=anon, name="Home")
        client.track(anonymous_id=old_device, event="Product Viewed")
        client.identify(user_id=user, anonymous_id=anon, traits={"email": f"{run}@Example.com"})
        client.alias(previous_id=old_device, user_id=user)
    assert errors == []
    wait_for_events(home, 4)
    response = httpx.get(
        f"{server.url}/v1/profiles/{run}@example.com", headers={"Authorization": f"Bearer {home.read_key}"}
    )
    assert response.status_code == 200, response.text
    profile = response.json()
    ids = {(i["kind"], i["value"]) for i in profile["identifiers"]}
    assert {("user_id", user), ("anonymous_id", anon), ("anonymous_id", old_device)} <= ids
    assert ("email", f"{run}@example.com") in ids
    assert len(profile["timeline"]) == 4
    assert {e["channel"] for e in profile["timeline"]} == {"server"}
