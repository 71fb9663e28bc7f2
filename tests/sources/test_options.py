"""The options of ``touchpoints import``: --map, --timezone, --time-format, --channel, and the stable ids
that make importing a file twice safe (a --source is its own namespace)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Home
from tests.sources.helpers import (
    by_property,
    counts,
    do_import,
    expect,
    import_error,
    quarantine,
    run,
    snapshot,
    stored,
    write,
)
from touchpoints.store import open_store

RETAIL = """
    InvoiceNo,InvoiceDate,StockCode,Description,Quantity,UnitPrice,CustomerID
    536365,2010-12-01 08:26:00,85123A,WHITE HANGING HEART,6,2.55,17850
    536365,2010-12-01 08:26:00,71053,WHITE METAL LANTERN,6,3.39,17850
    536366,2010-12-01 08:28:00,22633,HAND WARMER,6,1.85,
"""
FULL_MAP = (
    "--map", "InvoiceNo=order_id", "--map", "InvoiceDate=timestamp", "--map", "StockCode=sku",
    "--map", "Description=product_name", "--map", "UnitPrice=unit_price", "--map", "CustomerID=customer_id",
)  # fmt: skip


def nothing_stored(home: Home) -> None:
    events, items, tables = snapshot(home)
    assert (events, items, tables) == ([], [], [])


def test_map_renames_columns(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "online_retail.csv", RETAIL)
    result = do_import(home, "transactions", path, *FULL_MAP, source="uci")
    assert counts(result) == expect(imported=2, quarantined=0, rows=3)
    orders = by_property(stored(home), "order_id")
    first = orders["536365"]
    assert first["userId"] == "17850"
    assert first["properties"]["revenue"] == round(6 * 2.55 + 6 * 3.39, 2)
    assert [p["name"] for p in first["properties"]["products"]] == [
        "WHITE HANGING HEART",
        "WHITE METAL LANTERN",
    ]
    assert first["timestamp"] == "2010-12-01T08:26:00.000000Z"
    assert first["flags"] == ["timezone_assumed_utc"]


def test_a_missing_required_column_fails_the_whole_import(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "online_retail.csv", RETAIL)
    message = import_error(home, "transactions", path, "--map", "InvoiceNo=order_id", source="uci")
    for missing in ("timestamp", "sku"):
        assert missing in message
    assert "unit_price" not in message.split("; it has")[0], "UnitPrice is found as unit_price without a map"
    assert "--map InvoiceDate=timestamp" in message, "the hint names a column not yet used"
    for column in ("InvoiceDate", "StockCode", "UnitPrice", "CustomerID"):
        assert column in message, "the message lists the file's columns"
    assert "Traceback" not in message
    nothing_stored(home)


def test_map_naming_a_column_the_file_lacks_is_a_clear_error(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "online_retail.csv", RETAIL)
    message = import_error(home, "transactions", path, *FULL_MAP, "--map", "InvoiceNumber=order_id")
    assert "InvoiceNumber" in message and "InvoiceNo" in message
    nothing_stored(home)


def test_map_to_a_field_the_kind_does_not_have_is_a_clear_error(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "online_retail.csv", RETAIL)
    message = import_error(home, "transactions", path, *FULL_MAP, "--map", "Quantity=qty")
    assert "'qty'" in message and "quantity" in message
    nothing_stored(home)


def test_a_map_without_an_equals_sign_is_a_usage_error(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "online_retail.csv", RETAIL)
    message = import_error(home, "transactions", path, "--map", "InvoiceNo")
    assert "column=field" in message
    nothing_stored(home)


def test_a_missing_file_and_an_unknown_kind(home: Home, tmp_path: Path) -> None:
    assert "no such file" in import_error(home, "transactions", tmp_path / "nowhere.csv")
    result = run(
        "import", "receipts", str(tmp_path / "x.csv"), "--source", "s", "--home", str(home.path), ok=False
    )
    assert result.exit_code == 2 and "receipts" in result.output


TIMES = """
    ticket_id,timestamp,status,customer_id
    summer,2024-07-01 10:00:00,opened,c1
    winter,2024-01-15 10:00:00,opened,c1
    offset,2024-07-01T10:00:00+02:00,opened,c1
    compact,2024-07-01T10:00:00-0500,opened,c1
    zulu,2024-07-01T10:00:00Z,opened,c1
    epoch,1719828000,opened,c1
"""


def times(home: Home) -> dict[str, tuple[str, list[str]]]:
    return {e["properties"]["ticket_id"]: (e["timestamp"], e.get("flags", [])) for e in stored(home)}


def test_naive_times_without_timezone_are_utc_and_flagged(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "tickets.csv", TIMES)
    assert do_import(home, "tickets", path)["imported"] == 6
    assert times(home) == {
        "summer": ("2024-07-01T10:00:00.000000Z", ["timezone_assumed_utc"]),
        "winter": ("2024-01-15T10:00:00.000000Z", ["timezone_assumed_utc"]),
        "offset": ("2024-07-01T08:00:00.000000Z", []),
        "compact": ("2024-07-01T15:00:00.000000Z", []),
        "zulu": ("2024-07-01T10:00:00.000000Z", []),
        "epoch": ("2024-07-01T10:00:00.000000Z", []),
    }


def test_timezone_shifts_naive_times_only(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "tickets.csv", TIMES)
    assert do_import(home, "tickets", path, "--timezone", "Europe/London")["imported"] == 6
    assert times(home) == {
        "summer": ("2024-07-01T09:00:00.000000Z", []),  # BST, UTC+1
        "winter": ("2024-01-15T10:00:00.000000Z", []),  # GMT
        "offset": ("2024-07-01T08:00:00.000000Z", []),
        "compact": ("2024-07-01T15:00:00.000000Z", []),
        "zulu": ("2024-07-01T10:00:00.000000Z", []),
        "epoch": ("2024-07-01T10:00:00.000000Z", []),
    }


def test_an_offset_of_hours_only_is_an_offset(home: Home, tmp_path: Path) -> None:
    """PostgreSQL writes timestamptz as '2024-07-01 10:00:00+01': that is 09:00 UTC, not a local time."""
    path = write(
        tmp_path / "tickets.csv",
        "ticket_id,timestamp,status,customer_id\npg,2024-07-01 10:00:00+01,opened,c1\n",
    )
    do_import(home, "tickets", path)
    assert times(home) == {"pg": ("2024-07-01T09:00:00.000000Z", [])}


def test_time_format(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "tickets.csv",
        """
        ticket_id,timestamp,status,customer_id
        uk,01/07/2024 10:30,opened,c1
        iso,2024-07-01T10:30:00Z,opened,c1
        nonsense,31/31/2024 10:30,opened,c1
        """,
    )
    unparsed = do_import(home, "tickets", path, source="no-format")
    assert (unparsed["imported"], unparsed["quarantined"]) == (1, 2)
    assert "--time-format" in quarantine(home)[0]["reason"], "the reason says how to fix it"

    parsed = do_import(
        home, "tickets", path, "--time-format", "%d/%m/%Y %H:%M", "--timezone", "Europe/London"
    )
    assert (parsed["imported"], parsed["quarantined"]) == (2, 1)
    stamped = {e["properties"]["ticket_id"]: e["timestamp"] for e in stored(home) if e["source"] == "src"}
    assert stamped == {"uk": "2024-07-01T09:30:00.000000Z", "iso": "2024-07-01T10:30:00.000000Z"}


def test_channel_option_and_column(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.csv",
        """
        event,timestamp,user_id,channel
        Signed Up,2024-05-01T10:00:00Z,u1,
        Signed Up,2024-05-01T10:00:00Z,u2,web
        Signed Up,2024-05-01T10:00:00Z,u3,carrier pigeon
        """,
    )
    result = do_import(home, "events", path)
    assert (result["imported"], result["quarantined"]) == (2, 1)
    assert {e["userId"]: e["channel"] for e in stored(home)} == {"u1": "other", "u2": "web"}
    assert "carrier pigeon" in quarantine(home)[0]["reason"]

    surveys = write(
        tmp_path / "s.csv", "response_id,timestamp,customer_id,nps\nR1,2024-05-01T10:00:00Z,c1,9\n"
    )
    do_import(home, "surveys", surveys, "--channel", "app")
    assert [e["channel"] for e in stored(home) if e.get("event") == "Survey Responded"] == ["app"]
    assert "--channel" in import_error(home, "surveys", surveys, "--channel", "fax")


def test_a_source_is_its_own_namespace(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "online_retail.csv", RETAIL)
    first = do_import(home, "transactions", path, *FULL_MAP, source="shop-a")
    other = do_import(home, "transactions", path, *FULL_MAP, source="shop-b")
    assert counts(other) == counts(first) == expect(imported=2, quarantined=0, rows=3)
    events = stored(home)
    assert sorted(e["source"] for e in events) == ["shop-a", "shop-a", "shop-b", "shop-b"]
    assert len({e["messageId"] for e in events}) == 4


def test_the_same_file_never_lands_twice_even_after_the_dedup_window(home: Home, tmp_path: Path) -> None:
    orders = write(tmp_path / "online_retail.csv", RETAIL)
    tickets = write(tmp_path / "tickets.csv", TIMES)
    first_orders = do_import(home, "transactions", orders, *FULL_MAP, source="shop")
    first_tickets = do_import(home, "tickets", tickets, source="desk")
    before = snapshot(home)
    # The collector forgets message ids after its window (7 days by default); imports must not.
    with open_store(home.path / "store.duckdb") as db:
        db.execute("DELETE FROM message_ids")
    again_orders = do_import(home, "transactions", orders, *FULL_MAP, source="shop")
    again_tickets = do_import(home, "tickets", tickets, source="desk")
    assert counts(again_orders) == expect(0, 0, 3, duplicates=first_orders["imported"])
    assert counts(again_tickets) == expect(0, 0, 6, duplicates=first_tickets["imported"])
    assert snapshot(home) == before


def test_rows_with_their_own_message_ids_under_another_source(home: Home, tmp_path: Path) -> None:
    """An events file that carries message_id: whether a second source stores the rows again must not
    depend on whether the dedup window was pruned in between (and one messageId must not end up stored
    twice just because a week passed)."""
    path = write(
        tmp_path / "events.csv", "event,timestamp,user_id,message_id\nViewed,2024-05-01T10:00:00Z,u1,m-1\n"
    )
    do_import(home, "events", path, source="a")
    within_window = counts(do_import(home, "events", path, source="b"))
    with open_store(home.path / "store.duckdb") as db:
        db.execute("DELETE FROM message_ids")
    after_window = counts(do_import(home, "events", path, source="c"))
    assert after_window == within_window, "a week later the same rows land again"
