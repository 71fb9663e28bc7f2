"""Cleaning the UCI "Online Retail" table into purchases, with a count of what each rule removed.

The raw table has one row per invoice line: ``InvoiceNo``, ``StockCode``, ``Description``, ``Quantity``,
``InvoiceDate``, ``UnitPrice``, ``CustomerID``, ``Country``. The rules, applied in this order, each
counted on the rows the previous ones kept:

1. ``missing_customer_id``: no ``CustomerID`` (guest checkouts; they cannot be given a customer value);
2. ``cancellations``: ``InvoiceNo`` starting with ``C`` (they reverse earlier invoices);
3. ``non_positive_quantity``: ``Quantity <= 0`` left after that (returns and stock adjustments);
4. ``negative_price``: ``UnitPrice < 0`` (bad-debt adjustments). Lines priced at exactly 0 are kept: they
   are free items on real invoices, and one customer (13256) bought nothing but such a line,
   so dropping them would lose a customer who did buy (4,338 customers instead of the 4,339 quoted);
5. ``duplicate_rows``: exact duplicates of a kept row (every column equal), all copies but one.

What is left becomes one purchase per invoice: ``customer_id`` (the integer id as text), ``invoice_no``,
``date`` (the invoice's first line time) and ``amount`` (sum of ``Quantity * UnitPrice``, rounded to pence).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from touchpoints.predictive.segments import TableLike, read_table, require_columns

RETAIL_COLUMNS: tuple[str, ...] = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country",
)  # fmt: skip


@dataclass(frozen=True)
class RetailCleaning:
    """Clean purchases (one row per invoice) and the report of rows each rule removed."""

    transactions: pd.DataFrame
    report: dict[str, int]


def clean_online_retail(raw: TableLike) -> RetailCleaning:
    """Apply the rules of the module docstring to the raw UCI Online Retail table.

    ``report`` holds ``rows_in``, the rows each rule removed (``missing_customer_id``, ``cancellations``,
    ``non_positive_quantity``, ``negative_price``, ``duplicate_rows``), ``rows_with_customer_and_positive_quantity``
    (the count usually quoted, before duplicates), ``rows_kept``, ``invoices`` and ``customers``."""
    frame = read_table(raw, "Online Retail table")
    require_columns(frame, RETAIL_COLUMNS, "Online Retail table")
    con = duckdb.connect()
    con.register("raw", frame[list(RETAIL_COLUMNS)])
    con.execute(
        """
        create temp table staged as
        select *, CustomerID is null as no_customer,
               CustomerID is not null and starts_with(InvoiceNo, 'C') as cancelled
        from raw
        """
    )
    counts = con.execute(
        """
        select count(*) as rows_in,
               count(*) filter (where no_customer) as missing_customer_id,
               count(*) filter (where cancelled) as cancellations,
               count(*) filter (where not no_customer and not cancelled and Quantity <= 0) as non_positive_quantity,
               count(*) filter (where not no_customer and not cancelled and Quantity > 0 and UnitPrice < 0)
                   as negative_price,
               count(*) filter (where not no_customer and Quantity > 0) as rows_with_customer_and_positive_quantity
        from staged
        """
    ).df()
    con.execute(
        """
        create temp table kept as
        select distinct InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
        from staged
        where not no_customer and not cancelled and Quantity > 0 and UnitPrice >= 0
        """
    )
    transactions = con.execute(
        """
        select cast(cast(CustomerID as bigint) as varchar) as customer_id, InvoiceNo as invoice_no,
               min(InvoiceDate) as date, round(sum(Quantity * UnitPrice), 2) as amount
        from kept group by customer_id, invoice_no order by customer_id, date, invoice_no
        """
    ).df()
    report = {k: int(v) for k, v in counts.iloc[0].items()}
    surviving = (
        report["rows_in"]
        - report["missing_customer_id"]
        - report["cancellations"]
        - report["non_positive_quantity"]
        - report["negative_price"]
    )
    rows_kept = int(con.execute("select count(*) from kept").fetchone()[0])  # type: ignore[index]
    con.close()
    ordered = {
        "rows_in": report["rows_in"],
        "missing_customer_id": report["missing_customer_id"],
        "cancellations": report["cancellations"],
        "non_positive_quantity": report["non_positive_quantity"],
        "negative_price": report["negative_price"],
        "duplicate_rows": surviving - rows_kept,
        "rows_with_customer_and_positive_quantity": report["rows_with_customer_and_positive_quantity"],
        "rows_kept": rows_kept,
        "invoices": len(transactions),
        "customers": int(transactions["customer_id"].nunique()),
    }
    return RetailCleaning(transactions, ordered)
