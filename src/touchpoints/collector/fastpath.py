"""The ingest endpoints as plain ASGI, ahead of FastAPI's routing.

A POST to an ingest path is answered here, with no request or response objects and no routing, which
cuts the server's CPU per request to about a third; everything else (health, the OpenAPI description, a
wrong method on an ingest path) goes on to the FastAPI app. CORS, added outside this middleware, applies
to both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from touchpoints.collector.ingest import Collector

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_WANTED = {b"authorization", b"content-encoding", b"content-length"}


class IngestFastPath:
    """ASGI middleware: ``paths`` maps an ingest path to its call type (None for the batch path)."""

    def __init__(self, app: ASGIApp, collector: Collector, paths: dict[str, str | None]) -> None:
        self.app = app
        self.collector = collector
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in self.paths:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _WANTED}

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        client = scope.get("client")
        answer = await self.collector.handle(
            headers, chunks(), path, self.paths[path], client[0] if client else None
        )
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer.body)).encode()),
            *((k.encode(), v.encode()) for k, v in answer.headers.items()),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": answer.body})
