"""Churn rates: how many customers left, per period and per cohort.

- ``contractual_churn_rates``: from each contract's start and cancellation dates (DuckDB SQL): of the
  customers active at a period's start, the share who cancelled in it; per calendar period or per signup
  cohort and periods since signup.
- ``expected_churn_by_cohort``: non-contractual customers never cancel, so churn is a probability: the
  expected share of a cohort gone for good is the mean of 1 - P(alive) of a repeat-purchase model.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

from touchpoints.predictive import common
from touchpoints.predictive.common import ChurnInputError

# A CSV or Parquet path, a pyarrow Table or a pandas DataFrame (``common.read_table``).
TableLike = Any


def read_table(source: TableLike, what: str) -> pd.DataFrame:
    frame: pd.DataFrame = common.read_table(source, what, ChurnInputError)
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    common.require_columns(frame, columns, what, ChurnInputError)


PERIODS: tuple[str, ...] = ("week", "month")


def _connect(frame: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("customers", frame)
    return con


def contractual_churn_rates(
    table: TableLike,
    *,
    start_col: str = "start",
    end_col: str = "end",
    id_col: str = "customer_id",
    period: Literal["week", "month"] = "month",
    by: Literal["period", "cohort"] = "period",
    as_of: str | date | None = None,
) -> pd.DataFrame:
    """Churn rates of contractual customers from their start and cancellation (end) dates.

    A customer is active from ``start`` until ``end``, the date the cancellation took effect (blank:
    still a customer). Cancellations after ``as_of`` (default: the latest start or end date) count as not
    yet happened. Periods are calendar weeks (from Monday) or months.

    ``by="period"``: one row per period from the first signup's to ``as_of``'s: ``period_start`` (a date),
    ``customers_at_start`` (started before the period and not ended before it), ``churned`` (of those,
    ended within it), ``churn_rate`` = churned / customers_at_start (NaN when none), and
    ``new_customers`` (started within it; not at risk in that period).

    ``by="cohort"``: one row per signup cohort (``cohort``, the date its period starts) and ``offset``
    (periods since signup, up to ``as_of``): ``customers_at_start`` (cohort members not ended before
    that period; at offset 0 the whole cohort), ``churned`` (ended within it) and ``churn_rate``.
    Contracts starting after ``as_of`` are left out."""
    if period not in PERIODS:
        raise ChurnInputError(f"period {period!r}: give week or month")
    if by not in ("period", "cohort"):
        raise ChurnInputError(f"by {by!r}: give period or cohort")
    frame = read_table(table, "contracts table")
    require_columns(frame, [id_col, start_col, end_col], "contracts table")
    contracts = pd.DataFrame(
        {
            "id": frame[id_col],
            "start_date": pd.to_datetime(
                frame[start_col].replace("", None), errors="coerce", format="ISO8601"
            ).dt.date,
            "end_date": pd.to_datetime(
                frame[end_col].replace("", None), errors="coerce", format="ISO8601"
            ).dt.date,
        }
    )
    if contracts["start_date"].isna().any():
        bad = frame.loc[contracts["start_date"].isna(), id_col].iloc[0]
        raise ChurnInputError(
            f"contracts table: customer {bad!r} has no valid {start_col!r} date; every contract needs one"
        )
    bad_end = (
        frame[end_col].notna() & (frame[end_col].astype(str).str.strip() != "") & contracts["end_date"].isna()
    )
    backwards = contracts["end_date"].notna() & (contracts["end_date"] < contracts["start_date"])
    if bad_end.any() or backwards.any():
        bad = frame.loc[bad_end | backwards, id_col].iloc[0]
        raise ChurnInputError(
            f"contracts table: customer {bad!r} has an {end_col!r} that is not a date on or after its {start_col!r}"
        )
    con = _connect(contracts)
    params = {"period": period, "as_of": None if as_of is None else pd.Timestamp(as_of).date()}
    base = f"""
        with c as (select * from customers),
        limits as (
            select coalesce($as_of::date, greatest(max(start_date), coalesce(max(end_date), max(start_date)))) as as_of,
                   date_trunc($period, min(start_date))::date as first_period
            from c
        ),
        k as (  -- ends after as_of have not happened yet
            select id, start_date, case when end_date <= (select as_of from limits) then end_date end as end_date,
                   date_trunc($period, start_date)::date as cohort
            from c where start_date <= (select as_of from limits)
        ),
        periods as (
            select p::date as period_start, (p + interval 1 {period})::date as period_end
            from limits, range(first_period, date_trunc($period, as_of) + interval 1 {period}, interval 1 {period}) t(p)
        )
    """
    if by == "period":
        sql = f"""{base}
        select period_start,
               count(k.id) filter (where k.start_date < period_start and (k.end_date is null or k.end_date >= period_start))
                   as customers_at_start,
               count(k.id) filter (where k.start_date < period_start and k.end_date >= period_start
                   and k.end_date < period_end) as churned,
               count(k.id) filter (where k.start_date >= period_start and k.start_date < period_end) as new_customers
        from periods left join k on k.start_date < period_end
        group by period_start order by period_start
        """
    else:
        sql = f"""{base}
        , offsets as (
            select k.cohort, (datediff($period, k.cohort, p.period_start))::bigint as "offset",
                   p.period_start, p.period_end
            from (select distinct cohort from k) k join periods p on p.period_start >= k.cohort
        )
        select o.cohort, o."offset",
               count(k.id) filter (where k.end_date is null or k.end_date >= o.period_start) as customers_at_start,
               count(k.id) filter (where k.end_date >= o.period_start and k.end_date < o.period_end) as churned
        from offsets o join k on k.cohort = o.cohort
        group by o.cohort, o."offset" order by o.cohort, o."offset"
        """
    out = con.execute(sql, params).df()
    con.close()
    first = "period_start" if by == "period" else "cohort"
    out[first] = pd.to_datetime(out[first]).dt.date
    out["churn_rate"] = out["churned"] / out["customers_at_start"].where(out["customers_at_start"] > 0)
    for col in ("customers_at_start", "churned", *(["new_customers"] if by == "period" else [])):
        out[col] = out[col].astype(np.int64)
    return out


def expected_churn_by_cohort(
    table: TableLike,
    *,
    cohort_col: str = "cohort",
    p_alive_col: str = "p_alive",
    id_col: str = "customer_id",
) -> pd.DataFrame:
    """Expected churned share per cohort of non-contractual customers, from each one's P(alive).

    Nobody cancels in a non-contractual business, so churn is a probability: a customer with P(alive) 0.3
    counts as 0.7 of a churned customer. One row per cohort (e.g. the month of the first purchase):
    ``customers``, ``expected_alive`` (sum of P(alive)), ``expected_churned`` (sum of 1 - P(alive)) and
    ``churned_share`` (their mean, ``expected_churned / customers``)."""
    frame = read_table(table, "P(alive) table")
    require_columns(frame, [id_col, cohort_col, p_alive_col], "P(alive) table")
    p_alive = pd.to_numeric(frame[p_alive_col], errors="coerce")
    if p_alive.isna().any() or ((p_alive < 0) | (p_alive > 1)).any():
        bad = frame.loc[p_alive.isna() | (p_alive < 0) | (p_alive > 1), id_col].iloc[0]
        raise ChurnInputError(
            f"P(alive) table: customer {bad!r} has {p_alive_col!r} outside 0..1 or missing; give probabilities"
        )
    con = _connect(pd.DataFrame({"id": frame[id_col], "cohort": frame[cohort_col], "p_alive": p_alive}))
    result: pd.DataFrame = con.execute(
        """
        select cohort, count(*) as customers, sum(p_alive) as expected_alive,
               sum(1 - p_alive) as expected_churned, avg(1 - p_alive) as churned_share
        from customers group by cohort order by cohort
        """
    ).df()
    con.close()
    return result
