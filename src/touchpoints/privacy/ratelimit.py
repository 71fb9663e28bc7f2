"""Rate limits per key: a token bucket for each key, in memory.

A key may send ``burst`` requests at once, then ``rate`` a second; each request takes one token and the
bucket refills at ``rate`` tokens a second up to ``burst``. Only a request whose key was verified takes a
token, so someone guessing keys cannot spend a real key's budget. The buckets are per process and start
full after a restart: the limit is against floods and runaway clients, not a billing meter.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets by key id; thread-safe (sync routes run on a thread pool, ingest on the event loop)."""

    def __init__(
        self, rate: float, burst: int, *, what: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``rate``: requests a second per key (0: no limit); ``burst``: how many may come at once;
        ``what``: what is limited, for messages ("the read API")."""
        self.rate = rate
        self.burst = max(1, burst)
        self.what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, when counted)

    @property
    def limited(self) -> bool:
        return self.rate > 0

    def take(self, key_id: str) -> float:
        """Spends one request of ``key_id``'s budget: 0.0 when it may go ahead, else the seconds until it
        may (nothing is spent then)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def describe(self) -> str:
        """The limit in words: "20 requests a second (bursts of 40)"."""
        if self.rate <= 0:
            return "no limit"
        rate = f"{self.rate:g}"
        return f"{rate} request{'' if rate == '1' else 's'} a second (bursts of {self.burst})"


def retry_after(wait: float) -> str:
    """``Retry-After`` for a wait in seconds: whole seconds, at least 1 (HTTP has no fractions)."""
    return str(max(1, math.ceil(wait)))
