"""What the privacy gate costs on the way in: storing events through the store's one door with and without
the gate, in the same run, in the cases that make it work.

    python bench/gate.py [--events 200000] [--batch 20000] [--runs 3] [--suppressed 100000]

Cases (each a fresh store; events built once, the same for every case):

- ``no gate``: the gate replaced by a pass-through (the baseline: what storing cost before issue 5);
- ``gate, nothing to do``: the default home, no consent statements, nobody erased;
- ``consent on 10 %``: one event in ten states consent (tp.js sends it on every event, so this is low);
- ``consent on every event``: as tp.js sends it;
- ``opt-in analytics``: ``[privacy] modes.analytics = "opt_in"``, half the events granting it;
- ``N erased``: a suppression list of N hashed identifiers, none of them in the stream (the common case:
  every event is checked, none refused).

Also the collector's door: the time to check one event against the suppression list in Python, per event.
Prints events/s per case and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

import touchpoints.store.events as store_events
from touchpoints.collector.ingest import stored_view
from touchpoints.config import load_settings
from touchpoints.events.model import StoredEvent
from touchpoints.events.validate import normalize_event
from touchpoints.privacy.gate import SUPPRESSION_FILE, Admission, Gate
from touchpoints.privacy.suppression import SuppressionList
from touchpoints.store.duckdb import open_store


def build(n: int, consent_every: int, seed: int = 0) -> list[StoredEvent]:
    now = datetime.now(UTC)
    events = []
    for i in range(n):
        context: dict[str, Any] = {
            "page": {
                "path": f"/p/{i % 300}",
                "url": f"https://shop.example/p/{i % 300}",
                "title": "A product",
            },
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
            "library": {"name": "analytics.js", "version": "2.11.1"},
            "ip": "203.0.113.7",
        }
        if consent_every and i % consent_every == 0:
            context["consent"] = {"categoryPreferences": {"analytics": i % 4 != 2, "marketing": i % 3 == 0}}
        message: dict[str, Any] = {
            "type": "identify" if i % 20 == 0 else "track",
            "messageId": f"{seed}-{i}",
            "anonymousId": f"anon-{i % 40000}",
            "context": context,
        }
        if i % 3 == 0:
            message["userId"] = f"user-{i % 25000}"
        if message["type"] == "identify":
            message["traits"] = {
                "email": f"person{i % 25000}@example.com",
                "phone": f"+4477009{i % 100000:05d}",
            }
        else:
            message["event"] = "Product Viewed"
            message["properties"] = {"sku": f"SKU-{i % 500}", "price": 19.99}
        events.append(normalize_event(msgspec.json.encode(message), source="web", received_at=now))
    return events


def store(home: Path, events: list[StoredEvent], batch: int, gate: bool = True) -> float:
    real = store_events._admit
    if not gate:
        store_events._admit = lambda db, relation: Admission(relation)
    try:
        settings = load_settings(home)
        with open_store(settings.store_path) as db:
            started = time.perf_counter()
            for i in range(0, len(events), batch):
                with db.transaction():
                    store_events.append_events(db, events[i : i + batch], settings.identity)
            return time.perf_counter() - started
    finally:
        store_events._admit = real


def home(root: Path, name: str, config: str = "", suppressed: int = 0) -> Path:
    path = root / name
    path.mkdir(parents=True)
    if config:
        (path / "config.toml").write_text(config, encoding="utf-8")
    if suppressed:
        SuppressionList(path / SUPPRESSION_FILE).add(
            (f"email:erased{i}@example.net" for i in range(suppressed)), cause="bench"
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suppressed", type=int, default=100_000)
    args = parser.parse_args()
    plain, tenth, every = build(args.events, 0), build(args.events, 10), build(args.events, 1)
    cases: list[tuple[str, list[StoredEvent], str, int, bool]] = [
        ("no gate (baseline)", plain, "", 0, False),
        ("gate, nothing to do", plain, "", 0, True),
        ("consent on 10 % of events", tenth, "", 0, True),
        ("consent on every event", every, "", 0, True),
        ("opt-in analytics", every, '[privacy]\nmodes = { analytics = "opt_in" }\n', 0, True),
        (f"{args.suppressed:,} erased", plain, "", args.suppressed, True),
    ]
    results: dict[str, list[float]] = {name: [] for name, *_ in cases}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            for i, (name, events, config, suppressed, gate) in enumerate(cases):
                results[name].append(
                    store(home(Path(tmp), f"r{run}c{i}", config, suppressed), events, args.batch, gate)
                )
    base = statistics.median(results[cases[0][0]])
    print(f"{args.events:,} events in batches of {args.batch:,}; median of {args.runs} runs")
    print(f"{'case':<32} {'seconds':>8} {'events/s':>10} {'vs baseline':>12}")
    for name, times in results.items():
        t = statistics.median(times)
        print(f"{name:<32} {t:8.2f} {args.events / t:10,.0f} {t / base:11.2f}x")
    # The collector's door, per event, with the suppression list loaded.
    with tempfile.TemporaryDirectory() as tmp:
        door = Gate.for_settings(load_settings(home(Path(tmp), "door", suppressed=args.suppressed)))
        sample = plain[:20000]
        door.hashes()
        started = time.perf_counter()
        refused = sum(door.refuses(stored_view(e), e.source) for e in sample)
        per = (time.perf_counter() - started) / len(sample) * 1e6
    print(f"collector door with {args.suppressed:,} erased: {per:.1f} µs per event ({refused} refused)")


if __name__ == "__main__":
    main()
