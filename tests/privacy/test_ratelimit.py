"""Rate limits per key: a burst, then a steady rate; over it, 429 with Retry-After, and the budget refills."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Home, ServerProcess, make_home, wait_for_events
from touchpoints.config import load_settings
from touchpoints.privacy.ratelimit import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_a_steady_rate_per_key() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 3, what="the read API", clock=clock)
    assert [limiter.take("key_a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("key_a") == pytest.approx(0.5), "the next token comes in half a second"
    assert limiter.take("key_b") == 0.0, "each key has its own budget"
    clock.now += 0.5
    assert limiter.take("key_a") == 0.0
    assert limiter.take("key_a") > 0
    clock.now += 60
    assert [limiter.take("key_a") for _ in range(4)][-1] > 0, "an idle key saves up a burst, no more"
    assert limiter.describe() == "2 requests a second (bursts of 3)"


def test_a_refused_request_spends_nothing_and_zero_means_no_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 1, what="ingest", clock=clock)
    assert limiter.take("k") == 0.0
    for _ in range(100):  # a client hammering while refused does not push its turn further away
        assert limiter.take("k") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.take("k") == 0.0
    unlimited = RateLimiter(0, 1, what="ingest", clock=clock)
    assert all(unlimited.take("k") == 0.0 for _ in range(10_000)) and not unlimited.limited


@pytest.mark.parametrize(("wait", "header"), [(0.001, "1"), (0.5, "1"), (1.0, "1"), (1.01, "2"), (7.2, "8")])
def test_retry_after_is_whole_seconds_and_at_least_one(wait: float, header: str) -> None:
    assert retry_after(wait) == header


def test_the_limits_are_settings_of_their_own(tmp_path: Path) -> None:
    defaults = load_settings(tmp_path)
    assert (defaults.ingest_requests_per_second, defaults.ingest_burst) == (1000.0, 2000)
    assert (defaults.read_requests_per_second, defaults.read_burst) == (20.0, 40)
    (tmp_path / "config.toml").write_text("[api]\nread_requests_per_second = 0.5\nread_burst = 2\n")
    changed = load_settings(tmp_path)
    assert (changed.read_requests_per_second, changed.read_burst) == (0.5, 2)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, ServerProcess]]:
    home = make_home(
        Path(tmp_path_factory.mktemp("limits")) / "home",
        # One a second: the four requests of a test come well within a second, even on a slow machine.
        "[api]\nread_requests_per_second = 1\nread_burst = 3\ningest_requests_per_second = 1\ningest_burst = 3\n",
    )
    server = ServerProcess(home.path).start()
    try:
        yield home, server
    finally:
        server.kill()


@pytest.mark.slow
def test_a_read_key_over_its_limit_is_told_when_to_come_back(live: tuple[Home, ServerProcess]) -> None:
    home, server = live
    url = f"{server.url}/v1/profiles/nobody"
    # Failed attempts, with a wrong key or a write key, spend nothing of the read key's budget.
    for headers in [{"Authorization": "Bearer tpr_wrong"}] * 5 + [
        {"Authorization": f"Bearer {home.write_key}"}
    ] * 5:
        assert httpx.get(url, headers=headers).status_code in (401, 403)
    bearer = {"Authorization": f"Bearer {home.read_key}"}
    assert [httpx.get(url, headers=bearer).status_code for _ in range(3)] == [404, 404, 404]
    over = httpx.get(url, headers=bearer)
    assert over.status_code == 429
    assert over.headers["retry-after"] == "1"
    body = over.json()
    assert body["success"] is False and body["code"] == "rate_limited"
    assert "'analyst'" in body["message"] and "1 request a second (bursts of 3)" in body["message"]
    other = httpx.get(url, headers={"Authorization": f"Bearer {home.admin_key}"})
    assert other.status_code == 404, "another key has a budget of its own"
    time.sleep(int(over.headers["retry-after"]))
    assert httpx.get(url, headers=bearer).status_code == 404, "the budget refilled"


@pytest.mark.slow
def test_a_write_key_over_its_limit_stores_nothing_until_it_comes_back(
    live: tuple[Home, ServerProcess],
) -> None:
    home, server = live

    def send(n: int) -> httpx.Response:
        return httpx.post(
            f"{server.url}/v1/track",
            json={"userId": "u-1", "event": "Limit Tested", "messageId": f"limit-{n}"},
            auth=(home.write_key, ""),
        )

    for _ in range(5):
        assert httpx.post(f"{server.url}/v1/track", json={}, auth=("tpw_wrong", "")).status_code == 401
    assert [send(n).status_code for n in range(3)] == [200, 200, 200]
    over = send(3)
    assert over.status_code == 429 and over.headers["retry-after"] == "1"
    assert (
        "'default'" in over.json()["message"]
        and "nothing in this request was stored" in over.json()["message"]
    )
    time.sleep(1)
    assert send(3).status_code == 200, "an SDK's retry after Retry-After goes through"
    events = wait_for_events(home, 4)
    assert sorted(str(e["messageId"]) for e in events) == [f"limit-{n}" for n in range(4)]
