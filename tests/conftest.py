"""Shared fixtures: an initialised home, and a real collector process on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

from touchpoints.collector.server import free_port
from touchpoints.config import Settings, load_settings
from touchpoints.privacy.keys import KeyRing
from touchpoints.store.duckdb import open_store


@dataclass
class Home:
    settings: Settings
    write_key: str
    read_key: str
    admin_key: str

    @property
    def path(self) -> Path:
        return self.settings.home

    @property
    def basic(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.write_key}:".encode()).decode()
        return {"Authorization": f"Basic {token}"}


def make_home(path: Path, config: str = "") -> Home:
    path.mkdir(parents=True, exist_ok=True)
    if config:
        (path / "config.toml").write_text(config, encoding="utf-8")
    settings = load_settings(path)
    with open_store(settings.store_path):
        pass
    ring = KeyRing(settings.keys_path)
    _, write = ring.create("write", "default")
    _, read = ring.create("read", "analyst")
    _, admin = ring.create("admin", "admin")
    return Home(settings, write, read, admin)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return make_home(tmp_path / "home")


class ServerProcess:
    """``touchpoints serve`` in a child process, as a user runs it."""

    def __init__(self, home: Path, port: int | None = None) -> None:
        self.home = home
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self._log = log = (self.home / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "touchpoints",
                "serve",
                "--home",
                str(self.home),
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; see {self.home / 'server.log'}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("server did not become healthy in time")

    def stop(self) -> None:
        """A graceful stop (SIGTERM): the spool is drained into the store."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self._close_log()

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@pytest.fixture
def server(home: Home) -> Iterator[ServerProcess]:
    proc = ServerProcess(home.path).start()
    try:
        yield proc
    finally:
        proc.kill()


def stored_events(home: Home) -> list[dict[str, object]]:
    """Every stored event, read the way a user would: ``touchpoints events export``."""
    out = subprocess.run(
        [sys.executable, "-m", "touchpoints", "events", "export", "--home", str(home.path)],
        check=True,
        capture_output=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def wait_for_events(home: Home, count: int, timeout: float = 20.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    events: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        events = stored_events(home)
        if len(events) >= count:
            return events
        time.sleep(0.2)
    return events


DEMO_CUSTOMERS = 400
DEMO_SEED = 11


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """A demo home (400 customers, seed 11), built once per run through the CLI, with its events prepared
    for analysis, and its ground truth. Tests read it; a test that changes a home copies it first."""
    home = tmp_path_factory.mktemp("demo-world") / "home"

    def cli(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "touchpoints", *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    summary = json.loads(
        cli("demo", "--customers", str(DEMO_CUSTOMERS), "--seed", str(DEMO_SEED), "--no-serve", "--json",
            "--home", str(home))
    )  # fmt: skip
    truth = json.loads(Path(summary["ground_truth"]).read_text(encoding="utf-8"))
    cli("analytics", "prepare", "--home", str(home))
    return home, truth
