"""The analytics read API: ``GET /v1/analytics/...`` (read or admin key), the same answers as the
``touchpoints analytics`` commands with ``--json``.

The engine is the home's (``[analytics] engine``); the prepared events are served up to ``[analytics]
max_staleness_seconds`` old (``data.prepared_at`` says when they were prepared), so a busy site does not
rebuild them for every request. A bad parameter is a 400 that names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Query
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
        return JSONResponse({"success": False, "code": "bad_parameter", "message": str(exc)}, 400)
    except StoreBusy as exc:
        return JSONResponse({"success": False, "code": "store_busy", "message": str(exc)}, 503,
                            headers={"retry-after": "1"})  # fmt: skip
    return JSONResponse(result, headers={"cache-control": "no-store"})


def scope(start: str | None, end: str | None, channels: list[str] | None) -> Scope:
    return Scope(start=start, end=end, channels=tuple(channels or ()))


def add_analytics_routes(app: FastAPI, settings: Settings) -> None:
    @app.get(
        "/v1/analytics/funnel",
        tags=["analytics"],
        summary="A funnel: customers reaching each step in order within a window, conversion, drop-off, time",
        response_class=Response,
        responses=RESPONSES,
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
