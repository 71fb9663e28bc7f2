"""Messy real-world files: what a data engineer's exports look like, and what must never happen to them."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Home
from tests.sources.helpers import do_import, enrichment_rows, import_error, quarantine, run, stored, write


def test_another_file_of_the_same_name_does_not_release_what_it_did_not_fix(
    home: Home, tmp_path: Path
) -> None:
    january = write(tmp_path / "jan" / "export.csv", """
        response_id,timestamp,nps,email
        J1,2024-01-05T10:00:00Z,eleven,a@example.com
        J2,2024-01-05T10:00:00Z,9,b@example.com
    """)  # fmt: skip
    february = write(tmp_path / "feb" / "export.csv", """
        response_id,timestamp,nps,email
        F1,2024-02-05T10:00:00Z,7,c@example.com
        F2,2024-02-05T10:00:00Z,8,d@example.com
    """)  # fmt: skip
    assert do_import(home, "surveys", january, source="typeform")["quarantined"] == 1
    assert do_import(home, "surveys", february, source="typeform")["released_from_quarantine"] == 0
    assert [item["origin"] for item in quarantine(home)] == ["export.csv row 1"], "J1 is still held"


def test_two_stores_receipts_with_the_same_number_are_two_orders(home: Home, tmp_path: Path) -> None:
    receipts = write(tmp_path / "stores.csv", """
        order_id,timestamp,sku,quantity,unit_price,store_id,email
        1001,2024-05-01T10:00:00Z,A,1,10,LEEDS,a@example.com
        1001,2024-05-03T15:00:00Z,B,1,99,YORK,b@example.com
    """)  # fmt: skip
    assert do_import(home, "transactions", receipts)["imported"] == 2
    orders = {e["properties"]["store_id"]: e for e in stored(home)}
    assert orders["LEEDS"]["properties"]["revenue"] == 10
    assert orders["LEEDS"]["context"]["traits"]["email"] == "a@example.com"
    assert orders["YORK"]["properties"]["revenue"] == 99


def test_an_empty_enrichment_file_does_not_wipe_the_table(home: Home, tmp_path: Path) -> None:
    census = write(tmp_path / "census.csv", "postcode,band\nSW1A 1AA,A\nLS1 4AP,C\n")
    do_import(home, "enrichment", census, "--key", "postcode", source="census")
    empty = write(tmp_path / "census-new.csv", "postcode,band\n")
    message = import_error(home, "enrichment", empty, "--key", "postcode", source="census")
    assert "no usable rows" in message and "left as it was" in message
    assert len(enrichment_rows(home)) == 2


def test_times_that_cannot_be_read_exactly_are_held_not_guessed(home: Home, tmp_path: Path) -> None:
    times = write(tmp_path / "times.csv", """
        event,timestamp,user_id
        Compact,202405011030,u1
        Evening,2024-05-01 10:30:00 PM,u2
        Zoned,2024-05-01T10:30:00 Europe/Paris,u3
        Far,9999-01-01T00:00:00Z,u4
        Fine,2024-05-01T10:30:00+01,u5
    """)  # fmt: skip
    result = do_import(home, "events", times, "--timezone", "Europe/London")
    assert (result["imported"], result["quarantined"]) == (1, 4)
    assert [e["event"] for e in stored(home)] == ["Fine"]
    assert stored(home)[0]["timestamp"].startswith("2024-05-01T09:30:00")
    reasons = " ".join(item["reason"] for item in quarantine(home))
    assert "--time-format" in reasons and "out of range" in reasons


def test_a_bad_time_zone_or_format_is_an_error_that_names_it(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "event,timestamp,user_id\nA,2024-05-01 10:30,u1\n")
    assert "is not a time zone" in import_error(home, "events", path, "--timezone", "Europe/Londn")
    assert "not a strptime format" in import_error(home, "events", path, "--time-format", "%Q")


def test_numbers_too_large_are_held_not_a_crash(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.csv", "response_id,timestamp,nps,email\nR1,2024-05-01T10:00:00Z,1e23,a@example.com\n"
    )
    assert do_import(home, "surveys", path)["quarantined"] == 1
    receipts = write(
        tmp_path / "t.csv", "order_id,timestamp,sku,quantity,unit_price\nO1,2024-05-01T10:00:00Z,A,1,1e308\n"
    )
    assert do_import(home, "transactions", receipts)["quarantined"] == 1


def test_json_keys_that_differ_only_in_case_are_an_error(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.jsonl",
        '{"review_id":"1","timestamp":"2024-05-01T10:00:00Z","rating":4,"Rating":2,"email":"a@example.com"}\n',
    )
    assert "differ only in case" in import_error(home, "reviews", path)


def test_a_stray_quote_does_not_unquote_the_whole_file(home: Home, tmp_path: Path) -> None:
    rows = [f'A{i},Ann{i},"{i} High St, London",a{i}@example.com' for i in range(50)]
    rows.insert(25, 'B1,"Bob,1 Low St,b@example.com')
    path = write(tmp_path / "contacts.csv", "record_id,first_name,address,email\n" + "\n".join(rows))
    result = do_import(home, "contacts", path)
    assert result["imported"] >= 49, result
    addresses = {e["traits"].get("address", {}).get("street") for e in stored(home)}
    assert "7 High St, London" in addresses, "quoted commas stay inside their field"


def test_a_semicolon_file_is_read_and_a_wrong_delimiter_is_named(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "euro.csv", "record_id;first_name;email\nC1;Renée;r@example.com\n")
    message = import_error(home, "contacts", path, "--delimiter", ",")
    assert "whole header was read as one column" in message and "--delimiter" in message
    assert do_import(home, "contacts", path)["imported"] == 1, "the delimiter is detected"


def test_a_latin1_file_is_read_with_its_encoding(home: Home, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("record_id,first_name,email\nC2,René,r@example.com\n".encode("latin-1"))
    assert do_import(home, "contacts", path, "--encoding", "latin-1")["imported"] == 1
    assert stored(home)[0]["traits"]["firstName"] == "René"


def test_quarantine_lists_one_source_as_the_import_says(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.csv", "review_id,timestamp,rating,email\nR1,2024-05-01T10:00:00Z,6,a@example.com\n"
    )
    out = run("import", "reviews", str(path), "--source", "shop-reviews", "--home", str(home.path)).output
    assert "touchpoints quarantine list --source shop-reviews" in out
    listed = run("quarantine", "list", "--source", "shop-reviews", "--json", "--home", str(home.path)).stdout
    assert '"rating 6 is out of range (1 to 5)"' in listed
    assert (
        run("quarantine", "list", "--source", "other", "--json", "--home", str(home.path)).stdout.strip()
        == "[]"
    )


def test_an_events_file_keeps_its_property_types_where_the_format_has_them(
    home: Home, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    lines = write(tmp_path / "e.jsonl", """
        {"event":"Bought","timestamp":"2024-05-01T10:00:00Z","user_id":"u1","amount":12.5,"vip":true,"meta":{"k":1}}
    """)  # fmt: skip
    do_import(home, "events", lines, source="jsonl")
    table = pa.table({"event": ["Bought"], "timestamp": ["2024-05-01T11:00:00Z"], "user_id": ["u2"],
                      "amount": [7.25], "items": [3]})  # fmt: skip
    pq.write_table(table, tmp_path / "e.parquet")
    do_import(home, "events", tmp_path / "e.parquet", source="parquet")
    csv_file = write(
        tmp_path / "e.csv", "event,timestamp,user_id,amount\nBought,2024-05-01T12:00:00Z,u3,7.25\n"
    )
    do_import(home, "events", csv_file, source="csv")
    props = {e["source"]: e["properties"] for e in stored(home)}
    assert props["jsonl"] == {"amount": 12.5, "vip": True, "meta": {"k": 1}}
    assert props["parquet"] == {"amount": 7.25, "items": 3}
    assert props["csv"] == {"amount": "7.25"}, "a CSV has only text"
