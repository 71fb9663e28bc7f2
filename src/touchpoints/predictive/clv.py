"""Customer lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma by maximum likelihood, with predictions.

The models are fitted on the RFM summary (``summary.summarise_transactions``): per customer the number of
repeat purchases ``x`` (frequency), the time of the last one ``t_x`` (recency) and the time observed ``T``,
all in one unit (days or weeks), and for spend the mean repeat amount ``zbar`` (monetary_value).

- ``BetaGeo``: BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science
  24(2)). While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); after each purchase they
  drop out with probability p ~ Beta(a, b). The log-likelihood, E[X(t)] and E[Y(t) | x, t_x, T] are the
  paper's; P(alive) is from Fader, Hardie & Lee's note "Computing P(alive) using the BG/NBD model". The
  Gaussian hypergeometric function is taken in its Euler form 2F1(a,b;c;z) = (1-z)^(c-a-b)
  2F1(c-a,c-b;c;z), which keeps its parameters small for large ``x`` (a test checks it against the printed
  form).
- ``ParetoNBD``: Pareto/NBD (Schmittlein, Morrison & Colombo 1987) in Fader & Hardie's 2005 note "A note
  on deriving the Pareto/NBD model and related expressions": lifetimes ~ Exponential(mu), mu ~ Gamma(s,
  beta). The likelihood's A0 term uses 2F1 in log space, as lifetimes does.
- ``GammaGamma``: spend per transaction (Colombo & Jiang 1999; Fader, Hardie & Lee 2005, "RFM and CLV",
  JMR 42; Hardie's note 025). Each transaction's value ~ Gamma(p, nu), nu ~ Gamma(q, gamma); ``v`` is
  gamma, as in lifetimes. E[Z | x, zbar] = p (v + x zbar) / (p x + q - 1). Fitted on customers with x > 0.

Fitting maximises the log-likelihood over log-parameters with L-BFGS-B and an analytic gradient (BG/NBD,
Gamma-Gamma; Pareto/NBD uses finite differences), on the unique rows of the data weighted by their counts
(``common.compress_rows``), which gives the same likelihood as all rows. Standard errors come from the
inverse of the negative log-likelihood's Hessian (central differences of the gradient in log-parameters,
then the delta method). Each fitted model has ``params``, ``standard_errors``, ``loglik``,
``n_customers``, ``converged`` and ``to_dict()``.

``customer_lifetime_value`` discounts expected margin per period the way lifetimes' does (see there);
``holdout_by_frequency`` and ``cumulative_repeat_purchases`` compare a fit with a holdout period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import special

from touchpoints.predictive.common import (
    FitInfo,
    FloatArray,
    PredictiveError,
    as_float_array,
    compress_rows,
    fit_info_dict,
    maximise_loglik,
)


def _rft(frequency: Any, recency: Any, T: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    big_t = as_float_array(T, "T")
    if not (len(x) == len(t_x) == len(big_t)):
        raise PredictiveError(
            f"frequency, recency and T have {len(x)}, {len(t_x)} and {len(big_t)} values: give one per customer"
        )
    if len(x) == 0:
        raise PredictiveError("no customers: frequency, recency and T are empty")
    if np.any(x != np.round(x)):
        raise PredictiveError("frequency must be whole numbers of repeat purchases")
    over = t_x > big_t * (1 + 1e-9) + 1e-9
    if over.any():
        i = int(np.argmax(over))
        raise PredictiveError(
            f"row {i}: recency {t_x[i]} is after T {big_t[i]}: recency and T must be from the same summary"
        )
    bad = (x > 0) & (t_x <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise PredictiveError(f"row {i}: {x[i]:g} repeat purchases but recency 0: check the summary")
    return x, t_x, big_t


# ---------------------------------------------------------------------------------------------- BG/NBD


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
        x, t_x, big_t = _rft(frequency, recency, T)
        w = np.ones_like(x) if weights is None else as_float_array(weights, "weights")
        if compress:
            x, t_x, big_t, w = _compress_weighted(x, t_x, big_t, w)
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
        x, t_x, big_t = _rft(frequency, recency, T)
        return float(bgnbd_loglik_terms(np.log(self._vector()), x, t_x, big_t)[0].sum())

    def _vector(self) -> FloatArray:
        return np.array([self.r, self.alpha, self.a, self.b])

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T) (Fader, Hardie & Lee's P(alive) note): 1 for x = 0."""
        x, t_x, big_t = _rft(frequency, recency, T)
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
        x, t_x, big_t = _rft(frequency, recency, T)
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


def _compress_weighted(*columns: FloatArray) -> list[FloatArray]:
    """The unique rows of the data columns, then the weights (the last column) summed per unique row."""
    *data, w = columns
    unique, _, inverse = compress_rows(*data)
    counts = np.bincount(inverse, weights=w, minlength=len(unique[0])).astype(np.float64)
    return [*unique, counts]


# ------------------------------------------------------------------------------------------ Pareto/NBD


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
        x, t_x, big_t = _rft(frequency, recency, T)
        w = np.ones_like(x) if weights is None else as_float_array(weights, "weights")
        if compress:
            x, t_x, big_t, w = _compress_weighted(x, t_x, big_t, w)
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
        x, t_x, big_t = _rft(frequency, recency, T)
        log_params = np.log([self.r, self.alpha, self.s, self.beta])
        return float(pareto_nbd_loglik_terms(log_params, x, t_x, big_t).sum())

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        """P(alive | x, t_x, T) (Fader & Hardie's 2005 note)."""
        x, t_x, big_t = _rft(frequency, recency, T)
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
        x, t_x, big_t = _rft(frequency, recency, T)
        t = np.broadcast_to(as_float_array(t, "t"), x.shape)
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        alive = self.probability_alive(x, t_x, big_t)
        head = (r + x) * (beta + big_t) / ((alpha + big_t) * (s - 1))
        return np.asarray(
            head * (1 - ((beta + big_t) / (beta + big_t + t)) ** (s - 1)) * alive, dtype=np.float64
        )


# ------------------------------------------------------------------------------------------ Gamma-Gamma


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
            x, m, w = _compress_weighted(x, m, w)
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
    x, t_x, big_t = _rft(frequency, recency, T)
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
    x, t_x, big_t = _rft(summary["frequency"], summary["recency"], summary["T"])
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
    x, t_x, big_t = _rft(summary["frequency"], summary["recency"], summary["T"])
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
