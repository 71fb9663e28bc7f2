"""What the browser tests share: Chromium's flags on this machine, and reading what a page sent."""

from __future__ import annotations

import time
from collections.abc import Callable
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
