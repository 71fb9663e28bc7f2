"""Deterministic stitching: identify and alias events through the identity graph, as the loader runs it.

Generates seeded traffic for 1M events (by default): people with one to three devices (anonymous ids),
who browse anonymously, sign in (identify with userId, anonymousId and e-mail), sometimes alias a device,
and a few shared devices (a family tablet, a shop kiosk) that sign in two people. The events are handed to
the stitcher in batches of the loader's size (each batch one transaction, with its commit), into a store
file that grows to the whole graph; the events table itself is not written, so the figures are the
graph's own cost. Reported: the whole stream's time, the cost per event (a batch's time over its events)
at p50/p99 across batches, how that cost grows as the graph grows (first tenth against last tenth), and
the latency of a lone identify stitched in its own transaction (the real-time worst case).

    .venv/bin/python bench/identity.py                   # 1M events, batches of 1,000
    .venv/bin/python bench/identity.py --events 100000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from touchpoints.events.model import StoredEvent
from touchpoints.identity.evidence import stitch_events
from touchpoints.store.duckdb import open_store
from touchpoints.store.events import events_to_arrow

START = datetime(2026, 1, 1, tzinfo=UTC)


def traffic(n: int, seed: int = 7) -> list[StoredEvent]:
    """``n`` identify/alias events; about one person per four events."""
    rng = random.Random(seed)
    people = max(1, n // 4)
    devices: dict[int, list[str]] = {}
    shared = [f"kiosk-{i}" for i in range(max(1, people // 1000))]
    events: list[StoredEvent] = []
    for i in range(n):
        p = rng.randrange(people)
        mine = devices.setdefault(p, [f"d{p}-{j}" for j in range(rng.choice((1, 1, 2, 3)))])
        anon = rng.choice(shared) if rng.random() < 0.01 else rng.choice(mine)
        ts = START + timedelta(seconds=i)
        if rng.random() < 0.15:
            events.append(StoredEvent(message_id=f"m{i}", type="alias", source="bench", channel="web", timestamp=ts,
                                      received_at=ts, user_id=f"user-{p}", previous_id=anon))  # fmt: skip
        else:
            traits = msgspec.json.encode({"email": f"person{p}@example.com"})
            events.append(StoredEvent(message_id=f"m{i}", type="identify", source="bench", channel="web", timestamp=ts,
                                      received_at=ts, user_id=f"user-{p}", anonymous_id=anon,
                                      traits=msgspec.Raw(traits)))  # fmt: skip
    return events


def run(n: int, batch: int, lone: int) -> dict[str, object]:
    events = traffic(n)
    folder = Path(tempfile.mkdtemp(prefix="tp-bench-identity-"))
    per_event: list[float] = []
    with open_store(folder / "store.duckdb") as db:
        started = time.perf_counter()
        for lo in range(0, n, batch):
            chunk = events[lo : lo + batch]
            table = events_to_arrow(chunk)
            t = time.perf_counter()
            db.register("_bench_batch", table)
            with db.transaction():
                stitch_events(db, "_bench_batch")
            db.unregister("_bench_batch")
            per_event.append((time.perf_counter() - t) / len(chunk))
        total = time.perf_counter() - started
        lone_latency: list[float] = []
        for i in range(lone):
            ev = traffic(1, seed=1000 + i)[0]
            ev = msgspec.structs.replace(ev, message_id=f"lone{i}", user_id=f"lone-user-{i}")
            table = events_to_arrow([ev])
            t = time.perf_counter()
            db.register("_bench_batch", table)
            with db.transaction():
                stitch_events(db, "_bench_batch")
            db.unregister("_bench_batch")
            lone_latency.append(time.perf_counter() - t)
        nodes, customers = db.execute("SELECT count(*), count(DISTINCT customer_id) FROM identities")[0]
        links = db.execute("SELECT status, count(*) FROM identity_links GROUP BY 1 ORDER BY 1")
    tenth = max(1, len(per_event) // 10)
    q = statistics.quantiles(per_event, n=100)
    lq = statistics.quantiles(lone_latency, n=100) if len(lone_latency) > 1 else [lone_latency[0]] * 99
    return {
        "events": n,
        "batch": batch,
        "seconds": round(total, 2),
        "events_per_second": round(n / total),
        "per_event_ms": {
            "p50": round(q[49] * 1e3, 4),
            "p99": round(q[98] * 1e3, 4),
            "max": round(max(per_event) * 1e3, 4),
        },
        "growth": {
            "first_tenth_ms_per_event": round(statistics.mean(per_event[:tenth]) * 1e3, 4),
            "last_tenth_ms_per_event": round(statistics.mean(per_event[-tenth:]) * 1e3, 4),
        },
        "lone_identify_ms": {"p50": round(lq[49] * 1e3, 2), "p99": round(lq[98] * 1e3, 2), "runs": lone},
        "graph": {"identifiers": nodes, "customers": customers, "links": dict(links)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--lone", type=int, default=300, help="lone identifies timed one per transaction")
    args = parser.parse_args()
    print(json.dumps(run(args.events, args.batch, args.lone), indent=2))


if __name__ == "__main__":
    main()
