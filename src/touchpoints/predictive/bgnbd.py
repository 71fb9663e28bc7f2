"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science 24(2)).

While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each purchase they drop out
with probability p ~ Beta(a, b). The log-likelihood, E[X(t)] and E[Y(t) | x, t_x, T] are the paper's;
P(alive) is from Fader, Hardie & Lee's note "Computing P(alive) using the BG/NBD model". The Gaussian
hypergeometric function is taken in its Euler form 2F1(a,b;c;z) = (1-z)^(c-a-b) 2F1(c-a,c-b;c;z), which
keeps its parameters small for large ``x``, and in other forms where that one is not finite
(``_stable_tail``). Fitted by maximum likelihood with an analytic gradient (``common.maximise_loglik``).
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
    as_float_array,
    fit_info_dict,
    fit_rows,
    maximise_loglik,
    rft_arrays,
)


def bgnbd_loglik_terms(
    log_params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-customer BG/NBD log-likelihood (FHL 2005) and its gradient in log-parameters, shape
    (4, n): d/d log(theta) = theta d/d theta for theta in (r, alpha, a, b)."""
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    b_x1 = np.where(repeat, b + x - 1, 1.0)
    a4 = np.where(repeat, np.log(a) - np.log(b_x1) - (r + x) * np.log(alpha + t_x), -np.inf)
    log_mix = np.logaddexp(a3, a4)
    w3 = np.exp(a3 - log_mix)
    w4 = 1.0 - w3
    psi_abx = special.digamma(a + b + x)
    psi_ab = special.digamma(a + b)
    d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha)
    d_r += -w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x)
    d_alpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + t_x)
    d_a = psi_ab - psi_abx + w4 / a
    d_b = special.digamma(b + x) - psi_abx - special.digamma(b) + psi_ab - w4 / b_x1
    grad = np.vstack([r * d_r, alpha * d_alpha, a * d_a, b * d_b])
    return a1 + a2 + log_mix, grad


class BetaGeoData:
    """Weighted (x, t_x, T) rows arranged for a fast BG/NBD log-likelihood: the terms that depend on x
    alone are summed over the distinct x values, customers without repeat purchases need only
    -r log(alpha + T), and only repeat customers need the likelihood's two-part mixture."""

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        self.x_values, x_index = np.unique(x, return_inverse=True)
        self.x_weights = np.bincount(x_index.ravel(), weights=w, minlength=len(self.x_values))
        repeat = x > 0
        self.t0, self.w0 = T[~repeat], w[~repeat]
        self.x, self.t_x, self.T, self.w = x[repeat], t_x[repeat], T[repeat], w[repeat]
        self.x_index = x_index.ravel()[repeat]

    def loglik(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        """The weighted sum of the log-likelihood and its gradient in log-parameters (as
        ``bgnbd_loglik_terms``, summed)."""
        r, alpha, a, b = np.exp(log_params)
        u, wu = self.x_values, self.x_weights
        psi_abu = special.digamma(a + b + u)
        psi_ab = special.digamma(a + b)
        ll = wu @ (special.gammaln(r + u) + special.betaln(a, b + u))
        ll += float(wu.sum()) * (r * math.log(alpha) - special.gammaln(r) - special.betaln(a, b))
        g_r = wu @ special.digamma(r + u) + float(wu.sum()) * (math.log(alpha) - special.digamma(r))
        g_alpha = float(wu.sum()) * r / alpha
        g_a = wu @ (psi_ab - psi_abu)
        g_b = wu @ (special.digamma(b + u) - psi_abu - special.digamma(b) + psi_ab)
        # no repeat purchase: the mixture is exp(a3) alone
        log_t0 = np.log(alpha + self.t0)
        ll -= r * (self.w0 @ log_t0)
        g_r -= self.w0 @ log_t0
        g_alpha -= r * (self.w0 @ (1.0 / (alpha + self.t0)))
        # repeat customers: log(exp(a3) + exp(a4)) with weights w3, w4 = 1 - w3
        x, w = self.x, self.w
        log_b_x1 = np.log(b + u - 1, where=u > 0, out=np.zeros_like(u))[self.x_index]
        log_t = np.log(alpha + self.T)
        log_tx = np.log(alpha + self.t_x)
        a3 = -(r + x) * log_t
        d = math.log(a) - log_b_x1 - (r + x) * log_tx - a3  # a4 - a3
        ll += w @ (a3 + np.logaddexp(0.0, d))
        w4 = special.expit(d)
        w3 = 1.0 - w4
        g_r -= w @ (w3 * log_t + w4 * log_tx)
        g_alpha -= w @ ((r + x) * (w3 / (alpha + self.T) + w4 / (alpha + self.t_x)))
        g_a += (w @ w4) / a
        g_b -= w @ (w4 * np.exp(-log_b_x1))
        return float(ll), np.array([r * g_r, alpha * g_alpha, a * g_a, b * g_b])


@dataclass(frozen=True)
class BetaGeo:
    """The BG/NBD model with parameters ``r, alpha`` (purchase rate) and ``a, b`` (dropout); ``fit`` is
    set when it was fitted by ``BetaGeo.fit``."""

    r: float
    alpha: float
    a: float
    b: float
    fit_info: FitInfo | None = field(default=None, compare=False)

    names = ("r", "alpha", "a", "b")

    @classmethod
    def fit(
        cls, frequency: Any, recency: Any, T: Any, *, weights: Any = None, compress: bool = True
    ) -> BetaGeo:
        """Maximum likelihood on customers' (frequency, recency, T); ``weights`` counts each row as that
        many customers. ``compress`` fits on the unique rows (same optimum, faster)."""
        x, t_x, big_t, w = fit_rows(frequency, recency, T, weights, compress)
        n = float(w.sum())
        data = BetaGeoData(x, t_x, big_t, w)

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            ll, grad = data.loglik(log_params)
            return -ll / n, -grad / n

        start = np.log(np.array([1.0, max(float(np.mean(big_t)), 1e-3), 1.0, 1.0]))
        params, info = maximise_loglik(objective, start, cls.names, n)
        r, alpha, a, b = params.tolist()
        return cls(r, alpha, a, b, fit_info=info)

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def to_dict(self) -> dict[str, Any]:
        return {"model": "bgnbd", **self.params, **(fit_info_dict(self.fit_info) if self.fit_info else {})}

    def loglik(self, frequency: Any, recency: Any, T: Any) -> float:
        x, t_x, big_t = rft_arrays(frequency, recency, T)
        return float(bgnbd_loglik_terms(np.log(self._vector()), x, t_x, big_t)[0].sum())

    def _vector(self) -> FloatArray:
        return np.array([self.r, self.alpha, self.a, self.b])

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T) (Fader, Hardie & Lee's P(alive) note): 1 for x = 0."""
        x, t_x, big_t = rft_arrays(frequency, recency, T)
        return 1.0 / (1.0 + self._odds_dead(x, t_x, big_t))

    def _odds_dead(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha, a, b = self._vector()
        repeat = x > 0
        log_odds = (
            np.log(a)
            - np.log(np.where(repeat, b + x - 1, 1.0))
            + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        return np.where(repeat, np.exp(np.minimum(log_odds, 700.0)), 0.0)

    def expected_purchases_unconditional(self, t: Any) -> FloatArray:
        """E[X(t)], the expected purchases in (0, t] of a customer who has just made the first (FHL 2005)."""
        r, alpha, a, b = self._vector()
        t = as_float_array(t, "t")
        z = t / (alpha + t)
        tail = _stable_tail(r, a, b, np.zeros_like(z), z)
        return np.asarray((a + b - 1) / (a - 1) * (1 - tail), dtype=np.float64)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` for each customer (FHL 2005); ``t`` is a
        number or one value per customer."""
        x, t_x, big_t = rft_arrays(frequency, recency, T)
        r, alpha, a, b = self._vector()
        t = np.broadcast_to(as_float_array(t, "t"), x.shape)
        z = t / (alpha + big_t + t)
        tail = _stable_tail(r, a, b, x, z)
        head = (a + b + x - 1) / (a - 1)
        return np.asarray(head * (1 - tail) / (1 + self._odds_dead(x, t_x, big_t)), dtype=np.float64)


def _stable_tail(r: float, a: float, b: float, x: FloatArray, z: FloatArray) -> FloatArray:
    """(1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z), the hypergeometric part of BG/NBD's expectations.

    Taken in Euler's form, (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), where that is finite (it is the
    accurate one for small a); where it is not (a and b in the hundreds of thousands, as when the data show
    no heterogeneity in dropout and the fit runs to the boundary: 0^(a-1) times an overflowed 2F1), in the
    direct form, which stays finite there."""
    with np.errstate(invalid="ignore", over="ignore", under="ignore", divide="ignore"):
        euler = np.array(
            (1 - z) ** (a - 1) * special.hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z), dtype=float
        )
        x = np.broadcast_to(x, z.shape)
        bad = ~np.isfinite(euler)
        if np.any(bad):
            xb, zb = x[bad], z[bad]
            euler[bad] = np.exp((r + xb) * np.log1p(-zb)) * special.hyp2f1(r + xb, b + xb, a + b + xb - 1, zb)
        bad = ~np.isfinite(euler)
        if np.any(bad):
            # r and alpha in the hundreds of thousands too (every customer buys at one rate, the Poisson
            # limit): 2F1(r+x, b+x; c; z) tends to 1F1(b+x; c; (r+x) z) as r grows with (r+x) z fixed
            xb, zb = x[bad], z[bad]
            euler[bad] = np.exp((r + xb) * np.log1p(-zb)) * special.hyp1f1(
                b + xb, a + b + xb - 1, (r + xb) * zb
            )
    return euler
