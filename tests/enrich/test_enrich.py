"""Enrichment on the way in: user agents, referrer classes, UTM fields and sessions, as a query sees them
in ``events_enriched``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from touchpoints.enrich.useragent import parse_agent
from touchpoints.events.validate import normalize_event
from touchpoints.store.duckdb import open_store
from touchpoints.store.events import append_events

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
IPAD = "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1"
GALAXY_TAB = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("agent", "browser", "os", "device_type"),
    [
        (IPHONE, "Mobile Safari", "iOS", "mobile"),
        (WINDOWS, "Chrome", "Windows", "desktop"),
        (IPAD, "Mobile Safari", "iOS", "tablet"),
        (GALAXY_TAB, "Chrome", "Android", "tablet"),
        (GOOGLEBOT, "Googlebot", None, "bot"),
    ],
)
def test_user_agents_give_browser_os_and_device_type(
    agent: str, browser: str, os: str | None, device_type: str
) -> None:
    parsed = parse_agent(agent)
    assert (parsed[0], parsed[2], parsed[5]) == (browser, os, device_type)


def _page(
    message_id: str,
    at: datetime,
    *,
    anonymous: str = "visitor-1",
    url: str = "https://shop.example/",
    referrer: str = "",
    agent: str = WINDOWS,
    campaign: dict[str, str] | None = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "library": {"name": "analytics.js"},
        "page": {
            "url": url,
            "referrer": referrer,
            "search": "?" + url.split("?", 1)[1] if "?" in url else "",
        },
        "userAgent": agent,
    }
    if campaign:
        context["campaign"] = campaign
    return {
        "type": "page",
        "messageId": message_id,
        "anonymousId": anonymous,
        "timestamp": at.isoformat(),
        "context": context,
    }


def _enriched(tmp_path: Path, messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    events = [
        normalize_event(msgspec.json.encode(m), source="web", received_at=START + timedelta(days=1))
        for m in messages
    ]
    with open_store(tmp_path / "store.duckdb") as db:
        append_events(db, events)
        table = db.arrow("SELECT * FROM events_enriched ORDER BY timestamp")
    return {row["message_id"]: row for row in table.to_pylist()}


def test_referrers_are_classified_and_utm_fields_read(tmp_path: Path) -> None:
    rows = _enriched(
        tmp_path,
        [
            _page("search", START, referrer="https://www.google.com/", anonymous="a"),
            _page("social", START, referrer="https://t.co/abc", anonymous="b"),
            _page(
                "paid",
                START,
                url="https://shop.example/tv?utm_source=google&utm_medium=cpc&utm_campaign=autumn%20tv",
                referrer="https://www.google.com/",
                anonymous="c",
            ),
            _page("gclid", START, url="https://shop.example/?gclid=xyz", anonymous="d"),
            _page(
                "email",
                START,
                url="https://shop.example/?utm_source=newsletter&utm_medium=email",
                anonymous="e",
            ),
            _page(
                "internal",
                START,
                url="https://shop.example/tv",
                referrer="https://shop.example/",
                anonymous="f",
            ),
            _page("referral", START, referrer="https://www.techradar.example/best-tvs", anonymous="g"),
            _page("direct", START, anonymous="h"),
            _page(
                "campaign-object",
                START,
                campaign={"source": "instagram", "medium": "social", "name": "new-audio"},
                anonymous="i",
            ),
        ],
    )
    assert {k: r["referrer_class"] for k, r in rows.items()} == {
        "search": "search",
        "social": "social",
        "paid": "paid",
        "gclid": "paid",
        "email": "email",
        "internal": "internal",
        "referral": "referral",
        "direct": "direct",
        "campaign-object": "social",
    }
    assert (rows["paid"]["utm_source"], rows["paid"]["utm_medium"], rows["paid"]["utm_campaign"]) == (
        "google",
        "cpc",
        "autumn tv",
    )
    assert rows["campaign-object"]["utm_campaign"] == "new-audio", (
        "context.campaign, as analytics.js sends it"
    )
    assert rows["referral"]["referrer_host"] == "techradar.example"
    assert rows["direct"]["utm_source"] is None


def test_sessions_split_after_thirty_minutes_of_inactivity(tmp_path: Path) -> None:
    minutes = [0, 10, 35, 66, 100, 101]  # gaps: 10, 25, 31 (new), 34 (new), 1
    messages = [_page(f"v1-{m}", START + timedelta(minutes=m)) for m in minutes]
    messages.append(_page("v2-0", START + timedelta(minutes=5), anonymous="visitor-2", agent=IPHONE))
    rows = _enriched(tmp_path, messages)
    sessions = [rows[f"v1-{m}"]["session_id"] for m in minutes]
    assert sessions[0] == sessions[1] == sessions[2]
    assert sessions[3] not in (sessions[0], sessions[4])
    assert sessions[4] == sessions[5]
    assert [rows[f"v1-{m}"]["session_number"] for m in minutes] == [1, 1, 1, 2, 3, 3]
    assert rows["v2-0"]["session_id"] not in sessions, "another visitor has sessions of their own"
    assert rows["v2-0"]["ua_device_type"] == "mobile"
    assert rows["v1-0"]["ua_browser"] == "Chrome" and rows["v1-0"]["ua_os"] == "Windows"


def test_offline_events_have_no_session(tmp_path: Path) -> None:
    pos = {
        "type": "track",
        "event": "Order Completed",
        "userId": "c1",
        "messageId": "o1",
        "timestamp": START.isoformat(),
        "context": {"channel": "pos"},
        "properties": {"order_id": "1"},
    }
    rows = _enriched(tmp_path, [pos])
    assert rows["o1"]["channel"] == "pos"
    assert rows["o1"]["session_id"] is None
