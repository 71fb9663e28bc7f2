"""Click and scroll heatmaps on a hand-built store (``web_store.HEATMAP``, sent to a real collector):
clicks in known cells of /pricing (1000 x 2000 px), elements by selector, and the scroll depth of its
four page views:

    h-1 view 1   scrolled to 55 %       reached 25, 50
    h-1 view 2   (after a view of /) read to the end (25, 50, 75, 100 %)
    h-2          no scrolling
    h-3          a 25 % threshold at the very instant of the view, no depth_percent
    h-4          a scroll on /pricing without a view of it: belongs to none
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.analytics.web_store import HEATMAP, PRICING, at, build
from touchpoints.analytics.common import AnalysisError, Scope
from touchpoints.analytics.engine import Engine, open_engine
from touchpoints.analytics.heatmap import heatmap, pages
from touchpoints.config import load_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("heatmap") / "home", HEATMAP).path


@pytest.fixture
def eng(store: Path) -> Iterator[Engine]:
    with open_engine(load_settings(store), "duckdb") as engine:
        yield engine


def _cells(answer: dict[str, Any]) -> dict[tuple[int, int], int]:
    return {(c["x"], c["y"]): c["clicks"] for c in answer["clicks"]["cells"]}


def test_clicks_land_in_their_cells_of_the_page(eng: Engine) -> None:
    four = heatmap(eng, PRICING, grid=4)
    # (100, 100) and (100, 150) top left; (900, 1900) and the edge (1000, 2000) bottom right; (600, 500)
    assert _cells(four) == {(0, 0): 2, (3, 3): 2, (2, 1): 1}
    assert {k: four["clicks"][k] for k in ("total", "placed", "unplaced")} == {
        "total": 7,
        "placed": 5,
        "unplaced": 2,  # no page_width; a page_height of 0
    }
    assert [c["share"] for c in four["clicks"]["cells"]] == [0.4, 0.2, 0.4]  # by row, then column
    assert _cells(heatmap(eng, PRICING)) == {(2, 1): 2, (18, 19): 1, (19, 19): 1, (12, 5): 1}
    assert _cells(heatmap(eng, PRICING, grid=1)) == {(0, 0): 5}


def test_elements_by_selector_with_visitors_and_their_usual_text(eng: Engine) -> None:
    elements = heatmap(eng, PRICING)["elements"]
    assert elements == [
        # three clicks said "Buy now", one "Buy now (1)"; placed or not, every click counts here
        {"selector": "#buy", "tag": "a", "text": "Buy now", "clicks": 4, "visitors": 3, "share": 0.571429},
        {"selector": "div.hero > p", "tag": "p", "text": None, "clicks": 2, "visitors": 2, "share": 0.285714},
        {
            "selector": "footer a",
            "tag": "a",
            "text": "Contact",
            "clicks": 1,
            "visitors": 1,
            "share": 0.142857,
        },
    ]
    assert [e["selector"] for e in heatmap(eng, PRICING, limit=1)["elements"]] == ["#buy"]


def test_scroll_depth_is_per_page_view(eng: Engine) -> None:
    scroll = heatmap(eng, PRICING)["scroll"]
    assert scroll["pageviews"] == 4
    assert [(d["depth"], d["pageviews"], d["share"]) for d in scroll["depths"]] == [
        (25, 3, 0.75),
        (50, 2, 0.5),
        (75, 1, 0.25),
        (100, 1, 0.25),
    ]


def test_the_scope_takes_page_views_with_their_scrolls_and_clicks_by_their_time(eng: Engine) -> None:
    later = heatmap(eng, PRICING, Scope(start=at(10, 9, 4)))
    # page views: h-1's second (read to the end), h-2, h-3; clicks from 09:04 on: h-1's unplaced one,
    # h-2's two, h-3's two
    assert [d["pageviews"] for d in later["scroll"]["depths"]] == [2, 1, 1, 1]
    assert later["scroll"]["pageviews"] == 3
    assert {k: later["clicks"][k] for k in ("total", "placed", "unplaced")} == {
        "total": 5,
        "placed": 3,
        "unplaced": 2,
    }
    # a range that ends before h-1 scrolled: its first view still reached 50 %
    first = heatmap(eng, PRICING, Scope(end=at(10, 9, 1)))
    assert [d["pageviews"] for d in first["scroll"]["depths"]] == [1, 1, 0, 0]
    assert heatmap(eng, "/nowhere")["scroll"] == {
        "pageviews": 0,
        "depths": [{"depth": d, "pageviews": 0, "share": None} for d in (25, 50, 75, 100)],
    }


def test_pages_with_click_data(eng: Engine) -> None:
    assert pages(eng)["rows"] == [
        {"page": PRICING, "clicks": 7, "visitors": 3, "pageviews": 4, "scrolls": 8},
        {"page": "/", "clicks": 1, "visitors": 1, "pageviews": 2, "scrolls": 0},
    ]
    assert [r["page"] for r in pages(eng, limit=1)["rows"]] == [PRICING]


def test_bad_parameters_say_what_to_give(eng: Engine) -> None:
    with pytest.raises(AnalysisError, match="--grid 0"):
        heatmap(eng, PRICING, grid=0)
    with pytest.raises(AnalysisError, match="--page"):
        heatmap(eng, "")
    with pytest.raises(AnalysisError, match="--limit"):
        pages(eng, limit=0)
