"""Segment's own browser library, analytics.js (``@segment/analytics-next``), pointed at the collector.

Real Chromium (Debian's, driven by Playwright) loads analytics.js from a test site on another origin than
the collector, the two ways sites install it: Segment's snippet loading the standalone build, with the
CDN proxied (``analytics._cdn``) to the test site, which serves the build, its lazily loaded chunks and
the source settings Segment's CDN would; and the UMD build's ``AnalyticsBrowser.load()`` with the
settings inline and batching delivery. What is checked is what lands in the store (``touchpoints events
export``): page, track and identify on the anonymousId analytics.js made, its library, channel ``web``,
the properties and traits intact.

Nothing is downloaded while the tests run: the build comes from the npm registry beforehand, with
``tests/collector/fetch_analytics_js.py`` (into ``.cache/``, never committed); without it the tests skip
(fail with TOUCHPOINTS_REQUIRE_BROWSER=1). The browser runs offline: every host but 127.0.0.1 goes to a
proxy that refuses connections, and the tests assert that no request to another host was even
attempted. (Not ``page.route``: with routing on, Playwright answers CORS preflights itself, and would hide
the collector's own CORS answers, which analytics.js needs: it sends the write key in an Authorization
header, so every request is preflighted.)
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import pytest

from tests.collector.browser import CHROMIUM_ARGS, Event, Site, of, wait_for
from tests.collector.fetch_analytics_js import DIST, VERSION, is_fetched
from tests.conftest import Home, ServerProcess, make_home, stored_events

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Page,
        ProxySettings,
        Request,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
if sync_playwright is None:
    MISSING: str | None = "playwright is not installed"
elif not os.path.exists(CHROMIUM):
    MISSING = f"{CHROMIUM} is not installed"
elif not is_fetched():
    MISSING = f"analytics.js is not fetched: run tests/collector/fetch_analytics_js.py (it fills {DIST})"
else:
    MISSING = None
if MISSING and os.environ.get("TOUCHPOINTS_REQUIRE_BROWSER") != "1":
    pytest.skip(f"analytics.js tests: {MISSING}", allow_module_level=True)

LIBRARY = {"name": "analytics.js", "version": f"next-{VERSION}"}
UTM_QUERY = "utm_source=newsletter&utm_medium=email&utm_campaign=spring"
CAMPAIGN = {"source": "newsletter", "medium": "email", "name": "spring"}
ORDER = {
    "order_id": "o-1001",
    "total": 27.5,
    "currency": "EUR",
    "coupon": None,
    "gift": False,
    "note": "Café crème, s'il vous plaît ✓",
    "products": [
        {"product_id": "A-1", "name": "Mug", "price": 9.75, "quantity": 2},
        {"product_id": "B-2", "name": "Tea", "price": 8, "quantity": 1, "tags": ["green", "loose"]},
    ],
}
TRAITS = {"email": "ada@example.com"}
# Segment's snippet (version 5.2.1) as a site pastes it, written out; the only changes are the host the
# library loads from, and the CDN proxy (``analytics._cdn``) and collector (``apiHost``) set before load().
SNIPPET = """<script>
!function () {
  var i = "analytics", analytics = window[i] = window[i] || [];
  if (analytics.initialize || analytics.invoked) return;
  analytics.invoked = true;
  analytics.methods = ["trackSubmit", "trackClick", "trackLink", "trackForm", "pageview", "identify",
    "reset", "group", "track", "ready", "alias", "debug", "page", "screen", "once", "off", "on",
    "addSourceMiddleware", "addIntegrationMiddleware", "setAnonymousId", "addDestinationMiddleware",
    "register"];
  analytics.factory = function (method) {
    return function () {
      if (window[i].initialized) return window[i][method].apply(window[i], arguments);
      var args = Array.prototype.slice.call(arguments);
      if (["track", "screen", "alias", "group", "page", "identify"].indexOf(method) > -1) {
        var c = document.querySelector("link[rel='canonical']");
        args.push({__t: "bpc", c: c && c.getAttribute("href") || void 0, p: location.pathname,
          u: location.href, s: location.search, t: document.title, r: document.referrer});
      }
      args.unshift(method);
      analytics.push(args);
      return analytics;
    };
  };
  for (var n = 0; n < analytics.methods.length; n++) {
    analytics[analytics.methods[n]] = analytics.factory(analytics.methods[n]);
  }
  analytics.load = function (key, options) {
    var t = document.createElement("script");
    t.type = "text/javascript";
    t.async = true;
    t.setAttribute("data-global-segment-analytics-key", i);
    t.src = "%(cdn)s/analytics.js/v1/" + key + "/analytics.min.js";
    var r = document.getElementsByTagName("script")[0];
    r.parentNode.insertBefore(t, r);
    analytics._loadOptions = options;
  };
  analytics._writeKey = "%(key)s";
  analytics.SNIPPET_VERSION = "5.2.1";
  analytics._cdn = "%(cdn)s";
  analytics.load("%(key)s", {integrations: {"Segment.io": {apiHost: "%(api_host)s", protocol: "http"}}});
  analytics.page();
}();
</script>"""
# The npm package's way, from its UMD build (window.AnalyticsNext), as docs/tracker.md shows it.
UMD = """<script src="/cdn/analytics-next/bundles/index.js"></script>
<script>
window.ajs = AnalyticsNext.AnalyticsBrowser.load(
  {writeKey: "%(key)s", cdnSettings: {integrations: {"Segment.io": {apiKey: "%(key)s"}}}},
  {integrations: {"Segment.io": {apiHost: "%(api_host)s", protocol: "http",
    deliveryStrategy: {strategy: "batching", config: {size: 4, timeout: 500}}}}},
);
</script>"""
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,">
{head}
</head><body><h1>{title}</h1></body></html>
"""


# ---- the second origin: test pages, and the CDN analytics.js would load from ---------------------------
class CdnSite(Site):
    """The test pages, and under ``/cdn`` what Segment's CDN serves: the library (the snippet's URL), its
    chunks, and the settings of a write key."""

    def __init__(self) -> None:
        super().__init__()
        self.settings: dict[str, dict[str, Any]] = {}  # write key -> its source settings
        self.cdn = self.url + "/cdn"

    def answer(self, path: str) -> tuple[bytes, str] | None:
        page = super().answer(path)
        if page is not None:
            return page
        parts = path.split("/")
        script = "application/javascript; charset=utf-8"
        match parts:
            case ["", "cdn", "analytics.js", "v1", key, "analytics.min.js"] if key in self.settings:
                return (DIST / "standalone.js").read_bytes(), script
            case ["", "cdn", "analytics-next", "bundles", name] if (DIST / name).is_file():
                return (DIST / name).read_bytes(), script
            case ["", "cdn", "v1", "projects", key, "settings"] if key in self.settings:
                return json.dumps(self.settings[key]).encode(), "application/json"
        return None


def source_settings(write_key: str) -> dict[str, Any]:
    """What Segment's CDN answers for a source with no destinations (``/v1/projects/{key}/settings``):
    its api host is Segment's, which the snippet's load() options override."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
                "versionSettings": {"version": "4.4.7", "componentTypes": ["browser"]},
                "apiHost": "api.segment.io/v1",
            }
        },
        "plan": {"track": {"__default": {"enabled": True, "integrations": {}}}},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0.1},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


@dataclass
class Browsing:
    """What the pages of one browser context did: every request (method, URL), errors, console errors."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to(self, origin: str, method: str = "POST") -> list[str]:
        return [
            urlsplit(url).path for m, url in self.requests if m == method and url.startswith(origin + "/")
        ]

    def elsewhere(self) -> list[str]:
        return [url for _, url in self.requests if urlsplit(url).hostname != "127.0.0.1"]


@dataclass
class Stack:
    """One collector (its home allows the site's origin, CORS), the test site, a Chromium kept offline."""

    home: Home
    collector: ServerProcess
    site: CdnSite
    browser: Browser

    @property
    def api_host(self) -> str:
        return f"127.0.0.1:{self.collector.port}/v1"

    def add_page(self, path: str, title: str, head: str) -> str:
        values = {"cdn": self.site.cdn, "key": self.home.write_key, "api_host": self.api_host}
        self.site.pages[path] = PAGE.format(title=title, head=head % values)
        return self.site.url + path

    def context(self) -> tuple[BrowserContext, Browsing]:
        context = self.browser.new_context()
        seen = Browsing()

        def on_request(request: Request) -> None:
            if not request.url.startswith("data:"):
                seen.requests.append((request.method, request.url))

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                seen.errors.append(f"console: {message.text}")

        def on_page(page: Page) -> None:
            page.on("pageerror", lambda exc: seen.errors.append(f"pageerror: {exc}"))
            page.on("console", on_console)

        context.on("request", on_request)
        context.on("page", on_page)
        return context, seen


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if MISSING:
        pytest.fail(f"TOUCHPOINTS_REQUIRE_BROWSER=1 but {MISSING}")
    assert sync_playwright is not None
    # A port that refuses connections (bound, never listening): the proxy for every host but 127.0.0.1.
    with socket.socket() as refuser, CdnSite() as site:
        refuser.bind(("127.0.0.1", 0))
        offline: ProxySettings = {
            "server": f"http://127.0.0.1:{refuser.getsockname()[1]}",
            "bypass": "127.0.0.1",
        }
        config = f'[collector]\ncors_origins = ["{site.url}"]\n'
        home = make_home(tmp_path_factory.mktemp("analytics-js") / "home", config)
        site.settings[home.write_key] = source_settings(home.write_key)
        collector = ServerProcess(home.path).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, proxy=offline)
                try:
                    yield Stack(home, collector, site, browser)
                finally:
                    browser.close()
        finally:
            collector.kill()


def one(events: list[Event], kind: str, name: str | None = None) -> Event:
    found = [e for e in events if e["type"] == kind and e.get("event") == name]
    assert len(found) == 1, (kind, name, found)
    return found[0]


def assert_from_analytics_js(events: list[Event], anonymous_id: str) -> None:
    """What every event analytics.js sent has in the store."""
    for event in events:
        assert event["anonymousId"] == anonymous_id
        assert event["channel"] == "web", "from context.library analytics.js"
        assert event["source"] == "default", "the write key's name"
        assert event["messageId"].startswith("ajs-next-")
        assert "flags" not in event, event.get("flags")
        ctx = event["context"]
        assert ctx["library"] == LIBRARY
        assert "Chrome" in ctx["userAgent"] and ctx["locale"]
        assert ctx["page"]["path"] == "/shop.html" and ctx["page"]["title"] == "Shop"


# ---- the tests ---------------------------------------------------------------------------------------
def test_the_segment_snippet_delivers_page_track_and_identify(stack: Stack) -> None:
    """Segment's snippet loads the standalone analytics.js (and a lazily loaded chunk) from the proxied
    CDN, gets its settings there, and sends each call to the collector's short paths; the page view the
    snippet queued, a track with nested properties, an identify, and a track after it (with the userId)
    land on the anonymousId analytics.js made, with the landing page's campaign; so does the track the
    query string asked for (``ajs_event``, the queryString chunk)."""
    landing = (
        stack.add_page("/shop.html", "Shop", SNIPPET)
        + f"?{UTM_QUERY}&ajs_event=Email%20Link%20Clicked&ajs_prop_link=hero"
    )
    context, seen = stack.context()
    try:
        page = context.new_page()
        page.goto(landing)
        page.wait_for_function("!Array.isArray(window.analytics) && window.analytics.initialized === true")
        anonymous_id = page.evaluate(
            """async ([order, traits]) => {
                await analytics.track("Order Completed", order);
                await analytics.identify("user-1", traits);
                await analytics.track("Receipt Viewed");
                return analytics.user().anonymousId();
            }""",
            [ORDER, TRAITS],
        )
        cookies = {c["name"]: c["value"] for c in context.cookies()}
        events = wait_for(stack.home, "the snippet's events", lambda e: len(of(e, anonymous_id)) >= 5)
        page.wait_for_timeout(300)  # time for a duplicate, if one were sent
        events = of(cast(list[Event], stored_events(stack.home)), anonymous_id)
    finally:
        context.close()

    assert not seen.elsewhere(), f"requests to other hosts than 127.0.0.1: {seen.elsewhere()}"
    assert not seen.errors, seen.errors
    key = stack.home.write_key
    assert seen.to(stack.site.url, "GET") == [
        "/shop.html",
        f"/cdn/analytics.js/v1/{key}/analytics.min.js",
        f"/cdn/v1/projects/{key}/settings",
        f"/cdn/analytics-next/bundles/{next(DIST.glob('queryString.bundle.*.js')).name}",
    ], "the library, its settings and its chunk come from the proxied CDN"
    assert sorted(seen.to(stack.collector.url)) == sorted(["/v1/t", "/v1/p", "/v1/t", "/v1/i", "/v1/t"])
    assert cookies["ajs_anonymous_id"] == anonymous_id  # analytics.js's own first-party id

    assert len(events) == 5, [(e["type"], e.get("event")) for e in events]
    assert_from_analytics_js(events, anonymous_id)
    for event in events:
        assert event["context"]["campaign"] == CAMPAIGN
        assert event["context"]["page"]["url"] == landing
    view = one(events, "page")
    assert view["properties"]["url"] == landing and view["properties"]["path"] == "/shop.html"
    assert view["properties"]["title"] == "Shop"
    assert one(events, "track", "Email Link Clicked")["properties"] == {"link": "hero"}
    order = one(events, "track", "Order Completed")
    assert order["properties"] == ORDER
    assert "userId" not in order
    identify = one(events, "identify")
    assert identify["userId"] == "user-1" and identify["traits"] == TRAITS
    assert one(events, "track", "Receipt Viewed")["userId"] == "user-1", "the userId is kept"


def test_analytics_browser_load_with_batching_delivery(stack: Stack) -> None:
    """The npm package's ``AnalyticsBrowser.load()`` (UMD build) with the settings inline (so it asks no
    CDN) and batching delivery: four calls go in one request to ``/v1/b``, which lands them all, each
    with the batch's sentAt."""
    url = stack.add_page("/shop.html", "Shop", UMD) + "?batching=1"
    context, seen = stack.context()
    try:
        page = context.new_page()
        page.goto(url)
        anonymous_id = page.evaluate(
            """async ([order, traits]) => {
                const [analytics] = await window.ajs;
                analytics.page();
                analytics.track("Order Completed", order);
                analytics.identify("user-1", traits);
                analytics.track("Receipt Viewed");
                return analytics.user().anonymousId();
            }""",
            [ORDER, TRAITS],
        )
        events = wait_for(stack.home, "the batched events", lambda e: len(of(e, anonymous_id)) >= 4)
        page.wait_for_timeout(700)  # longer than the batch timeout: time for a stray request
        events = of(cast(list[Event], stored_events(stack.home)), anonymous_id)
    finally:
        context.close()

    assert not seen.elsewhere(), f"requests to other hosts than 127.0.0.1: {seen.elsewhere()}"
    assert not seen.errors, seen.errors
    assert seen.to(stack.collector.url) == ["/v1/b"], "one batch"
    assert seen.to(stack.site.url, "GET") == ["/shop.html", "/cdn/analytics-next/bundles/index.js"]

    assert sorted((e["type"], e.get("event")) for e in events) == [
        ("identify", None),
        ("page", None),
        ("track", "Order Completed"),
        ("track", "Receipt Viewed"),
    ]
    assert_from_analytics_js(events, anonymous_id)
    assert len({e["sentAt"] for e in events}) == 1, "the batch's sentAt"
    for event in events:
        assert event["context"]["page"]["search"] == "?batching=1"
    assert one(events, "page")["properties"]["url"] == url
    assert one(events, "track", "Order Completed")["properties"] == ORDER
    identify = one(events, "identify")
    assert identify["userId"] == "user-1" and identify["traits"] == TRAITS
    assert one(events, "track", "Receipt Viewed")["userId"] == "user-1"
