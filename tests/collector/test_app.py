"""The ingest endpoints in-process: auth, limits, gzip, bad input, quarantine, CORS, health.

Each bad request gets its documented status and a JSON body that says what was wrong, and leaves nothing
half-stored; every accepted event is in the store afterwards.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Home, make_home
from touchpoints.collector.app import create_app
from touchpoints.store.duckdb import open_store


@pytest.fixture
def client(home: Home) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings)) as test_client:
        yield test_client


def stored(home: Home) -> dict[str, Any]:
    """What the store holds once the spool is loaded (the app has been shut down)."""
    with open_store(home.settings.store_path) as db:
        events = db.execute("SELECT message_id, type, event, user_id FROM events ORDER BY message_id")
        quarantine = db.execute("SELECT reason, payload FROM quarantine ORDER BY received_at")
    return {"events": events, "quarantine": quarantine}


def track(message_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": message_id, **extra}


def test_health_answers_without_auth_and_says_nothing_about_data(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_batch_with_basic_auth_is_stored(home: Home) -> None:
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/batch", json={"batch": [track("m1"), track("m2")]}, headers=home.basic)
        assert response.status_code == 200
        assert response.json() == {"success": True, "accepted": 2, "quarantined": 0, "errors": []}
    assert [row[0] for row in stored(home)["events"]] == ["m1", "m2"]


@pytest.mark.parametrize("path", ["/v1/track", "/v1/t"])
def test_analytics_js_style_text_plain_with_write_key_in_body(home: Home, path: str) -> None:
    body = json.dumps({**track("m-js"), "writeKey": home.write_key})
    with TestClient(create_app(home.settings)) as client:
        response = client.post(path, content=body, headers={"Content-Type": "text/plain"})
        assert response.status_code == 200, response.text
    assert stored(home)["events"] == [("m-js", "track", "Product Viewed", "u1")]


@pytest.mark.parametrize(
    ("path", "call", "body"),
    [
        ("/v1/identify", "identify", {"userId": "u1", "traits": {"email": "a@example.com"}}),
        ("/v1/i", "identify", {"userId": "u1"}),
        ("/v1/page", "page", {"anonymousId": "a1", "name": "Home"}),
        ("/v1/p", "page", {"anonymousId": "a1"}),
        ("/v1/screen", "screen", {"userId": "u1", "name": "Cart"}),
        ("/v1/s", "screen", {"userId": "u1", "name": "Cart"}),
        ("/v1/group", "group", {"userId": "u1", "groupId": "g1"}),
        ("/v1/g", "group", {"userId": "u1", "groupId": "g1"}),
        ("/v1/alias", "alias", {"userId": "u1", "previousId": "a1"}),
        ("/v1/a", "alias", {"userId": "u1", "previousId": "a1"}),
        ("/v1/t", "track", {"userId": "u1", "event": "Signed Up"}),
    ],
)
def test_every_single_call_path_stores_its_type(
    home: Home, path: str, call: str, body: dict[str, Any]
) -> None:
    with TestClient(create_app(home.settings)) as client:
        response = client.post(path, json={**body, "messageId": "m"}, headers=home.basic)
        assert response.status_code == 200, response.text
    events = stored(home)["events"]
    assert [(e[0], e[1]) for e in events] == [("m", call)]


@pytest.mark.parametrize(
    ("headers", "body_key", "status", "code"),
    [
        ({}, None, 401, "missing_write_key"),
        (
            {"Authorization": "Basic " + base64.b64encode(b"tpw_wrong:").decode()},
            None,
            401,
            "invalid_write_key",
        ),
        ({"Authorization": "Basic !!notbase64"}, None, 401, "missing_write_key"),
        ({"Authorization": "Bearer something"}, None, 401, "missing_write_key"),
        ({"Authorization": "Bearer something"}, "tpw_wrong", 401, "invalid_write_key"),
        ({}, "tpw_wrong", 401, "invalid_write_key"),
    ],
)
def test_missing_or_wrong_key_is_401_and_nothing_is_stored(
    home: Home, headers: dict[str, str], body_key: str | None, status: int, code: str
) -> None:
    body: dict[str, Any] = {"batch": [track("m1")]}
    if body_key:
        body["writeKey"] = body_key
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/batch", json=body, headers=headers)
        assert response.status_code == status
        assert response.json()["code"] == code
        assert response.json()["message"]
    assert stored(home) == {"events": [], "quarantine": []}


def test_a_read_or_admin_key_cannot_ingest(home: Home) -> None:
    with TestClient(create_app(home.settings)) as client:
        for key in (home.read_key, home.admin_key):
            auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
            response = client.post(
                "/v1/batch", json={"batch": [track("m1")]}, headers={"Authorization": auth}
            )
            assert response.status_code == 403
            assert response.json()["code"] == "wrong_key_role"
    assert stored(home)["events"] == []


def test_a_revoked_key_is_refused_at_once(home: Home) -> None:
    from touchpoints.privacy.keys import KeyRing

    with TestClient(create_app(home.settings)) as client:
        assert client.post("/v1/batch", json={"batch": [track("m1")]}, headers=home.basic).status_code == 200
        KeyRing(home.settings.keys_path).revoke("default")
        response = client.post("/v1/batch", json={"batch": [track("m2")]}, headers=home.basic)
        assert response.status_code == 401
    assert [e[0] for e in stored(home)["events"]] == ["m1"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b'{"batch": {"type": "track"}}', "not_a_batch"),
        (b'{"events": []}', "not_a_batch"),
        (b"[1, 2, 3]", "not_a_batch"),
    ],
)
def test_malformed_json_or_not_a_batch_is_400(home: Home, body: bytes, code: str) -> None:
    with TestClient(create_app(home.settings)) as client:
        response = client.post(
            "/v1/batch", content=body, headers={**home.basic, "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["code"] == code
    assert stored(home) == {"events": [], "quarantine": []}


def test_single_call_body_that_is_not_an_object_is_400(client: TestClient, home: Home) -> None:
    response = client.post("/v1/track", content=b"[1]", headers=home.basic)
    assert response.status_code == 400
    assert response.json()["code"] == "not_an_object"


def test_invalid_events_in_a_batch_are_quarantined_and_the_valid_ones_stored(home: Home) -> None:
    batch = [track("ok-1"), {"type": "track", "userId": "u1", "messageId": "bad"}, track("ok-2")]
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/batch", json={"batch": batch}, headers=home.basic)
        assert response.status_code == 200
        answer = response.json()
        assert (answer["accepted"], answer["quarantined"]) == (2, 1)
        assert answer["errors"][0]["index"] == 1
        assert "no event name" in answer["errors"][0]["reason"]
        assert answer["errors"][0]["quarantine_id"].startswith("q_")
    result = stored(home)
    assert [e[0] for e in result["events"]] == ["ok-1", "ok-2"]
    [(reason, payload)] = result["quarantine"]
    assert "no event name" in reason
    assert json.loads(payload)["messageId"] == "bad", "the raw payload is kept for replay"


def test_pretty_printed_json_is_stored_intact(home: Home) -> None:
    body = json.dumps(
        {"batch": [track("pretty", properties={"a": {"b": [1, 2]}}, context={"x": "y"})]}, indent=2
    )
    with TestClient(create_app(home.settings)) as client:
        assert client.post("/v1/batch", content=body, headers=home.basic).status_code == 200
    with open_store(home.settings.store_path) as db:
        [(props, context)] = db.execute("SELECT properties, context FROM events")
    assert json.loads(props) == {"a": {"b": [1, 2]}}
    assert json.loads(context) == {"x": "y"}


def test_gzip_bodies_are_accepted(home: Home) -> None:
    body = gzip.compress(json.dumps({"batch": [track("gz")]}).encode())
    with TestClient(create_app(home.settings)) as client:
        response = client.post(
            "/v1/batch", content=body,
            headers={**home.basic, "Content-Encoding": "gzip", "Content-Type": "application/json"},
        )  # fmt: skip
        assert response.status_code == 200, response.text
    assert [e[0] for e in stored(home)["events"]] == ["gz"]


def test_a_gzip_bomb_is_413_without_inflating_it(client: TestClient, home: Home) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * (200 * 1024 * 1024) + b"]}", compresslevel=9)
    assert len(bomb) < 500_000
    response = client.post("/v1/batch", content=bomb, headers={**home.basic, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_corrupt_gzip_is_400(client: TestClient, home: Home) -> None:
    body = gzip.compress(json.dumps({"batch": [track("x")]}).encode())
    for broken in (b"not gzip at all", body[:-12], body + b"trailing"):
        response = client.post(
            "/v1/batch", content=broken, headers={**home.basic, "Content-Encoding": "gzip"}
        )
        assert response.status_code == 400, broken
        assert response.json()["code"] == "invalid_gzip"


def test_an_unsupported_encoding_is_415(client: TestClient, home: Home) -> None:
    body = zlib.compress(b'{"batch": []}')
    response = client.post("/v1/batch", content=body, headers={**home.basic, "Content-Encoding": "br"})
    assert response.status_code == 415


def test_a_request_over_500_kb_is_413_and_nothing_is_stored(home: Home) -> None:
    big = [track(f"m{i}", properties={"pad": "x" * 20_000}) for i in range(30)]
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/batch", json={"batch": big}, headers=home.basic)
        assert response.status_code == 413
    assert stored(home) == {"events": [], "quarantine": []}


def test_more_than_2500_events_is_413(home: Home) -> None:
    tiny = [{"type": "track", "event": "A", "userId": "u", "messageId": str(i)} for i in range(2501)]
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/batch", json={"batch": tiny}, headers=home.basic)
        assert response.status_code == 413
        assert "2501 events" in response.json()["message"]
    assert stored(home)["events"] == []


def test_an_event_over_32_kb_in_a_batch_is_quarantined(home: Home) -> None:
    batch = [track("small"), track("huge", properties={"pad": "x" * 40_000})]
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/batch", json={"batch": batch}, headers=home.basic)
        assert response.status_code == 200
        assert response.json()["quarantined"] == 1
    result = stored(home)
    assert [e[0] for e in result["events"]] == ["small"]
    assert "at most 32768" in result["quarantine"][0][0]


def test_redelivered_message_ids_are_acknowledged_and_stored_once(home: Home) -> None:
    with TestClient(create_app(home.settings)) as client:
        for _ in range(3):
            response = client.post(
                "/v1/batch", json={"batch": [track("same"), track("same")]}, headers=home.basic
            )
            assert response.status_code == 200
    with TestClient(create_app(home.settings)) as client:  # a restart does not forget
        assert (
            client.post("/v1/batch", json={"batch": [track("same")]}, headers=home.basic).status_code == 200
        )
    assert [e[0] for e in stored(home)["events"]] == ["same"]


def test_cors_allows_configured_origins_only(tmp_path: Any) -> None:
    home = make_home(tmp_path / "cors", '[collector]\ncors_origins = ["https://shop.example.com"]\n')
    with TestClient(create_app(home.settings)) as client:
        ok = client.options(
            "/v1/t",
            headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"},
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://shop.example.com"
        other = client.options(
            "/v1/t", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in other.headers
        body = json.dumps({**track("cors"), "writeKey": home.write_key})
        sent = client.post("/v1/t", content=body, headers={"Origin": "https://shop.example.com"})
        assert sent.status_code == 200
        assert sent.headers["access-control-allow-origin"] == "https://shop.example.com"
        # analytics.js retries with X-Retry-Count and the key in Authorization: the preflight must pass,
        # or every event whose first send failed is lost.
        retry = client.options(
            "/v1/t",
            headers={
                "Origin": "https://shop.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
            },
        )
        assert retry.status_code == 200, retry.text
        # Its usage metrics are accepted (no 404 in the visitor's console) and not stored.
        assert client.post("/v1/m", json={"series": []}).status_code == 200


def test_source_channel_from_the_write_key(tmp_path: Any) -> None:
    from touchpoints.privacy.keys import KeyRing

    home = make_home(tmp_path / "pos")
    _, pos_key = KeyRing(home.settings.keys_path).create("write", "store-tills", channel="pos")
    auth = "Basic " + base64.b64encode(f"{pos_key}:".encode()).decode()
    with TestClient(create_app(home.settings)) as client:
        assert (
            client.post(
                "/v1/batch", json={"batch": [track("p1")]}, headers={"Authorization": auth}
            ).status_code
            == 200
        )
    with open_store(home.settings.store_path) as db:
        assert db.execute("SELECT source, channel FROM events") == [("store-tills", "pos")]


def test_a_bug_in_validation_quarantines_the_event_instead_of_failing_the_request(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A safety net: an unexpected error while validating one event must not cost the others (or a 500)."""
    import touchpoints.collector.ingest as app_module

    real = app_module.normalize_event

    def flaky(raw: bytes, **kwargs: Any) -> Any:
        if b"boom" in raw:
            raise RuntimeError("simulated bug")
        return real(raw, **kwargs)

    monkeypatch.setattr(app_module, "normalize_event", flaky)
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/batch", json={"batch": [track("ok"), track("boom")]}, headers=home.basic)
        assert response.status_code == 200
        assert (response.json()["accepted"], response.json()["quarantined"]) == (1, 1)
    result = stored(home)
    assert [e[0] for e in result["events"]] == ["ok"]
    assert "simulated bug" in result["quarantine"][0][0]


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
def test_deeply_nested_json_is_400_not_a_server_error(client: TestClient, home: Home, path: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    body = (
        b'{"batch": [' + deep + b"]}"
        if path == "/v1/batch"
        else b'{"userId": "u", "event": "A", "p": ' + deep + b"}"
    )
    response = client.post(path, content=body, headers=home.basic)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_a_body_that_is_not_utf8_is_400_and_nothing_is_stored(home: Home) -> None:
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/track", content=b'{"userId": "u\xff", "event": "e"}', headers=home.basic)
        assert response.status_code == 400
        assert "not UTF-8" in response.json()["message"]
    assert stored(home) == {"events": [], "quarantine": []}


def test_an_out_of_range_batch_sent_at_does_not_cost_the_batch(home: Home) -> None:
    body = {"sentAt": "0001-01-01T00:00:00+01:00", "batch": [track("t1", timestamp="2026-11-20T10:00:00Z")]}
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/batch", json=body, headers=home.basic)
        assert response.status_code == 200
        assert response.json()["accepted"] == 1
    assert [e[0] for e in stored(home)["events"]] == ["t1"]


def test_another_auth_scheme_from_a_proxy_does_not_hide_the_body_key(home: Home) -> None:
    body = json.dumps({**track("behind-proxy"), "writeKey": home.write_key})
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/t", content=body, headers={"Authorization": "Bearer proxy-token"})
        assert response.status_code == 200, response.text
    assert [e[0] for e in stored(home)["events"]] == ["behind-proxy"]


def test_a_wrong_method_gets_an_error_in_the_contract_shape(client: TestClient) -> None:
    response = client.put("/v1/track", content=b"{}")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "POST" in response.json()["message"]
    assert client.get("/v2/nothing").json()["code"] == "not_found"
