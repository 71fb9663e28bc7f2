"""Retention on a 1M-event store: ``touchpoints privacy retention`` as a user runs it, and the
``apply_retention`` call the server's loader makes once a day.

The store is built by SQL generation (no ingest path: that has its own benchmarks), with the default rules
in force: a mix of page (45 %), track (35 %, one in ten an Order Completed), screen (10 %), identify (5 %),
alias, group (5 %), from five sources, each with ~500 bytes of context, properties and traits JSON, and
10,000 quarantined items (over 90 days, then 31). Two stores:

- ``backlog``: six years of history and retention never run: about 60 % of the events have expired (the
  first run on an old store);
- ``daily``: 25 months and a day of history: one day's worth (~0.13 %) has expired (every later run).

Each measurement runs on a fresh copy of the built store file, ``--runs`` times (median reported):
``--dry-run`` and the real run through the CLI (a new process: Python start, loading the spool, the run,
the commit and checkpoint, the audit entry), and ``apply_retention`` alone in-process (store open).

    .venv/bin/python bench/retention.py                 # 1M events, 3 runs each
    .venv/bin/python bench/retention.py --events 100000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from touchpoints.config import load_settings
from touchpoints.privacy.retention import RetentionPolicy, apply_retention
from touchpoints.store.duckdb import open_store

DAY = 86400
CONTEXT = json.dumps(
    {
        "page": {
            "url": "https://shop.example.com/p/1234",
            "title": "A product",
            "referrer": "https://www.google.com/",
        },
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
        "locale": "en-GB",
        "library": {"name": "analytics.js", "version": "2.11.1"},
    }
)


def build(home: Path, events: int, span_seconds: int, quarantine_days: int) -> None:
    """A home whose store holds ``events`` events spread evenly (by hash) over the last ``span_seconds``."""
    subprocess.run(
        [sys.executable, "-m", "touchpoints", "init", "--home", str(home), "--json"],
        check=True,
        capture_output=True,
    )
    now = datetime.now(UTC)
    with open_store(home / "store.duckdb") as db:
        db.execute(
            """
            INSERT INTO events (message_id, type, source, channel, user_id, anonymous_id, event, name,
                                timestamp, received_at, flags, context, properties, traits, integrations,
                                extra, ip)
            SELECT 'm' || i, kind, src, 'web', 'user-' || (i % 200000), 'anon-' || (i % 350000),
                   CASE WHEN kind = 'track' THEN (CASE WHEN i % 10 = 0 THEN 'Order Completed'
                        ELSE 'Product Viewed' END) END,
                   CASE WHEN kind IN ('page', 'screen') THEN 'Home' END,
                   ts, ts + INTERVAL 2 SECOND, [], ctx::JSON, props::JSON,
                   (CASE WHEN kind = 'identify' THEN '{"email": "user-' || (i % 200000) ||
                        '@example.com", "name": "Jane Doe"}' ELSE '{}' END)::JSON,
                   '{}'::JSON, '{}'::JSON, '203.0.113.0'
            FROM (
                SELECT i,
                    CASE WHEN h % 100 < 45 THEN 'page' WHEN h % 100 < 80 THEN 'track'
                         WHEN h % 100 < 90 THEN 'screen' WHEN h % 100 < 95 THEN 'identify'
                         WHEN h % 100 < 98 THEN 'alias' ELSE 'group' END AS kind,
                    ['web', 'web', 'app', 'pos', 'crm', 'email'][(1 + (h // 100) % 6)::BIGINT] AS src,
                    ?::TIMESTAMPTZ - to_seconds(((h // 1000) % ?)::BIGINT) AS ts,
                    replace(?, '1234', (h % 5000)::VARCHAR) AS ctx,
                    '{"sku": "SKU-' || (h % 5000) || '", "price": ' || (h % 100) || '.5, "currency": "GBP"}'
                        AS props
                FROM (SELECT range AS i, hash(range) AS h FROM range(?))
            )
            """,
            [now, span_seconds, CONTEXT, events],
        )
        db.execute(
            "INSERT INTO quarantine (quarantine_id, source, origin, received_at, reason, payload, envelope) "
            "SELECT 'q_' || range, 'web', 'spool', ?::TIMESTAMPTZ - to_seconds((hash(range) % (? * 86400))::BIGINT), "
            '\'event 0: timestamp is not ISO-8601\', \'{"userId": "u", "timestamp": "x"}\', \'{}\' '
            "FROM range(10000)",
            [now, quarantine_days],
        )
        # The dedup window's messageIds: what arrived in the last 7 days.
        db.execute(
            "INSERT INTO message_ids SELECT message_id, received_at FROM events "
            "WHERE received_at > ?::TIMESTAMPTZ - INTERVAL 7 DAY",
            [now],
        )


def cli(home: Path, *args: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "touchpoints", "privacy", "retention", *args, "--json", "--home", str(home)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"touchpoints privacy retention failed: {done.stderr}")
    out = done.stdout
    return time.perf_counter() - started, json.loads(out)


def in_process(home: Path) -> tuple[float, float]:
    """(the apply_retention call, the call plus opening and closing the store with its checkpoint)."""
    settings = load_settings(home)
    started = time.perf_counter()
    with open_store(settings.store_path) as db:
        t0 = time.perf_counter()
        apply_retention(db, settings.retention)
        call = time.perf_counter() - t0
    return call, time.perf_counter() - started


def measure(built: Path, work: Path, runs: int) -> dict[str, object]:
    def fresh() -> Path:
        home = work / "run"
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(built, home)
        return home

    dry, real, call, call_open = [], [], [], []
    report: dict[str, object] = {}
    for _ in range(runs):
        seconds, report = cli(fresh(), "--dry-run")
        dry.append(seconds)
        seconds, report = cli(fresh())
        real.append(seconds)
        a, b = in_process(fresh())
        call.append(a)
        call_open.append(b)
    return {
        "expired_events": report["events"],
        "expired_quarantine": report["quarantine"],
        "message_ids": report["message_ids"],
        "cli_dry_run_s": round(statistics.median(dry), 2),
        "cli_s": round(statistics.median(real), 2),
        "apply_retention_s": round(statistics.median(call), 2),
        "open_apply_close_s": round(statistics.median(call_open), 2),
        "cli_runs_s": [round(s, 2) for s in real],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tp-bench-retention-"))
    results = {}
    try:
        now = datetime.now(UTC)
        default = (now - RetentionPolicy().default.cutoff(now)).total_seconds()  # type: ignore[union-attr]
        for name, span, held in (("backlog", 6 * 365 * DAY, 90), ("daily", int(default) + DAY, 31)):
            built = work / name
            started = time.perf_counter()
            build(built, args.events, span, held)
            build_s = time.perf_counter() - started
            size_mb = (built / "store.duckdb").stat().st_size / 1e6
            results[name] = {
                "build_s": round(build_s, 1),
                "store_mb": round(size_mb),
                **measure(built, work, args.runs),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "events": args.events,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                **results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
