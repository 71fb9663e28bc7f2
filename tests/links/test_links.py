"""Click-redirect links and the open pixel, against a real collector process."""

from __future__ import annotations

import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Home, ServerProcess, stored_events
from touchpoints.links.registry import LinkError, LinkRegistry
from touchpoints.links.routes import PIXEL

pytestmark = pytest.mark.slow


def _events_named(home: Home, name: str, count: int, timeout: float = 15.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        found = [e for e in stored_events(home) if e.get("event") == name]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    return found


def test_a_qr_scan_is_recorded_and_redirected_to_the_registered_destination(
    home: Home, server: ServerProcess
) -> None:
    link = LinkRegistry(home.settings.links_path).create_link(
        "autumn-tv", "https://shop.example/tv?utm_source=shelf", channel="qr", placement="aisle-3"
    )
    answer = httpx.get(
        f"{server.url}/l/{link.id}",
        headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"},
    )
    assert answer.status_code == 302
    target = urlsplit(answer.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example", "/tv")
    query = parse_qs(target.query)
    assert query["utm_source"] == ["shelf"], "the destination's own query is kept"
    click_id = query["tp_click"][0]
    assert answer.headers["cache-control"].startswith("no-store")

    (scan,) = _events_named(home, "QR Code Scanned", 1)
    assert scan["channel"] == "qr"
    assert scan["source"] == "links"
    assert scan["anonymousId"] == f"click:{click_id}", "an unknown scanner is tied to the click id"
    assert scan["properties"] == {
        "link_id": link.id,
        "link_url": "https://shop.example/tv?utm_source=shelf",
        "campaign_id": "autumn-tv",
        "campaign_name": "autumn-tv",
        "placement": "aisle-3",
    }


def test_an_email_click_and_open_name_the_recipient(home: Home, server: ServerProcess) -> None:
    link = LinkRegistry(home.settings.links_path).create_link("october-deals", "https://shop.example/deals")
    click = httpx.get(f"{server.url}/l/{link.id}", params={"u": "cust-42", "e": "em-7"})
    assert click.status_code == 302
    opened = httpx.get(f"{server.url}/o/october-deals.gif", params={"u": "cust-42", "e": "em-7"})
    assert opened.status_code == 200
    assert opened.headers["content-type"] == "image/gif"
    assert opened.content == PIXEL and opened.content.startswith(b"GIF89a")

    (clicked,) = _events_named(home, "Email Link Clicked", 1)
    (seen,) = _events_named(home, "Email Opened", 1)
    for event in (clicked, seen):
        assert event["userId"] == "cust-42"
        assert event["channel"] == "email"
        assert event["properties"]["email_id"] == "em-7"  # type: ignore[index]
        assert event["properties"]["campaign_id"] == "october-deals"  # type: ignore[index]


def test_a_foreign_destination_is_refused_and_nothing_is_recorded(home: Home, server: ServerProcess) -> None:
    registry = LinkRegistry(home.settings.links_path)
    link = registry.create_link("spring", "https://shop.example/spring")
    registry.allow("spring", "https://shop.example/spring-kids")
    for foreign in ("https://evil.example/phish", "//evil.example", "https://shop.example.evil.example/spring",
                    "https://shop.example/spring/../../admin", "javascript:alert(1)"):  # fmt: skip
        answer = httpx.get(f"{server.url}/l/{link.id}", params={"to": foreign})
        assert answer.status_code == 400, foreign
        assert "location" not in answer.headers
        assert answer.json()["code"] == "destination_not_registered"
        assert "touchpoints links allow" in answer.json()["message"]
    # Another destination registered for the same campaign may be chosen.
    allowed = httpx.get(f"{server.url}/l/{link.id}", params={"to": "https://shop.example/spring-kids"})
    assert allowed.status_code == 302
    assert allowed.headers["location"].startswith("https://shop.example/spring-kids?tp_click=")
    # An unknown link is a 404 and redirects nowhere.
    unknown = httpx.get(f"{server.url}/l/nope123")
    assert unknown.status_code == 404 and "location" not in unknown.headers

    clicks = _events_named(home, "Link Clicked", 0) + _events_named(home, "Email Link Clicked", 1)
    assert len(clicks) == 1, "only the allowed redirect was recorded"
    assert clicks[0]["properties"]["link_url"] == "https://shop.example/spring-kids"  # type: ignore[index]


def test_the_pixel_of_an_unknown_campaign_answers_but_records_nothing(
    home: Home, server: ServerProcess
) -> None:
    LinkRegistry(home.settings.links_path).create_link("known", "https://shop.example/")
    assert httpx.get(f"{server.url}/o/unknown-campaign.gif", params={"u": "x"}).content == PIXEL
    assert httpx.get(f"{server.url}/o/known.gif", params={"u": "y"}).status_code == 200
    opens = _events_named(home, "Email Opened", 1)
    time.sleep(0.5)
    opens = _events_named(home, "Email Opened", 1)
    assert [e["userId"] for e in opens] == ["y"]


def test_links_are_created_from_the_command_line(home: Home) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "touchpoints", "links", "create", "--campaign", "tv-launch", "--to",
         "https://shop.example/tv", "--channel", "qr", "--home", str(home.path), "--json"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert '"channel": "qr"' in out
    bad = subprocess.run(
        [sys.executable, "-m", "touchpoints", "links", "create", "--campaign", "x", "--to", "ftp://files.example/",
         "--home", str(home.path)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "must be an absolute http:// or https:// URL" in bad.stderr


@pytest.mark.parametrize("destination", ["/relative", "https://user:pw@shop.example/", "mailto:a@b.example"])
def test_a_link_cannot_point_at_a_relative_or_credentialed_destination(home: Home, destination: str) -> None:
    with pytest.raises(LinkError):
        LinkRegistry(home.settings.links_path).create_link("c", destination)


def test_a_relay_with_a_write_key_keeps_the_time_and_id_of_a_hit_and_no_one_else_can(
    home: Home, server: ServerProcess
) -> None:
    LinkRegistry(home.settings.links_path).create_link("october-deals", "https://shop.example/deals")
    relayed = {"u": "cust-9", "e": "em-1", "t": "2026-10-02T08:15:00Z", "m": "opn-em-1"}
    anonymous = httpx.get(f"{server.url}/o/october-deals.gif", params={**relayed, "u": "someone-else"})
    assert anonymous.content == PIXEL, "the image is always answered"
    assert httpx.head(f"{server.url}/o/october-deals.gif", params={"u": "scanner"}).status_code == 200
    for _ in range(2):  # a retry of the same relayed open
        ok = httpx.get(f"{server.url}/o/october-deals.gif", params=relayed, headers=home.basic)
        assert ok.status_code == 200 and ok.content == PIXEL
    _events_named(home, "Email Opened", 2)
    time.sleep(0.5)
    opens = {e["userId"]: e for e in _events_named(home, "Email Opened", 2)}
    assert set(opens) == {"cust-9", "someone-else"}, "the retry is not stored twice; a HEAD is not an open"
    live = opens["someone-else"]
    assert live["messageId"] != "opn-em-1", "an anonymous caller's id is ignored"
    assert not live["timestamp"].startswith("2026-10-02"), "and so is its time"  # type: ignore[union-attr]
    assert "anonymousId" not in live, "a known recipient is not also a new anonymous visitor"
    opened = opens["cust-9"]
    assert opened["messageId"] == "opn-em-1"
    assert opened["timestamp"].startswith("2026-10-02T08:15:00")  # type: ignore[union-attr]
