"""Consent per purpose: captured into the ledger from events (Segment's and tp.js's shapes), imports, the
CLI and the admin API, and enforced by the one gate at ingest, in personalisation and in outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from tests.conftest import Home, ServerProcess, make_home
from tests.sources.helpers import do_import, write
from touchpoints.cli.main import cli
from touchpoints.events.validate import normalize_event
from touchpoints.identity.lookup import find_customer
from touchpoints.privacy.consent import customer_consent, history
from touchpoints.privacy.gate import Gate
from touchpoints.store.duckdb import open_store
from touchpoints.store.events import AppendResult, append_events

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def store(home: Home, *events: dict[str, Any]) -> AppendResult:
    """Events through the store's one door (as the loader stores the spool)."""
    now = datetime.now(UTC)
    stored = [
        normalize_event(msgspec.json.encode(e), source="web-shop", received_at=now, client_ip="203.0.113.9")
        for e in events
    ]
    with open_store(home.settings.store_path) as db, db.transaction():
        return append_events(db, stored, home.settings.identity)


def rows(home: Home, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with open_store(home.settings.store_path) as db:
        return db.execute(sql, params or [])


def consent_of(home: Home, ref: str) -> dict[str, str]:
    with open_store(home.settings.store_path) as db:
        customer = find_customer(db, ref)
        assert customer is not None
        nodes = [r[0] for r in db.execute("SELECT node FROM identities WHERE customer_id = ?", [customer])]
        return {p: s["status"] for p, s in customer_consent(db, nodes).items()}


def prefs(version: str = "v1", **choices: Any) -> dict[str, Any]:
    return {"consent": {"categoryPreferences": choices, "version": version}}


def test_the_ledger_keeps_changes_with_their_evidence(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    # Segment's consent shape with OneTrust-style category names; tp.js repeats it on every event.
    store(
        home,
        {"type": "page", "anonymousId": "a1", "timestamp": at(0), "context": prefs(Analytics=True, Advertising=False)},
        {"type": "page", "anonymousId": "a1", "timestamp": at(1), "context": prefs(Analytics=True, Advertising=False)},
        {"type": "identify", "anonymousId": "a1", "userId": "u1", "timestamp": at(2), "traits": {"email": "u1@example.com"}},
    )  # fmt: skip
    assert consent_of(home, "u1") == {"analytics": "granted", "marketing": "denied"}
    # The same preferences again add nothing; a grant and then a denial is a withdrawal.
    store(
        home,
        {"type": "page", "userId": "u1", "timestamp": at(3), "context": prefs("v2", analytics=True, marketing=True)},
        {"type": "page", "userId": "u1", "timestamp": at(4), "context": prefs("v2", analytics=True, marketing=True)},
        {"type": "page", "userId": "u1", "timestamp": at(5), "context": prefs("v3", analytics=True, marketing=False)},
    )  # fmt: skip
    with open_store(home.settings.store_path) as db:
        nodes = [r[0] for r in db.execute("SELECT node FROM identities WHERE customer_id = (SELECT customer_id "
                                          "FROM identities WHERE node = 'user_id:u1')")]  # fmt: skip
        changes = [(h["purpose"], h["status"], h["evidence"]["version"]) for h in history(db, nodes)]
    assert changes == [
        ("analytics", "granted", "v1"),
        ("marketing", "denied", "v1"),
        ("marketing", "granted", "v2"),
        ("marketing", "withdrawn", "v3"),
    ]
    # Statements arriving late (an app's offline queue) do not override a newer one.
    store(
        home, {"type": "page", "userId": "u1", "timestamp": at(-60), "context": prefs("v0", marketing=True)}
    )
    assert consent_of(home, "u1")["marketing"] == "withdrawn"


@pytest.mark.parametrize("mode", ["anonymise", "drop"])
def test_opt_in_analytics_keeps_nothing_identifiable_without_consent(tmp_path: Path, mode: str) -> None:
    home = make_home(
        tmp_path / "home",
        f'[privacy]\nmodes = {{ analytics = "opt_in" }}\nwithout_consent = "{mode}"\n',
    )
    result = store(
        home,
        # No statement: not allowed under opt-in.
        {"type": "identify", "userId": "nobody", "timestamp": at(0), "traits": {"email": "nobody@example.com"},
         "context": {"page": {"path": "/signup", "url": "https://shop.example/signup?email=nobody@example.com"}}},
        # A grant: stored whole.
        {"type": "track", "userId": "yes", "event": "Viewed", "timestamp": at(1), "context": prefs(analytics=True)},
        # A denial: not allowed.
        {"type": "track", "userId": "no", "event": "Viewed", "timestamp": at(2), "context": prefs(analytics=False),
         "properties": {"revenue": 5}},
    )  # fmt: skip
    stored = rows(
        home,
        "SELECT user_id, anonymous_id, traits::VARCHAR, context::VARCHAR, ip, flags, event FROM events ORDER BY timestamp",
    )
    identified = [r for r in stored if r[0] is not None]
    assert [r[0] for r in identified] == ["yes"]
    assert identified[0][4] is not None  # the IP network of a consenting visitor is kept
    anonymous = [r for r in stored if r[0] is None]
    text = json.dumps([list(r[:6]) for r in anonymous], default=str)
    assert "nobody" not in text and "203.0.113" not in text
    if mode == "anonymise":
        assert result.anonymised == 2 and result.stored == 3 and len(anonymous) == 2
        assert all("anonymised" in r[5] and r[1] is None and r[4] is None for r in anonymous)
        assert json.loads(anonymous[0][3])["page"]["path"] == "/signup"  # still counts in page analytics
    else:
        assert result.dropped == 2 and result.stored == 1 and not anonymous
    # The refusal itself is on record (proof of what the person chose), and no identifier joined the graph.
    assert rows(home, "SELECT node, purpose, status FROM consents WHERE node = 'user_id:no'") == [
        ("user_id:no", "analytics", "denied")
    ]
    assert rows(home, "SELECT count(*) FROM identities WHERE value IN ('nobody', 'nobody@example.com')") == [
        (0,)
    ]


def test_opt_out_analytics_stops_at_a_denial(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")  # the default: analytics is opt-out
    store(
        home,
        {"type": "track", "userId": "u2", "event": "Before", "timestamp": at(0)},
        {"type": "track", "userId": "u2", "event": "Refusal", "timestamp": at(1), "context": prefs(analytics=False)},
    )  # fmt: skip
    store(home, {"type": "track", "userId": "u2", "event": "After", "timestamp": at(2)})
    assert rows(home, "SELECT event, user_id FROM events ORDER BY timestamp") == [
        ("Before", "u2"), ("Refusal", None), ("After", None)
    ]  # fmt: skip
    # Granting again lets their events in again.
    store(
        home,
        {
            "type": "track",
            "userId": "u2",
            "event": "Back",
            "timestamp": at(3),
            "context": prefs(analytics=True),
        },
    )
    store(home, {"type": "track", "userId": "u2", "event": "Later", "timestamp": at(4)})
    assert rows(home, "SELECT event FROM events WHERE user_id = 'u2' ORDER BY timestamp") == [
        ("Before",), ("Back",), ("Later",)
    ]  # fmt: skip


def test_imported_contacts_carry_consent(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    contacts = write(
        tmp_path / "contacts.csv",
        """
        record_id,first_name,email,consent_marketing,consent_analytics,timestamp
        R1,Ann,ann@example.com,yes,,2026-10-01T09:00:00Z
        R2,Bob,bob@example.com,opt-out,granted,2026-10-01T09:00:00Z
        R3,Cy,cy@example.com,,,2026-10-01T09:00:00Z
        R4,Di,di@example.com,maybe,,2026-10-01T09:00:00Z
        """,
    )
    result = do_import(home, "contacts", contacts, source="crm")
    assert result["imported"] == 3 and result["quarantined"] == 1  # "maybe" is no statement: quarantined
    assert consent_of(home, "ann@example.com") == {"marketing": "granted"}
    assert consent_of(home, "bob@example.com") == {"analytics": "granted", "marketing": "denied"}
    assert consent_of(home, "cy@example.com") == {}
    evidence = rows(
        home, "SELECT via, evidence->>'$.file', source FROM consents WHERE purpose = 'marketing' LIMIT 1"
    )
    assert evidence == [("import", "contacts.csv", "crm")]


def test_outputs_ask_the_gate(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    store(
        home,
        {"type": "identify", "userId": "m-yes", "timestamp": at(0), "context": prefs(marketing=True)},
        {"type": "identify", "userId": "m-none", "timestamp": at(0)},
        {"type": "identify", "userId": "m-gone", "timestamp": at(0), "context": prefs(marketing=True)},
        {"type": "identify", "userId": "m-gone", "timestamp": at(1), "context": prefs(marketing=False)},
        {"type": "identify", "userId": "p-no", "timestamp": at(0), "context": prefs(personalisation=False)},
    )  # fmt: skip
    gate = Gate.for_settings(home.settings)
    with open_store(home.settings.store_path) as db:
        marketing = {
            r[0] for r in db.execute(
                f"SELECT user_id FROM events WHERE user_id IN (SELECT value FROM identities WHERE kind = 'user_id' "
                f"AND customer_id IN ({gate.customers_sql('marketing')}))")
        }  # fmt: skip
        personal = {
            u: gate.allows(db, find_customer(db, u) or "", "personalisation") for u in ("m-none", "p-no")
        }
    assert marketing == {"m-yes"}  # opt-in: never stated is not allowed; a withdrawal ends it
    assert personal == {"m-none": True, "p-no": False}  # opt-out: allowed until denied


def _shopper(user: str, category: str, consent: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    context = {"context": consent} if consent else {}
    return [
        {"type": "track", "userId": user, "event": "Product Viewed", "timestamp": datetime.now(UTC).isoformat(),
         "properties": {"category": category}, **context}
    ]  # fmt: skip


def test_personalisation_falls_back_without_consent_over_http(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    # Everyone else likes Shoes; Jane likes Hats; Omar likes Hats too but refused personalisation.
    events = [e for i in range(5) for e in _shopper(f"crowd{i}", "Shoes")]
    events += _shopper("jane", "Hats") * 1 + _shopper("omar", "Hats", prefs(personalisation=False))
    store(home, *events)
    server = ServerProcess(home.path).start()
    try:

        def ask(ref: str) -> dict[str, Any]:
            answer = httpx.get(f"{server.url}/v1/personalise/{ref}/categories",
                               headers={"Authorization": f"Bearer {home.read_key}"}, timeout=10)  # fmt: skip
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        jane, omar, stranger = ask("jane"), ask("omar"), ask("not-a-customer")
    finally:
        server.kill()
    assert jane["personal"] is True and jane["categories"][0]["category"] == "Hats"
    assert omar["personal"] is False and omar["reason"] == "no personalisation consent"
    assert omar["categories"][0]["category"] == "Shoes"
    assert stranger["personal"] is False and stranger["categories"][0]["category"] == "Shoes"


def test_consent_through_the_cli_and_the_admin_api(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    store(
        home,
        {"type": "identify", "userId": "u9", "timestamp": at(0), "traits": {"email": "nine@example.com"}},
    )
    runner = CliRunner()
    out = runner.invoke(cli, ["privacy", "consent", "nine@example.com", "--grant", "marketing", "--evidence",
                              "signed form", "--home", str(home.path), "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["purposes"]["marketing"] == {**json.loads(out.stdout)["purposes"]["marketing"],
                                                               "status": "granted", "allowed": True}  # fmt: skip
    bad = runner.invoke(cli, ["privacy", "consent", "u9", "--grant", "astrology", "--evidence", "x",
                              "--home", str(home.path)])  # fmt: skip
    assert bad.exit_code == 2 and "unknown purpose 'astrology'" in bad.output
    server = ServerProcess(home.path).start()
    try:
        admin = {"Authorization": f"Bearer {home.admin_key}"}
        answer = httpx.post(f"{server.url}/v1/privacy/consent", headers=admin, timeout=10,
                            json={"identifier": "u9", "purposes": {"marketing": "denied"},
                                  "evidence": {"call": "support ticket 42"}})  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.json()["purposes"]["marketing"]["status"] == "withdrawn"
        read = httpx.get(
            f"{server.url}/v1/privacy/consent/u9", headers={"Authorization": f"Bearer {home.read_key}"}
        )
        assert read.status_code == 403  # consent records are an admin's to read
    finally:
        server.kill()
    actions = [json.loads(line)["action"] for line in home.settings.audit_path.read_text().splitlines()]
    assert actions.count("consent.change") == 2


def test_a_forged_future_grant_cannot_outrank_a_withdrawal(tmp_path: Path) -> None:
    """The write key is public: a grant dated 2099 counts from when it arrived, so a withdrawal recorded
    later (by phone, through the CLI) wins."""
    home = make_home(tmp_path / "home")
    store(home, {"type": "identify", "userId": "f-1", "timestamp": "2099-01-01T00:00:00Z",
                 "context": prefs(marketing=True)})  # fmt: skip
    out = CliRunner().invoke(cli, ["privacy", "consent", "f-1", "--deny", "marketing", "--evidence", "phoned",
                                   "--home", str(home.path), "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["purposes"]["marketing"]["allowed"] is False
    assert consent_of(home, "f-1")["marketing"] == "withdrawn"


def test_untidy_ids_state_consent_for_the_right_person(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    store(home, {"type": "identify", "userId": "ws-2", "timestamp": at(0), "context": prefs(marketing=True)})
    # Sent with a stray space, and with a placeholder userId and the real anonymousId.
    store(
        home,
        {
            "type": "track",
            "userId": "ws-2 ",
            "event": "E",
            "timestamp": at(1),
            "context": prefs(marketing=False),
        },
    )
    assert consent_of(home, "ws-2")["marketing"] == "withdrawn"
    store(
        home,
        {
            "type": "identify",
            "anonymousId": "anon-3",
            "timestamp": at(0),
            "traits": {"email": "a3@example.com"},
        },
    )
    store(home, {"type": "track", "userId": "undefined", "anonymousId": "anon-3", "event": "E", "timestamp": at(1),
                 "context": prefs(marketing=True)})  # fmt: skip
    assert consent_of(home, "a3@example.com") == {"marketing": "granted"}
    assert rows(home, "SELECT count(*) FROM consents WHERE node LIKE 'user_id:undefined%'") == [(0,)]


def test_anonymised_events_lose_identifying_properties_and_never_join_the_graph(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", '[privacy]\nmodes = { analytics = "opt_in" }\n')
    store(home, {"type": "track", "userId": "nc-1", "event": "Order Completed", "timestamp": at(0),
                 "properties": {"email": "nc@example.com", "loyalty_id": "L-999", "name": "No Consent",
                                "revenue": 30, "order_id": "o-1"}})  # fmt: skip
    [(properties, flags)] = rows(home, "SELECT properties::VARCHAR, flags FROM events")
    assert json.loads(properties) == {"revenue": 30, "order_id": "o-1"} and "anonymised" in flags
    assert rows(home, "SELECT count(*) FROM identities") == [(0,)]
    assert rows(home, "SELECT count(*) FROM user_agents") == [(0,)]
