"""Roles on every route of the app: each is tried with no key, a write key, a read key and an admin key, on a
real server, as a user meets it.

The routes are read from the app itself, so a route someone adds later is covered without touching this
file: unless it is in PUBLIC below (answers anyone) or an ingest path (write keys), it must refuse a request
without a key (401), refuse a write key (403) and let an admin key in. It lets a read key in only when its
OpenAPI description declares the ``readKey`` scheme (``privacy.access.ReaderKey``); otherwise it is an admin
route and a read key gets 403.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from tests.conftest import Home, ServerProcess, make_home
from touchpoints.collector.app import create_app, ingest_paths

pytestmark = pytest.mark.slow

# Routes anyone may call, without a key. Each says nothing about anyone's data: adding one here is a
# decision to review, not a way to make this test pass.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/tp.js"),  # the browser tracker
    ("HEAD", "/tp.js"),
    ("POST", "/v1/m"),  # analytics.js's own metrics, dropped
    ("GET", "/l/{link_id}"),  # a click on a registered link: records it and redirects
    ("HEAD", "/l/{link_id}"),
    ("GET", "/o/{campaign}.gif"),  # the open pixel
    ("HEAD", "/o/{campaign}.gif"),
    ("GET", "/openapi.json"),  # the API's description, and the pages that show it
    ("HEAD", "/openapi.json"),
    ("GET", "/docs"),
    ("HEAD", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("HEAD", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("HEAD", "/redoc"),
}
INGEST = {("POST", path) for path in ingest_paths()}
WRITE_NEVER_READS = "write keys only send events and never read personal data"


def app_routes(home: Home) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves."""
    found: list[tuple[str, str]] = []
    for route in create_app(home.settings).routes:
        if isinstance(route, Route):
            found += [(method, route.path) for method in sorted(route.methods or ())]
        elif isinstance(route, Mount):
            found.append(("GET", route.path + "/"))
        else:
            pytest.fail(f"{route!r} is neither a route nor a mount: teach this test how to call it")
    return found


def concrete(path: str) -> str:
    """A path template with its parameters filled in with values that name nothing that exists."""

    def value(match: re.Match[str]) -> str:
        return "1" if match.group(0).endswith(":int}") else "no-such-thing-7c1e"

    return re.sub(r"\{[^}]+\}", value, path)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, ServerProcess]]:
    # Rate limits off: this is about roles (test_ratelimit.py tests the limits).
    home = make_home(
        Path(tmp_path_factory.mktemp("roles")) / "home",
        "[api]\nread_requests_per_second = 0\ningest_requests_per_second = 0\n",
    )
    server = ServerProcess(home.path).start()
    try:
        yield home, server
    finally:
        server.kill()


def call(server: ServerProcess, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    return httpx.request(
        method,
        server.url + concrete(path),
        headers={**headers, "Content-Type": "application/json"},
        content=body,
        follow_redirects=False,
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def field(response: httpx.Response, name: str) -> str | None:
    """A field of a JSON answer; None for a HEAD's empty body; "" for what is not our JSON error."""
    if not response.content:
        return None
    try:
        return str(response.json().get(name, ""))
    except (ValueError, AttributeError):
        return ""


def test_the_public_list_names_only_routes_that_exist(live: tuple[Home, ServerProcess]) -> None:
    home, _ = live
    routes = set(app_routes(home))
    assert PUBLIC - routes == set(), "a public route was removed: take it off PUBLIC"
    assert routes >= INGEST


def test_public_routes_answer_without_a_key(live: tuple[Home, ServerProcess]) -> None:
    home, server = live
    problems = []
    for method, path in sorted(set(app_routes(home)) & PUBLIC):
        for headers in ({}, bearer("tpa_not-a-key"), home.basic):
            response = call(server, method, path, headers)
            if response.status_code in (401, 403, 429) or response.status_code >= 500:
                problems.append(f"{method} {path} with {headers or 'no key'}: {response.status_code}")
    assert problems == []


def test_ingest_takes_only_a_write_key_in_basic_auth(live: tuple[Home, ServerProcess]) -> None:
    home, server = live
    basic = {role: httpx.BasicAuth(key, "") for role, key in
             (("write", home.write_key), ("read", home.read_key), ("admin", home.admin_key))}  # fmt: skip
    problems = []
    for method, path in sorted(INGEST):
        url = server.url + path
        event = {"type": "track", "event": "Role Checked", "userId": "u"}
        body = {"batch": [event]} if ingest_paths()[path] is None else event
        expected = {
            "no key": (httpx.post(url, json=body), 401),
            "a read key in Bearer": (
                httpx.post(url, json=body, headers=bearer(home.read_key)),
                401,
            ),
            "a read key": (httpx.post(url, json=body, auth=basic["read"]), 403),
            "an admin key": (httpx.post(url, json=body, auth=basic["admin"]), 403),
        }
        for who, (response, status) in expected.items():
            if response.status_code != status:
                problems.append(f"{method} {path} with {who}: {response.status_code}, expected {status}")
        written = httpx.post(url, json=body, auth=basic["write"])
        if written.status_code in (401, 403) or written.status_code >= 500:
            problems.append(f"{method} {path} with the write key: {written.status_code} {written.text}")
    assert problems == []


def test_every_other_route_needs_a_bearer_key_of_its_role(live: tuple[Home, ServerProcess]) -> None:
    home, server = live
    schema = httpx.get(f"{server.url}/openapi.json").json()
    protected = [r for r in app_routes(home) if r not in PUBLIC and r not in INGEST]
    assert {("GET", "/v1/profiles/{ref:path}"), ("GET", "/v1/keys"), ("POST", "/v1/keys")} <= set(protected)
    problems: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    for method, path in protected:
        # The OpenAPI path has no converters: /v1/profiles/{ref:path} is /v1/profiles/{ref}.
        operation = schema["paths"].get(re.sub(r"\{(\w+):\w+\}", r"{\1}", path), {}).get(method.lower(), {})
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        readers = "readKey" in schemes
        label = f"{method} {path} ({'read' if readers else 'admin'} route)"

        anonymous = call(server, method, path, {})
        expect(anonymous.status_code == 401, f"{label}, no key: {anonymous.status_code}, expected 401")
        expect(
            anonymous.headers.get("www-authenticate", "").startswith("Bearer"),
            f"{label}, no key: no WWW-Authenticate: Bearer",
        )
        expect(
            field(anonymous, "code") in (None, "missing_read_key", "missing_admin_key"),
            f"{label}: {anonymous.text}",
        )
        unknown = call(server, method, path, bearer("tpa_" + secrets.token_urlsafe(24)))
        expect(unknown.status_code == 401, f"{label}, an unknown key: {unknown.status_code}, expected 401")
        in_basic = call(server, method, path, {"Authorization": home.basic["Authorization"]})
        expect(in_basic.status_code == 401, f"{label}, a write key in Basic: {in_basic.status_code}")

        write = call(server, method, path, bearer(home.write_key))
        expect(write.status_code == 403, f"{label}, write key: {write.status_code}, expected 403")
        if method != "HEAD":
            expect(WRITE_NEVER_READS in str(field(write, "message")), f"{label}, write key: {write.text}")

        read = call(server, method, path, bearer(home.read_key))
        if readers:
            expect(read.status_code not in (401, 403, 429), f"{label}, read key: {read.status_code}")
        else:
            expect(read.status_code == 403, f"{label}, read key: {read.status_code}, expected 403")
            if method != "HEAD":
                expect("needs an admin key" in str(field(read, "message")), f"{label}, read key: {read.text}")
        expect(read.status_code < 500, f"{label}, read key: {read.status_code} {read.text}")

        admin = call(server, method, path, bearer(home.admin_key))
        expect(admin.status_code not in (401, 403, 429), f"{label}, admin key: {admin.status_code}")
        expect(admin.status_code < 500, f"{label}, admin key: {admin.status_code} {admin.text}")
        if operation:
            documented = set(operation["responses"])
            expect({"401", "403", "429"} <= documented, f"{label}: 401, 403 and 429 are not all documented")
    assert problems == [], "\n".join(problems)


def cli(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "touchpoints", *args, "--home", str(home.path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_admin_keys_manage_keys_through_the_api_and_every_action_is_audited(
    live: tuple[Home, ServerProcess],
) -> None:
    home, server = live
    admin = bearer(home.admin_key)
    made = httpx.post(f"{server.url}/v1/keys", json={"role": "read", "name": "support-desk"}, headers=admin)
    assert made.status_code == 201, made.text
    new = made.json()
    secret = new["key"]
    assert secret.startswith("tpr_") and len(secret) >= 32 and made.headers["cache-control"] == "no-store"
    assert httpx.get(f"{server.url}/v1/profiles/nobody", headers=bearer(secret)).status_code == 404

    listed = httpx.get(f"{server.url}/v1/keys", headers=admin).json()["keys"]
    assert "support-desk" in [k["name"] for k in listed]
    assert secret not in json.dumps(listed) and all("hash" not in k for k in listed)

    again = httpx.post(f"{server.url}/v1/keys", json={"role": "read", "name": "support-desk"}, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "key_name_taken"
    bad = httpx.post(
        f"{server.url}/v1/keys", json={"role": "read", "name": "x", "channel": "web"}, headers=admin
    )
    assert bad.status_code == 400 and "only write keys" in bad.json()["message"]
    shapeless = httpx.post(f"{server.url}/v1/keys", content=b"[1]", headers=admin)
    assert shapeless.status_code == 422 and shapeless.json()["code"] == "invalid_key_request"

    gone = httpx.delete(f"{server.url}/v1/keys/support-desk", headers=admin)
    assert gone.status_code == 200 and gone.json()["revoked_at"]
    refused = httpx.get(f"{server.url}/v1/profiles/nobody", headers=bearer(secret))
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_read_key", "revoked at once"
    assert httpx.delete(f"{server.url}/v1/keys/support-desk", headers=admin).status_code == 404
    assert "support-desk" not in [
        k["name"] for k in httpx.get(f"{server.url}/v1/keys", headers=admin).json()["keys"]
    ]
    everything = httpx.get(f"{server.url}/v1/keys", params={"all": "true"}, headers=admin).json()["keys"]
    assert "support-desk" in [k["name"] for k in everything]

    made_by_cli = cli(
        home, "keys", "create", "--role", "write", "--name", "till-7", "--channel", "pos", "--json"
    )
    assert made_by_cli.returncode == 0, made_by_cli.stderr
    cli_secret = json.loads(made_by_cli.stdout)["key"]
    assert cli(home, "keys", "revoke", "till-7").returncode == 0

    log = home.path / "audit.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    keyed = [(e["action"], e["details"]["name"], e["details"]["role"], e["actor"].split(":")[0], e["details"]["via"])
             for e in entries if e["action"].startswith("key.")]  # fmt: skip
    assert keyed == [
        ("key.create", "support-desk", "read", "key", "api"),
        ("key.revoke", "support-desk", "read", "key", "api"),
        ("key.create", "till-7", "write", "cli", "cli"),
        ("key.revoke", "till-7", "write", "cli", "cli"),
    ]
    first = next(e for e in entries if e["action"] == "key.create")
    assert first["actor"].endswith(":admin") and first["subject"] == new["id"]
    text = log.read_text()
    assert secret not in text and cli_secret not in text, "a secret is never written to the log"
    assert cli(home, "privacy", "audit", "--verify").returncode == 0
