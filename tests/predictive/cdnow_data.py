"""The CDNOW sample and its published summaries, loaded once for the customer-value tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pyarrow as pa

from touchpoints.predictive.summary import summarise_transactions

DATA = Path(__file__).parent / "data"


@cache
def transactions() -> pd.DataFrame:
    """The raw CDNOW 1/10 sample: one row per transaction."""
    return pd.read_csv(
        DATA / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer", "date", "cds", "dollars"],
    )


@cache
def summary() -> pa.Table:
    """Our RFM summary of the sample: calibration to 1997-09-30, holdout to 1998-06-30, in weeks."""
    return summarise_transactions(
        transactions(),
        customer_col="customer",
        date_col="date",
        amount_col="dollars",
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        time_unit="weeks",
    )


@cache
def published_summary() -> pd.DataFrame:
    """lifetimes' / Hardie's published summary (frequency, recency, T in weeks, 2 decimals)."""
    return pd.read_csv(DATA / "cdnow_customers_summary.csv")


@cache
def published_spend() -> pd.DataFrame:
    """The published summary with zbar, the mean repeat-transaction value (2 decimals)."""
    return pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv")
