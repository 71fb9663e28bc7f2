"""The collector's ASGI app: the Segment-spec ingest endpoints, health, and the collector's lifecycle.

A request is authenticated, read within the limits, and every event in it validated; valid events and
quarantined ones are written to the spool together, and the answer (exactly ``200``) is sent only once that
write is fsync'd. The loader thread then moves them into the store.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from touchpoints import __version__
from touchpoints.collector.auth import basic_credentials
from touchpoints.collector.body import BodyError, read_body
from touchpoints.collector.loader import Loader, LoaderThread
from touchpoints.collector.openapi import BATCH_BODY, EVENT_BODY, INGEST_RESPONSES
from touchpoints.collector.spool import Spool, SpoolClosed
from touchpoints.config import Settings
from touchpoints.events.model import QuarantinedItem, StoredEvent
from touchpoints.events.validate import Envelope, EventLimits, InvalidEvent, normalize_event
from touchpoints.privacy.keys import KeyRecord, KeyRing

log = logging.getLogger(__name__)

SHORT_PATHS = {"identify": "i", "track": "t", "page": "p", "screen": "s", "group": "g", "alias": "a"}
MAX_ERRORS_SHOWN = 20


class _BatchEnvelope(msgspec.Struct):
    batch: list[msgspec.Raw]
    sentAt: Any = None
    writeKey: Any = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None


class _KeyProbe(msgspec.Struct):
    writeKey: Any = None


_batch_decoder = msgspec.json.Decoder(_BatchEnvelope)
_probe_decoder = msgspec.json.Decoder(_KeyProbe)
_encoder = msgspec.json.Encoder()


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer: ``{"code", "message"}``, the shape Segment's SDKs read."""
    return JSONResponse({"success": False, "code": code, "message": message}, status, headers=headers)


class Collector:
    """Turns ingest requests into spooled records."""

    def __init__(self, settings: Settings, keys: KeyRing, spool: Spool) -> None:
        self.settings = settings
        self.keys = keys
        self.spool = spool
        self.limits = EventLimits.from_settings(settings)

    def _authorise(self, secret: str | None) -> KeyRecord | JSONResponse:
        if not secret:
            return error(
                401,
                "missing_write_key",
                "no write key: send it as the HTTP Basic user name (password empty) or as writeKey in the body",
            )
        record = self.keys.verify(secret)
        if record is None:
            return error(401, "invalid_write_key", "the write key is not valid (unknown or revoked)")
        if record.role != "write":
            return error(403, "wrong_key_role", f"this is a {record.role} key; ingestion needs a write key")
        return record

    async def ingest(self, request: Request, call: str | None) -> Response:
        """``call`` is the event type for single-event paths, None for ``/v1/batch``."""
        header_key = basic_credentials(request.headers.get("authorization"))
        record: KeyRecord | None = None
        if header_key is not None:
            verdict = self._authorise(header_key)
            if isinstance(verdict, JSONResponse):
                return verdict
            record = verdict
        try:
            body = await read_body(request, self.settings.max_request_bytes)
        except BodyError as exc:
            return error(exc.status, exc.code, exc.message)
        received_at = datetime.now(UTC)

        if call is None:
            try:
                envelope_msg = _batch_decoder.decode(body)
            except msgspec.ValidationError as exc:
                return error(
                    400, "not_a_batch", f'the body is not a batch: {exc}; expected {{"batch": [...]}}'
                )
            except msgspec.DecodeError as exc:
                return error(400, "invalid_json", f"the body is not valid JSON: {exc}")
            raw_events, body_key = envelope_msg.batch, envelope_msg.writeKey
            envelope = Envelope(
                sent_at=envelope_msg.sentAt,
                context=envelope_msg.context or {},
                integrations=envelope_msg.integrations or {},
            )
        else:
            try:
                body_key = _probe_decoder.decode(body).writeKey
            except msgspec.ValidationError:
                return error(400, "not_an_object", f"the body of a {call} call must be a JSON object")
            except msgspec.DecodeError as exc:
                return error(400, "invalid_json", f"the body is not valid JSON: {exc}")
            raw_events = [msgspec.Raw(body)]
            envelope = Envelope(forced_type=call)

        if record is None:
            verdict = self._authorise(body_key if isinstance(body_key, str) else None)
            if isinstance(verdict, JSONResponse):
                return verdict
            record = verdict
        if len(raw_events) > self.settings.max_batch_events:
            return error(
                413,
                "batch_too_large",
                f"the batch has {len(raw_events)} events; at most {self.settings.max_batch_events} are allowed "
                "per request",
            )

        lines: list[bytes] = []
        errors: list[dict[str, Any]] = []
        accepted = 0
        origin = request.url.path
        for index, raw in enumerate(raw_events):
            item: StoredEvent | QuarantinedItem
            try:
                item = normalize_event(
                    bytes(raw),
                    source=record.name,
                    received_at=received_at,
                    envelope=envelope,
                    source_channel=record.channel,
                    limits=self.limits,
                )
                accepted += 1
            except Exception as exc:  # no event is lost to a bug: it is kept for replay
                if isinstance(exc, InvalidEvent):
                    reason = exc.reason
                else:
                    log.exception("validating event %d of a request failed unexpectedly; quarantined", index)
                    reason = f"could not be validated ({type(exc).__name__}: {exc}); kept for replay"
                item = QuarantinedItem(
                    quarantine_id="q_" + secrets.token_hex(6),
                    source=record.name,
                    origin=f"{origin} event {index}",
                    received_at=received_at,
                    reason=reason,
                    payload=bytes(raw).decode("utf-8", errors="replace"),
                    envelope=envelope.to_json(),
                )
                if len(errors) < MAX_ERRORS_SHOWN:
                    errors.append({"index": index, "reason": reason, "quarantine_id": item.quarantine_id})
            lines.append(_encoder.encode(item))
        if lines:
            lines.append(b"")
            try:
                await self.spool.append(b"\n".join(lines))
            except (OSError, SpoolClosed) as exc:
                log.error("could not spool a request: %s", exc)
                return error(
                    503,
                    "spool_unavailable",
                    "the collector could not write events durably; nothing was stored; retry later",
                    headers={"Retry-After": "1"},
                )
        quarantined = len(raw_events) - accepted
        answer: dict[str, Any] = {"success": True, "accepted": accepted, "quarantined": quarantined}
        if errors:
            answer["errors"] = errors
        return Response(_encoder.encode(answer), 200, media_type="application/json")


def create_app(settings: Settings, *, fsync: bool = True, run_loader: bool = True) -> FastAPI:
    """The collector app for one home; starts the spool writer and the loader with the app's lifespan."""
    keys = KeyRing(settings.keys_path)
    spool = Spool(settings.spool_dir, settings.spool_segment_bytes, fsync=fsync)
    loader = Loader(settings.spool_dir, settings.store_path, timedelta(days=settings.dedup_window_days))
    collector = Collector(settings, keys, spool)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        spool.start()
        thread = LoaderThread(loader, settings.loader_interval_seconds) if run_loader else None
        if thread is not None:
            thread.start()
        app.state.loader_thread = thread
        try:
            yield
        finally:
            spool.close()
            if thread is not None:
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
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
            max_age=600,
        )

    @app.get("/health", tags=["health"], summary="Liveness: answers 200 with no data and no auth")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def add_ingest_route(path: str, call: str | None, summary: str) -> None:
        async def endpoint(request: Request) -> Response:
            return await collector.ingest(request, call)

        body = BATCH_BODY if call is None else EVENT_BODY
        app.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            summary=summary,
            tags=["ingest"],
            name=path.strip("/").replace("/", "_"),
            responses=INGEST_RESPONSES,
            openapi_extra={"requestBody": body},
            response_model=None,
        )

    add_ingest_route("/v1/batch", None, "Send up to 2,500 events of any type in one request")
    for call, short in SHORT_PATHS.items():
        add_ingest_route(f"/v1/{call}", call, f"Send one {call} call")
        add_ingest_route(f"/v1/{short}", call, f"Send one {call} call (analytics.js short path)")
    return app
