"""Churn rates on hand-built contracts and P(alive) values, worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from touchpoints.predictive.churn import ChurnInputError
from touchpoints.predictive.churn_rates import contractual_churn_rates, expected_churn_by_cohort

CONTRACTS = pd.DataFrame(
    {
        "customer_id": ["A", "B", "C", "D", "E"],
        "start": ["2024-01-10", "2024-01-15", "2024-02-01", "2024-02-10", "2024-03-01"],
        "end": [None, "2024-02-20", "2024-03-05", "2024-02-25", ""],
    }
)


def test_contractual_churn_per_month() -> None:
    rates = contractual_churn_rates(CONTRACTS)  # as_of: the last date, 2024-03-05
    assert [str(d) for d in rates["period_start"]] == ["2024-01-01", "2024-02-01", "2024-03-01"]
    # Feb: A and B at its start, B leaves; C starts on 1 Feb (new, not at risk); D joins and leaves in Feb
    # Mar: A and C at its start, C leaves
    assert rates["customers_at_start"].tolist() == [0, 2, 2]
    assert rates["churned"].tolist() == [0, 1, 1]
    assert rates["new_customers"].tolist() == [2, 2, 1]
    assert np.isnan(rates["churn_rate"][0]) and rates["churn_rate"].tolist()[1:] == [0.5, 0.5]
    early = contractual_churn_rates(CONTRACTS, as_of="2024-03-01")  # C's cancellation has not happened yet
    assert early["churned"].tolist() == [0, 1, 0]


def test_contractual_churn_per_signup_cohort() -> None:
    rates = contractual_churn_rates(pa.Table.from_pandas(CONTRACTS), by="cohort")
    got = [
        (str(r.cohort), r.offset, r.customers_at_start, r.churned, r.churn_rate) for r in rates.itertuples()
    ]
    assert got == [
        ("2024-01-01", 0, 2, 0, 0.0),
        ("2024-01-01", 1, 2, 1, 0.5),
        ("2024-01-01", 2, 1, 0, 0.0),
        ("2024-02-01", 0, 2, 1, 0.5),
        ("2024-02-01", 1, 1, 1, 1.0),
        ("2024-03-01", 0, 1, 0, 0.0),
    ]


def test_contractual_churn_per_week() -> None:
    weekly = contractual_churn_rates(CONTRACTS, period="week", as_of="2024-01-31")
    assert str(weekly["period_start"][0]) == "2024-01-08"  # a Monday
    assert weekly["customers_at_start"].tolist() == [0, 1, 2, 2]
    assert weekly["churned"].sum() == 0


def test_contractual_churn_errors() -> None:
    with pytest.raises(ChurnInputError, match=r"contracts table: no column 'cancelled'"):
        contractual_churn_rates(CONTRACTS, end_col="cancelled")
    backwards = CONTRACTS.assign(end=["2023-12-01", None, None, None, None])
    with pytest.raises(
        ChurnInputError, match=r"customer 'A' has an 'end' that is not a date on or after its 'start'"
    ):
        contractual_churn_rates(backwards)
    with pytest.raises(ChurnInputError, match=r"period 'year': give week or month"):
        contractual_churn_rates(CONTRACTS, period="year")  # type: ignore[arg-type]


def test_expected_churn_from_p_alive() -> None:
    alive = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "cohort": ["2024-01", "2024-01", "2024-02"],
            "p_alive": [0.9, 0.5, 0.2],
        }
    )
    out = expected_churn_by_cohort(alive)
    assert out["cohort"].tolist() == ["2024-01", "2024-02"]
    assert out["customers"].tolist() == [2, 1]
    assert out["expected_churned"].tolist() == pytest.approx([0.6, 0.8])
    assert out["expected_alive"].tolist() == pytest.approx([1.4, 0.2])
    assert out["churned_share"].tolist() == pytest.approx([0.3, 0.8])
    with pytest.raises(ChurnInputError, match=r"customer 'c' has 'p_alive' outside 0..1"):
        expected_churn_by_cohort(alive.assign(p_alive=[0.9, 0.5, 1.5]))


def test_contracts_after_as_of_are_left_out() -> None:
    rates = contractual_churn_rates(CONTRACTS, as_of="2024-02-05", by="cohort")
    assert rates[rates["cohort"].astype(str) == "2024-02-01"]["customers_at_start"].tolist() == [
        1
    ]  # C, not D
    monthly = contractual_churn_rates(CONTRACTS, as_of="2024-02-05")
    assert monthly["new_customers"].tolist() == [2, 1]
