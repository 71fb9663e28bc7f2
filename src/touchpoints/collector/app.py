"""The collector's ASGI app: the Segment-spec ingest endpoints, health, and the collector's lifecycle
(the spool writer and the loader thread start and stop with the app)."""

from __future__ import annotations

import gzip
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from touchpoints import __version__
from touchpoints.analytics.routes import add_analytics_routes
from touchpoints.collector.fastpath import IngestFastPath
from touchpoints.collector.ingest import Collector, error
from touchpoints.collector.loader import Loader, LoaderThread
from touchpoints.collector.openapi import BATCH_BODY, ERROR_RESPONSE, EVENT_BODY, INGEST_RESPONSES
from touchpoints.collector.spool import Spool
from touchpoints.config import Settings
from touchpoints.links.registry import LinkRegistry
from touchpoints.links.routes import add_link_routes
from touchpoints.personalise.routes import add_personalise_routes
from touchpoints.privacy import access
from touchpoints.privacy.audit import AuditLog
from touchpoints.privacy.key_routes import add_key_routes
from touchpoints.privacy.keys import KeyRing
from touchpoints.privacy.ratelimit import RateLimiter
from touchpoints.privacy.routes import add_privacy_routes
from touchpoints.profiles.routes import add_profile_routes

log = logging.getLogger(__name__)

_RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "The write key is over its rate limit; nothing was stored; retry after `Retry-After` s",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
        **ERROR_RESPONSE,
    }
}

SHORT_PATHS = {"identify": "i", "track": "t", "page": "p", "screen": "s", "group": "g", "alias": "a"}


def ingest_paths() -> dict[str, str | None]:
    """Every ingest path and the call type it implies (None: the batch path, where each event says)."""
    # /v1/b: analytics-next posts its batches there when its batching delivery is on.
    paths: dict[str, str | None] = {"/v1/batch": None, "/v1/b": None}
    for call, short in SHORT_PATHS.items():
        paths[f"/v1/{call}"] = call
        paths[f"/v1/{short}"] = call
    return paths


def create_app(settings: Settings) -> FastAPI:
    """The collector app for one home; starts the spool writer and the loader with the app's lifespan."""
    keys = KeyRing(settings.keys_path)
    spool = Spool(
        settings.spool_dir, settings.spool_segment_bytes, segment_seconds=settings.spool_segment_seconds
    )
    loader = Loader.for_settings(settings)
    collector = Collector(settings, keys, spool)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        spool.start()
        thread = LoaderThread(loader, settings.loader_interval_seconds)
        thread.start()
        try:
            yield
        finally:
            spool.close()
            thread.stop()

    app = FastAPI(
        title="Touchpoints collector",
        version=__version__,
        description="Segment-compatible event collection. Send events with any Segment or RudderStack SDK.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.collector = collector
    app.state.spool = spool
    app.state.loader = loader
    app.state.ingest_limiter = collector.limiter
    # The key ring and the rate limiter of every Bearer route (read and admin APIs): privacy.access.
    access.install(
        app,
        keys,
        RateLimiter(settings.read_requests_per_second, settings.read_burst, what="the read and admin API"),
    )
    app.add_middleware(IngestFastPath, collector=collector, paths=ingest_paths())
    if settings.cors_origins:  # added last, so it wraps the fast path too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            # X-Retry-Count: analytics.js adds it to every retry; refusing it would lose each event whose
            # first send failed.
            allow_headers=["Authorization", "Content-Type", "Content-Encoding", "X-Retry-Count"],
            max_age=600,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = f"{request.method} {request.url.path}: {exc.detail}"
        if exc.status_code == 405:
            message += "; events are sent with POST"
        answer = error(exc.status_code, code, message, dict(exc.headers or {}))
        return Response(answer.body, answer.status, answer.headers, media_type="application/json")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        # The analytics API's own checks answer a bad parameter with a 400 that names it; FastAPI's checks
        # of its query parameters (a number out of range, a missing one) answer the same way there. The
        # other routes keep FastAPI's 422 (their documented answer).
        if not request.url.path.startswith("/v1/analytics/"):
            return await request_validation_exception_handler(request, exc)
        problems = []
        for problem in exc.errors():
            where = [str(part) for part in problem.get("loc", ())]
            name = ".".join(where[1:]) or ".".join(where) or "request"
            given = problem.get("input")
            shown = f" {given!r}" if isinstance(given, str | int | float) else ""
            problems.append(f"{name}{shown}: {problem.get('msg', 'not valid')}")
        answer = error(400, "bad_parameter", "; ".join(problems), {"cache-control": "no-store"})
        return Response(answer.body, answer.status, answer.headers, media_type="application/json")

    @app.get("/health", tags=["health"], summary="Liveness: answers 200 with no data and no auth")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(
        "/v1/m",
        tags=["tracker"],
        summary="analytics.js's own usage metrics: accepted and dropped (no customer data)",
        status_code=200,
    )
    async def library_metrics() -> dict[str, bool]:
        return {"success": True}

    script = resources.files("touchpoints.collector").joinpath("static/tp.js").read_bytes()
    script_gz = gzip.compress(script, 9, mtime=0)
    script_etag = '"' + hashlib.sha256(script).hexdigest()[:20] + '"'

    @app.api_route(
        "/tp.js",
        methods=["GET", "HEAD"],
        tags=["tracker"],
        summary="The first-party browser tracker (see docs/tracker.md for the snippet)",
        response_class=Response,
    )
    async def tracker(request: Request) -> Response:
        headers = {
            "cache-control": "public, max-age=300",
            "x-content-type-options": "nosniff",
            "etag": script_etag,
            "vary": "Accept-Encoding",
        }
        if request.headers.get("if-none-match") == script_etag:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["content-encoding"] = "gzip"
            body = script_gz
        else:
            body = script
        return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)

    def add_ingest_route(path: str, call: str | None, summary: str) -> None:
        # Served by IngestFastPath; the route describes the endpoint in the OpenAPI schema, and answers
        # the same way if the middleware is ever bypassed.
        async def endpoint(request: Request) -> Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            client_ip = request.client.host if request.client else None
            answer = await collector.handle(headers, request.stream(), request.url.path, call, client_ip)
            return Response(answer.body, answer.status, answer.headers, media_type="application/json")

        body = BATCH_BODY if call is None else EVENT_BODY
        app.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            summary=summary,
            tags=["ingest"],
            name=path.strip("/").replace("/", "_"),
            responses={**INGEST_RESPONSES, **_RATE_LIMITED},
            openapi_extra={"requestBody": body},
            response_model=None,
        )

    add_link_routes(app, collector, LinkRegistry(settings.links_path))
    add_profile_routes(app, settings)
    add_privacy_routes(app, settings, loader)
    add_personalise_routes(app, settings)
    add_analytics_routes(app, settings)
    add_key_routes(app, keys, AuditLog(settings.audit_path))

    for path, call in ingest_paths().items():
        if call is None:
            summary = "Send up to 2,500 events of any type in one request"
        else:
            summary = f"Send one {call} call" + ("" if path.endswith(call) else " (analytics.js short path)")
        add_ingest_route(path, call, summary)
    for route in app.routes:
        # Answers the framework gives before a route (and its key check) runs, described on every route
        # they can come from: 400 for a JSON body that cannot be read at all (not UTF-8), 404 for a path
        # parameter the route's pattern refuses (a newline in it).
        if isinstance(route, APIRoute) and route.body_field is not None:
            route.responses.setdefault(400, {"description": "The body could not be read", **ERROR_RESPONSE})
        if isinstance(route, APIRoute) and route.param_convertors:
            route.responses.setdefault(404, {"description": "Nothing found at this path", **ERROR_RESPONSE})
    return app
