"""The RFM summary the customer-value models are fitted on, computed in DuckDB from transactions.

For each customer, in the sense of Fader, Hardie & Lee (2005) and of lifetimes'
``summary_data_from_transaction_data`` / ``calibration_and_holdout_data`` with ``freq="D"``:

- ``frequency``: the number of repeat purchase days in the calibration period (purchases on the same day
  are one transaction, their amounts summed);
- ``recency``: the time from the first purchase to the last repeat purchase (0 when there was none);
- ``T``: the time from the first purchase to the end of calibration;
- ``monetary_value``: the mean amount of the repeat transactions in calibration (0 when there was none:
  the first purchase is left out, like lifetimes' and Hardie's ``zbar``).

When ``calibration_end`` is before ``observation_end`` three holdout columns follow: ``frequency_holdout``
(transactions in (calibration_end, observation_end]), ``duration_holdout`` (the holdout's length) and
``monetary_holdout`` (their mean amount, 0 when none). Times are whole days, or days / 7 in weeks; nothing
is rounded (published summaries round weeks to 2 decimals). Customers whose first purchase is after
``calibration_end`` are left out, and so are transactions after ``observation_end``.

``summarise_transactions`` returns a ``pyarrow.Table`` ordered by ``customer_id``.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from touchpoints.predictive.common import PredictiveError

# A CSV or Parquet path, a pyarrow Table or a pandas DataFrame.
Transactions: TypeAlias = str | Path | Any

TIME_UNITS = {"days": 1.0, "weeks": 7.0}


def summarise_transactions(
    transactions: Transactions,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    calibration_end: date | datetime | str | None = None,
    observation_end: date | datetime | str | None = None,
    time_unit: str = "weeks",
    date_format: str | None = None,
) -> pa.Table:
    """Returns the RFM summary (see the module docstring) of ``transactions``: a CSV or Parquet file path,
    a ``pyarrow.Table`` or a pandas ``DataFrame``, one row per transaction.

    ``date_col`` holds dates or timestamps (only the day counts), ISO strings, or strings / integers in
    ``date_format`` (a strptime format such as ``"%Y%m%d"``, the default for integer columns).
    ``calibration_end`` is inclusive and defaults to ``observation_end``, which defaults to the last
    transaction's date. Raises ``PredictiveError`` for a missing column, an unparseable date, a missing
    customer, a negative or missing amount, or no transactions."""
    if time_unit not in TIME_UNITS:
        raise PredictiveError(f'time_unit "{time_unit}" is not one of {sorted(TIME_UNITS)}')
    con = _load(transactions, customer_col, date_col, amount_col, date_format)
    try:
        obs_end = _day(observation_end, "observation_end") if observation_end is not None else None
        if obs_end is None:
            obs_end = con.execute("SELECT max(d) FROM tx").fetchall()[0][0]
        cal_end = _day(calibration_end, "calibration_end") if calibration_end is not None else obs_end
        if cal_end > obs_end:
            raise PredictiveError(
                f"calibration_end {cal_end} is after observation_end {obs_end}: end calibration earlier"
            )
        return _summary(con, cal_end, obs_end, TIME_UNITS[time_unit], amount_col is not None, transactions)
    finally:
        con.close()


def daily_transactions(
    transactions: Transactions,
    *,
    customer_col: str,
    date_col: str,
    start: date | datetime | str,
    date_format: str | None = None,
) -> npt.NDArray[np.int64]:
    """Days from ``start`` of every repeat transaction (one per customer and day, each customer's first
    purchase day left out): the data of the cumulative repeat-purchase curve."""
    con = _load(transactions, customer_col, date_col, None, date_format)
    try:
        sql = """
            WITH days AS (SELECT DISTINCT customer_id, d FROM tx),
            ranked AS (
                SELECT d, row_number() OVER (PARTITION BY customer_id ORDER BY d) AS n FROM days
            )
            SELECT date_diff('day', $start, d) AS day_offset FROM ranked WHERE n > 1 ORDER BY day_offset
        """
        table = con.sql(sql, params={"start": _day(start, "start")}).to_arrow_table()
        return np.asarray(table.column("day_offset").to_numpy(), dtype=np.int64)
    finally:
        con.close()


def _load(
    transactions: Transactions,
    customer_col: str,
    date_col: str,
    amount_col: str | None,
    date_format: str | None,
) -> duckdb.DuckDBPyConnection:
    """A new connection with the checked transactions as ``tx(customer_id, d, amount, ...)``."""
    con = duckdb.connect()
    try:
        name = _register(con, transactions)
        columns = _columns(con, name)
        wanted = [customer_col, date_col] + ([amount_col] if amount_col else [])
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise PredictiveError(
                f"transactions ({_describe(transactions)}): no column {', '.join(map(repr, missing))}; "
                f"the columns are {', '.join(map(repr, columns))}: name the right ones with "
                "customer_col / date_col / amount_col"
            )
        _prepare(con, name, transactions, columns, customer_col, date_col, amount_col, date_format)
    except BaseException:
        con.close()
        raise
    return con


def _register(con: duckdb.DuckDBPyConnection, transactions: Transactions) -> str:
    if isinstance(transactions, str | Path):
        path = Path(transactions)
        if not path.is_file():
            raise PredictiveError(f"transactions file {path} does not exist: give a CSV or Parquet file")
        parquet = path.suffix.lower() in {".parquet", ".pq"}
        reader = "read_parquet" if parquet else "read_csv"
        try:
            relation = con.read_parquet(str(path)) if parquet else con.read_csv(str(path))
            relation.create_view("raw_tx")
        except duckdb.Error as exc:
            raise PredictiveError(f"transactions file {path} could not be read as {reader}: {exc}") from exc
        return "raw_tx"
    if isinstance(transactions, pa.Table) or type(transactions).__name__ == "DataFrame":
        con.register("raw_tx", transactions)
        return "raw_tx"
    raise PredictiveError(
        f"transactions is a {type(transactions).__name__}: give a CSV or Parquet path, a pyarrow Table "
        "or a pandas DataFrame"
    )


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {name}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _prepare(
    con: duckdb.DuckDBPyConnection,
    name: str,
    transactions: Transactions,
    columns: dict[str, str],
    customer_col: str,
    date_col: str,
    amount_col: str | None,
    date_format: str | None,
) -> None:
    """Creates ``tx(customer_id, d, amount, raw_date)`` and checks it, with the first bad value named."""
    source = _describe(transactions)
    date_type = columns[date_col].upper()
    raw = _quote(date_col)
    if date_format is None and (date_type.startswith("TIMESTAMP") or date_type == "DATE"):
        day = f"CAST({raw} AS DATE)"
    elif date_format is None and date_type in {"VARCHAR", "STRING"}:
        day = f"TRY_CAST(TRY_CAST({raw} AS TIMESTAMP) AS DATE)"
    else:
        day = f"CAST(try_strptime(CAST({raw} AS VARCHAR), $fmt) AS DATE)"
    amount = f"TRY_CAST({_quote(amount_col)} AS DOUBLE)" if amount_col else "CAST(0 AS DOUBLE)"
    sql = (
        f"CREATE TEMP TABLE tx AS SELECT {_quote(customer_col)} AS customer_id, {day} AS d, "
        f"{amount} AS amount, CAST({raw} AS VARCHAR) AS raw_date, "
        f"{('CAST(' + _quote(amount_col) + ' AS VARCHAR)') if amount_col else 'NULL'} AS raw_amount, "
        f"row_number() OVER () AS row_number FROM {name}"
    )
    params = {"fmt": date_format or "%Y%m%d"} if "$fmt" in day else {}
    try:
        con.execute(sql, params)
    except duckdb.Error as exc:
        raise PredictiveError(f"transactions ({source}): could not be read: {exc}") from exc
    n = con.execute("SELECT count(*) FROM tx").fetchall()[0][0]
    if n == 0:
        raise PredictiveError(f"transactions ({source}) has no rows: give at least one transaction")
    checks = [
        (
            "customer_id IS NULL",
            f"no customer in column {customer_col!r}",
            "drop or fill the rows without a customer",
        ),
        (
            "d IS NULL",
            f"date {{value}} in column {date_col!r} could not be parsed"
            + (f" with format {date_format!r}" if date_format else ""),
            "give ISO dates (YYYY-MM-DD) or pass date_format, e.g. '%Y%m%d'",
        ),
    ]
    if amount_col:
        checks += [
            (
                "amount IS NULL OR isnan(amount)",
                f"amount {{value}} in column {amount_col!r} is missing or not a number",
                "fill or drop the rows without an amount",
            ),
            (
                "amount < 0",
                f"amount {{value}} in column {amount_col!r} is negative",
                "remove refunds and returns before the value models (they model purchases)",
            ),
        ]
    for where, what, todo in checks:
        row = con.execute(
            f"SELECT count(*), min(row_number), arg_min(raw_date, row_number), "
            f"arg_min(raw_amount, row_number) FROM tx WHERE {where}"
        ).fetchall()[0]
        assert row is not None
        if row[0]:
            value = repr(row[3] if "amount" in where else row[2])
            raise PredictiveError(
                f"transactions ({source}) row {row[1]}: {what.format(value=value)} "
                f"({row[0]} such rows): {todo}"
            )


def _summary(
    con: duckdb.DuckDBPyConnection,
    cal_end: date,
    obs_end: date,
    unit: float,
    with_amount: bool,
    transactions: Transactions,
) -> pa.Table:
    holdout = cal_end < obs_end
    money = ", monetary_value" if with_amount else ""
    holdout_cols = (
        ", coalesce(h.frequency_holdout, 0) AS frequency_holdout, "
        "date_diff('day', $cal_end, $obs_end) / $unit AS duration_holdout"
        + (", coalesce(h.monetary_holdout, 0.0) AS monetary_holdout" if with_amount else "")
        if holdout
        else ""
    )
    sql = f"""
        WITH days AS (
            SELECT customer_id, d, sum(amount) AS amount FROM tx WHERE d <= $obs_end GROUP BY ALL
        ),
        firsts AS (SELECT customer_id, min(d) AS first_day FROM days GROUP BY ALL),
        cal AS (
            SELECT f.customer_id, f.first_day,
                   count(*) FILTER (WHERE x.d > f.first_day) AS frequency,
                   max(x.d) AS last_day,
                   coalesce(avg(x.amount) FILTER (WHERE x.d > f.first_day), 0.0) AS monetary_value
            FROM firsts f JOIN days x USING (customer_id)
            WHERE f.first_day <= $cal_end AND x.d <= $cal_end
            GROUP BY ALL
        ),
        h AS (
            SELECT customer_id, count(*) AS frequency_holdout, avg(amount) AS monetary_holdout
            FROM days WHERE d > $cal_end GROUP BY ALL
        )
        SELECT c.customer_id,
               CAST(c.frequency AS BIGINT) AS frequency,
               date_diff('day', c.first_day, c.last_day) / $unit AS recency,
               date_diff('day', c.first_day, $cal_end) / $unit AS "T"
               {money} {holdout_cols}
        FROM cal c {"LEFT JOIN h USING (customer_id)" if holdout else ""}
        ORDER BY c.customer_id
    """
    params: dict[str, Any] = {"cal_end": cal_end, "obs_end": obs_end, "unit": unit}
    if not holdout:
        params = {k: v for k, v in params.items() if f"${k}" in sql}
    table = con.sql(sql, params=params).to_arrow_table()
    if table.num_rows == 0:
        raise PredictiveError(
            f"transactions ({_describe(transactions)}): no customer bought on or before calibration_end "
            f"{cal_end}: choose a later calibration_end"
        )
    if holdout:
        table = table.set_column(
            table.schema.get_field_index("frequency_holdout"),
            "frequency_holdout",
            table.column("frequency_holdout").cast(pa.int64()),
        )
    return table


def _day(value: date | datetime | str, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise PredictiveError(f'{what} "{value}" is not an ISO date: give YYYY-MM-DD') from None


def _describe(transactions: Transactions) -> str:
    if isinstance(transactions, str | Path):
        return str(transactions)
    return type(transactions).__name__
