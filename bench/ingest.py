#!/usr/bin/env python
"""Ingest benchmark for the Touchpoints collector (a benchmark, not a test).

    python bench/ingest.py [--quick] [--events N] [--json] [--profile DIR]

The collector runs as a separate process (``python -m touchpoints serve --home TMP --port P``), exactly as a
user runs it; the load generator is this process (asyncio, hand-rolled HTTP/1.1 on keep-alive connections
so that the client spends as little of the shared CPU as possible), and the ack-to-queryable poller is a
second process. Everything is on 127.0.0.1.

Phases, each on a fresh home and a fresh server:

a) sustained ``POST /v1/batch`` throughput with durable ack (500 and 100 events per request, gzip,
   several concurrent keep-alive connections, closed loop), then the time until every acknowledged event
   is queryable in the store;
b) ``POST /v1/track`` latency at a fixed open-loop rate (latency measured from the scheduled send time, so
   a stalled server is charged for the requests it held back: no coordinated omission);
c) acknowledged-to-queryable delay under a moderate load (5,000 events/s) and a light one (1,000): sampled
   messageIds are handed to a poller process that opens the store read-only every ~100 ms, looks for them
   and closes the store again (the poller's opens take the store's lock and cost CPU: it perturbs a little);
d) the raw ceiling: the same request bodies gunzipped, decoded (msgspec), normalised with
   ``normalize_event`` and appended with ``append_records`` in Arrow batches, in this process: no HTTP, no
   spool (and the same through ``append_spool_file``, the loader's way, when the store has it). The HTTP
   figures are reported as a ratio of it;
e) the HTTP floor: ``GET /health`` in a closed loop, i.e. what uvicorn + FastAPI cost per request.

Goals: >= 50,000 events/s through /v1/batch, /v1/track p99 <= 15 ms at 1,000 req/s, ack-to-queryable
p99 <= 2 s; each is printed as PASS or MISS with the margin. Results go to stdout as a table (with
``--json`` the table goes to stderr and JSON to stdout). ``--profile DIR`` also samples the server with
py-spy (``pip install py-spy``; optional) during the 500-event batch and the track phases and prints, per
thread, where its wall time goes. The run records the machine, the Touchpoints commit it measured, and the
CPU other processes used meanwhile (a busy machine makes the figures meaningless: it warns). Only the
standard library, msgspec, duckdb and Touchpoints itself are used; no load-generator tool is needed. The
default run takes about 1.5 minutes, ``--quick`` about 30 s, on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gzip
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import msgspec

from touchpoints.collector.server import free_port
from touchpoints.config import Settings, load_settings
from touchpoints.events.validate import Envelope, EventLimits, normalize_event
from touchpoints.privacy.keys import KeyRing
from touchpoints.store.duckdb import open_store
from touchpoints.store.events import append_records

HOST = "127.0.0.1"
GOAL_BATCH_EPS = 50_000
GOAL_TRACK_P99_MS = 15.0
GOAL_LAG_P99_S = 2.0
POLL_INTERVAL = 0.1


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    virt = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            if line.startswith("Hypervisor vendor"):
                virt = line.split(":", 1)[1].strip()
    versions = {}
    for name in ("uvicorn", "fastapi", "starlette", "msgspec", "pyarrow", "h11", "httptools", "uvloop"):
        try:
            versions[name] = __import__(name).__version__
        except (ImportError, AttributeError):
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "hypervisor": virt,
        "memory_gb": mem_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "packages": versions,
        "fdatasync_ms": fsync_probe(),
    }


def fsync_probe(samples: int = 50) -> dict[str, float]:
    """Median and p99 of append + fdatasync of 64 KiB (about one 500-event spool write) in the temp dir."""
    with tempfile.TemporaryDirectory() as tmp:
        fd = os.open(Path(tmp) / "probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            times = []
            block = b"x" * 65536
            for _ in range(samples):
                t = time.perf_counter()
                os.write(fd, block)
                os.fdatasync(fd)
                times.append((time.perf_counter() - t) * 1e3)
        finally:
            os.close(fd)
    return {"p50": round(pct(times, 50), 3), "p99": round(pct(times, 99), 3)}


# ---------------------------------------------------------------------------------------------- events

_EVENTS: list[tuple[str, Callable[[random.Random], dict[str, Any]]]] = []

_PRODUCTS = [
    ("507f1f77bcf86cd799439011", "G-32", "Games", "Monopoly: 3rd Edition", "Hasbro", 18.99),
    (
        "505bd76785ebb509fc183733",
        "P-11",
        "Puzzles",
        "Ravensburger 1000 piece Alpine lake",
        "Ravensburger",
        14.5,
    ),
    (
        "60a1b2c3d4e5f60718293a4b",
        "B-07",
        "Books",
        "The Pragmatic Programmer, 20th anniversary",
        "Addison",
        39.0,
    ),
    ("61f0e1d2c3b4a59687766554", "T-90", "Toys", "LEGO Technic Ferrari Daytona SP3", "LEGO", 449.99),
    ("62aa11bb22cc33dd44ee55ff", "K-03", "Kitchen", "Cast iron skillet 26 cm, pre-seasoned", "Lodge", 42.0),
]
_PAGES = ["/", "/products", "/cart", "/checkout", "/search", "/account/orders", "/blog/summer-sale"]
_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Mobile Safari/537.36",
]
_REFERRERS = ["https://www.google.com/", "https://www.bing.com/", "https://t.co/x1Y2z3", ""]
_CAMPAIGNS = ["summer_sale", "newsletter_w47", "retargeting", "brand"]


def _product_props(rng: random.Random) -> dict[str, Any]:
    pid, sku, category, name, brand, price = rng.choice(_PRODUCTS)
    return {
        "product_id": pid,
        "sku": sku,
        "category": category,
        "name": name,
        "brand": brand,
        "variant": rng.choice(["standard", "deluxe", "gift box"]),
        "price": price,
        "quantity": rng.randint(1, 3),
    }


def _order_props(rng: random.Random) -> dict[str, Any]:
    products = [
        {"product_id": p[0], "name": p[3], "price": p[5], "quantity": rng.randint(1, 2)}
        for p in rng.sample(_PRODUCTS, rng.choice((1, 1, 2)))
    ]
    total = round(sum(p["price"] * p["quantity"] for p in products), 2)
    return {
        "order_id": f"ord_{rng.getrandbits(40):010x}",
        "total": total,
        "revenue": round(total * 0.9, 2),
        "currency": "USD",
        "coupon": rng.choice(["", "MAYDEALS", "WELCOME10"]),
        "products": products,
    }


def _search_props(rng: random.Random) -> dict[str, Any]:
    return {"query": rng.choice(["board games", "lego ferrari", "skillet", "puzzle 1000"]), "results": 24}


_EVENTS = [
    ("Product Viewed", _product_props),
    ("Product Added", _product_props),
    ("Product Clicked", _product_props),
    ("Order Completed", _order_props),
    ("Products Searched", _search_props),
]


class EventFactory:
    """Realistic analytics.js-style track calls with unique messageIds; deterministic for a seed."""

    def __init__(self, seed: int = 42) -> None:
        self.rng = random.Random(seed)
        self.run = uuid.uuid4().hex[:8]
        self.counter = 0
        self.users = [f"user_{self.rng.getrandbits(32):08x}" for _ in range(2000)]
        self.anons = [str(uuid.UUID(int=self.rng.getrandbits(128), version=4)) for _ in range(4000)]

    def event(self, now: datetime) -> dict[str, Any]:
        rng = self.rng
        self.counter += 1
        name, props = rng.choice(_EVENTS)
        page = rng.choice(_PAGES)
        search = f"?utm_source=google&utm_campaign={rng.choice(_CAMPAIGNS)}" if rng.random() < 0.25 else ""
        ts = now - timedelta(milliseconds=rng.randint(5, 900))
        event: dict[str, Any] = {
            "type": "track",
            "event": name,
            "anonymousId": rng.choice(self.anons),
            "messageId": f"ajs-next-{int(ts.timestamp() * 1000)}-{self.run}-{self.counter:010d}",
            "timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "properties": props(rng),
            "context": {
                "library": {"name": "analytics.js", "version": "npm:next-1.70.0"},
                "page": {
                    "path": page,
                    "referrer": rng.choice(_REFERRERS),
                    "search": search,
                    "title": "Example Shop",
                    "url": f"https://shop.example.com{page}{search}",
                },
                "userAgent": rng.choice(_AGENTS),
                "locale": rng.choice(["en-US", "de-DE", "fr-FR"]),
            },
            "integrations": {},
        }
        if rng.random() < 0.6:
            event["userId"] = rng.choice(self.users)
        return event


@dataclass
class Workload:
    """Pre-built request bodies; ``samples`` holds, per body, messageIds worth watching (phase c)."""

    bodies: list[bytes]
    events_per_body: int
    samples: list[str] = field(default_factory=list)
    raw_bytes: int = 0
    event_sizes: list[int] = field(default_factory=list)

    @property
    def events(self) -> int:
        return len(self.bodies) * self.events_per_body


_json = msgspec.json.Encoder()


def build_batches(factory: EventFactory, total: int, per_batch: int, compress: bool = True) -> Workload:
    """``{"batch": [...], "sentAt": ...}`` bodies, gzipped at level 6 like the SDKs that compress."""
    now = datetime.now(UTC)
    work = Workload([], per_batch)
    for _ in range(max(1, total // per_batch)):
        encoded = [_json.encode(factory.event(now)) for _ in range(per_batch)]
        work.event_sizes.extend(len(e) for e in encoded[:5])
        sent_at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = b'{"batch":[' + b",".join(encoded) + b'],"sentAt":"' + sent_at.encode() + b'"}'
        work.raw_bytes += len(body)
        work.samples.append(msgspec.json.decode(encoded[0])["messageId"])
        work.bodies.append(gzip.compress(body, compresslevel=6, mtime=0) if compress else body)
    return work


def build_tracks(factory: EventFactory, total: int) -> Workload:
    now = datetime.now(UTC)
    work = Workload([], 1)
    for _ in range(total):
        event = factory.event(now)
        body = _json.encode(event)
        work.bodies.append(body)
        work.raw_bytes += len(body)
        work.event_sizes.append(len(body))
        work.samples.append(event["messageId"])
    return work


def http_request(path: str, body: bytes, auth: str, *, gzipped: bool) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: touchpoints-bench/1\r\n"
        f"Authorization: {auth}\r\nContent-Type: application/json\r\n"
        + ("Content-Encoding: gzip\r\n" if gzipped else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# ---------------------------------------------------------------------------------------------- client


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, minimal and cheap: the client shares the 2 cores with the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(data)
        if len(data) > 65536:
            await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, body

    async def safe_request(self, data: bytes) -> tuple[int, bytes]:
        try:
            return await self.request(data)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self.close()
            return 0, str(exc).encode()


async def open_connections(port: int, n: int) -> list[HttpConnection]:
    conns = [HttpConnection(port) for _ in range(n)]
    await asyncio.gather(*(c.connect() for c in conns))
    return conns


# ---------------------------------------------------------------------------------------------- server


@dataclass
class Home:
    settings: Settings
    write_key: str

    @property
    def path(self) -> Path:
        return self.settings.home

    @property
    def auth(self) -> str:
        return "Basic " + base64.b64encode(f"{self.write_key}:".encode()).decode()


def make_home(path: Path) -> Home:
    path.mkdir(parents=True, exist_ok=True)
    settings = load_settings(path)
    with open_store(settings.store_path):
        pass
    _, write = KeyRing(settings.keys_path).create("write", "bench")
    return Home(settings, write)


_CHILDREN: list[subprocess.Popen[bytes]] = []


def cpu_times(pid: int) -> tuple[float, float]:
    """(whole process, its main thread) user+system CPU seconds. The main thread runs the event loop;
    the rest is the spool writer, the loader thread and DuckDB's worker threads (which come and go)."""
    tick = os.sysconf("SC_CLK_TCK")

    def read(path: str) -> float:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        return read(f"/proc/{pid}/stat"), read(f"/proc/{pid}/task/{pid}/stat")
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


class ServerProcess:
    """``python -m touchpoints serve`` in a child process."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.port = free_port(HOST)
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> ServerProcess:
        logfile = (self.home.path / "server.log").open("ab")
        cmd = [
            sys.executable,
            "-m",
            "touchpoints",
            "serve",
            "--home",
            str(self.home.path),
            "--port",
            str(self.port),
        ]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdout=logfile, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        _CHILDREN.append(self.proc)
        logfile.close()
        deadline = t0 + timeout
        probe = f"GET /health HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; see {self.home.path}/server.log"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as sock:
                    sock.sendall(probe)
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        self.startup_s = time.monotonic() - t0
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not become healthy in time")

    def stop(self, timeout: float = 120.0) -> float:
        """Graceful stop (SIGTERM: the spool is drained into the store); returns how long it took."""
        t0 = time.monotonic()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return time.monotonic() - t0


def kill_children() -> None:
    for proc in _CHILDREN:
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


# ----------------------------------------------------------------------------------------------- store


def read_only(path: Path, attempts: int = 100) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection, retried while the server's loader holds the write lock."""
    for _ in range(attempts):
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            time.sleep(0.02)
    return None


def store_count(path: Path) -> tuple[int | None, float]:
    """(rows in ``events``, the moment the read-only connection was open); None while locked."""
    con = read_only(path)
    opened = time.monotonic()
    if con is None:
        return None, opened
    try:
        row = con.execute("SELECT count(*) FROM events").fetchone()
        return (int(row[0]) if row else 0), opened
    finally:
        con.close()


def cli_count(home: Home) -> dict[str, Any]:
    """What a user sees: ``touchpoints events count --json`` (run once the server has stopped)."""
    out = subprocess.run(
        [sys.executable, "-m", "touchpoints", "events", "count", "--home", str(home.path), "--json"],
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def wait_queryable(path: Path, expected: int, since: float, timeout: float) -> tuple[float | None, int]:
    """Polls ``count(*)`` until ``expected`` rows are visible: (seconds after ``since``, first count seen)."""
    first = -1
    while time.monotonic() - since < timeout:
        count, opened = store_count(path)
        if count is not None:
            if first < 0:
                first = count
            if count >= expected:
                return opened - since, first
        time.sleep(POLL_INTERVAL)
    return None, first


# --------------------------------------------------------------------------------------------- helpers


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    ms = [v * 1e3 for v in values_s]
    return {
        "n": len(ms),
        "p50": round(pct(ms, 50), 2),
        "p90": round(pct(ms, 90), 2),
        "p99": round(pct(ms, 99), 2),
        "p999": round(pct(ms, 99.9), 2),
        "max": round(max(ms), 2) if ms else float("nan"),
    }


def system_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    except (OSError, ValueError):
        return 0.0
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively (a server variant may run helpers of its own)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, ValueError):
                for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                    found += [int(child), *descendants(int(child))]
    return found


class CpuMeter:
    """CPU used by the server (split event-loop thread / other threads), by this process, by ``helpers``
    (the poller), and by everything else on the machine (other people's work disturbs the figures)."""

    def __init__(self, server_pid: int, helpers: Sequence[int] = ()) -> None:
        self.pid = server_pid
        self.helpers = list(helpers)

    def __enter__(self) -> CpuMeter:
        self.helpers += descendants(self.pid)
        self.t0 = time.monotonic()
        self.s0 = cpu_times(self.pid)
        self.h0 = sum(cpu_times(p)[0] for p in self.helpers)
        self.c0 = os.times()
        self.m0 = system_busy()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.monotonic() - self.t0
        s1 = cpu_times(self.pid)
        h1 = sum(cpu_times(p)[0] for p in self.helpers)
        c1 = os.times()
        machine = system_busy() - self.m0
        total, main = s1[0] - self.s0[0], s1[1] - self.s0[1]
        client = (c1.user - self.c0.user) + (c1.system - self.c0.system)
        helpers = h1 - self.h0
        self.result = {
            "wall_s": round(wall, 2),
            "server_cores": round(total / wall, 2),
            "server_loop_thread_cores": round(main / wall, 2),
            "server_other_threads_cores": round((total - main) / wall, 2),
            "client_cores": round(client / wall, 2),
            "helper_processes_cores": round(helpers / wall, 2),
            "machine_busy_cores": round(machine / wall, 2),
            "other_processes_cores": round(max(0.0, machine - total - client - helpers) / wall, 2),
        }
        OTHER_LOAD.append(self.result["other_processes_cores"])


OTHER_LOAD: list[float] = []


def check_accepted(body: bytes, expected: int) -> bool:
    try:
        answer = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    return bool(answer.get("success")) and answer.get("accepted") == expected


# ------------------------------------------------------------------------------------------ phase (a)


async def closed_loop(port: int, requests: list[bytes], per_request: int, connections: int) -> dict[str, Any]:
    conns = await open_connections(port, connections)
    acks: list[tuple[float, int]] = []
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    it = iter(requests)

    async def worker(conn: HttpConnection) -> None:
        for data in it:
            t = time.monotonic()
            status, body = await conn.safe_request(data)
            done = time.monotonic()
            if status == 200 and check_accepted(body, per_request):
                acks.append((done, per_request))
                latencies.append(done - t)
            else:
                errors[f"{status} {body[:80]!r}"] += 1

    t0 = time.monotonic()
    await asyncio.gather(*(worker(c) for c in conns))
    for c in conns:
        c.close()
    acked = sum(n for _, n in acks)
    last = max((t for t, _ in acks), default=t0)
    result: dict[str, Any] = {
        "t0": t0,
        "last_ack": last,
        "acked_events": acked,
        "requests": len(requests),
        "errors": dict(errors),
        "wall_s": round(last - t0, 3),
        "events_per_s": round(acked / (last - t0)) if acked else 0,
        "request_latency_ms": summary_ms(latencies),
    }
    # Steady state: the middle 80 % of acknowledged events, away from ramp-up and tail.
    times = sorted(t for t, _ in acks)
    if len(times) >= 10:
        lo, hi = times[len(times) // 10], times[(len(times) * 9) // 10]
        if hi > lo:
            result["steady_events_per_s"] = round(
                ((len(times) * 9) // 10 - len(times) // 10) * per_request / (hi - lo)
            )
    return result


def warm_up(port: int, factory: EventFactory, home: Home, requests: int) -> int:
    """A few batches of 100 through a fresh server, then waits until they are loaded (the loader's first
    cycle imports and initialises things); returns how many events were sent."""
    work = build_batches(factory, 100 * requests, 100)
    reqs = [http_request("/v1/batch", b, home.auth, gzipped=True) for b in work.bodies]
    result = asyncio.run(closed_loop(port, reqs, 100, 4))
    wait_queryable(home.settings.store_path, result["acked_events"], time.monotonic(), timeout=60)
    return int(result["acked_events"])


def profile_start(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on the server, wall-clock (``--idle``) so each thread's time can be split into waiting and
    working. Waiting for the GIL is not idle to py-spy: it shows up on the line that waits."""
    spy = shutil.which("py-spy")
    if spy is None:
        log("py-spy is not installed (pip install py-spy); no profile")
        return None
    cmd = [spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--threads", "--idle"]
    cmd += ["--output", str(out), "--nonblocking"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _CHILDREN.append(proc)
    time.sleep(0.3)
    return proc


@contextlib.contextmanager
def profiled(pid: int, directory: Path | None, name: str) -> Iterator[dict[str, Any]]:
    """Samples the server with py-spy while the block runs (if ``directory``); the summary lands in the
    yielded dict under ``profile``."""
    holder: dict[str, Any] = {}
    if directory is None:
        yield holder
        return
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}.txt"
    proc = profile_start(pid, out)
    try:
        yield holder
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if out.exists() and out.stat().st_size:
            holder["profile"] = summarise_profile(out)
            holder["profile_file"] = str(out)


# Per thread, a stack goes to the first bucket any of whose functions it contains; idle = its leaf waits.
_IDLE_LEAVES = ("EpollSelector.select", "Condition.wait", "Event.wait", "Thread.join")
_BUCKETS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "MainThread": [
        ("normalize_event", ("normalize_event",)),
        ("read_body (receive + gunzip)", ("read_body",)),
        ("KeyRing.verify (stat of keys.json)", ("KeyRing.verify",)),
        ("Spool.append (submit, await)", ("Spool.append",)),
        ("Collector.ingest, rest (decode, encode)", ("Collector.ingest",)),
        ("HTTP stack (uvicorn/h11/Starlette/FastAPI)", ("",)),
    ],
    "touchpoints-loader": [
        ("open store (connect + migrate)", ("connect", "migrate")),
        ("close store (checkpoint)", ("DuckDBBackend.close",)),
        ("append_spool_file (engine reads the spool)", ("append_spool_file",)),
        ("decode_lines (spool JSON)", ("decode_lines",)),
        ("events_to_arrow", ("events_to_arrow",)),
        ("append SQL (dedup + insert)", ("append_events", "append_quarantine")),
        ("commit", ("DuckDBBackend.transaction",)),
        ("has_pending / other", ("",)),
    ],
    "touchpoints-spool": [("write + fdatasync", ("Spool._write",)), ("other", ("",))],
}


def summarise_profile(path: Path) -> dict[str, Any]:
    """Per thread: the share of wall time idle, and busy time split into buckets (percent of wall time)."""
    per_thread: dict[str, Counter[str]] = {}
    samples: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[1] if ": " in frames[0] else "native"
        names = [f.split(" (", 1)[0] for f in frames[1:]]
        buckets = _BUCKETS.get(thread)
        if buckets is None:
            continue
        samples[thread] += count
        counter = per_thread.setdefault(thread, Counter())
        if names and any(names[-1].endswith(leaf) for leaf in _IDLE_LEAVES):
            counter["idle"] += count
            continue
        for bucket, funcs in buckets:
            if any(any(n == f or n.endswith("." + f) or f == "" for n in names) for f in funcs):
                counter[bucket] += count
                break
    return {
        thread: {k: round(100 * v / samples[thread], 1) for k, v in counter.most_common()}
        for thread, counter in per_thread.items()
    }


def phase_batch(
    tmp: Path, name: str, work: Workload, connections: int, factory: EventFactory, profile: Path | None
) -> dict[str, Any]:
    home = make_home(tmp / name)
    server = ServerProcess(home).start()
    try:
        warm_events = warm_up(server.port, factory, home, requests=20)
        requests = [http_request("/v1/batch", b, home.auth, gzipped=True) for b in work.bodies]
        log(
            f"{name}: {len(requests)} requests x {work.events_per_body} events over {connections} connections"
        )
        with profiled(server.pid, profile, name) as prof, CpuMeter(server.pid) as cpu:
            result = asyncio.run(closed_loop(server.port, requests, work.events_per_body, connections))
        result["cpu"] = cpu.result
        expected = result["acked_events"] + warm_events
        seconds, _ = wait_queryable(home.settings.store_path, expected, result["last_ack"], timeout=180)
        result["queryable_after_last_ack_s"] = round(seconds, 2) if seconds is not None else None
        if seconds is not None:
            visible_all = result["last_ack"] + seconds
            result["end_to_end_events_per_s"] = round(result["acked_events"] / (visible_all - result["t0"]))
        result.update(prof)
    finally:
        stop_seconds = server.stop()
    counted = cli_count(home)
    result["stop_s"] = round(stop_seconds, 2)
    result["stored_after_stop"] = counted["total"] - warm_events
    result["quarantined"] = counted.get("quarantined")
    result["server_startup_s"] = round(server.startup_s, 2)
    for key in ("t0", "last_ack"):
        result.pop(key)
    return result


# ------------------------------------------------------------------------------------------ phase (b)


async def open_loop(
    port: int,
    requests: list[bytes],
    rate: float,
    connections: int,
    on_ack: Callable[[int, float], None] | None,
) -> dict[str, Any]:
    """Sends ``requests[i]`` at ``t0 + i / rate``; latency counts from that scheduled time."""
    conns = await open_connections(port, connections)
    jobs: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    service: list[float] = []
    dispatch_lag: list[float] = []
    errors: Counter[str] = Counter()
    done_times: list[float] = []

    async def worker(conn: HttpConnection) -> None:
        while True:
            job = await jobs.get()
            if job is None:
                return
            index, scheduled = job
            start = time.monotonic()
            dispatch_lag.append(start - scheduled)
            status, body = await conn.safe_request(requests[index])
            done = time.monotonic()
            if status == 200:
                latencies.append(done - scheduled)
                service.append(done - start)
                done_times.append(done)
                if on_ack is not None:
                    on_ack(index, done)
            else:
                errors[f"{status} {body[:80]!r}"] += 1

    workers = [asyncio.create_task(worker(c)) for c in conns]
    t0 = time.monotonic() + 0.05
    for index in range(len(requests)):
        scheduled = t0 + index / rate
        delay = scheduled - time.monotonic()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        jobs.put_nowait((index, scheduled))
    for _ in workers:
        jobs.put_nowait(None)
    await asyncio.gather(*workers)
    for c in conns:
        c.close()
    last = max(done_times, default=t0)
    return {
        "requests": len(requests),
        "ok": len(latencies),
        "errors": dict(errors),
        "target_rate": rate,
        "achieved_rate": round(len(latencies) / (last - t0), 1) if latencies else 0,
        "latency_ms": summary_ms(latencies),
        "service_ms": summary_ms(service),
        "client_dispatch_lag_ms": summary_ms(dispatch_lag),
    }


def phase_track(
    tmp: Path, work: Workload, rate: float, connections: int, factory: EventFactory, profile: Path | None
) -> dict[str, Any]:
    home = make_home(tmp / "track")
    server = ServerProcess(home).start()
    try:
        warm_up(server.port, factory, home, requests=5)
        requests = [http_request("/v1/track", b, home.auth, gzipped=False) for b in work.bodies]
        log(f"track: {len(requests)} single-event requests at {rate:.0f}/s over {connections} connections")
        with profiled(server.pid, profile, "track") as prof, CpuMeter(server.pid) as cpu:
            result = asyncio.run(open_loop(server.port, requests, rate, connections, None))
        result["cpu"] = cpu.result
        result.update(prof)
    finally:
        server.stop()
    return result


# ------------------------------------------------------------------------------------------ phase (c)


def poller_main(store_path: str, inbox: Any, outbox: Any, grace: float) -> None:
    """The poller process: every ~100 ms, opens the store read-only, looks for the messageIds it has been
    given and closes it; an id is visible at the moment the connection that saw it was opened."""
    pending: dict[str, float] = {}
    seen: list[tuple[float, float]] = []
    polls = busy = 0
    poll_seconds: list[float] = []
    lock_waits: list[float] = []
    stopping_at: float | None = None
    while True:
        with contextlib.suppress(queue.Empty):
            while True:
                item = inbox.get_nowait()
                if item is None:
                    stopping_at = time.monotonic()
                else:
                    pending.update(item)
        if stopping_at is not None and (not pending or time.monotonic() - stopping_at > grace):
            break
        if pending:
            t_start = time.monotonic()
            con = None
            while con is None:
                try:
                    con = duckdb.connect(store_path, read_only=True)
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower():
                        raise
                    busy += 1
                    time.sleep(0.02)  # each failed attempt costs CPU the server needs: not too often
            opened = time.monotonic()
            lock_waits.append(opened - t_start)
            try:
                rows = con.execute(
                    "SELECT message_id FROM events WHERE message_id IN (SELECT unnest(?::VARCHAR[]))",
                    [list(pending)],
                ).fetchall()
            finally:
                con.close()
            polls += 1
            poll_seconds.append(time.monotonic() - t_start)
            for (mid,) in rows:
                ack = pending.pop(mid, None)
                if ack is not None:
                    seen.append((ack, opened))
        time.sleep(POLL_INTERVAL)
    outbox.put(
        {
            "delays": [v - a for a, v in seen],
            "missing": len(pending),
            "polls": polls,
            "lock_busy_retries": busy,
            "poll_ms": summary_ms(poll_seconds),
            "lock_wait_ms": summary_ms(lock_waits),
        }
    )


def phase_lag(
    tmp: Path, name: str, work: Workload, rate: float, connections: int, factory: EventFactory
) -> dict[str, Any]:
    home = make_home(tmp / name)
    server = ServerProcess(home).start()
    ctx = mp.get_context("spawn")
    inbox, outbox = ctx.Queue(), ctx.Queue()
    poller = ctx.Process(
        target=poller_main, args=(str(home.settings.store_path), inbox, outbox, 30.0), daemon=True
    )
    poller.start()
    try:
        warm_up(server.port, factory, home, requests=5)
        requests = [http_request("/v1/batch", b, home.auth, gzipped=True) for b in work.bodies]
        log(
            f"lag: batches of {work.events_per_body} at {rate:.0f} req/s "
            f"({rate * work.events_per_body:.0f} events/s), {len(requests)} samples, poller pid {poller.pid}"
        )

        def on_ack(index: int, done: float) -> None:
            inbox.put({work.samples[index]: done})

        with CpuMeter(server.pid, [poller.pid or 0]) as cpu:
            load = asyncio.run(open_loop(server.port, requests, rate, connections, on_ack))
        inbox.put(None)
        polled = outbox.get(timeout=120)
        poller.join(timeout=10)
    finally:
        if poller.is_alive():
            poller.terminate()
        server.stop()
    delays = polled.pop("delays")
    return {
        "rate_events_per_s": round(rate * work.events_per_body),
        "request_latency_ms": load["latency_ms"],
        "load_errors": load["errors"],
        "cpu": cpu.result,
        "samples": len(delays),
        "delay_ms": summary_ms(delays),
        "poll_interval_ms": POLL_INTERVAL * 1e3,
        **polled,
    }


# ------------------------------------------------------------------------------------------ phase (d)


class _Batch(msgspec.Struct):
    batch: list[msgspec.Raw]
    sentAt: Any = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None


def _raw_pipeline(
    store: Path, bodies: Sequence[bytes], per_append: int, via_spool_file: bool
) -> dict[str, Any]:
    """gunzip + decode + normalise, then every ``per_append`` events one transaction: ``append_records``
    (Arrow), or, ``via_spool_file``, spool lines written to a file that ``append_spool_file`` reads."""
    settings = load_settings(store)
    settings.home.mkdir(parents=True, exist_ok=True)
    decoder = msgspec.json.Decoder(_Batch)
    encoder = msgspec.json.Encoder()
    limits = EventLimits()
    stages: Counter[str] = Counter()
    events = 0
    clock = time.perf_counter
    staging = settings.home / "chunk.jsonl"
    if via_spool_file:
        from touchpoints.store.events import append_spool_file
    with open_store(settings.store_path) as db, CpuMeter(0) as cpu:
        pending: list[Any] = []
        t_start = clock()
        for gz in bodies:
            t0 = clock()
            body = zlib.decompress(gz, wbits=31)
            t1 = clock()
            msg = decoder.decode(body)
            envelope = Envelope(
                sent_at=msg.sentAt, context=msg.context or {}, integrations=msg.integrations or {}
            )
            t2 = clock()
            received_at = datetime.now(UTC)
            for raw in msg.batch:
                pending.append(
                    normalize_event(
                        bytes(raw), source="bench", received_at=received_at, envelope=envelope, limits=limits
                    )
                )
            t3 = clock()
            stages["gunzip"] += t1 - t0
            stages["decode batch"] += t2 - t1
            stages["normalize_event"] += t3 - t2
            events += len(msg.batch)
            if len(pending) >= per_append or gz is bodies[-1]:
                t4 = clock()
                if via_spool_file:
                    staging.write_bytes(b"\n".join(encoder.encode(e) for e in pending) + b"\n")
                    t5 = clock()
                    stages["spool encode + write"] += t5 - t4
                    with db.transaction():
                        append_spool_file(db, str(staging))
                    stages["append_spool_file"] += clock() - t5
                else:
                    with db.transaction():
                        append_records(db, pending)
                    stages["append_records"] += clock() - t4
                pending = []
        elapsed = clock() - t_start
        stored = db.execute("SELECT count(*) FROM events")[0][0]
    return {
        "events": events,
        "stored": stored,
        "events_per_append": per_append,
        "seconds": round(elapsed, 2),
        "events_per_s": round(events / elapsed),
        "us_per_event": {k: round(v / events * 1e6, 2) for k, v in stages.items()},
        "cpu": cpu.result,
    }


def phase_raw(tmp: Path, bodies: Sequence[bytes], per_append: int) -> dict[str, Any]:
    """The raw ceiling (brief: decode + normalize_event + append_records in Arrow batches, one thread of
    ours, no HTTP, no spool); and, when the store has it, the same with the loader's own way into the
    store (spool lines read by the engine: ``append_spool_file``)."""
    result = _raw_pipeline(tmp / "raw", bodies, per_append, via_spool_file=False)
    try:
        from touchpoints.store.events import append_spool_file  # noqa: F401 - only probing
    except ImportError:
        return result
    result["via_spool_file"] = _raw_pipeline(tmp / "raw-spool", bodies, per_append, via_spool_file=True)
    return result


# ------------------------------------------------------------------------------------------ phase (e)


async def _health_loop(port: int, seconds: float, connections: int) -> int:
    conns = await open_connections(port, connections)
    data = f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    stop = time.monotonic() + seconds
    count = 0

    async def worker(conn: HttpConnection) -> None:
        nonlocal count
        while time.monotonic() < stop:
            status, _ = await conn.safe_request(data)
            count += status == 200

    await asyncio.gather(*(worker(c) for c in conns))
    for c in conns:
        c.close()
    return count


def phase_floor(tmp: Path, seconds: float) -> dict[str, Any]:
    """The HTTP stack's floor: GET /health (no body, no auth, no spool) closed loop."""
    home = make_home(tmp / "floor")
    server = ServerProcess(home).start()
    try:
        asyncio.run(_health_loop(server.port, 0.3, 4))
        with CpuMeter(server.pid) as cpu:
            n = asyncio.run(_health_loop(server.port, seconds, 8))
    finally:
        server.stop()
    rps = n / cpu.result["wall_s"]
    return {
        "requests_per_s": round(rps),
        "server_cpu_us_per_request": round(cpu.result["server_cores"] * 1e6 / rps, 1),
        "cpu": cpu.result,
    }


# ----------------------------------------------------------------------------------------------- report


def goal(name: str, measured: float, target: float, higher_is_better: bool, unit: str) -> dict[str, Any]:
    ok = measured >= target if higher_is_better else measured <= target
    if higher_is_better:
        margin = f"{(measured / target - 1) * 100:+.1f} % ({measured / target:.2f}x the goal)"
    elif ok:
        margin = f"{target - measured:.3g} {unit} under the limit ({measured / target:.2f}x)"
    else:
        margin = f"{measured - target:.4g} {unit} over the limit ({measured / target:.1f}x)"
    return {"goal": name, "measured": measured, "target": target, "pass": ok, "margin": margin}


def _finite(value: Any) -> Any:
    """The report with NaN (a percentile of no samples) as null, so that the JSON is strict."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def source_state() -> dict[str, Any]:
    """Which Touchpoints is measured: its location and, if it is a git checkout, commit and local changes."""
    import touchpoints

    where = Path(touchpoints.__file__).resolve().parent
    state: dict[str, Any] = {"package": str(where)}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(where)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode == 0:
            state["commit"] = head.stdout.strip()
            dirty = subprocess.run(
                [*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=10
            ).stdout.split("\n")
            state["uncommitted_changes"] = [line[3:] for line in dirty if line.strip()]
    return state


def _fmt_cpu(cpu: dict[str, Any]) -> str:
    return (
        f"server {cpu['server_cores']:.2f} cores (event loop {cpu['server_loop_thread_cores']:.2f}, "
        f"other threads {cpu['server_other_threads_cores']:.2f}), client {cpu['client_cores']:.2f}, "
        f"other processes {cpu['other_processes_cores']:.2f}"
    )


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    out: list[str] = []
    w = out.append
    w(f"Touchpoints ingest benchmark  ({report['mode']} run, {report['date']}, {report['duration_s']:.0f} s)")
    w(f"  command: {report['command']}")
    src = report["source"]
    changes = src.get("uncommitted_changes")
    w(
        f"  source:  {src['package']}"
        + (f" @ {src['commit']}" if "commit" in src else "")
        + (f" + uncommitted changes in {len(changes)} file(s)" if changes else "")
        + ("  WARNING: the source changed during the run" if src.get("changed_during_run") else "")
    )
    w(
        f"  machine: {m['nproc']} x {m['cpu_model']} ({m['hypervisor'] or 'no hypervisor'}), "
        f"{m['memory_gb']} GB, Linux {m['kernel']}"
    )
    pk = m["packages"]
    w(
        f"  python {m['python']}, duckdb {m['duckdb']}, uvicorn {pk['uvicorn']} (h11 {pk['h11']}, "
        f"httptools {pk['httptools'] or 'absent'}, uvloop {pk['uvloop'] or 'absent'}), fastapi {pk['fastapi']}, "
        f"msgspec {pk['msgspec']}, pyarrow {pk['pyarrow']}"
    )
    w(f"  fdatasync of 64 KiB here: p50 {m['fdatasync_ms']['p50']} ms, p99 {m['fdatasync_ms']['p99']} ms")
    ev = report["event"]
    w(
        f"  events: analytics.js-style track calls, {ev['min_bytes']}-{ev['max_bytes']} B of JSON "
        f"(mean {ev['mean_bytes']}); a 500-event batch is {ev['batch500_raw_kb']} KB, "
        f"{ev['batch500_gzip_kb']} KB gzipped (level 6)"
    )
    if report["other_load_max_cores"] >= 0.15:
        w(
            f"  WARNING: other processes used up to {report['other_load_max_cores']:.2f} cores during a phase; "
            "the figures are disturbed: rerun on a quiet machine"
        )
    w("")
    w("(a) POST /v1/batch, durable ack (fsync'd group commit), closed loop, keep-alive connections")
    w(
        f"  {'batch':>5} {'conns':>5} {'events':>9} {'acked ev/s':>11} {'steady':>8} {'req p50/p99 ms':>15} "
        f"{'queryable':>9} {'e2e ev/s':>9} {'stored':>9}"
    )
    for row in report["batch"]:
        lat = row["request_latency_ms"]
        queryable = row["queryable_after_last_ack_s"]
        w(
            f"  {row['batch_size']:>5} {row['connections']:>5} {row['acked_events']:>9,} "
            f"{row['events_per_s']:>11,} {row.get('steady_events_per_s', 0):>8,} "
            f"{lat['p50']:>7.0f}/{lat['p99']:<7.0f} "
            f"{f'+{queryable:.2f} s' if queryable is not None else 'n/a':>9} "
            f"{row.get('end_to_end_events_per_s', 0):>9,} {row['stored_after_stop']:>9,}"
        )
    for row in report["batch"]:
        w(f"  batch {row['batch_size']}: {_fmt_cpu(row['cpu'])}")
        if row["errors"]:
            w(f"  batch {row['batch_size']} errors: {row['errors']}")
    w("  acked ev/s = acknowledged events / (last ack - first send); steady = the middle 80 % of the acks;")
    w("  queryable = from the last ack until a reader's count(*) shows them all; e2e = events / (first send")
    w("  .. all queryable): the rate the store kept up with; stored = `touchpoints events count` after stop.")

    t = report["track"]
    w("")
    w(
        f"(b) POST /v1/track, open loop at {t['target_rate']:.0f} req/s, {t['connections']} keep-alive "
        f"connections, {t['requests']:,} requests of one event each"
    )
    lat, svc, lag = t["latency_ms"], t["service_ms"], t["client_dispatch_lag_ms"]
    w(f"  achieved {t['achieved_rate']:.0f} req/s, errors {sum(t['errors'].values())}")
    w(
        f"  latency from the scheduled send (ms): p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  "
        f"p99.9 {lat['p999']}  max {lat['max']}"
    )
    w(f"  service time, send to answer (ms):    p50 {svc['p50']}  p99 {svc['p99']}  max {svc['max']}")
    w(
        f"  queueing before a connection was free (ms): p50 {lag['p50']}  p99 {lag['p99']}  max {lag['max']} "
        "(part of the latency)"
    )
    w(f"  {_fmt_cpu(t['cpu'])}")

    w("")
    w(
        "(c) ack -> queryable: batches of 100, open loop; a poller process opens the store read-only every "
        f"{report['lag'][0]['poll_interval_ms']:.0f} ms, looks the sampled messageIds (one per request) up "
        "and closes it"
    )
    for c in report["lag"]:
        d, lw = c["delay_ms"], c["lock_wait_ms"]
        w(
            f"  at {c['rate_events_per_s']:,} events/s: {c['samples']} samples ({c['missing']} never seen): "
            f"p50 {d['p50']:.0f} ms  p90 {d['p90']:.0f} ms  p99 {d['p99']:.0f} ms  max {d['max']:.0f} ms"
        )
        w(
            f"    {c['polls']} polls in {c['cpu']['wall_s']:.0f} s; waiting for the server to release the store: "
            f"p50 {lw['p50']:.0f} ms, max {lw['max']:.0f} ms ({c['lock_busy_retries']} refused opens); "
            f"open + query + close p50 {c['poll_ms']['p50']:.0f} ms"
        )
        w(f"    {_fmt_cpu(c['cpu'])}, poller {c['cpu']['helper_processes_cores']:.2f}")
        if lw["max"] > 1000:
            w(
                f"    NOTE: the server kept the store open for up to {lw['max'] / 1e3:.1f} s at a stretch: while "
                "its loader has new records it does not release the file, so no other process can read"
            )

    r = report["raw"]
    w("")
    w(
        f"(d) raw ceiling, in this process: gunzip + msgspec decode + normalize_event + append_records "
        f"({r['events_per_append']:,} events per transaction); no HTTP, no spool"
    )
    w(f"  {r['events']:,} events in {r['seconds']} s: {r['events_per_s']:,} events/s")
    w("  us per event: " + ", ".join(f"{k} {v}" for k, v in r["us_per_event"].items()))
    if "via_spool_file" in r:
        v = r["via_spool_file"]
        w(
            f"  the same into the store the loader's way (spool lines -> file -> append_spool_file): "
            f"{v['events_per_s']:,} events/s"
        )
        w("  us per event: " + ", ".join(f"{k} {x}" for k, x in v["us_per_event"].items()))
    w(
        f"  ratio HTTP / raw: acknowledged {report['ratio_http_to_raw']:.2f}, "
        f"into the store (e2e) {report['ratio_e2e_to_raw']:.2f}"
    )
    if "floor" in report:
        f = report["floor"]
        w("")
        w(
            f"(e) HTTP floor: GET /health, closed loop, 8 connections: {f['requests_per_s']:,} req/s, "
            f"{f['server_cpu_us_per_request']} us of server CPU per request"
        )
    profiles = [(f"batch {row['batch_size']}", row) for row in report["batch"]] + [("track", report["track"])]
    for name, row in profiles:
        if "profile" not in row:
            continue
        w("")
        w(f"py-spy, {name}: % of each thread's wall time (GIL waits count as busy) [{row['profile_file']}]")
        for thread, buckets in row["profile"].items():
            w(f"  {thread}: " + ", ".join(f"{k} {v}" for k, v in buckets.items()))
    w("")
    w("Goals")
    for g in report["goals"]:
        w(f"  {'PASS' if g['pass'] else 'MISS'}  {g['goal']:<50} measured {g['measured']:<9} {g['margin']}")
    e2e = report["batch"][0].get("end_to_end_events_per_s", 0)
    w(
        f"  (info) the store kept up with {e2e:,} events/s of batch 500 ({e2e / GOAL_BATCH_EPS:.2f}x the "
        "batch goal): acknowledging faster than that grows the spool backlog"
    )
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run (~40 s) with fewer events")
    parser.add_argument("--events", type=int, default=None, help="events for the 500-event batch phase")
    parser.add_argument("--json", action="store_true", help="JSON on stdout (the table goes to stderr)")
    parser.add_argument("--connections", type=int, default=8, help="connections for the batch phases")
    parser.add_argument("--track-rate", type=float, default=1000.0, help="open-loop /v1/track rate (req/s)")
    parser.add_argument("--track-connections", type=int, default=64)
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy the server (batch, track) into DIR"
    )
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the temporary homes go")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = parser.parse_args(argv)

    quick = args.quick
    events500 = args.events or (40_000 if quick else 500_000)
    events100 = max(2_000, events500 // (4 if quick else 3))
    track_seconds = 4.0 if quick else 10.0
    lag_seconds = 3.0 if quick else 8.0
    raw_events = min(events500, 40_000 if quick else 150_000)

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="tp-bench-", dir=args.tmpdir))
    report: dict[str, Any] = {
        "mode": "quick" if quick else "default",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "bench/ingest.py", *(sys.argv[1:] if argv is None else argv)]),
    }
    try:
        load1 = os.getloadavg()[0]
        if load1 > 0.5:
            log(f"note: load average is {load1:.2f} before starting; other work will disturb the figures")
        report["machine"] = machine_info()
        report["machine"]["loadavg_at_start"] = round(load1, 2)
        report["source"] = source_state()
        factory = EventFactory()
        n_tracks = int(args.track_rate * track_seconds)
        log(f"building {events500:,} + {events100:,} batched events and {n_tracks:,} track calls")
        t = time.monotonic()
        w500 = build_batches(factory, events500, 500)
        w100 = build_batches(factory, events100, 100)
        tracks = build_tracks(factory, n_tracks)
        lag_work = build_batches(factory, int(6_000 * lag_seconds), 100)
        log(f"built in {time.monotonic() - t:.1f} s")
        sizes = w500.event_sizes + w100.event_sizes + tracks.event_sizes
        report["event"] = {
            "min_bytes": min(sizes),
            "max_bytes": max(sizes),
            "mean_bytes": round(sum(sizes) / len(sizes)),
            "batch500_raw_kb": round(w500.raw_bytes / len(w500.bodies) / 1024, 1),
            "batch500_gzip_kb": round(sum(map(len, w500.bodies)) / len(w500.bodies) / 1024, 1),
        }

        rows = []
        for work, name in ((w500, "batch500"), (w100, "batch100")):
            profile = args.profile if name == "batch500" else None
            row = phase_batch(tmp, name, work, args.connections, factory, profile)
            rows.append({"batch_size": work.events_per_body, "connections": args.connections, **row})
            log(
                f"{name}: {row['events_per_s']:,} events/s acknowledged, all queryable "
                f"{row['queryable_after_last_ack_s']} s after the last ack"
            )
        report["batch"] = rows

        track = phase_track(tmp, tracks, args.track_rate, args.track_connections, factory, args.profile)
        report["track"] = {**track, "connections": args.track_connections}
        log(f"track: p99 {track['latency_ms']['p99']} ms at {track['achieved_rate']} req/s")

        # Moderate load: 5,000 events/s (or 30 % of what batches of 100 reached, if that is lower); then a
        # light one, 1,000 events/s, at which the loader leaves the store free between its cycles.
        moderate = min(5_000.0, 0.3 * (rows[1]["events_per_s"] or 5_000))
        report["lag"] = []
        start = 0
        for name, eps in (("lag-moderate", moderate), ("lag-light", min(1_000.0, moderate))):
            n = max(10, int(eps * lag_seconds / 100))
            load = Workload(lag_work.bodies[start : start + n], 100, lag_work.samples[start : start + n])
            start += n
            report["lag"].append(phase_lag(tmp, name, load, eps / 100, 16, factory))
            log(f"{name}: p99 {report['lag'][-1]['delay_ms']['p99']} ms")

        n_raw = max(1, raw_events // 500)
        log(f"raw ceiling on {n_raw * 500:,} events")
        report["raw"] = phase_raw(tmp, w500.bodies[:n_raw], 5_000)
        report["floor"] = phase_floor(tmp, 1.5 if quick else 3.0)

        http = rows[0]["events_per_s"]
        raw = report["raw"]["events_per_s"]
        report["ratio_http_to_raw"] = round(http / raw, 3)
        report["ratio_e2e_to_raw"] = round(rows[0].get("end_to_end_events_per_s", 0) / raw, 3)
        report["goals"] = [
            goal(
                f"/v1/batch >= {GOAL_BATCH_EPS:,} events/s (batch 500)",
                http,
                GOAL_BATCH_EPS,
                True,
                "events/s",
            ),
            goal(
                f"/v1/track p99 <= {GOAL_TRACK_P99_MS:g} ms at {args.track_rate:.0f} req/s",
                track["latency_ms"]["p99"],
                GOAL_TRACK_P99_MS,
                False,
                "ms",
            ),
            goal(
                f"ack -> queryable p99 <= {GOAL_LAG_P99_S:g} s at {moderate:,.0f} events/s",
                round(report["lag"][0]["delay_ms"]["p99"] / 1e3, 3),
                GOAL_LAG_P99_S,
                False,
                "s",
            ),
        ]
        report["other_load_max_cores"] = max(OTHER_LOAD, default=0.0)
        if source_state() != report["source"]:
            report["source"]["changed_during_run"] = True
        report["duration_s"] = round(time.monotonic() - started, 1)
        text = render(report)
        if args.json:
            print(text, file=sys.stderr)
            print(json.dumps(_finite(report), indent=2, default=str))
        else:
            print(text)
        return 0
    finally:
        kill_children()
        if args.keep:
            log(f"homes kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        kill_children()
        sys.exit(130)
