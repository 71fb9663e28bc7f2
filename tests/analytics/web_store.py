"""Small hand-built stores for web analytics and heatmaps: visits as the browser tracker and the app SDKs
send them, POSTed to a real collector (``touchpoints serve``), so they go through validation, the spool,
the loader and enrichment (user agents, referrer classes, UTM, sessions) as real traffic does.

``WEB`` are the visits of ``test_web`` and ``HEATMAP`` the clicks and scrolls of ``test_heatmap``; each
test file spells out the figures a correct analysis finds, computed by hand from these lists.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Home, ServerProcess, make_home

SITE = "https://shop.example"
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
DAY = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday

Message = dict[str, Any]


def at(day: int, hh: int, mm: int, ss: int = 0) -> datetime:
    """A time on 5 October 2026 (day 0) or the days after, UTC."""
    return DAY + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)


def _web_context(path: str, referrer: str, agent: str, campaign: dict[str, str] | None) -> dict[str, Any]:
    bare, _, query = path.partition("?")
    context: dict[str, Any] = {
        "library": {"name": "touchpoints.js", "version": "1.0.0"},
        "page": {
            "path": bare,
            "url": SITE + path,
            "search": "?" + query if query else "",
            "referrer": referrer,
            "title": bare,
        },
        "userAgent": agent,
    }
    if campaign:
        context["campaign"] = campaign
    return context


def page(
    who: str,
    when: datetime,
    path: str,
    referrer: str = "",
    *,
    agent: str = WINDOWS,
    campaign: dict[str, str] | None = None,
    user_id: str | None = None,
) -> Message:
    """A page view of ``path`` (with its query, if any) by the browser ``who``."""
    message: Message = {
        "type": "page",
        "anonymousId": who,
        "timestamp": when.isoformat(),
        "properties": {"path": path.partition("?")[0], "url": SITE + path, "referrer": referrer},
        "context": _web_context(path, referrer, agent, campaign),
    }
    if user_id:
        message["userId"] = user_id
    return message


def track(
    who: str,
    when: datetime,
    event: str,
    path: str,
    properties: dict[str, Any] | None = None,
    *,
    referrer: str = "",
    agent: str = WINDOWS,
    campaign: dict[str, str] | None = None,
    user_id: str | None = None,
) -> Message:
    """A track call made on the page ``path`` (the tracker sends the page's context with every call)."""
    message: Message = {
        "type": "track",
        "event": event,
        "anonymousId": who,
        "timestamp": when.isoformat(),
        "properties": properties or {},
        "context": _web_context(path, referrer, agent, campaign),
    }
    if user_id:
        message["userId"] = user_id
    return message


def screen(who: str, when: datetime, name: str) -> Message:
    """A screen of the iOS app (Segment's analytics-ios)."""
    return {
        "type": "screen",
        "name": name,
        "anonymousId": who,
        "timestamp": when.isoformat(),
        "properties": {"name": name},
        "context": {
            "library": {"name": "analytics-ios", "version": "4.1.8"},
            "device": {"type": "ios", "model": "iPhone15,2", "manufacturer": "Apple"},
            "os": {"name": "iOS", "version": "17.0"},
            "app": {"name": "Shop", "version": "2.3"},
        },
    }


def app_track(who: str, when: datetime, event: str, properties: dict[str, Any] | None = None) -> Message:
    message = screen(who, when, "")
    del message["name"]
    return message | {"type": "track", "event": event, "properties": properties or {}}


def click(
    who: str,
    when: datetime,
    path: str,
    x: float | None,
    y: float | None,
    selector: str,
    text: str,
    *,
    width: float | None = 1000,
    height: float | None = 2000,
    tag: str = "a",
    agent: str = WINDOWS,
    campaign: dict[str, str] | None = None,
) -> Message:
    """An ``Element Clicked`` as tp.js sends it (``None``: the property is missing)."""
    props: dict[str, Any] = {
        "tag": tag,
        "id": None,
        "classes": [],
        "text": text,
        "href": None,
        "selector": selector,
        "x": x,
        "y": y,
        "page_width": width,
        "page_height": height,
        "viewport_width": 1000,
        "viewport_height": 700,
    }
    props = {k: v for k, v in props.items() if v is not None}
    return track(who, when, "Element Clicked", path, props, agent=agent, campaign=campaign)


def scrolled(who: str, when: datetime, path: str, threshold: int, depth: int | None = None) -> Message:
    """A ``Page Scrolled`` as tp.js sends it; ``depth=None`` leaves ``depth_percent`` out (an SDK that
    sends the threshold only)."""
    props: dict[str, Any] = {"threshold": threshold, "page_height": 2000}
    if depth is not None:
        props["depth_percent"] = depth
    return track(who, when, "Page Scrolled", path, props)


GOOGLE = "https://www.google.com/"
FACEBOOK = "https://www.facebook.com/"
AUTUMN = {"source": "newsletter", "medium": "email", "name": "autumn"}

# Six visitors, nine sessions (a gap over 30 minutes starts a new one). Day 0 is Monday 5 October 2026.
WEB: list[Message] = [
    # S1 desk-1 from Google: three pages, a product added, an order: 750 s, converted, no bounce
    page("desk-1", at(0, 9, 0), "/", GOOGLE),
    page("desk-1", at(0, 9, 2), "/p/tv", SITE + "/"),
    track("desk-1", at(0, 9, 5), "Product Added", "/p/tv", {"product_id": "tv"}),
    page("desk-1", at(0, 9, 10), "/checkout", SITE + "/p/tv"),
    track("desk-1", at(0, 9, 12, 30), "Order Completed", "/checkout", {"order_id": "o1", "revenue": 900}),
    # S2 desk-1 again 2 h later, typed in: one page and a scroll (not an interaction): a bounce of 20 s
    page("desk-1", at(0, 11, 0), "/blog"),
    scrolled("desk-1", at(0, 11, 0, 20), "/blog", 25, 30),
    # S3 phone-1 from the newsletter: one page and a click (an interaction): 40 s, no bounce
    page("phone-1", at(0, 10, 0), "/?utm_source=newsletter", agent=IPHONE, campaign=AUTUMN),
    click("phone-1", at(0, 10, 0, 40), "/", 10, 10, "#hero", "Shop now", agent=IPHONE, campaign=AUTUMN),
    # S4 phone-1 the next day from Facebook: one page, a bounce of 0 s
    page("phone-1", at(1, 8, 0), "/p/tv", FACEBOOK, agent=IPHONE),
    # S5 desk-2 from a Google ad (gclid), signed in: /p/tv, checkout, order, thanks: 240 s, converted
    page("desk-2", at(1, 12, 0), "/p/tv?gclid=abc", GOOGLE, user_id="u-2"),
    page("desk-2", at(1, 12, 1), "/checkout", SITE + "/p/tv", user_id="u-2"),
    track("desk-2", at(1, 12, 3), "Order Completed", "/checkout", {"order_id": "o2"}, user_id="u-2"),
    page("desk-2", at(1, 12, 4), "/thanks", SITE + "/checkout", user_id="u-2"),
    # S6 app-1 in the iOS app: two screens, then backgrounded (not an interaction): 300 s
    screen("app-1", at(0, 15, 0), "Home"),
    screen("app-1", at(0, 15, 1), "Product"),
    app_track("app-1", at(0, 15, 5), "Application Backgrounded"),
    # S7 app-1 again the next week: one screen only: a bounce of 0 s
    screen("app-1", at(7, 9, 0), "Home"),
    # S8 deny-1 (denies analytics afterwards): from a partner blog, one page and an identify: a bounce
    page("deny-1", at(0, 23, 50), "/deals", "https://blog.partner.example/best-tvs"),
    {"type": "identify", "anonymousId": "deny-1", "userId": "u-deny", "timestamp": at(0, 23, 55).isoformat(),
     "traits": {"plan": "basic"}, "context": _web_context("/deals", "", WINDOWS, None)},
    # S9 late-1 just before midnight on day 1, over midnight: counted on day 1 with its whole 20 min
    page("late-1", at(1, 23, 50), "/c/tvs", GOOGLE),
    page("late-1", at(2, 0, 10), "/p/tv", SITE + "/c/tvs"),
]  # fmt: skip
# Who refuses analytics after their visit: their events stay, without a customer.
WEB_DENIALS = ("u-deny",)

# Clicks and scrolls on /pricing (1000 x 2000 px), day 10, by other browsers than WEB's.
PRICING = "/pricing"
HEATMAP: list[Message] = [
    # h-1: a view of /pricing, scrolled to 55 %, then the home page, then /pricing again, read to the end
    page("h-1", at(10, 9, 0), PRICING, GOOGLE),
    click("h-1", at(10, 9, 1), PRICING, 100, 100, "#buy", "Buy now"),  # cell (0, 0) of 4 x 4
    click("h-1", at(10, 9, 1, 30), PRICING, 900, 1900, "#buy", "Buy now"),  # (3, 3)
    scrolled("h-1", at(10, 9, 2), PRICING, 25, 30),
    scrolled("h-1", at(10, 9, 2, 10), PRICING, 50, 55),
    page("h-1", at(10, 9, 3), "/", SITE + PRICING),
    click("h-1", at(10, 9, 3, 10), "/", 500, 500, "#hero", "Shop now"),  # another page
    page("h-1", at(10, 9, 5), PRICING, SITE + "/"),
    *(scrolled("h-1", at(10, 9, 6, i), PRICING, t, t) for i, t in enumerate((25, 50, 75, 100))),
    click(
        "h-1", at(10, 9, 7), PRICING, 600, 500, "div.hero > p", "", height=0, tag="p"
    ),  # unplaced: no height
    # h-2: one view, no scrolling, two clicks
    page("h-2", at(10, 10, 0), PRICING, agent=IPHONE),
    click("h-2", at(10, 10, 1), PRICING, 100, 150, "#buy", "Buy now"),  # (0, 0)
    click("h-2", at(10, 10, 2), PRICING, 1000, 2000, "footer a", "Contact"),  # on the edge: (3, 3)
    # h-3: a scroll at the very instant of the view, with a threshold and no depth_percent
    page("h-3", at(10, 11, 0), PRICING),
    scrolled("h-3", at(10, 11, 0), PRICING, 25),
    click("h-3", at(10, 11, 1), PRICING, 600, 500, "div.hero > p", "", tag="p"),  # (2, 1)
    click("h-3", at(10, 11, 2), PRICING, 300, 300, "#buy", "Buy now (1)", width=None),  # unplaced
    # h-4: a scroll on /pricing in a visit that never viewed it (a view lost): belongs to no page view
    page("h-4", at(10, 12, 0), "/"),
    scrolled("h-4", at(10, 12, 1), PRICING, 50, 50),
]


def build(path: Path, messages: list[Message], denials: tuple[str, ...] = ()) -> Home:
    """A home holding ``messages`` (sent to a real collector, which is then stopped so the spool is
    drained), with analytics consent denied for ``denials`` afterwards."""
    home = make_home(path)
    batch = [m | {"messageId": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(m, sort_keys=True)))}
             for m in messages]  # fmt: skip
    server = ServerProcess(home.path).start()
    try:
        answer = httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, headers=home.basic, timeout=30)
        assert answer.status_code == 200, answer.text
    finally:
        server.stop()
    for ref in denials:
        subprocess.run(
            [sys.executable, "-m", "touchpoints", "privacy", "consent", ref, "--deny", "analytics",
             "--evidence", "test", "--home", str(home.path)],
            check=True, capture_output=True,
        )  # fmt: skip
    return home
