"""Customer lifetime value and holdout diagnostics, on the purchase and spend models.

The models are fitted on the RFM summary (``summary.summarise_transactions``): per customer the number of
repeat purchases ``x`` (frequency), the time of the last one ``t_x`` (recency) and the time observed ``T``,
all in one unit (days or weeks), and for spend the mean repeat amount ``zbar`` (monetary_value):
``bgnbd.BetaGeo``, ``paretonbd.ParetoNBD`` and ``gammagamma.GammaGamma`` (each module says its model and
sources). Fitting maximises the log-likelihood over log-parameters with L-BFGS-B on the unique rows of the
data weighted by their counts, which gives the same likelihood as all rows; standard errors come from the
inverse of the negative log-likelihood's Hessian (central differences of the gradient in log-parameters,
then the delta method).

``customer_lifetime_value`` discounts expected margin per period the way lifetimes' does (see there);
``score_customers`` gives every customer's P(alive), expectations, spend and CLV;
``holdout_by_frequency`` and ``cumulative_repeat_purchases`` compare a fit with a holdout period;
``fit_value_models`` fits them all on one summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa

from touchpoints.predictive.bgnbd import BetaGeo
from touchpoints.predictive.common import (
    FloatArray,
    PredictiveError,
    as_float_array,
    compress_rows,
    rft_arrays,
)
from touchpoints.predictive.gammagamma import GammaGamma
from touchpoints.predictive.paretonbd import ParetoNBD

# ------------------------------------------------------------------------------------------------ CLV

TransactionModel = BetaGeo | ParetoNBD


def discounted_expected_purchases(
    model: TransactionModel,
    frequency: Any,
    recency: Any,
    T: Any,
    *,
    periods: int,
    period_length: float,
    discount_rate: float,
) -> FloatArray:
    """sum over k = 1..periods of (E[Y(k L)] - E[Y((k-1) L)]) / (1 + d)^k, L = ``period_length`` in the
    model's time unit, d = ``discount_rate`` per period."""
    x, t_x, big_t = rft_arrays(frequency, recency, T)
    (ux, ut, uT), _, inverse = compress_rows(x, t_x, big_t)
    total = np.zeros_like(ux)
    previous = np.zeros_like(ux)
    for k in range(1, periods + 1):  # over periods, each vectorised over customers
        current = model.expected_purchases(k * period_length, ux, ut, uT)
        total += (current - previous) / (1 + discount_rate) ** k
        previous = current
    return total[inverse]


def customer_lifetime_value(
    transactions_model: TransactionModel,
    spend_model: GammaGamma,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    periods: int = 12,
    period_length: float = 4.345,
    discount_rate: float = 0.01,
    margin: float = 1.0,
) -> FloatArray:
    """Expected discounted margin per customer over ``periods`` periods of ``period_length`` model time
    units (the default: 12 months of 4.345 weeks, for a summary in weeks; use 30 for days):

        CLV = margin * E[Z | x, zbar] * sum_k (E[Y(k L)] - E[Y((k-1) L)]) / (1 + discount_rate)^k

    This is lifetimes' ``GammaGammaFitter.customer_lifetime_value`` (monthly steps, cash flows discounted
    at the end of each period) with the margin made explicit."""
    if periods < 1 or period_length <= 0 or discount_rate < 0 or margin < 0:
        raise PredictiveError(
            "periods >= 1, period_length > 0, discount_rate >= 0 and margin >= 0 are required"
        )
    spend = spend_model.expected_spend(frequency, monetary_value)
    purchases = discounted_expected_purchases(
        transactions_model,
        frequency,
        recency,
        T,
        periods=periods,
        period_length=period_length,
        discount_rate=discount_rate,
    )
    return np.asarray(margin * spend * purchases, dtype=np.float64)


def score_customers(
    summary: pa.Table,
    transactions_model: TransactionModel,
    spend_model: GammaGamma | None = None,
    *,
    horizon: float = 52.0,
    periods: int = 12,
    period_length: float = 4.345,
    discount_rate: float = 0.01,
    margin: float = 1.0,
) -> pa.Table:
    """Per customer of ``summary``: ``p_alive``, ``expected_purchases`` over ``horizon``, and with a spend
    model ``expected_spend`` and ``clv`` (see ``customer_lifetime_value``). Predictions are computed once
    per unique (frequency, recency, T) and spread back, which is what makes a million customers fast."""
    x, t_x, big_t = rft_arrays(summary["frequency"], summary["recency"], summary["T"])
    (ux, ut, uT), _, inverse = compress_rows(x, t_x, big_t)
    columns: dict[str, Any] = {"customer_id": summary["customer_id"]}
    columns["p_alive"] = transactions_model.probability_alive(ux, ut, uT)[inverse]
    columns["expected_purchases"] = transactions_model.expected_purchases(horizon, ux, ut, uT)[inverse]
    if spend_model is not None:
        m = as_float_array(summary["monetary_value"], "monetary_value")
        spend = spend_model.expected_spend(x, m)
        discounted = discounted_expected_purchases(
            transactions_model,
            ux,
            ut,
            uT,
            periods=periods,
            period_length=period_length,
            discount_rate=discount_rate,
        )[inverse]
        columns["expected_spend"] = spend
        # customer_lifetime_value's formula, with the discounted purchases computed once per unique row
        columns["clv"] = margin * spend * discounted
    return pa.table(columns)


# --------------------------------------------------------------------------------------- diagnostics


def holdout_by_frequency(model: TransactionModel, summary: pa.Table, *, max_bin: int = 7) -> pa.Table:
    """Per calibration frequency 0 .. max_bin-1 and ``max_bin``+ (the last bin): ``customers``, ``actual``
    (mean holdout purchases) and ``expected`` (mean E[Y(duration_holdout) | x, t_x, T]). ``summary`` needs
    the holdout columns (``summarise_transactions`` with calibration_end < observation_end)."""
    if "frequency_holdout" not in summary.column_names:
        raise PredictiveError(
            "the summary has no holdout columns: summarise with calibration_end before observation_end"
        )
    x, t_x, big_t = rft_arrays(summary["frequency"], summary["recency"], summary["T"])
    actual = as_float_array(summary["frequency_holdout"], "frequency_holdout")
    duration = as_float_array(summary["duration_holdout"], "duration_holdout")
    expected = model.expected_purchases(duration, x, t_x, big_t)
    bins = np.minimum(x, max_bin).astype(np.int64)
    customers = np.bincount(bins, minlength=max_bin + 1)
    with np.errstate(invalid="ignore"):
        mean_actual = np.bincount(bins, weights=actual, minlength=max_bin + 1) / customers
        mean_expected = np.bincount(bins, weights=expected, minlength=max_bin + 1) / customers
    labels = [str(i) for i in range(max_bin)] + [f"{max_bin}+"]
    return pa.table(
        {
            "frequency_bin": labels,
            "customers": customers,
            "actual": mean_actual,
            "expected": mean_expected,
        }
    )


def cumulative_repeat_purchases(
    model: TransactionModel,
    summary: pa.Table,
    transactions: Any,
    *,
    customer_col: str,
    date_col: str,
    start: date | str,
    periods: int,
    time_unit: str = "weeks",
    date_format: str | None = None,
) -> pa.Table:
    """The tracking curve: per period k = 1..``periods`` (weeks or days from ``start``), the cumulative
    number of repeat transactions (same-day purchases merged, each customer's first purchase left out)
    dated before start + k periods (``actual``), and the model's ``expected``: the sum over the customers
    of ``summary`` of E[X(k - birth)] for those born (first purchase, at ``birth`` periods after start) by
    then, as BTYD's ``bgnbd.ExpectedCumulativeTransactions`` does. Birth is taken as ``max(T) - T``."""
    from touchpoints.predictive.summary import TIME_UNITS, daily_transactions

    if time_unit not in TIME_UNITS:
        raise PredictiveError(f'time_unit "{time_unit}" is not one of {sorted(TIME_UNITS)}')
    unit = TIME_UNITS[time_unit]
    offsets = daily_transactions(
        transactions, customer_col=customer_col, date_col=date_col, start=start, date_format=date_format
    )
    # offsets: days from start of each repeat transaction day
    period_index = np.floor(offsets / unit).astype(np.int64)
    counts = np.bincount(period_index[(period_index >= 0) & (period_index < periods)], minlength=periods)
    actual = np.cumsum(counts)
    big_t = as_float_array(summary["T"], "T")
    births = float(big_t.max()) - big_t
    ub, weight = np.unique(births, return_counts=True)
    ends = np.arange(1, periods + 1, dtype=np.float64)
    age = ends[:, None] - ub[None, :]
    born = age > 0
    expected_each = np.zeros_like(age)
    expected_each[born] = model.expected_purchases_unconditional(age[born])
    expected = expected_each @ weight
    return pa.table({"period": np.arange(1, periods + 1), "actual": actual, "expected": expected})


@dataclass(frozen=True)
class ValueModels:
    """The models fitted on one RFM summary: ``bgnbd``, ``gamma_gamma`` (None without amounts or repeat
    spend) and ``pareto_nbd`` (when asked for)."""

    bgnbd: BetaGeo
    gamma_gamma: GammaGamma | None
    pareto_nbd: ParetoNBD | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"bgnbd": {...}, "gamma_gamma": {...} or None, "pareto_nbd": {...}}``, JSON-friendly."""
        out: dict[str, Any] = {
            "bgnbd": self.bgnbd.to_dict(),
            "gamma_gamma": self.gamma_gamma.to_dict() if self.gamma_gamma else None,
        }
        if self.pareto_nbd is not None:
            out["pareto_nbd"] = self.pareto_nbd.to_dict()
        return out


def fit_value_models(summary: pa.Table, *, pareto_nbd: bool = False) -> ValueModels:
    """Fits BG/NBD, Gamma-Gamma (when ``summary`` has ``monetary_value`` and repeat spend) and optionally
    Pareto/NBD on the output of ``summarise_transactions``."""
    missing = [c for c in ("frequency", "recency", "T") if c not in summary.column_names]
    if missing:
        raise PredictiveError(
            f"the summary has no column {', '.join(missing)}: make it with summarise_transactions"
        )
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
    spend: GammaGamma | None = None
    if "monetary_value" in summary.column_names:
        m = as_float_array(summary["monetary_value"], "monetary_value")
        if np.any((as_float_array(x, "frequency") > 0) & (m > 0)):
            spend = GammaGamma.fit(x, m)
    return ValueModels(
        bgnbd=BetaGeo.fit(x, t_x, big_t),
        gamma_gamma=spend,
        pareto_nbd=ParetoNBD.fit(x, t_x, big_t) if pareto_nbd else None,
    )
