"""Till receipts and online orders: the lines of an order become one event, an order with a bad line is held
whole, and fixing the line in the file lands the order and releases its quarantine items."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Home
from tests.sources.helpers import (
    assert_names,
    assert_reimport_changes_nothing,
    by_property,
    counts,
    do_import,
    expect,
    held_reasons,
    products,
    quarantine,
    stored,
    write,
)

RECEIPTS = """
    order_id,timestamp,sku,quantity,unit_price,customer_id,email,product_name,currency,store_id
    1001,2024-05-01T10:00:00Z,A,2,"1,234.50",c1,,Widget,GBP,S1
    1001,2024-05-01T10:05:00Z,B,1,3.25,c1,,Gadget,GBP,S1
    1002,2024-05-01T11:00:00Z,C,{bad_quantity},2.00,c2,,,GBP,S1
    1002,2024-05-01T11:00:00Z,D,1,2.00,c2,,,GBP,S1
    1003,2024-05-02T09:00:00Z,E,1,5.00,,,,GBP,S2
    1004,2024-05-03T09:00:00Z,F,-1,5.00,c4,,,GBP,S1
    1004,2024-05-03T09:00:00Z,G,-2,1.00,c4,,,GBP,S1
    1005,2024-05-04T09:00:00Z,H,3,0.99,,Zoe@Example.com,,GBP,S1
"""


def test_the_lines_of_an_order_become_one_event(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "tills.csv", RECEIPTS.format(bad_quantity="x"))
    first = do_import(home, "transactions", path, source="tills")
    assert counts(first) == expect(imported=4, quarantined=2, rows=8)

    orders = by_property(stored(home), "order_id")
    assert set(orders) == {"1001", "1003", "1004", "1005"}, "order 1002 has a bad line: held whole"

    big = orders["1001"]
    assert (big["event"], big["channel"], big["userId"]) == ("Order Completed", "pos", "c1")
    assert big["timestamp"] == "2024-05-01T10:00:00.000000Z", "the order's time is its first line's"
    assert big["properties"]["revenue"] == big["properties"]["total"] == 2472.25, "2 x 1,234.50 + 3.25"
    assert (big["properties"]["currency"], big["properties"]["store_id"]) == ("GBP", "S1")
    assert products(big) == [
        {"product_id": "A", "sku": "A", "name": "Widget", "quantity": 2, "price": 1234.5},
        {"product_id": "B", "sku": "B", "name": "Gadget", "quantity": 1, "price": 3.25},
    ]
    assert big["context"]["traits"] == {"customer_id": "c1"}

    anonymous = orders["1003"]
    assert anonymous.get("userId") is None and anonymous["anonymousId"], "an anonymous sale is kept"
    assert anonymous["properties"]["revenue"] == 5.0

    refund = orders["1004"]
    assert refund["event"] == "Order Refunded", "every quantity negative"
    assert refund["properties"]["revenue"] == -7.0

    by_email = orders["1005"]
    assert (by_email.get("userId"), by_email["anonymousId"]) == (None, "email:zoe@example.com")
    assert by_email["properties"]["revenue"] == 2.97

    reasons = held_reasons(home)
    assert set(reasons) == {"tills.csv row 3", "tills.csv row 4"}
    assert_names(reasons["tills.csv row 3"], "quantity", "'x'")
    held_line = reasons["tills.csv row 4"]
    assert "1002" in held_line and "row 3" in held_line, "the good line names the order and the bad row"

    assert_reimport_changes_nothing(home, "transactions", path, first, source="tills")


def test_an_anonymous_sale_keeps_the_same_anonymous_id_on_every_import(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "tills.csv", RECEIPTS.format(bad_quantity="1"))
    do_import(home, "transactions", path, source="tills")
    [anonymous] = [e for e in stored(home) if e["properties"]["order_id"] == "1003"]
    other_home = tmp_path / "other"
    from tests.conftest import make_home

    again = make_home(other_home)
    do_import(again, "transactions", path, source="tills")
    [same] = [e for e in stored(again) if e["properties"]["order_id"] == "1003"]
    assert (same["messageId"], same["anonymousId"]) == (anonymous["messageId"], anonymous["anonymousId"])


def test_fixing_the_bad_line_lands_the_order_and_releases_its_items(home: Home, tmp_path: Path) -> None:
    bad = write(tmp_path / "export" / "tills.csv", RECEIPTS.format(bad_quantity="x"))
    first = do_import(home, "transactions", bad, source="tills")
    assert first["quarantined"] == 2
    held = {i["origin"]: i["quarantine_id"] for i in quarantine(home)}

    fixed = write(tmp_path / "fixed" / "tills.csv", RECEIPTS.format(bad_quantity="3"))
    again = do_import(home, "transactions", fixed, source="tills")
    assert counts(again) == expect(imported=1, quarantined=0, rows=8, duplicates=4, released=2)

    order = by_property(stored(home), "order_id")["1002"]
    assert order["event"] == "Order Completed"
    assert order["properties"]["revenue"] == 8.0, "3 x 2.00 + 1 x 2.00"
    assert [p["sku"] for p in products(order)] == ["C", "D"]

    assert quarantine(home) == [], "nothing is held any more"
    statuses = {i["quarantine_id"]: i["status"] for i in quarantine(home, everything=True)}
    assert {statuses[held["tills.csv row 3"]], statuses[held["tills.csv row 4"]]} <= {"replayed", "released"}

    # And the fixed file once more: nothing new.
    assert counts(do_import(home, "transactions", fixed, source="tills")) == expect(0, 0, 8, duplicates=5)


def test_mixed_signs_are_a_completed_order_with_the_net_revenue(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "tills.csv",
        """
        order_id,timestamp,sku,quantity,unit_price,customer_id
        9,2024-05-01T10:00:00Z,A,2,10,c1
        9,2024-05-01T10:00:00Z,B,-1,4,c1
        """,
    )
    do_import(home, "transactions", path)
    [order] = stored(home)
    assert (order["event"], order["properties"]["revenue"]) == ("Order Completed", 16.0)


def test_prices_with_thousands_separators_and_currency_signs(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "tills.csv",
        """
        order_id,timestamp,sku,quantity,unit_price,customer_id
        1,2024-05-01T10:00:00Z,A,1,"1,234.50",c1
        2,2024-05-01T10:00:00Z,A,"1,000",£2.5,c1
        3,2024-05-01T10:00:00Z,A,1,"1,2345",c1
        """,
    )
    result = do_import(home, "transactions", path)
    assert counts(result) == expect(imported=2, quarantined=1, rows=3)
    revenue = {o: e["properties"]["revenue"] for o, e in by_property(stored(home), "order_id").items()}
    assert revenue == {"1": 1234.5, "2": 2500.0}
    assert_names(held_reasons(home)["tills.csv row 3"], "unit_price", "'1,2345'")
