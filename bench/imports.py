"""Import throughput: ``touchpoints import transactions`` end to end, as a user runs it.

Writes a seeded transactions file (order lines: about 2.5 lines per order, 85 % of orders with a
customer, 0.1 % bad rows), then times the command in a fresh process (start-up, reading, checking,
storing, commit) into a fresh home, for CSV, JSON Lines and Parquet, and the re-import of the same file
(every order a duplicate). The baseline, measured in the same run, is DuckDB reading the same file and
counting its rows: the floor any importer built on it pays. Sizes grow 4x to show how cost grows.

    .venv/bin/python bench/imports.py            # 50k, 200k, 800k lines, 3 runs each
    .venv/bin/python bench/imports.py --quick    # 200k lines, 1 run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

GOAL_ROWS_PER_SECOND = 100_000


def write_transactions(folder: Path, lines: int, seed: int = 7) -> dict[str, Path]:
    rng = random.Random(seed)
    cols: dict[str, list[object]] = {
        k: []
        for k in ("order_id", "line_id", "timestamp", "sku", "quantity", "unit_price", "product_name", "category",
                  "store_id", "currency", "customer_id", "loyalty_id", "email")
    }  # fmt: skip
    order = 0
    while len(cols["order_id"]) < lines:
        order += 1
        n = min(rng.choice((1, 1, 2, 2, 3, 3, 4, 5)), lines - len(cols["order_id"]))
        customer = rng.randrange(40_000) if rng.random() < 0.85 else None
        ts = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(8, 20):02d}:{rng.randint(0, 59):02d}:00Z"
        store = f"S{rng.randrange(30):02d}"
        for line in range(1, n + 1):
            sku = rng.randrange(2000)
            bad = rng.random() < 0.001
            cols["order_id"].append(f"R{order:08d}")
            cols["line_id"].append(str(line))
            cols["timestamp"].append(ts)
            cols["sku"].append(f"SKU{sku:05d}")
            cols["quantity"].append("two" if bad else str(rng.choice((1, 1, 1, 2, 3))))
            cols["unit_price"].append(f"{1 + sku % 500 + rng.choice((0.99, 0.49, 0.0)):.2f}")
            cols["product_name"].append(f"Product {sku}")
            cols["category"].append(f"Category {sku % 40}")
            cols["store_id"].append(store)
            cols["currency"].append("GBP")
            cols["customer_id"].append(f"C{customer:06d}" if customer is not None else None)
            cols["loyalty_id"].append(f"L{customer:06d}" if customer is not None and customer % 3 else None)
            cols["email"].append(f"c{customer}@example.com" if customer is not None else None)
    table = pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
    paths = {
        "csv": folder / f"tx-{lines}.csv",
        "jsonl": folder / f"tx-{lines}.jsonl",
        "parquet": folder / f"tx-{lines}.parquet",
    }
    pacsv.write_csv(table, paths["csv"])
    pq.write_table(table, paths["parquet"])
    with paths["jsonl"].open("w") as fh:
        for row in table.to_pylist():
            fh.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")
    return paths


def touchpoints(*args: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "touchpoints", *args, "--json"], check=True, capture_output=True, text=True
    ).stdout
    return time.perf_counter() - started, json.loads(out)


def baseline(path: Path, fmt: str) -> float:
    con = duckdb.connect()
    reader = {"csv": "read_csv(?, all_varchar = true)", "jsonl": "read_json(?, format = 'newline_delimited')",
              "parquet": "read_parquet(?)"}[fmt]  # fmt: skip
    started = time.perf_counter()
    con.execute(f"SELECT count(*), count(DISTINCT order_id) FROM {reader}", [str(path)]).fetchall()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args()
    sizes = [200_000] if args.quick else [50_000, 200_000, 800_000]
    runs = 1 if args.quick else args.runs
    results: list[dict[str, object]] = []
    work = Path(tempfile.mkdtemp(prefix="tp-bench-import-"))
    try:
        for lines in sizes:
            files = write_transactions(work, lines)
            for fmt in ("csv", "jsonl", "parquet") if lines == 200_000 else ("csv",):
                first, again, floor = [], [], []
                outcome: dict[str, object] = {}
                for run in range(runs):
                    home = work / f"home-{lines}-{fmt}-{run}"
                    touchpoints("init", "--home", str(home))
                    seconds, outcome = touchpoints(
                        "import", "transactions", str(files[fmt]), "--source", "pos", "--home", str(home)
                    )
                    first.append(seconds)
                    seconds, repeat = touchpoints(
                        "import", "transactions", str(files[fmt]), "--source", "pos", "--home", str(home)
                    )
                    assert repeat["imported"] == 0, repeat
                    again.append(seconds)
                    floor.append(baseline(files[fmt], fmt))
                    shutil.rmtree(home)
                row = {
                    "lines": lines,
                    "format": fmt,
                    "seconds": round(statistics.median(first), 3),
                    "rows_per_second": round(lines / statistics.median(first)),
                    "reimport_seconds": round(statistics.median(again), 3),
                    "baseline_read_seconds": round(statistics.median(floor), 3),
                    "ratio_to_baseline": round(statistics.median(first) / statistics.median(floor), 1),
                    "orders_imported": outcome["imported"],
                    "quarantined_lines": outcome["quarantined"],
                    "runs": [round(s, 3) for s in first],
                }
                results.append(row)
                if not args.json:
                    verdict = "PASS" if row["rows_per_second"] >= GOAL_ROWS_PER_SECOND else "MISS"  # type: ignore[operator]
                    print(
                        f"{lines:>8} lines {fmt:<8} {row['seconds']:>6.2f} s  {row['rows_per_second']:>9,} rows/s "
                        f"[{verdict}]  re-import {row['reimport_seconds']:.2f} s  DuckDB read alone "
                        f"{row['baseline_read_seconds']:.3f} s  orders {row['orders_imported']}  "
                        f"quarantined {row['quarantined_lines']}  runs {row['runs']}",
                        flush=True,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__}
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
    else:
        print(f"machine: {machine}")


if __name__ == "__main__":
    main()
