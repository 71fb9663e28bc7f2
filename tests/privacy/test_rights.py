"""Each right end to end, as a data protection officer would check it: a person seeded with unique canary
strings across events (over HTTP to a real server), traits, imported records, quarantine and the spool;
the access bundle finds every canary; erase plus purge leaves none in any file under the home (a byte scan),
while another customer keeps all their data; events re-sent for any erased identifier are not stored."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import Home, ServerProcess, make_home, wait_for_events
from tests.privacy.test_consent import store
from tests.sources.helpers import do_import, write
from touchpoints.cli.main import cli
from touchpoints.collector.spool import Spool
from touchpoints.events.validate import normalize_event
from touchpoints.store.duckdb import open_store

pytestmark = pytest.mark.slow


def cli_json(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 else result.output


def scan(home: Path, needles: list[str]) -> dict[str, list[str]]:
    """Which needles occur in which file under ``home`` (every file, every byte)."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = [n for n in needles if n.encode() in data]
        if hits:
            found[str(path.relative_to(home))] = hits
    return found


class Person:
    def __init__(self, name: str) -> None:
        tag = secrets.token_hex(6)
        self.user_id = f"{name}-uid-{tag}"
        self.anonymous_id = f"{name}-anon-{tag}"
        self.email = f"{name}.{tag}@example.org"
        self.record = f"REC{tag}"
        self.colour = f"{name}colour{tag}"  # a trait value, found nowhere but in their data
        self.comment = f"{name}comment{tag}"  # quarantined free text
        self.late = f"{name}late{tag}"  # a spooled record never loaded before the erasure

    @property
    def canaries(self) -> list[str]:
        return [
            self.user_id,
            self.anonymous_id,
            self.email,
            self.record,
            self.colour,
            self.comment,
            self.late,
        ]

    def events(self) -> list[dict[str, Any]]:
        consent = {"categoryPreferences": {"analytics": True, "marketing": True}, "version": "banner-3"}
        return [
            {"type": "page", "anonymousId": self.anonymous_id, "name": "Home", "context": {"consent": consent}},
            {"type": "identify", "anonymousId": self.anonymous_id, "userId": self.user_id,
             "traits": {"email": self.email, "favourite_colour": self.colour}},
            {"type": "track", "userId": self.user_id, "event": "Order Completed",
             "properties": {"order_id": f"o-{self.record}", "revenue": 42.5}},
        ]  # fmt: skip


def send(server: ServerProcess, home: Home, events: list[dict[str, Any]]) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/v1/batch", json={"batch": events}, headers=home.basic, timeout=10)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_access_erasure_purge_and_suppression(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    zed, omar = Person("zed"), Person("omar")
    server = ServerProcess(home.path).start()
    try:
        for person in (zed, omar):
            send(server, home, person.events())
            # A bad event (of no known type) is quarantined whole, canaries and all.
            bad = {"type": "review", "userId": person.user_id, "event": "Review",
                   "properties": {"comment": person.comment}}  # fmt: skip
            assert send(server, home, [bad])["quarantined"] == 1
        wait_for_events(home, 6)
    finally:
        server.stop()
    contacts = write(
        tmp_path / "contacts.csv",
        f"""
        record_id,first_name,last_name,email,timestamp
        {zed.record},Zed,Zedson,{zed.email},2026-01-05T09:00:00Z
        {omar.record},Omar,Farouk,{omar.email},2026-01-05T09:00:00Z
        """,
    )
    assert do_import(home, "contacts", contacts, source="crm")["imported"] == 2
    # Acknowledged but not yet loaded: a record in the spool, as a server leaves it when it stops hard.
    spool = Spool(home.settings.spool_dir)
    spool.start()
    for person in (zed, omar):
        late = {"type": "track", "userId": person.user_id, "event": "Late", "properties": {"note": person.late},
                "messageId": f"late-{person.record}"}  # fmt: skip
        from datetime import UTC, datetime

        import msgspec

        event = normalize_event(msgspec.json.encode(late), source="default", received_at=datetime.now(UTC))
        spool.append_sync(msgspec.json.Encoder().encode_lines([event]))
    spool.close()

    # The byte scan can see them before: in the store or the spool, every canary of both.
    before = scan(home.path, zed.canaries + omar.canaries)
    seen = {n for hits in before.values() for n in hits}
    assert seen >= {zed.user_id, zed.email, zed.late}, before

    # Access: one bundle, found by any identifier, holds every canary.
    bundle_path = home.path / "exports" / "zed.json"
    result = cli_json(
        "privacy", "export", zed.email.upper(), "--out", str(bundle_path), "--home", str(home.path)
    )
    text = bundle_path.read_text(encoding="utf-8")
    missing = [c for c in zed.canaries if c not in text]
    assert not missing, f"the access bundle lacks {missing}"
    assert not any(c in text for c in omar.canaries), "another customer's data is in Zed's bundle"
    data = json.loads(text)
    assert data["consent"]["current"]["marketing"]["status"] == "granted"
    assert data["consent"]["current"]["marketing"]["evidence"]["version"] == "banner-3"
    assert {i["kind"] for i in data["identity"]["identifiers"]} >= {
        "user_id",
        "anonymous_id",
        "email",
        "record",
    }
    assert result["counts"]["events"] >= 5 and result["counts"]["quarantine"] == 1
    assert bundle_path.stat().st_mode & 0o777 == 0o600

    # Erasure by another identifier; then the purge makes it physical.
    erased = cli_json("privacy", "erase", zed.record, "--yes", "--home", str(home.path))
    assert erased["rows"]["events"] >= 5 and erased["rows"]["identities"] >= 4
    assert erased["rows"]["quarantine"] == 1
    assert not bundle_path.exists(), "the access bundle Touchpoints wrote is erased with the person"
    # (Here the store file still holds them: DuckDB keeps deleted rows' bytes in its free blocks.)
    cli_json("privacy", "purge", "--home", str(home.path))
    left = scan(home.path, zed.canaries)
    assert not left, f"bytes of the erased person remain: {left}"

    # The other customer keeps everything.
    other = cli_json(
        "privacy", "export", omar.email, "--out", str(tmp_path / "omar.json"), "--home", str(home.path)
    )
    omar_text = (tmp_path / "omar.json").read_text(encoding="utf-8")
    assert all(c in omar_text for c in omar.canaries), "the purge took another customer's data"
    assert other["counts"]["quarantine"] == 1 and other["counts"]["events"] >= 5
    cli_json("privacy", "erase", zed.email, "--home", str(home.path), code=4)

    # Re-sent events for any erased identifier are refused at the door, over HTTP and in imports; the
    # answer is the same as for any event (a write key's holder cannot learn who was erased).
    server = ServerProcess(home.path).start()
    try:
        resent: list[dict[str, Any]] = [
            {"type": "identify", "userId": zed.user_id, "traits": {"note": "back"}},
            {"type": "identify", "userId": f" {zed.user_id} ", "traits": {"note": "spaced"}},
            {"type": "identify", "anonymousId": zed.anonymous_id, "traits": {"note": "back"}},
            {"type": "identify", "anonymousId": "fresh-device", "traits": {"email": zed.email.upper()}},
        ]
        for event in resent:
            answer = send(server, home, [event])
            assert answer == {"success": True, "accepted": 1, "quarantined": 0, "errors": []}, answer
        # A bad event naming them anywhere is not kept in quarantine either.
        bad = {"type": "review", "anonymousId": "x-1", "properties": {"deep": [{"contact": zed.email}]}}
        assert send(server, home, [bad])["quarantined"] == 1
        # Someone else signing in on the erased person's browser: theirs, stored without the old cookie.
        send(server, home, [{"type": "track", "userId": "newcomer-1", "anonymousId": zed.anonymous_id,
                             "event": "Signed In"}])  # fmt: skip
        send(server, home, [{"type": "track", "userId": omar.user_id, "event": "Still here"}])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open_store(home.settings.store_path) as db:
                if db.execute("SELECT count(*) FROM events WHERE event = 'Still here'")[0][0]:
                    break
            time.sleep(0.2)
    finally:
        server.stop()
    with open_store(home.settings.store_path) as db:
        assert db.execute("SELECT user_id, anonymous_id FROM events WHERE event = 'Signed In'") == [
            ("newcomer-1", None)
        ]
    again = do_import(home, "contacts", contacts, source="crm2")
    assert again["suppressed"] == 1 and again["imported"] == 1
    # A bad row naming them (a consent value that is no answer) is not kept in quarantine.
    bad_rows = write(tmp_path / "bad.csv", f"record_id,email,consent_marketing\nRX,{zed.email},maybe\n")
    assert do_import(home, "contacts", bad_rows, source="crm3")["quarantined"] == 0
    with open_store(home.settings.store_path) as db:
        assert db.execute("SELECT count(*) FROM identities WHERE value IN (?, ?, ?)",
                          [zed.user_id, zed.anonymous_id, zed.email])[0][0] == 0  # fmt: skip
    assert not scan(home.path, [zed.user_id, zed.anonymous_id, zed.email])
    cli_json("privacy", "purge", "--home", str(home.path))
    assert not scan(home.path, zed.canaries)
    # The audit log says who exported, erased and purged, and holds no identifier.
    audit = (home.path / "audit.jsonl").read_text(encoding="utf-8")
    actions = [json.loads(line)["action"] for line in audit.splitlines()]
    assert {"privacy.export", "privacy.erase", "privacy.purge"} <= set(actions)
    cli_json("privacy", "audit", "--verify", "--home", str(home.path))


def test_erasure_reaches_events_found_other_ways_and_redacts_other_peoples(tmp_path: Path) -> None:
    """Events of the person that the profile's rule does not see (a userId sent with spaces, a placeholder
    userId with her e-mail), and another customer's event that carried her e-mail (a link the rules
    refused): hers are erased, his stays with her e-mail replaced."""
    home = make_home(tmp_path / "home")
    tag = secrets.token_hex(5)
    jane, email = f"jane-{tag}", f"jane.{tag}@example.org"
    store(
        home,
        {"type": "identify", "userId": jane, "traits": {"email": email}},
        {"type": "track", "userId": f" {jane}", "event": "Spaced", "properties": {"canary": f"spaced{tag}"}},
        {"type": "identify", "userId": "undefined", "traits": {"email": email, "canary": f"placeholder{tag}"}},
        {"type": "identify", "userId": f"bob-{tag}", "traits": {"name": "Bob"},
         "context": {"traits": {"email": email}}},
    )  # fmt: skip
    bundle = tmp_path / "jane.json"
    cli_json("privacy", "export", email, "--out", str(bundle), "--home", str(home.path))
    text = bundle.read_text(encoding="utf-8")
    assert f"spaced{tag}" in text and f"placeholder{tag}" in text
    assert f"bob-{tag}" not in text, "the other end of a refused link is someone else's identifier"
    erased = cli_json("privacy", "erase", email, "--yes", "--home", str(home.path))
    assert erased["redacted_in_others"] == 1
    cli_json("privacy", "purge", "--home", str(home.path))
    assert not scan(home.path, [jane, email, f"spaced{tag}", f"placeholder{tag}"])
    with open_store(home.settings.store_path) as db:
        bob = db.execute("SELECT context::VARCHAR FROM events WHERE user_id = ?", [f"bob-{tag}"])
    assert bob and "[erased]" in bob[0][0], "Bob keeps his event, without her e-mail"


def test_someone_the_graph_never_linked_can_still_be_exported_and_erased(tmp_path: Path) -> None:
    """Under opt-in analytics a refuser's events are stored anonymised, but their refusal is on record:
    that record is theirs to see and to erase."""
    home = make_home(tmp_path / "home", '[privacy]\nmodes = { analytics = "opt_in" }\n')
    store(home, {"type": "track", "userId": "refuser-777", "event": "Viewed",
                 "context": {"consent": {"categoryPreferences": {"analytics": False}}}})  # fmt: skip
    out = tmp_path / "r.json"
    found = cli_json("privacy", "export", "refuser-777", "--out", str(out), "--home", str(home.path))
    assert found["counts"]["consents"] == 1
    erased = cli_json("privacy", "erase", "refuser-777", "--yes", "--home", str(home.path))
    assert erased["rows"]["consents"] == 1
    cli_json("privacy", "purge", "--home", str(home.path))
    assert not scan(home.path, ["refuser-777"])
