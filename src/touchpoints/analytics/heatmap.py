"""Click and scroll heatmaps of one page, from the browser tracker's signals (``tp.js``).

``Element Clicked`` carries the click in page coordinates (``x``, ``y``) and the page's size at the time
(``page_width``, ``page_height``); ``Page Scrolled`` the deepest scroll of the page view (``depth_percent``)
each time it crosses 25, 50, 75 or 100 % (``threshold``). The page of an event is its ``page_path``.

- **cells**: each click is placed by its share of the page's size (``x / page_width``, ``y / page_height``)
  in a ``grid`` x ``grid`` grid, cell ``(0, 0)`` top left; a click on the edge (or, after the page
  shrank, past it) goes in the last cell. Clicks without coordinates or a page size above zero are not
  placed, and counted as ``unplaced``.
- **elements**: clicks per CSS ``selector`` (placed or not), the distinct visitors who clicked (customer,
  else anonymousId, as in ``web``), and the element's tag and text as most of its clicks had them.
- **scroll**: of the page's page views (``Page Viewed`` events with a session), the share that reached
  25, 50, 75 and 100 %. A ``Page Scrolled`` belongs to the latest page view of the same session and path
  at or before it (a page view and a scroll at the same instant: the view first); the deepest of its
  ``depth_percent`` (else ``threshold``) is the depth the view reached. The scope selects page views by
  their own time, and their scroll events come with them.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from touchpoints.analytics.common import AnalysisError, Scope, clean
from touchpoints.analytics.engine import Engine
from touchpoints.analytics.web import visitor_key

CLICK = "Element Clicked"
SCROLL = "Page Scrolled"
VIEW = "Page Viewed"
DEPTHS = (25, 50, 75, 100)


def _number(engine: Engine, t: ir.Table, key: str) -> ir.FloatingValue:
    """A numeric property; NULL when absent or not a number (try_cast: Spark 4 errors on a bad cast)."""
    return engine.json_get(t.properties, key).try_cast("float64")


def _check(page: str, grid: int, limit: int) -> None:
    if not page:
        raise AnalysisError("--page: give a page path such as /pricing (see the pages with click data)")
    if not 1 <= grid <= 200:
        raise AnalysisError(f"--grid {grid}: give a number of cells per side from 1 to 200")
    if limit < 1:
        raise AnalysisError(f"--limit {limit}: give a number of elements of 1 or more")


def click_cells(engine: Engine, page: str, scope: Scope | None = None, grid: int = 20) -> ir.Table:
    """Clicks per cell (``x``, ``y``) of ``page``; the unplaced clicks are the row with NULL cells."""
    t = engine.events()
    t = t.filter((t.event == CLICK) & (t.page_path == page))
    t = (scope or Scope()).apply(engine, t)
    x, y = _number(engine, t, "x"), _number(engine, t, "y")
    width, height = _number(engine, t, "page_width"), _number(engine, t, "page_height")
    placed = x.notnull() & y.notnull() & (width > 0) & (height > 0)

    def cell(at: ir.FloatingValue, size: ir.FloatingValue) -> ir.IntegerValue:
        # Clamped before the cast, and no division by zero: Spark 4 (ANSI) raises on both.
        share = ibis.greatest(ibis.least(at / size.nullif(0), 1), 0)
        index = ibis.least((share * grid).floor(), grid - 1).cast("int64")
        return ibis.ifelse(placed.fill_null(False), index, ibis.null("int64"))

    t = t.mutate(cx=cell(x, width), cy=cell(y, height))
    return t.group_by(["cx", "cy"]).agg(clicks=t.count()).rename(x="cx", y="cy")


def click_elements(engine: Engine, page: str, scope: Scope | None = None, limit: int = 20) -> ir.Table:
    """The ``limit`` most clicked elements of ``page`` by selector: clicks, visitors, tag and text."""
    t = engine.events()
    t = t.filter((t.event == CLICK) & (t.page_path == page))
    t = (scope or Scope()).apply(engine, t)
    t = t.mutate(
        _selector=engine.json_get(t.properties, "selector").fill_null(""),
        _tag=engine.json_get(t.properties, "tag").fill_null(""),
        _text=engine.json_get(t.properties, "text").fill_null(""),
        _visitor=visitor_key(t),
    )
    # The element's tag and text as most of its clicks had them (a cart button's count changes): the
    # clicks of each variant, then the first click of the biggest variant marks the one to show.
    t = t.mutate(_variant=t.message_id.count().over(ibis.window(group_by=[t._selector, t._tag, t._text])))
    t = t.mutate(
        _pick=ibis.row_number().over(
            ibis.window(group_by=t._selector, order_by=[t._variant.desc(), t._tag, t._text, t.message_id])
        )
    )
    g = t.group_by(t._selector).agg(
        clicks=t.count(),
        visitors=t._visitor.nunique(),
        tag=t._tag.max(where=t._pick == 0),
        text=t._text.max(where=t._pick == 0),
    )
    return g.order_by([g.clicks.desc(), g._selector]).limit(limit).rename(selector="_selector")


def scroll_depths(engine: Engine, page: str, scope: Scope | None = None) -> ir.Table:
    """One row: ``pageviews`` of ``page`` and ``reached_25`` ... ``reached_100``, those that scrolled so
    deep."""
    t = engine.events()
    t = t.filter(t.session_id.notnull() & (t.page_path == page) & t.event.isin([VIEW, SCROLL]))
    is_view = (t.event == VIEW).cast("int64")
    depth = _number(engine, t, "depth_percent").coalesce(_number(engine, t, "threshold"))
    t = t.mutate(_view=is_view, _depth=ibis.ifelse(is_view == 1, ibis.null("float64"), depth))
    # Page views so far in the session (on this path): a scroll belongs to the view whose number it has.
    t = t.mutate(
        _view_no=t._view.sum().over(
            ibis.cumulative_window(
                group_by=t.session_id, order_by=[t.timestamp, t._view.desc(), t.message_id]
            )
        )
    )
    views = t.group_by([t.session_id, t._view_no]).agg(
        timestamp=t.timestamp.min(where=t._view == 1),
        channel=t.channel.max(where=t._view == 1),
        depth=t._depth.max(),
    )
    views = views.filter(views._view_no > 0)  # scrolls before any page view of the path: no view to join
    views = (scope or Scope()).apply(engine, views)
    reached = {f"reached_{d}": (views.depth >= d).cast("int64").sum().fill_null(0) for d in DEPTHS}
    return views.aggregate(pageviews=views.count(), **reached)


def heatmap(
    engine: Engine, page: str, scope: Scope | None = None, grid: int = 20, limit: int = 20
) -> dict[str, Any]:
    """The clicks and scroll depth of one page (a path, e.g. ``/pricing``)::

        {"page": "/pricing", "grid": 20,
         "clicks": {"total": n, "placed": n, "unplaced": n,
                    "cells": [{"x": 0, "y": 0, "clicks": n, "share": x}, ...]},   # x: column, y: row
         "elements": [{"selector": "#buy", "tag": "a", "text": "Buy now", "clicks": n, "visitors": n,
                       "share": x}, ...],
         "scroll": {"pageviews": n, "depths": [{"depth": 25, "pageviews": n, "share": x}, ...]}}

    ``cells`` lists the cells with clicks, by row then column; ``share`` is of the placed clicks (cells)
    or of all clicks (elements)."""
    _check(page, grid, limit)
    scope = scope or Scope()
    cells = engine.to_arrow(click_cells(engine, page, scope, grid)).to_pylist()
    placed = sorted((r for r in cells if r["x"] is not None), key=lambda r: (r["y"], r["x"]))
    n_placed = sum(int(r["clicks"]) for r in placed)
    unplaced = sum(int(r["clicks"]) for r in cells if r["x"] is None)
    total = n_placed + unplaced
    elements = engine.to_arrow(click_elements(engine, page, scope, limit)).to_pylist()
    scroll = engine.to_arrow(scroll_depths(engine, page, scope)).to_pylist()[0]
    views = int(scroll["pageviews"] or 0)
    return {
        "page": page,
        "grid": grid,
        "scope": scope.about(),
        "engine": engine.name,
        "data": engine.about,
        "clicks": {
            "total": total,
            "placed": n_placed,
            "unplaced": unplaced,
            "cells": [
                {
                    "x": int(r["x"]),
                    "y": int(r["y"]),
                    "clicks": int(r["clicks"]),
                    "share": clean(r["clicks"] / n_placed),
                }
                for r in placed
            ],
        },
        "elements": [
            {
                "selector": r["selector"] or None,
                "tag": r["tag"] or None,
                "text": r["text"] or None,
                "clicks": int(r["clicks"]),
                "visitors": int(r["visitors"]),
                "share": clean(r["clicks"] / total),
            }
            for r in elements
        ],
        "scroll": {
            "pageviews": views,
            "depths": [
                {
                    "depth": d,
                    "pageviews": int(scroll[f"reached_{d}"] or 0),
                    "share": clean(int(scroll[f"reached_{d}"] or 0) / views) if views else None,
                }
                for d in DEPTHS
            ],
        },
    }


def pages(engine: Engine, scope: Scope | None = None, limit: int = 50) -> dict[str, Any]:
    """The pages with click or scroll data, most clicked first: ``{"rows": [{"page": "/", "clicks": n,
    "visitors": n, "pageviews": n, "scrolls": n}, ...]}`` (``visitors``: who clicked; ``scrolls``:
    ``Page Scrolled`` events)."""
    if limit < 1:
        raise AnalysisError(f"--limit {limit}: give a number of pages of 1 or more")
    scope = scope or Scope()
    t = engine.events()
    t = t.filter(t.page_path.notnull() & t.event.isin([CLICK, SCROLL, VIEW]))
    t = scope.apply(engine, t)
    is_click = t.event == CLICK
    g = t.group_by(t.page_path).agg(
        clicks=is_click.cast("int64").sum(),
        visitors=visitor_key(t).nunique(where=is_click),
        pageviews=(t.event == VIEW).cast("int64").sum(),
        scrolls=(t.event == SCROLL).cast("int64").sum(),
    )
    g = g.filter((g.clicks > 0) | (g.scrolls > 0))
    rows = engine.to_arrow(g.order_by([g.clicks.desc(), g.page_path]).limit(limit)).to_pylist()
    return {
        "scope": scope.about(),
        "engine": engine.name,
        "data": engine.about,
        "limit": limit,
        "rows": [
            {
                "page": r["page_path"],
                "clicks": int(r["clicks"]),
                "visitors": int(r["visitors"]),
                "pageviews": int(r["pageviews"]),
                "scrolls": int(r["scrolls"]),
            }
            for r in rows
        ],
    }
