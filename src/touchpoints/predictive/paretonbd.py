"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987), in Fader & Hardie's 2005 note "A note on deriving the
Pareto/NBD model and related expressions".

Purchases are Poisson with rate lambda ~ Gamma(r, alpha) while alive; lifetimes are Exponential(mu) with
mu ~ Gamma(s, beta), so a customer may drop out at any time (BG/NBD only right after a purchase). The
likelihood's A0 term uses 2F1 in log space, as lifetimes does; the gradient is by central differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from touchpoints.predictive.common import (
    FitInfo,
    FloatArray,
    as_float_array,
    fit_info_dict,
    fit_rows,
    maximise_loglik,
    rft_arrays,
)


def _pnbd_log_a0(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """log A0 of the Pareto/NBD likelihood (Fader & Hardie's 2005 note), in log space."""
    second: float | FloatArray
    if alpha >= beta:
        big, small, second = alpha, beta, s + 1
    else:
        big, small, second = beta, alpha, r + x
    rsx = r + s + x
    q1 = big + t_x
    q2 = big + T
    f1 = special.hyp2f1(rsx, second, rsx + 1, (big - small) / q1)
    f2 = special.hyp2f1(rsx, second, rsx + 1, (big - small) / q2)
    # f1/q1^rsx - f2/q2^rsx, both positive and the first larger
    l1 = np.log(f1) - rsx * np.log(q1)
    l2 = np.log(f2) - rsx * np.log(q2)
    diff = l2 - l1
    return np.asarray(l1 + np.log(-np.expm1(np.minimum(diff, -1e-300))), dtype=np.float64)


def pareto_nbd_loglik_terms(
    log_params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """Per-customer Pareto/NBD log-likelihood (Fader & Hardie's 2005 note)."""
    r, alpha, s, beta = np.exp(log_params)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_a0 = _pnbd_log_a0(r, alpha, s, beta, x, t_x, T)
    dead = np.log(s) - np.log(r + s + x) + log_a0
    with np.errstate(invalid="ignore"):
        mix = np.logaddexp(alive, np.where(t_x < T, dead, -np.inf))
    return np.asarray(a1 + mix, dtype=np.float64)


@dataclass(frozen=True)
class ParetoNBD:
    """The Pareto/NBD model: purchase rate ~ Gamma(r, alpha), dropout rate ~ Gamma(s, beta)."""

    r: float
    alpha: float
    s: float
    beta: float
    fit_info: FitInfo | None = field(default=None, compare=False)

    names = ("r", "alpha", "s", "beta")

    @classmethod
    def fit(
        cls, frequency: Any, recency: Any, T: Any, *, weights: Any = None, compress: bool = True
    ) -> ParetoNBD:
        """Maximum likelihood on (frequency, recency, T); the gradient is by central differences."""
        x, t_x, big_t, w = fit_rows(frequency, recency, T, weights, compress)
        n = float(w.sum())

        def value(log_params: FloatArray) -> float:
            ll = pareto_nbd_loglik_terms(log_params, x, t_x, big_t)
            out = -float(ll @ w) / n
            return out if np.isfinite(out) else 1e10

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            f = value(log_params)
            grad = np.empty(4)
            for i in range(4):
                step = 1e-6
                up, down = log_params.copy(), log_params.copy()
                up[i] += step
                down[i] -= step
                grad[i] = (value(up) - value(down)) / (2 * step)
            return f, grad

        start = np.log(
            np.array([1.0, max(float(np.mean(big_t)), 1e-3), 1.0, max(float(np.mean(big_t)), 1e-3)])
        )
        params, info = maximise_loglik(objective, start, cls.names, n)
        r, alpha, s, beta = params.tolist()
        return cls(r, alpha, s, beta, fit_info=info)

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "pareto_nbd",
            **self.params,
            **(fit_info_dict(self.fit_info) if self.fit_info else {}),
        }

    def loglik(self, frequency: Any, recency: Any, T: Any) -> float:
        x, t_x, big_t = rft_arrays(frequency, recency, T)
        log_params = np.log([self.r, self.alpha, self.s, self.beta])
        return float(pareto_nbd_loglik_terms(log_params, x, t_x, big_t).sum())

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T) (Fader & Hardie's 2005 note)."""
        x, t_x, big_t = rft_arrays(frequency, recency, T)
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        log_a0 = _pnbd_log_a0(r, alpha, s, beta, x, t_x, big_t)
        log_ratio = (
            np.log(s)
            - np.log(r + s + x)
            + (r + x) * np.log(alpha + big_t)
            + s * np.log(beta + big_t)
            + log_a0
        )
        log_ratio = np.where(t_x < big_t, log_ratio, -np.inf)
        return np.asarray(np.exp(-np.logaddexp(0.0, log_ratio)), dtype=np.float64)

    def expected_purchases_unconditional(self, t: Any) -> FloatArray:
        """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] (Fader & Hardie's 2005 note)."""
        t = as_float_array(t, "t")
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        return np.asarray(
            r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1)), dtype=np.float64
        )

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """E[Y(t) | x, t_x, T] (Fader & Hardie's 2005 note)."""
        x, t_x, big_t = rft_arrays(frequency, recency, T)
        t = np.broadcast_to(as_float_array(t, "t"), x.shape)
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        alive = self.probability_alive(x, t_x, big_t)
        head = (r + x) * (beta + big_t) / ((alpha + big_t) * (s - 1))
        return np.asarray(
            head * (1 - ((beta + big_t) / (beta + big_t + t)) ** (s - 1)) * alive, dtype=np.float64
        )
