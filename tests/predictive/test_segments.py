"""RFM scores, named segments and big/loyal/future spenders on small hand-built purchase tables."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from touchpoints.predictive.segments import (
    SEGMENT_GRID,
    SEGMENTS,
    SegmentInputError,
    rfm_scores,
    segment_counts,
    segment_of,
    spender_segments,
)

AS_OF = date(2024, 4, 1)
# customer: (days since the last purchase, distinct purchase days, total spend)
PLAN = {
    "c0": (1, 1, 100), "c1": (2, 10, 200), "c2": (3, 9, 300), "c3": (4, 2, 400), "c4": (5, 5, 500),
    "c5": (6, 6, 600), "c6": (7, 8, 700), "c7": (8, 3, 800), "c8": (9, 7, 900), "c9": (10, 4, 1000),
}  # fmt: skip


def _purchases(plan: dict[str, tuple[int, int, int]]) -> pd.DataFrame:
    """Each customer's purchases: the last ``recency`` days before AS_OF, then every 20 days before it."""
    rows = [
        (cid, AS_OF - timedelta(days=recency + 20 * k), spend / days)
        for cid, (recency, days, spend) in plan.items()
        for k in range(days)
    ]
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"])


def test_rfm_measures_and_quintile_scores() -> None:
    rfm = rfm_scores(_purchases(PLAN), as_of=AS_OF)
    assert rfm["customer_id"].tolist() == list(PLAN)
    assert rfm["recency_days"].tolist() == [p[0] for p in PLAN.values()]
    assert rfm["frequency"].tolist() == [p[1] for p in PLAN.values()]
    assert rfm["monetary"].tolist() == pytest.approx([p[2] for p in PLAN.values()])
    # ten customers, no ties: two per quintile; 5 = most recent, most frequent, biggest spend
    assert rfm["r_score"].tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert rfm["f_score"].tolist() == [1, 5, 5, 1, 3, 3, 4, 2, 4, 2]
    assert rfm["m_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert rfm["rfm"].tolist()[:3] == ["511", "551", "452"]
    assert rfm["segment"].tolist() == [
        "New", "Champions", "Loyal", "New", "Potential loyalists",
        "Potential loyalists", "At risk", "Hibernating", "At risk", "Lost",
    ]  # fmt: skip


def test_ties_share_the_lowest_score_of_their_group() -> None:
    purchases = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "c", "c", "d", "e"],
            "date": ["2024-01-01", "2024-01-20", "2024-01-10", "2024-01-05", "2024-01-05", "2024-01-30", "2023-12-01", "2024-01-30"],
            "amount": [10, 20, 5, 1, 2, 3, 100, 7],
        }
    )  # fmt: skip
    rfm = rfm_scores(pa.Table.from_pandas(purchases))  # as_of: the day after the last purchase, 31 Jan
    assert rfm["recency_days"].tolist() == [11, 21, 1, 61, 1]
    assert rfm["frequency"].tolist() == [2, 1, 2, 1, 1]  # c bought twice on 5 January: one day
    # c and e bought on the same day: both R 4 (not 4 and 5); b, d and e bought once: all F 1
    assert rfm["r_score"].tolist() == [3, 2, 4, 1, 4]
    assert rfm["f_score"].tolist() == [4, 1, 4, 1, 1]
    assert rfm["segment"].tolist() == ["Loyal", "Hibernating", "Loyal", "Lost", "New"]
    # the scores do not depend on the order of the rows
    shuffled = rfm_scores(purchases.sample(frac=1, random_state=7))
    pd.testing.assert_frame_equal(shuffled, rfm)


def test_frequency_counts_invoices_when_given() -> None:
    purchases = pd.DataFrame(
        {"customer_id": ["a", "a", "b"], "date": ["2024-01-01", "2024-01-01", "2024-01-02"], "amount": [1, 2, 3], "invoice": ["i1", "i2", "i3"]}
    )  # fmt: skip
    assert rfm_scores(purchases)["frequency"].tolist() == [1, 1]
    assert rfm_scores(purchases, invoice_col="invoice")["frequency"].tolist() == [2, 1]


def test_as_of_leaves_out_later_purchases() -> None:
    rfm = rfm_scores(_purchases(PLAN), as_of=AS_OF - timedelta(days=5)).set_index("customer_id")
    assert "c0" not in rfm.index  # its only purchase is after the date
    assert rfm.loc["c1", ["recency_days", "frequency"]].tolist() == [17, 9]  # its next-to-last purchase
    assert rfm.loc["c5", "recency_days"] == 1


def test_every_score_pair_is_in_exactly_one_of_the_eight_segments() -> None:
    pairs = [(r, f) for r in range(1, 6) for f in range(1, 6)]
    assert sorted(SEGMENT_GRID) == pairs
    assert set(SEGMENT_GRID.values()) == set(SEGMENTS) and len(SEGMENTS) == 8
    assert SEGMENT_GRID[(5, 5)] == "Champions" and SEGMENT_GRID[(1, 1)] == "Lost"
    assert SEGMENT_GRID[(1, 5)] == "Cannot lose" and SEGMENT_GRID[(5, 1)] == "New"
    r = pd.Series([p[0] for p in pairs])
    f = pd.Series([p[1] for p in pairs])
    assert segment_of(r, f).tolist() == [SEGMENT_GRID[p] for p in pairs]
    with pytest.raises(SegmentInputError, match="between 1 and 5"):
        segment_of(pd.Series([0]), pd.Series([3]))


def test_segment_counts_list_all_eight() -> None:
    counts = segment_counts(rfm_scores(_purchases(PLAN), as_of=AS_OF))
    assert list(counts) == list(SEGMENTS)
    assert counts == {"Champions": 1, "Loyal": 1, "Potential loyalists": 2, "New": 2, "At risk": 2,
                      "Cannot lose": 0, "Hibernating": 1, "Lost": 1}  # fmt: skip


def test_big_loyal_and_future_spenders() -> None:
    rfm = rfm_scores(_purchases(PLAN), as_of=AS_OF)
    predicted = {"c0": 5000.0, "c9": 4000.0} | {f"c{i}": 10.0 * i for i in range(1, 9)}
    clv = pd.DataFrame({"id": list(predicted), "predicted": list(predicted.values())})
    out = spender_segments(rfm, clv, clv_customer_col="id", clv_col="predicted").set_index("customer_id")
    assert out.index[out["big_spender"]].tolist() == ["c8", "c9"]  # top 20% by spend
    assert out.index[out["loyal_spender"]].tolist() == ["c1", "c2"]  # F and R scores 4 or 5
    # c0 and c9 have the top 20% predicted value, but c9 already spends the most: c0 is the future spender
    assert out.index[out["future_spender"]].tolist() == ["c0"]
    assert out.loc["c9", ["big_spender", "future_spender"]].tolist() == [True, False]
    assert out["clv"].tolist() == [predicted[c] for c in out.index]
    partial = spender_segments(rfm, clv[clv["id"] != "c0"], clv_customer_col="id", clv_col="predicted")
    assert partial["clv"].isna().tolist() == [True] + [False] * 9 and not partial["future_spender"].any()
    without = spender_segments(rfm)
    assert not without["future_spender"].any() and without["big_spender"].sum() == 2


def test_bad_input_errors_name_the_input_and_what_to_do() -> None:
    purchases = _purchases(PLAN)
    with pytest.raises(
        SegmentInputError,
        match=r"transactions: no column 'amount'; the columns are: customer_id, date, total",
    ):
        rfm_scores(purchases.rename(columns={"amount": "total"}))
    bad = purchases.assign(date=["not a date", *purchases["date"][1:]])
    with pytest.raises(
        SegmentInputError, match=r"transactions row 0: needs a 'customer_id', a date in 'date'"
    ):
        rfm_scores(bad)
    with pytest.raises(SegmentInputError, match=r"none on or before as_of"):
        rfm_scores(purchases, as_of="2000-01-01")
    rfm = rfm_scores(purchases, as_of=AS_OF)
    with pytest.raises(SegmentInputError, match=r"CLV table: no column 'clv'"):
        spender_segments(rfm, pd.DataFrame({"customer_id": ["c0"], "value": [1.0]}))
    with pytest.raises(SegmentInputError, match=r"big_share 20: give a share between 0 and 1"):
        spender_segments(rfm, big_share=20)
