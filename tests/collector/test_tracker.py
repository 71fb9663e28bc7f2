"""The first-party browser tracker (``/tp.js``) in a real Chromium, against a real collector process.

Test pages are served from a second origin (a small HTTP server on another port) with the two-line
snippet of docs/tracker.md; Debian's Chromium is driven by Playwright. What is checked is what lands in
the store: page views, tracks, identifies, clicks in page coordinates and scroll depth on one first-party
anonymousId, the landing page's UTM campaign for the whole visit, delivery by sendBeacon when the page
goes away, opt-in consent, and Do-Not-Track.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import httpx
import pytest

from tests.collector.browser import CHROMIUM_ARGS, Event, Site, of, wait_for
from tests.conftest import Home, ServerProcess, make_home, stored_events
from touchpoints.store.duckdb import open_store

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
MISSING = (
    "playwright is not installed"
    if sync_playwright is None
    else (f"{CHROMIUM} is not installed" if not CHROMIUM.exists() else None)
)
if MISSING and os.environ.get("TOUCHPOINTS_REQUIRE_BROWSER") != "1":
    pytest.skip(f"browser tests need Debian's Chromium and Playwright: {MISSING}", allow_module_level=True)

VIEWPORT = {"width": 1000, "height": 700}
UTM_QUERY = "utm_source=newsletter&utm_medium=email&utm_campaign=spring"
CAMPAIGN = {"source": "newsletter", "medium": "email", "name": "spring"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# Line 1 of the snippet, exactly as docs/tracker.md gives it.
STUB = (
    "<script>window.touchpoints=window.touchpoints||[];"
    '["page","track","identify","consent","reset","flush"].forEach(function(m){touchpoints[m]='
    "touchpoints[m]||function(){touchpoints.push([m].concat([].slice.call(arguments)))}});</script>"
)
READY = "window.touchpoints && window.touchpoints.__touchpoints === true"


# ---- the second origin: test pages -------------------------------------------------------------------
def snippet(collector: str, write_key: str, **attrs: str) -> str:
    """The two-line snippet; ``attrs`` become data- attributes (dnt="respect" -> data-dnt="respect")."""
    extra = "".join(f' data-{name.replace("_", "-")}="{value}"' for name, value in attrs.items())
    return f'{STUB}\n<script async src="{collector}/tp.js" data-write-key="{write_key}"{extra}></script>'


SHOP = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
{snippet}
<style>body {{ margin: 0; font: 16px sans-serif }} #spacer {{ height: 3000px }} #tail {{ height: 600px }}</style>
</head><body>
<h1>Shop</h1>
<form><input id="email" name="email"> <button type="button" id="private" data-tp-ignore>Private</button></form>
<table><tr><td id="addr">Jane Doe, 1 High St, London SW1A 1AA</td></tr></table>
<a id="mail" href="mailto:jane.doe@example.com" onclick="event.preventDefault()">Write to us</a>
<div id="spacer"></div>
<div class="cta-row"><a id="buy" class="btn primary" href="/checkout.html"
   onclick="event.preventDefault(); event.stopPropagation()">  Buy
   now  </a></div>
<div id="tail"></div>
</body></html>
"""
PLAIN = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
{snippet}
</head><body><p>{title}</p><button id="go">Go</button></body></html>
"""


@dataclass
class Stack:
    """One collector (with its home and write key), the test site, and a Chromium for the module."""

    home: Home
    collector: ServerProcess
    site: Site
    browser: Browser
    batch_requests: list[str] = field(default_factory=list)  # the URL of the page that sent each batch
    batch_sizes: list[int] = field(default_factory=list)  # and the size of its body
    page_errors: list[str] = field(default_factory=list)  # uncaught errors in any test page

    @property
    def batch_url(self) -> str:
        return f"{self.collector.url}/v1/batch"

    def add_page(
        self, path: str, title: str, template: str = PLAIN, *, tracked: bool = True, **attrs: str
    ) -> str:
        """Serves a page at ``path`` (with the snippet, if ``tracked``); returns its URL."""
        html = snippet(self.collector.url, self.home.write_key, **attrs) if tracked else ""
        self.site.pages[path] = template.format(title=title, snippet=html)
        return self.site.url + path

    def context(self, init_script: str | None = None) -> BrowserContext:
        """A fresh browser profile (no cookies, no storage) that records the requests to /v1/batch."""
        context = self.browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        if init_script:
            context.add_init_script(init_script)

        def on_request(request: Any) -> None:
            if request.url == self.batch_url:
                self.batch_requests.append(request.frame.url if request.frame else "")
                self.batch_sizes.append(len(request.post_data_buffer or b""))

        context.on("request", on_request)
        context.on("page", lambda page: page.on("pageerror", lambda exc: self.page_errors.append(str(exc))))
        return context


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if MISSING:
        pytest.fail(f"TOUCHPOINTS_REQUIRE_BROWSER=1 but {MISSING}")
    assert sync_playwright is not None
    home = make_home(tmp_path_factory.mktemp("tracker") / "home")
    collector = ServerProcess(home.path).start()
    try:
        with Site() as site, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield Stack(home, collector, site, browser)
            finally:
                browser.close()
    finally:
        collector.kill()


# ---- reading the store -------------------------------------------------------------------------------


def ledger(home: Home, anonymous_id: str) -> dict[str, str]:
    """The consent ledger's latest statement per purpose for a visitor's anonymousId."""
    with open_store(home.settings.store_path) as db:
        rows = db.execute(
            "SELECT purpose, arg_max(status, seq) FROM consents WHERE node = ? GROUP BY purpose",
            [f"anonymous_id:{anonymous_id}"],
        )
    return dict(rows)


def named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e.get("event") == name]


def open_page(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(READY)
    return page


def sent_from(stack: Stack, page: Page, url: str, count: int, timeout: float = 5.0) -> int:
    """How many batches pages at ``url`` have sent, once there are ``count`` (or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while True:
        sent = len([u for u in stack.batch_requests if u.startswith(url)])
        if sent >= count or time.monotonic() > deadline:
            return sent
        page.wait_for_timeout(50)  # lets Playwright deliver the request events


def cookies(context: BrowserContext) -> dict[str, dict[str, Any]]:
    return {c["name"]: cast(dict[str, Any], c) for c in context.cookies()}


def storage(page: Page) -> dict[str, Any]:
    return page.evaluate("() => ({local: {...localStorage}, session: {...sessionStorage}})")


# ---- one visit, shared by the tests that look at it ----------------------------------------------------
@dataclass
class Visit:
    anonymous_id: str
    landing_url: str
    buy_box: dict[str, float]  # the #buy link's box in page coordinates
    events: list[Event]
    cookie: dict[str, Any]
    local_storage: dict[str, str]


@pytest.fixture(scope="module")
def visit(stack: Stack) -> Visit:
    """A visitor lands from a newsletter on a tall page, is tracked, identified, clicks, scrolls to the
    bottom, moves on in the single-page app, then loads another page of the site."""
    landing = stack.add_page("/shop.html", "Shop", SHOP, auto_page="true") + "?" + UTM_QUERY
    context = stack.context()
    try:
        page = open_page(context, landing)
        page.evaluate("touchpoints.track('Product Viewed', {sku: 'A-1', price: 19.5})")
        page.evaluate("touchpoints.identify('user-42', {plan: 'pro'})")
        page.fill("#email", "ada@example.com")
        page.click("#email")
        page.click("#private")  # data-tp-ignore: not recorded at all
        page.click("#addr")  # page content: where, not what it says
        page.click("#mail")  # a mailto: link: the scheme, not the address
        for y in (1100, 2200):
            page.evaluate(f"window.scrollTo(0, {y})")
            page.wait_for_timeout(250)
        page.click("#buy")
        buy_box = page.evaluate(
            "() => { const r = document.getElementById('buy').getBoundingClientRect();"
            " return {top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left + scrollX,"
            " right: r.right + scrollX}; }"
        )
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_timeout(250)
        page.evaluate("history.pushState({}, '', '/shop/checkout?step=1')")  # a single-page-app view
        page.wait_for_timeout(50)
        page.evaluate("touchpoints.flush()")
        page.goto(stack.site.url + "/shop.html?from=nav")  # a full page load, later in the same visit
        page.wait_for_function(READY)
        page.evaluate("touchpoints.flush()")
        tp_aid = cookies(context)["tp_aid"]
        local = storage(page)["local"]
    finally:
        context.close()
    assert not stack.page_errors, f"tp.js threw into the page: {stack.page_errors}"
    aid = tp_aid["value"]
    events = wait_for(
        stack.home,
        "the whole visit",
        lambda events: any(e["context"]["page"]["search"] == "?from=nav" for e in of(events, aid)),
    )
    return Visit(aid, landing, buy_box, of(events, aid), tp_aid, local)


# ---- the tests ---------------------------------------------------------------------------------------
def test_tp_js_is_served(stack: Stack) -> None:
    answer = httpx.get(f"{stack.collector.url}/tp.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    assert b"touchpoints.js" in answer.content
    assert len(answer.content) < 16_000
    # Compressed on the wire (httpx asks for gzip and undoes it), and cached by its ETag.
    assert answer.headers["content-encoding"] == "gzip"
    assert int(answer.headers["content-length"]) < 7_000
    again = httpx.get(f"{stack.collector.url}/tp.js", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert httpx.head(f"{stack.collector.url}/tp.js").status_code == 200


def test_a_visit_lands_with_one_anonymous_id_its_campaign_and_heatmap_signals(visit: Visit) -> None:
    """Page views, a track, an identify, clicks and scroll depth, all on the tp_aid cookie's anonymousId."""
    events = visit.events
    assert UUID.match(visit.anonymous_id)
    assert visit.local_storage.get("tp_aid") == visit.anonymous_id  # mirrored in localStorage
    assert visit.cookie["path"] == "/" and visit.cookie["sameSite"] == "Lax" and not visit.cookie["secure"]
    assert 364 * 86400 < visit.cookie["expires"] - time.time() <= 365 * 86400 + 60
    summary = sorted((e["type"], e.get("event") or e.get("properties", {}).get("path")) for e in events)
    assert summary == sorted(
        [
            ("page", "/shop.html"),
            ("track", "Product Viewed"),
            ("identify", None),
            *[("track", "Element Clicked")] * 4,
            *[("track", "Page Scrolled")] * 4,
            ("page", "/shop/checkout"),
            ("page", "/shop.html"),
        ]
    ), "every call of the visit is stored once"

    for event in events:
        assert event["channel"] == "web"
        assert event["source"] == "default"
        assert UUID.match(event["messageId"])
        assert "flags" not in event, event.get("flags")
        ctx = event["context"]
        assert ctx["library"] == {"name": "touchpoints.js", "version": "1.0.0"}
        assert ctx["campaign"] == CAMPAIGN, "the landing page's campaign is kept for the whole visit"
        assert "HeadlessChrome" in ctx["userAgent"] or "Chrome" in ctx["userAgent"]
        assert ctx["locale"] and ctx["timezone"]
        assert set(ctx["screen"]) == {"width", "height"}
        assert set(ctx["page"]) == {"path", "referrer", "search", "title", "url"}
        assert "consent" not in ctx  # no consent was asked for on this site

    def only(kind: str, key: str, value: Any) -> Event:
        found = [
            e
            for e in events
            if e["type"] == kind and (e.get(key) or e.get("properties", {}).get(key)) == value
        ]
        assert len(found) == 1, (kind, key, value, found)
        return found[0]

    landing = only("page", "search", "?" + UTM_QUERY)
    assert landing["properties"]["url"] == visit.landing_url
    assert landing["context"]["page"]["title"] == "Shop"
    assert "userId" not in landing
    viewed = only("track", "event", "Product Viewed")
    assert viewed["properties"] == {"sku": "A-1", "price": 19.5}
    assert "userId" not in viewed
    identify = only("identify", "type", "identify")
    assert identify["userId"] == "user-42" and identify["traits"] == {"plan": "pro"}
    # After identify, every message carries the userId, on the next page load too (the tp_uid cookie).
    later = [e for e in events if e not in (landing, viewed)]
    assert {e.get("userId") for e in later} == {"user-42"}

    spa = only("page", "path", "/shop/checkout")
    assert spa["properties"]["search"] == "?step=1"
    assert spa["context"]["page"]["referrer"] == visit.landing_url
    reload = only("page", "search", "?from=nav")
    assert reload["context"]["page"]["referrer"] == "", "goto() sends no referrer"

    clicks = {e["properties"]["id"]: e["properties"] for e in named(events, "Element Clicked")}
    assert set(clicks) == {"buy", "email", "addr", "mail"}, "the data-tp-ignore button is not recorded"
    assert clicks["addr"]["text"] == "" and clicks["addr"]["tag"] == "td", "no text of plain page content"
    assert (clicks["mail"]["text"], clicks["mail"]["href"]) == ("Write to us", "mailto:")
    assert "SW1A" not in json.dumps(events) and "jane.doe@" not in json.dumps(events)
    buy = clicks["buy"]
    assert buy["tag"] == "a" and buy["classes"] == ["btn", "primary"]
    assert buy["text"] == "Buy now" and buy["selector"] == "#buy"
    assert buy["href"].endswith("/checkout.html")
    assert (buy["viewport_width"], buy["viewport_height"]) == (VIEWPORT["width"], VIEWPORT["height"])
    assert buy["page_height"] > 3600 and buy["page_width"] >= VIEWPORT["width"] - 20
    # Page coordinates, not the viewport's: the link is 3000 px down a page scrolled to it.
    assert buy["y"] > buy["viewport_height"]
    box = visit.buy_box
    assert box["top"] <= buy["y"] <= box["bottom"] and box["left"] <= buy["x"] <= box["right"], (buy, box)
    email = clicks["email"]
    assert email["tag"] == "input" and email["text"] == "" and email["selector"] == "#email"
    assert "ada@example.com" not in json.dumps(events), "what is typed into a field is never collected"

    scrolled = [e["properties"] for e in named(events, "Page Scrolled")]
    assert sorted(s["threshold"] for s in scrolled) == [25, 50, 75, 100], "each threshold once"
    for s in scrolled:
        assert s["threshold"] <= s["depth_percent"] <= 100
        assert s["page_height"] == buy["page_height"]


QUEUED = """<script>
touchpoints.identify("early-bird", {source: "stub"});
touchpoints.track("Queued Before Load", {n: 1});
</script>"""


def test_stub_calls_are_replayed_batches_are_split_and_reset_forgets(stack: Stack) -> None:
    """Calls made before tp.js loaded are replayed in order; a burst goes in batches of 20; a batch over
    60 KB is split; reset() gives a new anonymousId and forgets the userId."""
    url = stack.add_page("/queued.html", "Queued", auto_page="false")
    stack.site.pages["/queued.html"] = stack.site.pages["/queued.html"].replace("</head>", QUEUED + "</head>")
    context = stack.context()
    try:
        page = open_page(context, url)
        first = cookies(context)["tp_aid"]["value"]
        assert page.evaluate("touchpoints.userId()") == "early-bird"
        assert sent_from(stack, page, url, 1) == 1, "the replayed calls leave in one batch"
        page.evaluate("for (let n = 0; n < 45; n++) touchpoints.track('Burst', {n})")
        assert sent_from(stack, page, url, 3) == 3, "20 + 20 leave at once"
        page.wait_for_timeout(300)
        assert sent_from(stack, page, url, 4, timeout=0) == 3, "the last 5 wait for the flush interval"
        assert sent_from(stack, page, url, 4) == 4
        sent = len(stack.batch_sizes)
        page.evaluate("for (let n = 0; n < 5; n++) touchpoints.track('Big', {n, blob: 'x'.repeat(20000)})")
        page.evaluate("touchpoints.flush()")
        assert sent_from(stack, page, url, 7) == 7
        sizes = stack.batch_sizes[sent:]
        assert len(sizes) == 3 and max(sizes) < 60_000, f"5 x 20 KB: 2 + 2 + 1 per request, {sizes}"
        page.evaluate("touchpoints.reset(); touchpoints.track('After Reset')")
        jar = cookies(context)
        assert "tp_uid" not in jar and jar["tp_aid"]["value"] != first
        second = jar["tp_aid"]["value"]
        assert storage(page)["local"] == {"tp_aid": second}
        page.evaluate("touchpoints.flush()")
    finally:
        context.close()
    assert not stack.page_errors, f"tp.js threw into the page: {stack.page_errors}"
    events = wait_for(
        stack.home, "the replayed, burst and reset events", lambda e: bool(named(e, "After Reset"))
    )
    mine = of(events, first)
    assert [(e["type"], e.get("userId")) for e in mine[:2]] == [
        ("identify", "early-bird"),
        ("track", "early-bird"),
    ]
    assert named(mine, "Queued Before Load")[0]["properties"] == {"n": 1}
    assert sorted(e["properties"]["n"] for e in named(mine, "Burst")) == list(range(45))
    assert sorted(e["properties"]["n"] for e in named(mine, "Big")) == list(range(5))
    [after] = named(events, "After Reset")
    assert after["anonymousId"] == second and "userId" not in after


NO_FETCH = (
    "const realFetch = window.fetch; window.fetch = (url, init) => String(url).endsWith('/v1/batch')"
    " ? Promise.reject(new TypeError('fetch is off in this test')) : realFetch(url, init);"
)


def test_events_are_sent_by_beacon_when_the_page_goes_away(stack: Stack) -> None:
    """A track made right before the page is closed, or navigated away from, still lands: sendBeacon
    delivers it (fetch is switched off for /v1/batch in these pages, so nothing else could)."""
    url = stack.add_page("/leave.html", "Leaving", auto_page="false")
    stack.add_page("/elsewhere.html", "Elsewhere", tracked=False)
    context = stack.context(init_script=NO_FETCH)
    try:
        closing = open_page(context, url + "?how=close")
        closing.evaluate("touchpoints.track('Tab Closed', {n: 1})")
        closing.close(run_before_unload=True)  # well inside the 1 s flush interval
        leaving = open_page(context, url + "?how=navigate")
        leaving.evaluate("touchpoints.track('Navigated Away', {n: 2})")
        leaving.goto(stack.site.url + "/elsewhere.html")
        aid = cookies(context)["tp_aid"]["value"]
        events = wait_for(
            stack.home,
            "the events sent by beacon",
            lambda events: bool(named(events, "Tab Closed") and named(events, "Navigated Away")),
        )
    finally:
        context.close()
    assert not stack.page_errors, f"tp.js threw into the page: {stack.page_errors}"
    for name, how in (("Tab Closed", "close"), ("Navigated Away", "navigate")):
        [event] = named(events, name)
        assert event["anonymousId"] == aid and event["channel"] == "web"
        assert event["context"]["page"]["search"] == f"?how={how}"
    assert not [e for e in of(events, aid) if e["type"] == "page"], "data-auto-page=false: no page view"


def test_opt_in_consent_tracks_and_stores_nothing_before_consent(stack: Stack) -> None:
    """With data-consent="opt-in", nothing is sent or stored until consent(); then events carry it."""
    url = stack.add_page("/consent.html", "Consent", consent="opt-in")
    context = stack.context()
    try:
        page = open_page(context, url)
        page.evaluate("touchpoints.track('Before Consent'); touchpoints.identify('early', {a: 1})")
        page.click("#go")
        page.evaluate("window.scrollTo(0, 500)")
        page.evaluate("touchpoints.flush()")
        page.wait_for_timeout(1300)  # longer than the flush interval
        assert not [u for u in stack.batch_requests if u.startswith(url)], "nothing is sent"
        assert not {"tp_aid", "tp_uid", "tp_consent"} & set(cookies(context))
        assert storage(page) == {"local": {}, "session": {}}, "nothing is stored"

        page.evaluate("touchpoints.consent({analytics: true, marketing: false})")
        page.evaluate("touchpoints.track('After Consent')")
        jar = cookies(context)
        aid = jar["tp_aid"]["value"]
        assert json.loads(unquote(jar["tp_consent"]["value"])) == {
            "analytics": True,
            "marketing": False,
        }
        page.reload()  # the choice is remembered: this view is tracked without asking again
        page.wait_for_function(READY)
        page.evaluate("touchpoints.flush()")
        events = wait_for(stack.home, "the consented events", lambda events: len(of(events, aid)) >= 4)

        # Withdrawn: the refusal itself is sent once (the server's consent ledger must know), then the ids
        # are deleted and nothing more is sent.
        page.evaluate("touchpoints.consent(false)")
        assert not {"tp_aid", "tp_uid", "tp_consent"} & set(cookies(context))
        assert storage(page)["local"] == {}
        deadline = time.monotonic() + 20
        while ledger(stack.home, aid).get("analytics") != "withdrawn":
            assert time.monotonic() < deadline, (
                f"the withdrawal never reached the ledger: {ledger(stack.home, aid)}"
            )
            time.sleep(0.2)
        before = len(stack.batch_requests)
        page.evaluate("touchpoints.track('After Withdrawal'); touchpoints.flush()")
        page.reload()
        page.wait_for_function(READY)
        page.evaluate("touchpoints.track('After Withdrawal'); touchpoints.flush()")
        page.wait_for_timeout(300)
        assert len(stack.batch_requests) == before
        assert not cookies(context)
    finally:
        context.close()
    assert not stack.page_errors, f"tp.js threw into the page: {stack.page_errors}"
    mine = of(events, aid)
    assert sorted((e["type"], e.get("event")) for e in mine) == [
        ("page", None),
        ("page", None),
        ("track", "After Consent"),
        ("track", "Consent Preference Updated"),
    ], "the choice, the view current at consent, the track, and the view after reload"
    # The refusal is stored without the visitor's id (analytics is refused), but the ledger has it.
    assert not [
        e
        for e in stored_events(stack.home)
        if e.get("anonymousId") == aid and e.get("event") == "After Withdrawal"
    ]
    assert ledger(stack.home, aid) == {"analytics": "withdrawn", "marketing": "denied"}
    for event in mine:
        assert event["context"]["consent"] == {"categoryPreferences": {"analytics": True, "marketing": False}}
        assert "userId" not in event, "the identify made before consent was dropped"
    assert not named(events, "Before Consent") and not [e for e in events if e.get("userId") == "early"]


@pytest.mark.parametrize(
    "signal",
    ["Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",
     "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"],
    ids=["doNotTrack", "globalPrivacyControl"],
)  # fmt: skip
def test_do_not_track_is_respected(stack: Stack, signal: str) -> None:
    """With data-dnt="respect" and DNT (or GPC) on, nothing is sent or stored, even after consent(true)."""
    url = stack.add_page("/dnt.html", "DNT", dnt="respect")
    ignoring = stack.add_page("/dnt-ignored.html", "DNT ignored")
    tag = signal.split("'")[1]
    context = stack.context(init_script=signal)
    try:
        page = open_page(context, url)
        page.evaluate(f"touchpoints.track('Tracked Despite DNT', {{signal: '{tag}'}})")
        page.evaluate("touchpoints.consent(true); touchpoints.identify('dnt-user')")
        page.click("#go")
        page.evaluate("touchpoints.flush()")
        page.wait_for_timeout(1300)
        assert not [u for u in stack.batch_requests if u.startswith(url)], "nothing is sent"
        assert not cookies(context)
        assert storage(page) == {"local": {}, "session": {}}
        # The same browser on a page that does not ask for DNT to be respected is tracked (the default).
        other = open_page(context, ignoring + f"?signal={tag}")
        other.evaluate(f"touchpoints.track('DNT Sentinel', {{signal: '{tag}'}}); touchpoints.flush()")
    finally:
        context.close()
    assert not stack.page_errors, f"tp.js threw into the page: {stack.page_errors}"
    events = wait_for(
        stack.home,
        "the sentinel",
        lambda events: any(
            e.get("properties", {}).get("signal") == tag for e in named(events, "DNT Sentinel")
        ),
    )
    assert not named(events, "Tracked Despite DNT")
    assert not [
        e for e in events if e.get("userId") == "dnt-user" or e["context"]["page"]["path"] == "/dnt.html"
    ]


def test_a_visit_is_one_session_in_events_enriched(stack: Stack, visit: Visit) -> None:
    """The enriched view puts every event of the visit in one session, with the landing campaign."""
    with open_store(stack.home.settings.store_path) as db:
        exists = db.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'events_enriched'"
        )[0][0]
        if not exists:
            pytest.skip("events_enriched view not built yet")
        rows = db.execute(
            "SELECT message_id, session_id, utm_source, utm_medium, utm_campaign FROM events_enriched "
            "WHERE anonymous_id = ?",
            [visit.anonymous_id],
        )
    assert {row[0] for row in rows} == {e["messageId"] for e in visit.events}
    sessions = {row[1] for row in rows}
    assert len(sessions) == 1 and None not in sessions, sessions
    assert {row[2:] for row in rows} == {("newsletter", "email", "spring")}
