"""Bought or partner tables: ``touchpoints import enrichment FILE --source NAME --key COLUMN``. The file is the
current version of the source; keys match case- and space-insensitively."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Home
from tests.sources.helpers import (
    assert_reimport_changes_nothing,
    counts,
    do_import,
    enrichment_rows,
    expect,
    held_reasons,
    import_error,
    snapshot,
    write,
)
from touchpoints.sources.enrichment import lookup_sql
from touchpoints.store import open_store

CENSUS = """
    postcode,band,households
    SW1A 1AA,A,120
    M1 1AE,B,340
    EC1A 1BB,C,95
"""


def lookup(home: Home, source: str, value: str) -> dict[str, str] | None:
    with open_store(home.path / "store.duckdb") as db:
        [(found,)] = db.execute(f"SELECT {lookup_sql(source, '?')}", [value])
    return None if found is None else dict(json.loads(found))


def test_rows_are_stored_by_key_and_found_whatever_the_case_and_spaces(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "census.csv", CENSUS)
    first = do_import(home, "enrichment", path, "--key", "postcode", source="census")
    assert counts(first) == expect(imported=3, quarantined=0, rows=3)
    assert enrichment_rows(home) == [
        ("census", "postcode", "EC1A1BB", '{"band":"C","households":"95"}'),
        ("census", "postcode", "M11AE", '{"band":"B","households":"340"}'),
        ("census", "postcode", "SW1A1AA", '{"band":"A","households":"120"}'),
    ]
    assert lookup(home, "census", " sw1a 1aa ") == {"band": "A", "households": "120"}
    assert lookup(home, "census", "m11ae") == {"band": "B", "households": "340"}
    assert lookup(home, "census", "ZZ9 9ZZ") is None
    assert lookup(home, "other", "M1 1AE") is None, "each source is its own table"

    # The same table written differently is the same table.
    respelled = write(
        tmp_path / "v2" / "census.csv", CENSUS.replace("SW1A 1AA", "sw1a1aa").replace("M1 1AE", " m1  1ae")
    )
    assert counts(do_import(home, "enrichment", respelled, "--key", "postcode", source="census")) == expect(
        imported=0, quarantined=0, rows=3, duplicates=3
    )
    assert_reimport_changes_nothing(home, "enrichment", path, first, "--key", "postcode", source="census")


def test_a_newer_file_replaces_the_table(home: Home, tmp_path: Path) -> None:
    do_import(
        home,
        "enrichment",
        write(tmp_path / "2023" / "census.csv", CENSUS),
        "--key",
        "postcode",
        source="census",
    )
    do_import(home, "enrichment", write(tmp_path / "x.csv", "postcode,band\nSW1A 1AA,Z\n"), "--key", "postcode",
              source="another")  # fmt: skip
    newer = write(
        tmp_path / "2024" / "census.csv",
        """
        postcode,band,households
        SW1A 1AA,A,120
        M1 1AE,B+,360
        """,
    )
    result = do_import(home, "enrichment", newer, "--key", "postcode", source="census")
    assert counts(result) == expect(imported=1, quarantined=0, rows=2, duplicates=1)
    assert enrichment_rows(home) == [
        ("another", "postcode", "SW1A1AA", '{"band":"Z"}'),
        ("census", "postcode", "M11AE", '{"band":"B+","households":"360"}'),
        ("census", "postcode", "SW1A1AA", '{"band":"A","households":"120"}'),
    ], "EC1A 1BB is gone from census (not from another source), M1 1AE changed"


def test_trait_names_what_the_key_joins_to(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "census.csv", CENSUS)
    do_import(home, "enrichment", path, "--key", "postcode", "--trait", "address.postalCode", source="census")
    assert {row[1] for row in enrichment_rows(home)} == {"address.postalCode"}
    assert "--trait" in import_error(home, "enrichment", path, "--key", "postcode", "--trait", "not a trait!")


def test_empty_and_conflicting_keys_are_quarantined(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "census.csv",
        """
        postcode,band,households
        SW1A 1AA,A,120
        ,B,1
        sw1a1aa,C,7
        """,
    )
    first = do_import(home, "enrichment", path, "--key", "postcode", source="census")
    assert counts(first) == expect(imported=1, quarantined=2, rows=3)
    assert [row[2:] for row in enrichment_rows(home)] == [("SW1A1AA", '{"band":"A","households":"120"}')]
    reasons = held_reasons(home)
    assert set(reasons) == {"census.csv row 2", "census.csv row 3"}
    assert "postcode" in reasons["census.csv row 2"] and "empty" in reasons["census.csv row 2"]
    assert "SW1A1AA" in reasons["census.csv row 3"] and "row 1" in reasons["census.csv row 3"]


def test_a_row_given_twice_with_the_same_values_is_not_a_conflict(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "census.csv", "postcode,band\nSW1A 1AA,A\nsw1a 1aa,A\n")
    result = do_import(home, "enrichment", path, "--key", "postcode", source="census")
    assert result["quarantined"] == 0, held_reasons(home)
    assert [row[2:] for row in enrichment_rows(home)] == [("SW1A1AA", '{"band":"A"}')]


def test_the_key_must_be_named_and_exist(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "census.csv", CENSUS)
    message = import_error(home, "enrichment", path, source="census")
    assert "--key" in message and "postcode" in message, "it says what to pass and the file's columns"
    message = import_error(home, "enrichment", path, "--key", "zip", source="census")
    assert "'zip'" in message and "postcode" in message
    only_key = write(tmp_path / "keys.csv", "postcode\nSW1A 1AA\n")
    assert "nothing to enrich" in import_error(
        home, "enrichment", only_key, "--key", "postcode", source="census"
    )
    assert snapshot(home) == ([], [], [])
