"""Value segments: classic RFM scores and named segments, and big, loyal and future spenders.

RFM from transactions (one row per purchase: customer, date, amount), as of a reference date (default:
the day after the last transaction):

- ``recency_days``: days from the customer's last purchase date to the reference date (at least 1 with the
  default reference date);
- ``frequency``: distinct purchase days, or distinct invoices when ``invoice_col`` is given (several
  invoices on one day then count apart);
- ``monetary``: total spend (rounded to 6 decimals, so equal totals tie whatever the order of summing).

Scores 1-5 (5 best: most recent, most frequent, highest spend) are quintiles: DuckDB's ``NTILE(5)`` over
the customers ordered by the measure, best last, ties broken by customer id so the order is total. Tied
customers then take the lowest NTILE of their tie group, so two customers with the same measure always
have the same score and no customer's score depends on its id. With many ties (most customers buy once) a
score's group is therefore not exactly a fifth, and a score may be absent.

Named segments from the R and F scores, by the widely used R-F grid (10 names) folded into eight:
'about to sleep' (R3 F1-2) joins Hibernating, 'need attention' (R3 F3) joins Potential loyalists,
'promising' (R4 F1) joins New, and the grid's hibernating block (R1-2 F1-2) is split into Lost (R1) and
Hibernating (R2). ``SEGMENT_GRID`` maps each of the 25 score pairs to exactly one name::

    R \\ F  1            2                    3                    4          5
    5      New          Potential loyalists  Potential loyalists  Champions  Champions
    4      New          Potential loyalists  Potential loyalists  Loyal      Loyal
    3      Hibernating  Hibernating          Potential loyalists  Loyal      Loyal
    2      Hibernating  Hibernating          At risk              At risk    Cannot lose
    1      Lost         Lost                 At risk              At risk    Cannot lose
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from typing import Any, TypeAlias

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from touchpoints.predictive import common
from touchpoints.predictive.common import PredictiveError

TableLike: TypeAlias = str | os.PathLike[str] | pa.Table | pd.DataFrame

SEGMENTS: tuple[str, ...] = (
    "Champions", "Loyal", "Potential loyalists", "New", "At risk", "Cannot lose", "Hibernating", "Lost",
)  # fmt: skip
_ROWS = {  # R score -> segment for F = 1..5
    5: ("New", "Potential loyalists", "Potential loyalists", "Champions", "Champions"),
    4: ("New", "Potential loyalists", "Potential loyalists", "Loyal", "Loyal"),
    3: ("Hibernating", "Hibernating", "Potential loyalists", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At risk", "At risk", "Cannot lose"),
    1: ("Lost", "Lost", "At risk", "At risk", "Cannot lose"),
}
SEGMENT_GRID: dict[tuple[int, int], str] = {
    (r, f): name for r, names in _ROWS.items() for f, name in enumerate(names, start=1)
}

BIG_SPENDER_SHARE = 0.2
FUTURE_SPENDER_SHARE = 0.2


class SegmentInputError(PredictiveError):
    """The segment input is wrong; the message names the input and says what to give instead."""


def read_table(source: TableLike, what: str = "transactions") -> pd.DataFrame:
    """``common.read_table``, raising ``SegmentInputError``."""
    frame: pd.DataFrame = common.read_table(source, what, SegmentInputError)
    return frame


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    common.require_columns(frame, columns, what, SegmentInputError, " (name yours with the *_col arguments)")


def rfm_scores(
    transactions: TableLike,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
    invoice_col: str | None = None,
    as_of: str | date | None = None,
) -> pd.DataFrame:
    """One row per customer (ordered by id): ``customer_id``, ``recency_days``, ``frequency``,
    ``monetary``, ``r_score``, ``f_score``, ``m_score`` (1-5), ``rfm`` (e.g. ``"545"``) and ``segment``.

    Transactions after ``as_of`` are left out; ``as_of`` defaults to the day after the last one."""
    frame = read_table(transactions)
    columns = [customer_col, date_col, amount_col, *([invoice_col] if invoice_col else [])]
    require_columns(frame, columns, "transactions")
    dates = pd.to_datetime(frame[date_col], errors="coerce", format="ISO8601")
    amounts = pd.to_numeric(frame[amount_col], errors="coerce")
    bad = dates.isna() | amounts.isna() | frame[customer_col].isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SegmentInputError(
            f"transactions row {row}: needs a {customer_col!r}, a date in {date_col!r} and a number in "
            f"{amount_col!r}; got {frame.iloc[row][columns].to_dict()}; drop or fix such rows"
        )
    if len(frame) == 0:
        raise SegmentInputError("transactions: the table is empty; RFM needs at least one purchase")
    purchases = pd.DataFrame(
        {
            "customer_id": frame[customer_col].astype(str),
            "day": dates.dt.date,
            "amount": amounts.astype(float),
            "visit": frame[invoice_col].astype(str) if invoice_col else dates.dt.date.astype(str),
        }
    )
    con = duckdb.connect()
    con.register("purchases", purchases)
    reference = None if as_of is None else pd.Timestamp(as_of).date()
    scores = con.execute(
        """
        with ref as (select coalesce($as_of::date, max(day) + 1) as as_of from purchases),
        kept as (select p.* from purchases p, ref where p.day <= ref.as_of),
        rfm as (
            select customer_id, datediff('day', max(day), (select as_of from ref)) as recency_days,
                   count(distinct visit) as frequency,
                   round(sum(amount), 6) as monetary  -- equal totals tie whatever the summing order
            from kept group by customer_id
        ),
        tiles as (  -- a total order: best last, ties by customer id
            select *, ntile(5) over (order by recency_days desc, customer_id) as r_tile,
                      ntile(5) over (order by frequency, customer_id) as f_tile,
                      ntile(5) over (order by monetary, customer_id) as m_tile
            from rfm
        )
        select customer_id, recency_days, frequency, monetary,  -- a tie group takes its lowest tile
               min(r_tile) over (partition by recency_days) as r_score,
               min(f_tile) over (partition by frequency) as f_score,
               min(m_tile) over (partition by monetary) as m_score
        from tiles
        """,
        {"as_of": reference},
    ).df()
    con.close()
    if scores.empty:
        raise SegmentInputError(f"transactions: none on or before as_of {as_of}; give a later date")
    scores = scores.sort_values("customer_id", kind="stable").reset_index(drop=True)
    for col in ("recency_days", "frequency", "r_score", "f_score", "m_score"):
        scores[col] = scores[col].astype(np.int64)
    scores["rfm"] = (
        scores["r_score"].astype(str) + scores["f_score"].astype(str) + scores["m_score"].astype(str)
    )
    scores["segment"] = segment_of(scores["r_score"], scores["f_score"])
    return scores


def segment_of(r_score: pd.Series, f_score: pd.Series) -> pd.Series:
    """The named segment of each (R, F) score pair, by ``SEGMENT_GRID``."""
    grid = np.array([[SEGMENT_GRID[(r, f)] for f in range(1, 6)] for r in range(1, 6)], dtype=object)
    r, f = r_score.to_numpy(dtype=np.int64), f_score.to_numpy(dtype=np.int64)
    if ((r < 1) | (r > 5) | (f < 1) | (f > 5)).any():
        raise SegmentInputError("R and F scores must be between 1 and 5")
    return pd.Series(grid[r - 1, f - 1], index=r_score.index, name="segment")


def spender_segments(
    rfm: pd.DataFrame,
    clv: TableLike | None = None,
    *,
    clv_customer_col: str = "customer_id",
    clv_col: str = "clv",
    big_share: float = BIG_SPENDER_SHARE,
    future_share: float = FUTURE_SPENDER_SHARE,
) -> pd.DataFrame:
    """Big, loyal and future spenders among the customers of ``rfm`` (the output of ``rfm_scores``).

    - ``big_spender``: among the top ``big_share`` (20%) by total spend: the customers whose share of
      customers spending at least as much (``cume_dist`` by spend, descending) is at most 20%, so a tie
      group at the boundary is left out whole;
    - ``loyal_spender``: frequent and recent: F score 4 or 5 and R score 4 or 5;
    - ``future_spender``: predicted value (``clv_col`` of ``clv``, e.g. the CLV model's) among the top
      ``future_share`` (20%, the same ``cume_dist`` rule) of the customers with a prediction, and spend so
      far at or below the median: worth more tomorrow than today. False for everyone without ``clv``.

    A customer may be in several. One row per customer of ``rfm``: ``customer_id``, the three flags and
    ``clv`` (NaN without a prediction)."""
    require_columns(rfm, ["customer_id", "monetary", "r_score", "f_score"], "RFM table")
    for name, share in (("big_share", big_share), ("future_share", future_share)):
        if not 0 < share < 1:
            raise SegmentInputError(f"{name} {share}: give a share between 0 and 1, e.g. 0.2")
    base = rfm[["customer_id", "monetary", "r_score", "f_score"]].copy()
    base["customer_id"] = base["customer_id"].astype(str)
    if clv is None:
        values = pd.DataFrame({"customer_id": pd.Series([], dtype=str), "clv": pd.Series([], dtype=float)})
    else:
        given = read_table(clv, "CLV table")
        require_columns(given, [clv_customer_col, clv_col], "CLV table")
        values = pd.DataFrame(
            {
                "customer_id": given[clv_customer_col].astype(str),
                "clv": pd.to_numeric(given[clv_col], errors="coerce"),
            }
        )
        if values["customer_id"].duplicated().any():
            dup = values.loc[values["customer_id"].duplicated(), "customer_id"].iloc[0]
            raise SegmentInputError(
                f"CLV table: customer {dup!r} appears more than once; give one row per customer"
            )
    con = duckdb.connect()
    con.register("rfm", base)
    con.register("clv", values)
    out: pd.DataFrame = con.execute(
        """
        with joined as (
            select r.*, c.clv from rfm r left join clv c using (customer_id)
        ),
        ranked as (
            select *, cume_dist() over (order by monetary desc) as spend_share,
                   case when clv is not null then cume_dist() over (
                       partition by clv is not null order by clv desc) end as clv_share,
                   median(monetary) over () as median_spend
            from joined
        )
        select customer_id,
               spend_share <= $big as big_spender,
               f_score >= 4 and r_score >= 4 as loyal_spender,
               coalesce(clv_share <= $future and monetary <= median_spend, false) as future_spender,
               clv
        from ranked order by customer_id
        """,
        {"big": big_share, "future": future_share},
    ).df()
    con.close()
    out["clv"] = out["clv"].astype(float)
    return out


def segment_counts(rfm: pd.DataFrame) -> dict[str, Any]:
    """Customers per named segment, every one of the eight listed (zero when empty), in ``SEGMENTS`` order."""
    counts = rfm["segment"].value_counts()
    return {name: int(counts.get(name, 0)) for name in SEGMENTS}
