"""What the browser tests share: Chromium's flags on this machine, and reading what a page sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from tests.conftest import Home, stored_events

# Debian's Chromium, headless, with nothing that reaches out of the machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

Event = dict[str, Any]


def wait_for(
    home: Home, what: str, done: Callable[[list[Event]], bool], timeout: float = 20.0
) -> list[Event]:
    """Every stored event (``touchpoints events export``), once ``done(events)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        events = cast(list[Event], stored_events(home))
        if done(events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"never stored: {what}")
        time.sleep(0.2)


def of(events: list[Event], anonymous_id: str) -> list[Event]:
    return [e for e in events if e.get("anonymousId") == anonymous_id]


class Site:
    """A tiny HTTP server on 127.0.0.1, another origin than the collector, serving ``pages`` (path ->
    HTML); a subclass answers more paths by overriding ``answer``."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = site.answer(self.path.split("?")[0])
                body, kind = answer if answer else (b"not found", "text/plain")
                self.send_response(200 if answer else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[bytes, str] | None:
        """The body and content type for ``path``, or None for a 404."""
        if path in self.pages:
            return self.pages[path].encode(), "text/html; charset=utf-8"
        return None

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
