"""Every analysis answers over the read API (a real server) exactly as its command does with --json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.analytics.conftest import cli, same
from tests.conftest import ServerProcess, make_home

pytestmark = pytest.mark.slow

# (route, query parameters, the same question on the command line)
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("trends", {"interval": "week", "event": ["Order Completed"], "by": "channel"},
     ["trends", "--interval", "week", "--event", "Order Completed", "--by", "channel"]),
    ("retention", {"cohort_event": "Order Completed", "return_event": "Order Completed", "period": "month"},
     ["retention", "--cohort-event", "Order Completed", "--return-event", "Order Completed", "--period", "month"]),
    ("paths", {"event": "Cart Viewed", "steps": 2, "per": "customer"},
     ["paths", "--event", "Cart Viewed", "--steps", "2", "--per", "customer"]),
    ("sessions", {"interval": "month", "channel": ["web"]}, ["sessions", "--interval", "month", "--channel", "web"]),
    ("landing-pages", {"limit": 5}, ["landing-pages", "--limit", "5"]),
    ("exit-pages", {"limit": 5}, ["exit-pages", "--limit", "5"]),
    ("referrers", {"by": "host", "timezone": "Europe/London"}, ["referrers", "--by", "host", "--timezone", "Europe/London"]),
    ("campaigns", {"start": "2026-06-01"}, ["campaigns", "--start", "2026-06-01"]),
    ("devices", {"by": "browser"}, ["devices", "--by", "browser"]),
    ("heatmap", {}, ["heatmap"]),
]  # fmt: skip


def test_every_analysis_answers_over_http_as_on_the_command_line(
    demo_world: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    target = tmp_path / "home"
    shutil.copytree(demo_world[0], target)
    (target / "keys.json").unlink()
    home = make_home(target)
    expected = {route: json.loads(cli("analytics", *args, "--json", "--home", str(target)).stdout)
                for route, _, args in CASES}  # fmt: skip
    server = ServerProcess(target).start()
    try:
        reader = {"Authorization": f"Bearer {home.read_key}"}
        for route, params, _ in CASES:
            r = httpx.get(f"{server.url}/v1/analytics/{route}", params=params, headers=reader, timeout=120)
            assert r.status_code == 200, (route, r.text)
            same(r.json(), expected[route], route)
        bad = httpx.get(f"{server.url}/v1/analytics/trends", params={"interval": "fortnight"}, headers=reader)
        assert bad.status_code == 400 and bad.json()["message"].startswith("interval 'fortnight'")
        bad = httpx.get(f"{server.url}/v1/analytics/retention", params={"cohort_event": " ", "return_event": "A"},
                        headers=reader)  # fmt: skip
        assert bad.status_code == 400 and bad.json()["message"].startswith(
            "cohort_event ' '"
        )  # a query parameter
        bad = httpx.get(
            f"{server.url}/v1/analytics/sessions", params={"timezone": "Mars/Olympus"}, headers=reader
        )
        assert bad.status_code == 400 and "timezone" in bad.json()["message"]
        # FastAPI's own checks of a parameter answer the same way: a 400 naming it, not a 422
        bad = httpx.get(
            f"{server.url}/v1/analytics/paths", params={"event": "A", "steps": "50"}, headers=reader
        )
        assert bad.status_code == 400 and bad.json()["code"] == "bad_parameter"
        assert bad.json()["message"].startswith("steps '50': "), bad.text
        bad = httpx.get(f"{server.url}/v1/analytics/funnel", headers=reader)
        assert bad.status_code == 400 and bad.json()["message"].startswith("steps: "), bad.text
        # a misspelled parameter is named, with the ones the route takes, instead of answering the default
        bad = httpx.get(
            f"{server.url}/v1/analytics/paths",
            params={"event": "Product Viewed", "step": "5"},
            headers=reader,
        )
        assert bad.status_code == 400 and bad.json()["code"] == "bad_parameter", bad.text
        message = bad.json()["message"]
        assert message.startswith("step '5': not a parameter of /v1/analytics/paths"), message
        assert "steps" in message and "direction" in message
        # ... once the key is accepted: without one it is still a 401
        assert httpx.get(f"{server.url}/v1/analytics/trends", params={"x": "1"}).status_code == 401
        assert httpx.get(f"{server.url}/v1/analytics/trends", headers=home.basic).status_code in (401, 403)
    finally:
        server.kill()
