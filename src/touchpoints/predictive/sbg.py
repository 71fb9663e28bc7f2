"""Contractual retention: the shifted-beta-geometric (sBG) model of Fader & Hardie (2007).

In a contractual setting (subscriptions, memberships) a customer's churn is observed. Each customer churns
at the end of each period with a probability theta that stays the same for them, and theta varies across
customers as Beta(gamma, delta). From Fader & Hardie (2007), "How to project customer retention", Journal
of Interactive Marketing 21(1):76-90:

- P(T = t) = B(gamma + 1, delta + t - 1) / B(gamma, delta), the probability of churning in period t >= 1;
- S(t) = B(gamma, delta + t) / B(gamma, delta), the probability of surviving past period t;
- r(t) = S(t) / S(t - 1) = (delta + t - 1) / (gamma + delta + t - 1), the retention rate of period t.

``ShiftedBetaGeometric.fit(survivors)`` maximises the likelihood of a cohort's survivor counts (``survivors[0]``
the cohort's size, ``survivors[t]`` those still active after period t): the churners of each period
contribute log P(T = t), the survivors of the last period log S(t_last). Parameters are optimised in logs
with L-BFGS-B and an analytic gradient; standard errors come from the inverse Hessian.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from touchpoints.predictive.common import (
    FitInfo,
    FloatArray,
    PredictiveError,
    as_float_array,
    fit_info_dict,
    maximise_loglik,
)


def _survivor_counts(survivors: Any) -> FloatArray:
    counts = as_float_array(survivors, "survivors")
    if len(counts) < 2:
        raise PredictiveError("survivors needs the cohort size and at least one period's survivors")
    if counts[0] <= 0 or np.any(np.diff(counts) > 0):
        raise PredictiveError(
            "survivors must start with the cohort size (> 0) and never increase: "
            f"got {counts[:6].tolist()}{' ...' if len(counts) > 6 else ''}"
        )
    return counts


def sbg_loglik(log_params: FloatArray, survivors: FloatArray) -> tuple[float, FloatArray]:
    """The cohort's log-likelihood and its gradient in (log gamma, log delta)."""
    g, d = np.exp(log_params)
    t = np.arange(1, len(survivors), dtype=np.float64)
    churned = -np.diff(survivors)
    last = len(survivors) - 1
    log_p = special.betaln(g + 1, d + t - 1) - special.betaln(g, d)
    log_s = special.betaln(g, d + last) - special.betaln(g, d)
    ll = float(churned @ log_p + survivors[-1] * log_s)
    psi_gd = special.digamma(g + d)
    # d/dg and d/dd of betaln(x, y) = psi(x) - psi(x + y) and psi(y) - psi(x + y)
    d_norm_g = special.digamma(g) - psi_gd
    d_norm_d = special.digamma(d) - psi_gd
    d_p_g = special.digamma(g + 1) - special.digamma(g + d + t) - d_norm_g
    d_p_d = special.digamma(d + t - 1) - special.digamma(g + d + t) - d_norm_d
    d_s_g = special.digamma(g) - special.digamma(g + d + last) - d_norm_g
    d_s_d = special.digamma(d + last) - special.digamma(g + d + last) - d_norm_d
    grad_g = churned @ d_p_g + survivors[-1] * d_s_g
    grad_d = churned @ d_p_d + survivors[-1] * d_s_d
    return ll, np.array([g * grad_g, d * grad_d])


@dataclass(frozen=True)
class ShiftedBetaGeometric:
    """The sBG model with churn-probability distribution Beta(``gamma``, ``delta``)."""

    gamma: float
    delta: float
    fit_info: FitInfo | None = field(default=None, compare=False)

    names = ("gamma", "delta")

    @classmethod
    def fit(cls, survivors: Any) -> ShiftedBetaGeometric:
        """Maximum likelihood on one cohort's survivor counts: ``survivors[0]`` is the cohort's size and
        ``survivors[t]`` the number still active after period t (the calibration periods only)."""
        counts = _survivor_counts(survivors)
        n = float(counts[0])

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            ll, grad = sbg_loglik(log_params, counts)
            return -ll / n, -grad / n

        params, info = maximise_loglik(objective, np.zeros(2), cls.names, n)
        return cls(float(params[0]), float(params[1]), fit_info=info)

    @property
    def params(self) -> dict[str, float]:
        return {"gamma": self.gamma, "delta": self.delta}

    def to_dict(self) -> dict[str, Any]:
        return {"model": "sbg", **self.params, **(fit_info_dict(self.fit_info) if self.fit_info else {})}

    def _periods(self, periods: Any) -> FloatArray:
        t = as_float_array(periods, "periods")
        if np.any(t != np.round(t)):
            raise PredictiveError("periods must be whole numbers")
        return t

    def churn_probability(self, periods: Any) -> FloatArray:
        """P(T = t) for each period t >= 1: the share of the cohort that churns at the end of period t."""
        t = self._periods(periods)
        if np.any(t < 1):
            raise PredictiveError("churn periods start at 1")
        g, d = self.gamma, self.delta
        return np.asarray(np.exp(special.betaln(g + 1, d + t - 1) - special.betaln(g, d)), dtype=np.float64)

    def survival(self, periods: Any) -> FloatArray:
        """S(t), the share of the cohort still active after period t (S(0) = 1)."""
        t = self._periods(periods)
        g, d = self.gamma, self.delta
        return np.asarray(np.exp(special.betaln(g, d + t) - special.betaln(g, d)), dtype=np.float64)

    def survivors(self, periods: Any, cohort_size: float) -> FloatArray:
        """Expected survivors of a cohort of ``cohort_size`` after each period."""
        return cohort_size * self.survival(periods)

    def retention_rate(self, periods: Any) -> FloatArray:
        """r(t) = (delta + t - 1) / (gamma + delta + t - 1), the share of period t-1's survivors who stay."""
        t = self._periods(periods)
        if np.any(t < 1):
            raise PredictiveError("retention periods start at 1")
        return (self.delta + t - 1) / (self.gamma + self.delta + t - 1)
