"""Demo-world build time: ``touchpoints demo --customers N --no-serve --json`` into a fresh home, as a user
runs it, for 2,000 and 100,000 customers (the README's default and the benchmark size).

The command plans the seeded world, sends the online events over HTTP to the real collector, relays the
email and QR link hits, writes the offline files and imports them, and waits until everything is
queryable; its own ``timings`` say where the time went. The baseline, measured in the same run, is the
collector alone: the online events of the same world sent by the demo's client with nothing else going
on is what ``online_events`` reports.

    .venv/bin/python bench/demo_world.py                    # 2,000 and 100,000 customers
    .venv/bin/python bench/demo_world.py --customers 2000   # one size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build(customers: int, home: Path) -> dict[str, object]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "touchpoints", "demo", "--customers", str(customers), "--no-serve", "--json",
         "--home", str(home)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    summary: dict[str, object] = json.loads(out)
    summary["wall_seconds"] = round(time.perf_counter() - started, 2)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, action="append")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = args.customers or [2_000, 100_000]
    work = Path(tempfile.mkdtemp(prefix="tp-bench-demo-"))
    rows = []
    try:
        for customers in sizes:
            summary = build(customers, work / f"home-{customers}")
            stored = int(summary["stored_events"])  # type: ignore[call-overload]
            row = {
                "customers": customers,
                "wall_seconds": summary["wall_seconds"],
                "stored_events": stored,
                "events_per_second": round(stored / float(summary["wall_seconds"])),  # type: ignore[arg-type]
                "sent_over_http": summary["sent"],
                "link_hits": summary["link_hits"],
                "quarantine_held": summary["quarantine_held"],
                "channels": len(summary["by_channel"]),  # type: ignore[arg-type]
                "timings": summary["timings"],
            }
            rows.append(row)
            if not args.json:
                print(
                    f"{customers:>7} customers  {row['wall_seconds']:>7.1f} s  {stored:>9,} events "
                    f"({row['events_per_second']:,}/s)  over HTTP {row['sent_over_http']:,}  links {row['link_hits']}  "
                    f"channels {row['channels']}  held {row['quarantine_held']}\n          timings {row['timings']}",
                    flush=True,
                )
            shutil.rmtree(work / f"home-{customers}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    if args.json:
        print(json.dumps({"machine": machine, "results": rows}, indent=2))
    else:
        print(f"machine: {machine}")


if __name__ == "__main__":
    main()
