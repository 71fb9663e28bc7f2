"""The analytics read API: ``GET /v1/analytics/...`` (read or admin key), the same answers as the
``touchpoints analytics`` commands with ``--json``.

The engine is the home's (``[analytics] engine``); the prepared events are served up to ``[analytics]
max_staleness_seconds`` old (``data.prepared_at`` says when they were prepared), so a busy site does not
rebuild them for every request. A bad parameter, or one the route does not take, is a 400 that names
it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response

from touchpoints.analytics.common import AnalysisError, Scope
from touchpoints.analytics.engine import Engine, open_engine
from touchpoints.analytics.funnel import funnel
from touchpoints.config import Settings
from touchpoints.privacy.access import ERROR_RESPONSE, ReaderKey, auth_responses
from touchpoints.store.backend import StoreBusy

ANSWER: dict[str, Any] = {
    "description": "The analysis",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: ANSWER,
    400: {"description": "A parameter is wrong; the message names it", **ERROR_RESPONSE},
    503: {"description": "The store is busy; retry", **ERROR_RESPONSE},
    **auth_responses("read", "admin"),
}

Start = Annotated[str | None, Query(description="From this date or time (inclusive), e.g. 2026-09-01")]
End = Annotated[str | None, Query(description="Up to this date or time (exclusive)")]
Channels = Annotated[list[str] | None, Query(alias="channel", description="Only these channels (repeatable)")]
Timezone = Annotated[
    str | None, Query(description="IANA time zone for days, weeks, months (default: the home's)")
]


def answer(
    settings: Settings, timezone: str | None, analysis: Callable[[Engine], dict[str, Any]]
) -> Response:
    """Runs ``analysis`` on the home's engine and answers it as JSON, or a 400 / 503 that says why."""
    try:
        with open_engine(
            settings, None, timezone, max_staleness_seconds=settings.analytics_max_staleness_seconds
        ) as eng:
            result = analysis(eng)
    except AnalysisError as exc:
        # the analyses name their command-line options (--cohort-event); here they are query parameters
        message = re.sub(r"(?<![\w'-])--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), str(exc))
        return JSONResponse({"success": False, "code": "bad_parameter", "message": message}, 400)
    except RuntimeError as exc:
        if "[spark]" not in str(exc):
            raise
        return JSONResponse({"success": False, "code": "engine_unavailable", "message": str(exc)}, 503)
    except StoreBusy as exc:
        return JSONResponse({"success": False, "code": "store_busy", "message": str(exc)}, 503,
                            headers={"retry-after": "1"})  # fmt: skip
    return JSONResponse(result, headers={"cache-control": "no-store"})


def known_parameters(request: Request, key: ReaderKey) -> None:
    """A query parameter the route does not take is a 400 that names it (once the key is accepted),
    instead of being ignored: ``step=5`` for ``steps=5`` would otherwise answer with the default."""
    route = request.scope["route"]
    taken = _taken(route)
    unknown = sorted(set(request.query_params) - set(taken))
    if unknown:
        hint = f"not a parameter of {route.path}; it takes {', '.join(taken) or 'none'}"
        raise RequestValidationError(
            [{"loc": ("query", name), "input": request.query_params[name], "msg": hint} for name in unknown]
        )


def _taken(route: APIRoute) -> tuple[str, ...]:
    """The query parameters a route takes, its dependencies' included (a handful: no need to keep them)."""

    def names(d: Dependant) -> set[str]:
        return {p.alias for p in d.query_params}.union(*(names(sub) for sub in d.dependencies))

    return tuple(sorted(names(route.dependant)))


KNOWN = [Depends(known_parameters)]


def scope(start: str | None, end: str | None, channels: list[str] | None) -> Scope:
    return Scope(start=start, end=end, channels=tuple(channels or ()))


def add_analytics_routes(app: FastAPI, settings: Settings) -> None:
    # every route: its own tag, the answers it documents, and a 400 for a parameter it does not take
    get = partial(
        app.get, tags=["analytics"], response_class=Response, responses=RESPONSES, dependencies=KNOWN
    )

    @get(
        "/v1/analytics/funnel",
        summary="A funnel: customers reaching each step in order within a window, conversion, drop-off, time",
    )
    def funnel_route(
        key: ReaderKey,
        steps: Annotated[str, Query(description="Event names in order, comma-separated: A,B,C")],
        within: Annotated[str, Query(description="Window from the first step: 30m, 24h, 7d")] = "7d",
        by: Annotated[str | None, Query(description="Break down by a column or a property")] = None,
        unit: Annotated[
            str, Query(description="customer (after identity resolution) or session")
        ] = "customer",
        start: Start = None,
        end: End = None,
        channel: Channels = None,
        timezone: Timezone = None,
    ) -> Response:
        names = [s.strip() for s in steps.split(",") if s.strip()]
        return answer(
            settings, timezone, lambda eng: funnel(eng, names, within, scope(start, end, channel), by, unit)
        )

    from touchpoints.analytics import heatmap as heatmaps
    from touchpoints.analytics import paths as path_analysis
    from touchpoints.analytics import retention as retention_analysis
    from touchpoints.analytics import trends as trend_analysis
    from touchpoints.analytics import web

    @get("/v1/analytics/trends",
         summary="Events and unique customers per day, week or month, optionally broken down")  # fmt: skip
    def trends_route(
        key: ReaderKey,
        event: Annotated[list[str] | None, Query(description="Only these events (repeatable)")] = None,
        interval: Annotated[str, Query(description="day, week or month")] = "day",
        by: Annotated[str | None, Query(description="event, a column or a property")] = None,
        start: Start = None,
        end: End = None,
        channel: Channels = None,
        timezone: Timezone = None,
    ) -> Response:
        return answer(settings, timezone, lambda eng: trend_analysis.trends(
            eng, event or None, interval, by, scope(start, end, channel)))  # fmt: skip

    @get("/v1/analytics/retention",
         summary="Cohorts by first cohort event, and the share returning in each later period")  # fmt: skip
    def retention_route(
        key: ReaderKey,
        cohort_event: Annotated[str, Query(description="A customer's cohort: the period of their first one")],
        return_event: Annotated[str, Query(description="The event that counts as coming back")],
        period: Annotated[str, Query(description="day, week or month")] = "month",
        periods: Annotated[int | None, Query(ge=1, le=1000)] = None,
        start: Start = None,
        end: End = None,
        channel: Channels = None,
        timezone: Timezone = None,
    ) -> Response:
        return answer(settings, timezone, lambda eng: retention_analysis.retention(
            eng, cohort_event, return_event, period, scope(start, end, channel), periods))  # fmt: skip

    @get("/v1/analytics/paths",
         summary="The most common next or previous steps around an event, as Sankey nodes and links")  # fmt: skip
    def paths_route(
        key: ReaderKey,
        event: Annotated[str, Query(description="The anchor event")],
        direction: Annotated[str, Query(description="next or previous")] = "next",
        steps: Annotated[int, Query(ge=1, le=10)] = 3,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        per: Annotated[str, Query(description="session or customer")] = "session",
        start: Start = None,
        end: End = None,
        channel: Channels = None,
        timezone: Timezone = None,
    ) -> Response:
        if per not in ("session", "customer"):
            return JSONResponse({"success": False, "code": "bad_parameter",
                                 "message": f"per {per!r}: use session or customer"}, 400)  # fmt: skip
        return answer(settings, timezone, lambda eng: path_analysis.paths(
            eng, event, direction, steps, scope(start, end, channel), limit, per == "session"))  # fmt: skip

    @get("/v1/analytics/sessions",
         summary="Sessions, visitors, pageviews, bounce rate, duration and conversion")  # fmt: skip
    def sessions_route(
        key: ReaderKey,
        interval: Annotated[str | None, Query(description="day, week or month")] = None,
        by: Annotated[
            str | None, Query(description="A column or property of the session's first event")
        ] = None,
        goal: Annotated[str, Query(description="The event a session converts with")] = web.GOAL,
        start: Start = None,
        end: End = None,
        channel: Channels = None,
        timezone: Timezone = None,
    ) -> Response:
        return answer(
            settings, timezone, lambda eng: web.sessions(eng, scope(start, end, channel), interval, by, goal)
        )

    def top_route(
        name: str, function: Callable[..., dict[str, Any]], with_by: str | None, summary: str
    ) -> None:
        @get(f"/v1/analytics/{name}",
             summary=summary, name=f"analytics_{name.replace('-', '_')}")  # fmt: skip
        def route(
            key: ReaderKey,
            by: Annotated[str | None, Query(description="What to group by")] = None,
            goal: Annotated[str, Query(description="The event a session converts with")] = web.GOAL,
            limit: Annotated[int, Query(ge=1, le=1000)] = 20,
            start: Start = None,
            end: End = None,
            channel: Channels = None,
            timezone: Timezone = None,
        ) -> Response:
            extra = {"by": by or with_by} if with_by else {}
            return answer(settings, timezone,
                          lambda eng: function(eng, scope(start, end, channel), goal=goal, limit=limit, **extra))  # fmt: skip

    top_route("landing-pages", web.landing_pages, None, "Sessions per landing page")
    top_route("exit-pages", web.exit_pages, None, "Sessions per exit page")
    top_route("referrers", web.referrers, "class", "Sessions per referrer class (by=class) or site (by=host)")
    top_route("campaigns", web.campaigns, None, "Sessions per UTM source, medium and campaign")
    top_route("devices", web.devices, "device_type", "Sessions per device type, browser or OS")

    @get("/v1/analytics/heatmap",
         summary="Click and scroll heatmap of a page; without page, the pages that have click data")  # fmt: skip
    def heatmap_route(
        key: ReaderKey,
        page: Annotated[str | None, Query(description="The page's path, e.g. /pricing")] = None,
        grid: Annotated[int, Query(ge=2, le=200)] = 20,
        start: Start = None,
        end: End = None,
        channel: Channels = None,
        timezone: Timezone = None,
    ) -> Response:
        if page is None:
            return answer(settings, timezone, lambda eng: heatmaps.pages(eng, scope(start, end, channel)))
        return answer(
            settings, timezone, lambda eng: heatmaps.heatmap(eng, page, scope(start, end, channel), grid)
        )
