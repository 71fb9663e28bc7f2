"""The heatmap of a real visit: a page with the tracker (``/tp.js``) in Debian's Chromium, two buttons
clicked at known places of a tall page and a scroll to its end, then ``heatmap`` on what the collector
stored finds those cells, those elements and that depth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.collector.browser import CHROMIUM_ARGS, Event, Site, wait_for
from tests.collector.test_tracker import CHROMIUM, MISSING, READY, VIEWPORT, snippet
from tests.conftest import Home, ServerProcess, make_home
from touchpoints.analytics.engine import open_engine
from touchpoints.analytics.heatmap import heatmap, pages

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - test_tracker skips the module first
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Pricing</title>
{snippet}
<style>body {{ margin: 0 }} #page {{ position: relative; height: 4000px }}
button {{ position: absolute; width: 100px; height: 40px; margin: 0; padding: 0 }}</style>
</head><body><div id="page">
<button id="plans" style="left: 100px; top: 80px">See plans</button>
<button id="buy" style="left: 700px; top: 2280px">Buy</button>
</div></body></html>
"""
GRID = 10


@pytest.fixture(scope="module")
def visited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, dict[str, Any]]]:
    """A visit to /pricing.html: #plans clicked at its centre (150, 100), #buy (750, 2300) after
    scrolling to it, then scrolled to the bottom; the collector stopped afterwards."""
    if MISSING:
        pytest.fail(f"TOUCHPOINTS_REQUIRE_BROWSER=1 but {MISSING}")
    assert sync_playwright is not None
    home = make_home(tmp_path_factory.mktemp("heatmap-browser") / "home")
    collector = ServerProcess(home.path).start()
    try:
        with Site() as site, sync_playwright() as p:
            site.pages["/pricing.html"] = PAGE.format(snippet=snippet(collector.url, home.write_key))
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
                page = context.new_page()
                page.goto(site.url + "/pricing.html")
                page.wait_for_function(READY)
                size: dict[str, Any] = page.evaluate(
                    "() => ({width: document.documentElement.scrollWidth,"
                    " height: document.documentElement.scrollHeight})"
                )
                page.click("#plans")
                page.click("#buy")  # scrolls it into view first
                page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
                page.wait_for_timeout(300)
                page.evaluate("touchpoints.flush()")

                def done(events: list[Event]) -> bool:
                    names = [e.get("event") for e in events]
                    return names.count("Element Clicked") == 2 and names.count("Page Scrolled") == 4

                wait_for(home, "two clicks and four scroll thresholds", done)
                context.close()
            finally:
                browser.close()
    finally:
        collector.stop()
    yield home, size


def test_the_clicks_and_scroll_of_a_real_visit(visited: tuple[Home, dict[str, Any]]) -> None:
    home, size = visited
    assert size["height"] == 4000 and 950 <= size["width"] <= 1000, size
    with open_engine(home.settings, "duckdb") as eng:
        answer = heatmap(eng, "/pricing.html", grid=GRID)
        listed = pages(eng)["rows"]
    # #plans at (150, 100) and #buy at (750, 2300) of a page about 1000 x 4000 px, in a 10 x 10 grid
    assert {(c["x"], c["y"]): c["clicks"] for c in answer["clicks"]["cells"]} == {(1, 0): 1, (7, 5): 1}
    assert answer["clicks"]["unplaced"] == 0
    assert [(e["selector"], e["tag"], e["text"], e["clicks"], e["visitors"]) for e in answer["elements"]] == [
        ("#buy", "button", "Buy", 1, 1),
        ("#plans", "button", "See plans", 1, 1),
    ]
    assert answer["scroll"]["pageviews"] == 1
    assert [d["share"] for d in answer["scroll"]["depths"]] == [1.0, 1.0, 1.0, 1.0]
    assert listed == [{"page": "/pricing.html", "clicks": 2, "visitors": 1, "pageviews": 1, "scrolls": 4}]
