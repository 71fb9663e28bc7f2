"""CSV, JSON Lines and Parquet: the same rows give the same events, and a row the reader cannot make sense
of is quarantined with where it was, never fatal to the rest of the file."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import Home, make_home
from tests.sources.helpers import (
    assert_reimport_changes_nothing,
    counts,
    do_import,
    expect,
    held_reasons,
    import_error,
    stored,
    view,
    write,
)

ROWS: list[dict[str, Any]] = [
    {"order_id": "A1", "timestamp": "2024-05-01T10:00:00Z", "sku": "S1", "quantity": 2, "unit_price": 1.5,
     "customer_id": "c1", "product_name": "Widget"},
    {"order_id": "A1", "timestamp": "2024-05-01T10:00:00Z", "sku": "S2", "quantity": 1, "unit_price": 3.25,
     "customer_id": "c1", "product_name": None},
    {"order_id": "A2", "timestamp": "2024-05-01 11:00:00", "sku": "S3", "quantity": 1, "unit_price": 10.0,
     "customer_id": None, "product_name": "Gift card"},
    {"order_id": "A3", "timestamp": "soon", "sku": "S4", "quantity": 1, "unit_price": 1.0,
     "customer_id": "c3", "product_name": None},
    {"order_id": "A4", "timestamp": "2024-05-01T12:00:00+02:00", "sku": None, "quantity": 1, "unit_price": 1.0,
     "customer_id": "c4", "product_name": None},
    {"order_id": "A5", "timestamp": "2024-05-01T13:00:00Z", "sku": "S5", "quantity": -1, "unit_price": 4.0,
     "customer_id": "c5", "product_name": None},
]  # fmt: skip


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def outcome(home: Home) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str]]:
    events = [(e["messageId"], view(e)) for e in stored(home)]
    held = {origin.split(" ", 1)[1]: reason for origin, reason in held_reasons(home).items()}
    return events, held


def test_csv_json_lines_and_parquet_give_the_same_events(tmp_path: Path) -> None:
    files = {
        "csv": write_csv(tmp_path / "orders.csv", ROWS),
        "jsonl": write_jsonl(tmp_path / "orders.jsonl", ROWS),
        "parquet": write_parquet(tmp_path / "orders.parquet", ROWS),
    }
    results = {}
    for fmt, path in files.items():
        home = make_home(tmp_path / f"home-{fmt}")
        first = do_import(home, "transactions", path, source="shop")
        assert counts(first) == expect(imported=3, quarantined=2, rows=6), fmt
        results[fmt] = outcome(home)
        assert_reimport_changes_nothing(home, "transactions", path, first, source="shop")

    events, held = results["csv"]
    assert [v["properties"]["order_id"] for _, v in events] == ["A1", "A2", "A5"]
    assert events[1][1]["flags"] == ["timezone_assumed_utc"], "A2's time has no offset"
    assert set(held) == {"row 4", "row 5"}
    assert results["jsonl"] == results["csv"]
    assert results["parquet"] == results["csv"]


def test_a_json_lines_file_with_a_line_that_is_not_json(home: Home, tmp_path: Path) -> None:
    lines = [json.dumps(ROWS[0]), "{order_id: A9, oops", "", json.dumps(ROWS[1]), json.dumps(ROWS[4])]
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = do_import(home, "transactions", path)
    assert counts(first) == expect(imported=1, quarantined=2, rows=4)
    assert [e["properties"]["order_id"] for e in stored(home)] == ["A1"]
    reasons = held_reasons(home)
    [line_2] = [
        reason
        for origin, reason in reasons.items()
        if origin in ("orders.jsonl row 2", "orders.jsonl line 2")
    ]
    assert "line 2" in line_2 and "not valid JSON" in line_2
    assert "sku" in reasons["orders.jsonl row 5"], "rows are numbered by line; the blank line 3 is skipped"
    assert_reimport_changes_nothing(home, "transactions", path, first)


def test_a_json_lines_file_with_a_line_that_is_not_an_object(home: Home, tmp_path: Path) -> None:
    lines = [json.dumps(ROWS[0]), "[1, 2, 3]", json.dumps(ROWS[1])]
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = do_import(home, "transactions", path)
    assert counts(first) == expect(imported=1, quarantined=1, rows=3)
    [(origin, reason)] = held_reasons(home).items()
    assert origin in ("orders.jsonl row 2", "orders.jsonl line 2")
    assert "line 2" in reason and "not a JSON object" in reason
    assert_reimport_changes_nothing(home, "transactions", path, first)


MALFORMED = """
    order_id,timestamp,sku,quantity,unit_price,customer_id
    O1,2024-05-01T10:00:00Z,A,2,1.5,c1
    O2,2024-05-01T10:00:00Z,B,1,3.25,c1,extra,cells
    O3,2024-05-01T10:00:00Z,C,1,oops,c1
    O4,2024-05-01T10:00:00Z,D
    O5,2024-05-01T10:00:00Z,E,1,1,c1
"""


def test_a_malformed_csv_row_is_quarantined_not_fatal(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "tills.csv", MALFORMED)
    first = do_import(home, "transactions", path)
    assert first["imported"] == 2 and first["quarantined"] == 3
    assert sorted(e["properties"]["order_id"] for e in stored(home)) == ["O1", "O5"]
    reasons = held_reasons(home)
    # Lines 3 and 5 of the file (the header is line 1).
    assert "not a valid CSV row" in reasons["tills.csv line 3"]
    assert "not a valid CSV row" in reasons["tills.csv line 5"]
    assert_reimport_changes_nothing(home, "transactions", path, first)


def test_rows_after_a_malformed_csv_row_keep_their_row_numbers(home: Home, tmp_path: Path) -> None:
    """O3 is the file's third row (line 4): the quarantine must say so, or the user fixes the wrong row."""
    path = write(tmp_path / "tills.csv", MALFORMED)
    do_import(home, "transactions", path)
    bad_price = [origin for origin, reason in held_reasons(home).items() if "'oops'" in reason]
    assert bad_price == ["tills.csv row 3"]
    [o5] = [e for e in stored(home) if e["properties"]["order_id"] == "O5"]
    assert o5["context"]["import"]["row"] == 5


def test_a_malformed_csv_row_is_not_also_said_to_have_empty_fields(home: Home, tmp_path: Path) -> None:
    """The row has an order_id, a timestamp and a sku; the reason should say what is wrong, only that."""
    path = write(tmp_path / "tills.csv", MALFORMED)
    do_import(home, "transactions", path)
    reason = held_reasons(home)["tills.csv line 3"]
    assert "is empty" not in reason, reason


def test_parquet_with_native_timestamps(home: Home, tmp_path: Path) -> None:
    """A Parquet timestamp with a time zone is an instant: never flagged as assumed UTC, never moved by
    --timezone. One without (local wall time) is read in --timezone."""
    from datetime import UTC, datetime

    aware = pa.table({
        "order_id": ["P1"], "sku": ["A"], "quantity": [1], "unit_price": [2.0], "customer_id": ["c1"],
        "timestamp": pa.array([datetime(2024, 7, 1, 10, 0, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
    })  # fmt: skip
    naive = pa.table({
        "order_id": ["P2"], "sku": ["A"], "quantity": [1], "unit_price": [2.0], "customer_id": ["c1"],
        "timestamp": pa.array([datetime(2024, 7, 1, 10, 0)], pa.timestamp("us")),
    })  # fmt: skip
    pq.write_table(aware, tmp_path / "aware.parquet")
    pq.write_table(naive, tmp_path / "naive.parquet")
    do_import(home, "transactions", tmp_path / "naive.parquet", "--timezone", "Europe/London")
    do_import(home, "transactions", tmp_path / "aware.parquet", "--timezone", "Europe/London")
    times = {e["properties"]["order_id"]: (e["timestamp"], e.get("flags", [])) for e in stored(home)}
    assert times["P2"] == ("2024-07-01T09:00:00.000000Z", []), "10:00 in London in July is 09:00 UTC"
    assert times["P1"] == ("2024-07-01T10:00:00.000000Z", []), "an instant is not moved by --timezone"


def test_the_format_comes_from_the_suffix_or_format(home: Home, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orders.export", ROWS[:1])
    message = import_error(home, "transactions", path)
    assert "--format" in message
    assert do_import(home, "transactions", path, "--format", "csv")["imported"] == 1
    assert stored(home)[0]["properties"]["order_id"] == "A1"
