"""``GET /v1/profiles/{id}`` and ``GET /v1/profiles?...`` on a real server over Jane's world: what a support
agent sees, asked for by any of her identifiers, and who may ask."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess
from tests.profiles.conftest import copy_world
from tests.profiles.world import JANE_EVENTS, World, profile_over_http


@pytest.fixture(scope="module")
def live(built_world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    world = copy_world(built_world, Path(tmp_path_factory.mktemp("api")) / "home")
    server = ServerProcess(world.home.path).start()
    try:
        yield world, server.url
    finally:
        server.kill()


def get(live: tuple[World, str], ref: str, **params: object) -> httpx.Response:
    world, url = live
    return profile_over_http(url, world.home.read_key, ref, **params)


@pytest.mark.parametrize(
    "ref",
    ["u-jane", "JANE.DOE@example.com", "email:jane.doe@example.com", "+44 7700 900123", "L-100", "R1", "a-1"],
)
def test_any_identifier_finds_the_same_customer(live: tuple[World, str], ref: str) -> None:
    response = get(live, ref, timeline=0)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["computed"]["events"] == JANE_EVENTS
    again = get(live, body["customer_id"], timeline=0)
    assert again.json()["customer_id"] == body["customer_id"]


def test_identifiers_from_every_system_are_listed(live: tuple[World, str]) -> None:
    ids = {(i["kind"], i["value"], i["source"]) for i in get(live, "u-jane").json()["identifiers"]}
    assert {
        ("user_id", "u-jane", "web-shop"),
        ("anonymous_id", "a-1", "web-shop"),
        ("email", "jane.doe@example.com", "crm"),
        ("phone", "+447700900123", "crm"),
        ("loyalty_id", "L-100", "crm"),
        ("record", "R1", "crm"),
    } <= ids
    assert not any("omar" in value for _, value, _ in ids), "Omar is another customer"


def test_traits_show_the_latest_value_with_its_source_and_the_conflict(live: tuple[World, str]) -> None:
    traits = get(live, "u-jane").json()["traits"]
    # The CRM said Jane (5 Jan), the web shop's identify said Janet (1 Feb): the latest wins, Jane shows.
    first = traits["firstName"]
    assert (first["value"], first["source"], first["channel"], first["at"]) == (
        "Janet",
        "web-shop",
        "web",
        "2026-02-01T10:05:00.000000Z",
    )
    assert [(o["value"], o["source"], o["at"]) for o in first["others"]] == [
        ("Jane", "crm", "2026-01-05T09:00:00.000000Z")
    ]
    # Nested objects flatten to dotted names.
    assert traits["address.city"]["value"] == "Manchester"
    assert [o["value"] for o in traits["address.city"]["others"]] == ["London"]
    assert traits["address.country"] == {
        "value": "GB",
        "source": "crm",
        "channel": "other",
        "at": "2026-01-05T09:00:00.000000Z",
        "message_id": traits["lastName"]["message_id"],
        "others": [],
    }
    assert (traits["lastName"]["value"], traits["name"]["value"]) == ("Doe", "Jane Doe")
    # The latest email statement is the survey's (7 Mar); the web shop wrote it in another case.
    assert traits["email"]["source"] == "delighted"
    assert "Jane.Doe@Example.com" in [o["value"] for o in traits["email"]["others"]]


def test_computed_traits_add_up_every_channel(live: tuple[World, str]) -> None:
    c = get(live, "u-jane").json()["computed"]
    assert c["first_seen"] == "2026-01-05T09:00:00.000000Z"
    assert c["last_seen"] == "2026-03-07T18:00:00.000000Z"
    assert c["events"] == 12
    assert c["channels"] == {"web": 4, "support": 3, "pos": 2, "survey": 2, "other": 1}
    # Orders: W-1 online 149.00, receipt 1001 in store 2 x 30.00 + 20.00 = 80.00; refund C1001 1 x 30.00.
    assert (c["orders"], c["refunds"], c["currency"]) == (2, 1, "GBP")
    assert c["total_spend"] == 149.0 + 80.0 - 30.0
    assert c["average_order_value"] == (149.0 + 80.0) / 2
    assert c["spend_by_currency"] == {
        "GBP": {"orders": 2, "refunds": 1, "gross": 229.0, "refunded": 30.0, "net": 199.0}
    }
    last = c["last_purchase"]
    assert (last["order_id"], last["total"], last["channel"], last["at"]) == (
        "1001",
        80.0,
        "pos",
        "2026-03-01T12:00:00.000000Z",
    )
    # Dresses: 2 units; Shoes 1, Bags 1.
    assert c["favourite_category"] == "Dresses"
    # T-1 opened and resolved; T-2 opened and still open.
    assert c["open_tickets"] == 1
    assert [t["ticket_id"] for t in c["open_ticket_list"]] == ["T-2"]
    assert c["open_ticket_list"][0]["subject"] == "Refund not received"
    # NPS 9 in January, 3 in March: the latest counts.
    nps = c["last_nps"]
    assert (nps["score"], nps["group"], nps["at"], nps["source"]) == (
        3,
        "detractor",
        "2026-03-07T18:00:00.000000Z",
        "delighted",
    )


def test_consent_is_the_latest_choice_per_purpose(live: tuple[World, str]) -> None:
    consent = get(live, "u-jane").json()["consent"]
    assert consent["state"] == "known"
    # The page view granted both; the identify five minutes later withdrew marketing.
    assert {p: (s["granted"], s["at"], s["source"]) for p, s in consent["purposes"].items()} == {
        "analytics": (True, "2026-02-01T10:05:00.000000Z", "web-shop"),
        "marketing": (False, "2026-02-01T10:05:00.000000Z", "web-shop"),
    }
    omar = get(live, "omar@example.com").json()["consent"]
    assert omar == {"state": "unknown", "purposes": {}}


EXPECTED_TIMELINE = [
    ("2026-03-07T18:00:00.000000Z", "survey", "Survey Responded", 'Survey Responded: NPS 3 "Slow refund" (survey)'),
    ("2026-03-06T09:00:00.000000Z", "support", "Ticket Opened", "Ticket Opened T-2: Refund not received (support)"),
    ("2026-03-05T12:00:00.000000Z", "pos", "Order Refunded", "Order Refunded 30.00 GBP #C1001, 1 item (pos)"),
    ("2026-03-03T09:00:00.000000Z", "support", "Ticket Resolved", "Ticket Resolved T-1: Where is my order? (support)"),
    ("2026-03-02T09:00:00.000000Z", "support", "Ticket Opened", "Ticket Opened T-1: Where is my order? (support)"),
    ("2026-03-01T12:00:00.000000Z", "pos", "Order Completed", "Order Completed 80.00 GBP #1001, 2 items (pos)"),
    ("2026-02-01T10:10:00.000000Z", "web", "Order Completed", "Order Completed 149.00 GBP #W-1, 1 item (web)"),
    ("2026-02-01T10:05:00.000000Z", "web", None, "Identified: address, email, firstName (web)"),
    ("2026-02-01T10:01:00.000000Z", "web", "Product Viewed", "Product Viewed: Trail shoes (web)"),
    ("2026-02-01T10:00:00.000000Z", "web", "Home", "Viewed page Home (web)"),
    ("2026-01-20T18:00:00.000000Z", "survey", "Survey Responded", 'Survey Responded: NPS 9 "Lovely shop" (survey)'),
    ("2026-01-05T09:00:00.000000Z", "other", None, "Identified: address, email, firstName, lastName, loyalty_id, name, ... (other)"),
]  # fmt: skip


def test_timeline_is_every_channel_newest_first(live: tuple[World, str]) -> None:
    body = get(live, "u-jane").json()
    timeline = body["timeline"]
    assert [(e["at"], e["channel"], e["event"], e["summary"]) for e in timeline] == EXPECTED_TIMELINE
    assert body["next_before"] is None
    assert {e["source"] for e in timeline} == {"crm", "web-shop", "pos", "zendesk", "delighted"}
    assert all(e["message_id"] for e in timeline)
    assert timeline[6]["message_id"] == "w-4" and timeline[6]["properties"]["order_id"] == "W-1"


def test_timeline_pages_with_the_cursor(live: tuple[World, str]) -> None:
    pages: list[list[str]] = []
    before = None
    for _ in range(5):
        body = get(live, "u-jane", timeline=5, **({"before": before} if before else {})).json()
        pages.append([e["at"] for e in body["timeline"]])
        before = body["next_before"]
        if before is None:
            break
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [at for page in pages for at in page] == [row[0] for row in EXPECTED_TIMELINE]
    older = get(live, "u-jane", before="2026-02-01T10:05:00Z").json()["timeline"]
    assert [e["at"] for e in older] == [row[0] for row in EXPECTED_TIMELINE[8:]]
    bad = get(live, "u-jane", before="yesterday")
    assert bad.status_code == 400 and "before=" in bad.json()["message"]


def test_unknown_customer_is_404_with_what_to_do(live: tuple[World, str]) -> None:
    response = get(live, "nobody@example.com")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "no_customer"
    assert "nobody@example.com" in body["message"] and "/v1/profiles?email=" in body["message"]


def test_only_read_and_admin_keys_may_read(live: tuple[World, str]) -> None:
    world, url = live
    path = f"{url}/v1/profiles/u-jane"
    missing = httpx.get(path)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["code"] == "missing_read_key"
    wrong = httpx.get(path, headers={"Authorization": "Bearer tpr_not-a-key"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    basic = httpx.get(path, auth=(world.home.read_key, ""))
    assert basic.status_code == 401, "a read key goes in a Bearer header, not Basic"
    write = httpx.get(path, headers={"Authorization": f"Bearer {world.web_key}"})
    assert write.status_code == 403
    assert "write key" in write.json()["message"] and "web-shop" in write.json()["message"]
    for key in (world.home.read_key, world.home.admin_key):
        ok = httpx.get(path, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    search = httpx.get(f"{url}/v1/profiles", params={"name": "jane"})
    assert search.status_code == 401


def search(live: tuple[World, str], **params: str) -> list[dict[str, object]]:
    world, url = live
    response = httpx.get(
        f"{url}/v1/profiles", params=params, headers={"Authorization": f"Bearer {world.home.read_key}"}
    )
    assert response.status_code == 200, response.text
    customers: list[dict[str, object]] = response.json()["customers"]
    return customers


def test_search_by_email_phone_or_name(live: tuple[World, str]) -> None:
    jane = get(live, "u-jane", timeline=0).json()["customer_id"]
    by_email = search(live, email="Jane.Doe@EXAMPLE.com")
    assert [c["customer_id"] for c in by_email] == [jane]
    assert by_email[0]["emails"] == ["jane.doe@example.com"] and by_email[0]["user_ids"] == ["u-jane"]
    assert [c["customer_id"] for c in search(live, phone="+44 (0)7700-900123")] == [jane]
    # Names: every word, any case; "jane" matches "Jane Doe" (CRM) and "Janet" (web) alike.
    assert [c["customer_id"] for c in search(live, name="JANE")] == [jane]
    assert [c["customer_id"] for c in search(live, name="jane doe")] == [jane]
    assert [c["name"] for c in search(live, name="farouk")] == ["Omar Farouk"]
    assert search(live, name="nobody") == []
    assert search(live, name="jane", email="omar@example.com") == [], "every criterion must match"
    world, url = live
    empty = httpx.get(f"{url}/v1/profiles", headers={"Authorization": f"Bearer {world.home.read_key}"})
    assert empty.status_code == 400 and empty.json()["code"] == "no_criterion"
    # A name search finds a person; it does not page through the customer base two letters at a time.
    short = httpx.get(
        f"{url}/v1/profiles",
        params={"name": "ja"},
        headers={"Authorization": f"Bearer {world.home.read_key}"},
    )
    assert short.status_code == 400 and "at least 3 letters" in short.json()["message"]
    whole = httpx.get(
        f"{url}/v1/profiles",
        params={"name": "jane"},
        headers={"Authorization": f"Bearer {world.home.read_key}"},
    ).json()
    assert whole["truncated"] is False and whole["limit"] == 50


def test_profiles_are_in_the_openapi_schema(live: tuple[World, str]) -> None:
    _, url = live
    schema = httpx.get(f"{url}/openapi.json").json()
    operation = schema["paths"]["/v1/profiles/{ref}"]["get"]
    assert {"200", "401", "403", "404"} <= set(operation["responses"])
    assert operation["security"] == [{"readKey": []}]
    assert schema["components"]["securitySchemes"]["readKey"]["scheme"] == "bearer"
    assert "/v1/profiles" in schema["paths"]
