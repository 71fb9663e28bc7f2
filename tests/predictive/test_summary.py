"""The RFM summary, rebuilt from the raw CDNOW transactions, equals the published one."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.predictive import cdnow_data
from touchpoints.predictive.common import PredictiveError
from touchpoints.predictive.summary import summarise_transactions

# The published weeks are rounded to 2 decimals: recency and T equal ours rounded to 2 decimals; zbar is
# compared within 0.005 (plus float slack) since the published rounding of halves such as 22.345 went up.
ROUNDING = 0.005 + 1e-9


def test_cdnow_summary_equals_the_published_one() -> None:
    ours = cdnow_data.summary().to_pandas()
    published = cdnow_data.published_summary()
    assert len(ours) == len(published) == 2357
    assert ours["customer_id"].tolist() == published["ID"].tolist()
    assert ours["frequency"].tolist() == published["frequency"].tolist()
    assert np.array_equal(ours["recency"].round(2), published["recency"])
    assert np.array_equal(ours["T"].round(2), published["T"])
    assert np.all(np.abs(ours["recency"] - published["recency"]) <= ROUNDING)
    # README: 946 customers bought again, 2,457 repeat transactions in calibration
    assert (ours["frequency"] > 0).sum() == 946
    assert ours["frequency"].sum() == 2457


def test_cdnow_monetary_value_is_zbar() -> None:
    ours = cdnow_data.summary().to_pandas()
    published = cdnow_data.published_spend()
    assert ours["frequency"].tolist() == published["x"].tolist()
    assert np.all(np.abs(ours["monetary_value"] - published["zbar"]) <= ROUNDING)
    # customer 1: 29.33 on day one (left out), then 29.73 and 14.96
    assert ours["monetary_value"][0] == pytest.approx((29.73 + 14.96) / 2)


def test_cdnow_holdout() -> None:
    ours = cdnow_data.summary().to_pandas()
    # README: 1,882 repeat transactions in weeks 40-78, a holdout of 39 weeks
    assert ours["frequency_holdout"].sum() == 1882
    assert set(ours["duration_holdout"]) == {39.0}
    # customer 1 bought once in the holdout, 26.48 on 1997-12-12
    assert ours["frequency_holdout"][0] == 1
    assert ours["monetary_holdout"][0] == pytest.approx(26.48)


def test_inputs_as_file_table_and_dataframe_agree(tmp_path: Path) -> None:
    frame = cdnow_data.transactions().assign(
        day=lambda d: pd.to_datetime(d["date"].astype(str), format="%Y%m%d")
    )
    frame = frame[["customer", "day", "dollars"]]
    csv = tmp_path / "tx.csv"
    frame.assign(day=frame["day"].dt.strftime("%Y-%m-%d")).to_csv(csv, index=False)
    parquet = tmp_path / "tx.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet)
    options = {
        "customer_col": "customer",
        "date_col": "day",
        "amount_col": "dollars",
        "calibration_end": date(1997, 9, 30),
        "observation_end": "1998-06-30",
    }
    expected = cdnow_data.summary()
    for source in (csv, str(parquet), pa.Table.from_pandas(frame), frame):
        got = summarise_transactions(source, **options)
        assert got.column_names == expected.column_names
        for name in expected.column_names:
            assert got[name].to_pylist() == pytest.approx(expected[name].to_pylist()), (source, name)


def test_days_without_holdout_and_amount() -> None:
    tx = pd.DataFrame(
        {
            "who": ["a", "a", "a", "b", "c"],
            "when": ["2024-01-01", "2024-01-01T18:00:00", "2024-01-11", "2024-01-05", "2024-02-01"],
        }
    )
    got = summarise_transactions(tx, customer_col="who", date_col="when", time_unit="days").to_pydict()
    # observation and calibration end on the last date; two purchases on 1 January are one
    assert got == {
        "customer_id": ["a", "b", "c"],
        "frequency": [1, 0, 0],
        "recency": [10.0, 0.0, 0.0],
        "T": [31.0, 27.0, 0.0],
    }


def test_customers_first_seen_after_calibration_are_left_out() -> None:
    tx = pd.DataFrame(
        {"c": [1, 1, 2], "d": ["2024-01-01", "2024-03-01", "2024-02-15"], "amount": [10.0, 20.0, 5.0]}
    )
    got = summarise_transactions(
        tx,
        customer_col="c",
        date_col="d",
        amount_col="amount",
        calibration_end="2024-01-31",
        time_unit="days",
    ).to_pydict()
    assert got["customer_id"] == [1]
    assert got["frequency_holdout"] == [1]
    assert got["duration_holdout"] == [30.0]
    assert got["monetary_holdout"] == [20.0]


@pytest.mark.parametrize(
    ("frame", "options", "message"),
    [
        (
            pd.DataFrame({"c": [1], "d": ["2024-01-01"]}),
            {"date_col": "day"},
            "no column 'day'; the columns are 'c', 'd'",
        ),
        (pd.DataFrame({"c": [1, 2], "d": ["2024-01-01", "yesterday"]}), {}, "row 2: date 'yesterday'"),
        (pd.DataFrame({"c": [1], "d": [20241301]}), {}, "date '20241301' in column 'd' could not be parsed"),
        (
            pd.DataFrame({"c": [1, 1], "d": ["2024-01-01", "2024-01-02"], "a": [1.0, -3.0]}),
            {"amount_col": "a"},
            "row 2: amount '-3.0' in column 'a' is negative",
        ),
        (
            pd.DataFrame({"c": [1, 1], "d": ["2024-01-01", "2024-01-02"], "a": [1.0, float("nan")]}),
            {"amount_col": "a"},
            "is missing or not a number",
        ),
        (pd.DataFrame({"c": [None, "x"], "d": ["2024-01-01", "2024-01-02"]}), {}, "row 1: no customer"),
        (pd.DataFrame({"c": pd.Series([], dtype=str), "d": pd.Series([], dtype=str)}), {}, "has no rows"),
        (
            pd.DataFrame({"c": [1], "d": ["2024-01-01"]}),
            {"calibration_end": "2023-12-31"},
            "no customer bought on or before calibration_end 2023-12-31",
        ),
        (
            pd.DataFrame({"c": [1], "d": ["2024-01-01"]}),
            {"calibration_end": "2024-02-01", "observation_end": "2024-01-15"},
            "calibration_end 2024-02-01 is after observation_end 2024-01-15",
        ),
        (pd.DataFrame({"c": [1], "d": ["2024-01-01"]}), {"time_unit": "months"}, 'time_unit "months"'),
        (pd.DataFrame({"c": [1], "d": ["2024-01-01"]}), {"calibration_end": "end"}, 'calibration_end "end"'),
    ],
)
def test_bad_input_is_named(frame: pd.DataFrame, options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"customer_col": "c", "date_col": "d", **options}
    with pytest.raises(PredictiveError, match=None) as error:
        summarise_transactions(frame, **arguments)  # type: ignore[arg-type]
    assert message in str(error.value)
    assert isinstance(error.value, ValueError)


def test_bad_sources_are_named(tmp_path: Path) -> None:
    with pytest.raises(PredictiveError, match="does not exist"):
        summarise_transactions(tmp_path / "nope.csv", customer_col="c", date_col="d")
    with pytest.raises(PredictiveError, match="is a list"):
        summarise_transactions([1, 2], customer_col="c", date_col="d")


def test_the_package_and_the_summary_do_not_load_scipy() -> None:
    code = "import sys, touchpoints.predictive, touchpoints.predictive.summary; print('scipy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
