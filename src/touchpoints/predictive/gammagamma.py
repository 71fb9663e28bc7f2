"""Gamma-Gamma spend per transaction (Colombo & Jiang 1999; Fader, Hardie & Lee 2005, "RFM and CLV", JMR 42;
Hardie's note 025).

Each transaction's value ~ Gamma(p, nu), nu ~ Gamma(q, gamma); ``v`` is gamma, as in lifetimes.
E[Z | x, zbar] = p (v + x zbar) / (p x + q - 1). Fitted on the customers with x > 0, by maximum likelihood
with an analytic gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from touchpoints.predictive.common import (
    FitInfo,
    FloatArray,
    PredictiveError,
    as_float_array,
    compress_weighted,
    fit_info_dict,
    maximise_loglik,
)


def gamma_gamma_loglik_terms(
    log_params: FloatArray, x: FloatArray, zbar: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-customer Gamma-Gamma log-density of the mean spend ``zbar`` over ``x`` transactions (Hardie's
    note 025, as in lifetimes) and its gradient in log-parameters (p, q, v), shape (3, n)."""
    p, q, v = np.exp(log_params)
    px = p * x
    log_total = np.log(x * zbar + v)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(q)
        - special.gammaln(px)
        + q * np.log(v)
        + (px - 1) * np.log(zbar)
        + px * np.log(x)
        - (px + q) * log_total
    )
    psi = special.digamma(px + q)
    d_p = x * (psi - special.digamma(px) + np.log(zbar) + np.log(x) - log_total)
    d_q = psi - special.digamma(q) + np.log(v) - log_total
    d_v = q / v - (px + q) / (x * zbar + v)
    return ll, np.vstack([p * d_p, q * d_q, v * d_v])


class GammaGammaData:
    """Weighted (x, zbar) rows arranged for a fast Gamma-Gamma log-likelihood: the gamma functions depend
    on x alone (summed over the distinct x values) and the log(zbar), log(x) terms are constant sums, so
    each row needs only log(x zbar + v)."""

    def __init__(self, x: FloatArray, zbar: FloatArray, w: FloatArray) -> None:
        self.x_values, x_index = np.unique(x, return_inverse=True)
        self.x_weights = np.bincount(x_index.ravel(), weights=w, minlength=len(self.x_values))
        self.total, self.w, self.wx = x * zbar, w, w * x
        log_xz = np.log(zbar) + np.log(x)
        self.sum_w_x_log_xz = float(self.wx @ log_xz)
        self.sum_w_log_zbar = float(w @ np.log(zbar))

    def loglik(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        """The weighted sum of ``gamma_gamma_loglik_terms`` and of its gradient."""
        p, q, v = np.exp(log_params)
        u, wu = self.x_values, self.x_weights
        n = float(wu.sum())
        pu = p * u
        log_total = np.log(self.total + v)
        w_log_total = self.w @ log_total
        wx_log_total = self.wx @ log_total
        ll = (
            wu @ (special.gammaln(pu + q) - special.gammaln(pu))
            - n * special.gammaln(q)
            + n * q * math.log(v)
        )
        ll += p * self.sum_w_x_log_xz - self.sum_w_log_zbar - p * wx_log_total - q * w_log_total
        psi = special.digamma(pu + q)
        g_p = (wu * u) @ (psi - special.digamma(pu)) + self.sum_w_x_log_xz - wx_log_total
        g_q = wu @ psi - n * special.digamma(q) + n * math.log(v) - w_log_total
        inverse = 1.0 / (self.total + v)
        g_v = n * q / v - p * (self.wx @ inverse) - q * (self.w @ inverse)
        return float(ll), np.array([p * g_p, q * g_q, v * g_v])


def _spend_inputs(frequency: Any, monetary_value: Any) -> tuple[FloatArray, FloatArray]:
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    if len(x) != len(m):
        raise PredictiveError(
            f"frequency and monetary_value have {len(x)} and {len(m)} values: one per customer"
        )
    return x, m


@dataclass(frozen=True)
class GammaGamma:
    """The Gamma-Gamma spend model with parameters ``p, q, v`` (v is Fader-Hardie's gamma)."""

    p: float
    q: float
    v: float
    fit_info: FitInfo | None = field(default=None, compare=False)

    names = ("p", "q", "v")

    @classmethod
    def fit(
        cls, frequency: Any, monetary_value: Any, *, weights: Any = None, compress: bool = True
    ) -> GammaGamma:
        """Maximum likelihood on the customers with frequency > 0 (the others carry no repeat spend) and a
        positive monetary_value."""
        x, m = _spend_inputs(frequency, monetary_value)
        w = np.ones_like(x) if weights is None else as_float_array(weights, "weights")
        keep = (x > 0) & (m > 0)
        if not keep.any():
            raise PredictiveError(
                "no customer with a repeat purchase and a positive monetary_value to fit spend on"
            )
        x, m, w = x[keep], m[keep], w[keep]
        if compress:
            x, m, w = compress_weighted(x, m, w)
        n = float(w.sum())

        data = GammaGammaData(x, m, w)

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            ll, grad = data.loglik(log_params)
            return -ll / n, -grad / n

        start = np.log(np.array([1.0, 1.0, max(float(np.average(m, weights=w)), 1e-3)]))
        params, info = maximise_loglik(objective, start, cls.names, n)
        p, q, v = params.tolist()
        return cls(p, q, v, fit_info=info)

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "gamma_gamma",
            **self.params,
            **(fit_info_dict(self.fit_info) if self.fit_info else {}),
        }

    def expected_spend(self, frequency: Any, monetary_value: Any) -> FloatArray:
        """E[Z | x, zbar] = p (v + x zbar) / (p x + q - 1), the expected mean transaction value; for x = 0
        the population mean p v / (q - 1). Needs q > 1."""
        x, m = _spend_inputs(frequency, monetary_value)
        if self.q <= 1:
            raise PredictiveError(f"Gamma-Gamma q = {self.q:.4g} <= 1: the expected spend is infinite")
        return np.asarray(self.p * (self.v + x * m) / (self.p * x + self.q - 1), dtype=np.float64)
