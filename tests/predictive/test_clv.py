"""BG/NBD, Pareto/NBD and Gamma-Gamma on CDNOW against the published figures (tests/predictive/data)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from scipy import special

from tests.predictive import cdnow_data
from touchpoints.predictive.bgnbd import BetaGeo, BetaGeoData, bgnbd_loglik_terms
from touchpoints.predictive.clv import (
    cumulative_repeat_purchases,
    customer_lifetime_value,
    fit_value_models,
    holdout_by_frequency,
    score_customers,
)
from touchpoints.predictive.common import PredictiveError
from touchpoints.predictive.gammagamma import GammaGamma, GammaGammaData, gamma_gamma_loglik_terms
from touchpoints.predictive.paretonbd import ParetoNBD

# BTYD walkthrough (BTYD 2.4.3, §4.2) BG/NBD parameters on the same data
BTYD_BGNBD = BetaGeo(r=0.2425982, alpha=4.4136842, a=0.7929899, b=2.4261667)


def published_fit() -> BetaGeo:
    s = cdnow_data.published_summary()
    return BetaGeo.fit(s["frequency"], s["recency"], s["T"])


def our_fit() -> BetaGeo:
    s = cdnow_data.summary()
    return BetaGeo.fit(s["frequency"], s["recency"], s["T"])


def test_bgnbd_parameters_and_loglik_on_the_published_summary() -> None:
    model = published_fit()
    fitted = np.array([model.r, model.alpha, model.a, model.b])
    # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426
    assert fitted == pytest.approx([0.243, 4.414, 0.793, 2.426], rel=0.01)
    # the README's tighter check (the re-fit and lifetimes' Quickstart to 4 decimals)
    assert fitted == pytest.approx([0.2426, 4.4136, 0.7930, 2.4262], rel=0.001)
    assert model.fit_info is not None
    # BTYD walkthrough: LL = -9582.429
    assert model.fit_info.loglik == pytest.approx(-9582.43, abs=0.01)
    assert model.fit_info.converged
    assert model.fit_info.n_customers == 2357
    assert all(0 < se < np.inf for se in model.fit_info.standard_errors.values())


def test_bgnbd_fit_on_our_summary_matches_too() -> None:
    model = our_fit()
    assert [model.r, model.alpha, model.a, model.b] == pytest.approx(
        [0.2426, 4.4136, 0.7930, 2.4262], rel=0.001
    )
    assert model.fit_info is not None
    assert model.fit_info.loglik == pytest.approx(-9582.43, abs=0.01)


def test_bgnbd_predictions() -> None:
    model = published_fit()
    # Hardie's spreadsheet (lifetimes tests): E[Y(39) | x=2, t_x=30.43, T=38.86] = 1.226
    assert model.expected_purchases(39, 2, 30.43, 38.86)[0] == pytest.approx(1.226, abs=0.001)
    # Hardie's spreadsheet, 4 decimals (lifetimes asserts them to 3 decimals)
    times = [0.1429, 1, 3, 31.8571, 32, 78]
    expected = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576]
    assert model.expected_purchases_unconditional(times) == pytest.approx(expected, abs=5e-4)
    # BTYD walkthrough: E[X(52)] = 1.444; customer 1516 P(alive) = 0.969, E[Y(52)] = 25.757
    assert model.expected_purchases_unconditional(52)[0] == pytest.approx(1.444, abs=0.0005)
    summary = cdnow_data.summary().to_pandas().set_index("customer_id")
    c1516 = summary.loc[1516]
    assert (c1516["frequency"], round(c1516["recency"], 3), c1516["T"]) == (26, 30.857, 31.0)
    args = (c1516["frequency"], c1516["recency"], c1516["T"])
    assert model.probability_alive(*args)[0] == pytest.approx(0.969, abs=0.0005)
    assert model.expected_purchases(52, *args)[0] == pytest.approx(25.757, abs=0.001)


def test_bgnbd_predictions_are_sane_at_the_edges() -> None:
    model = published_fit()
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    # the Euler form of 2F1 we use equals FHL (2005) eq. 10 as printed where the latter is well-behaved
    x = np.arange(0, 31, dtype=float)
    t_x, T, t = np.where(x > 0, 20.0, 0.0), np.full(31, 38.86), 39.0
    z = t / (alpha + T + t)
    printed = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z))
    )
    printed /= 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    assert model.expected_purchases(t, x, t_x, T) == pytest.approx(printed, rel=1e-9)
    # very frequent buyers: finite, below the purchase rate times the horizon; a long silence means dead
    x = np.array([0, 2000, 2000])
    t_x = np.array([0.0, 38.86, 30.0])
    T = np.full(3, 38.86)
    alive = model.probability_alive(x, t_x, T)
    assert alive[0] == 1.0 and alive[1] > 0.99 and alive[2] < 1e-10
    expected = model.expected_purchases(52, x, t_x, T)
    assert np.all(np.isfinite(expected))
    assert 0.5 * (r + 2000) / (alpha + 38.86) * 52 < expected[1] < (r + 2000) / (alpha + 38.86) * 52
    assert model.expected_purchases(0, x, t_x, T) == pytest.approx(np.zeros(3))


def test_holdout_by_frequency_equals_the_btyd_table() -> None:
    table = holdout_by_frequency(our_fit(), cdnow_data.summary()).to_pydict()
    # BTYD walkthrough §4, to 3 decimals
    assert table["frequency_bin"] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["customers"] == [1411, 439, 214, 100, 62, 38, 29, 64]
    actual = [0.237, 0.697, 1.393, 1.560, 2.532, 2.947, 3.862, 6.359]
    assert np.round(table["actual"], 3).tolist() == actual
    expected = [0.225, 0.523, 1.044, 1.520, 2.164, 2.654, 3.504, 6.157]
    assert np.round(table["expected"], 3).tolist() == expected


def test_cumulative_repeat_purchases_weeks_20_to_25() -> None:
    options = {"customer_col": "customer", "date_col": "date", "start": "1997-01-01", "periods": 78}
    summary, transactions = cdnow_data.summary(), cdnow_data.transactions()
    curve = cumulative_repeat_purchases(BTYD_BGNBD, summary, transactions, **options).to_pydict()  # type: ignore[arg-type]
    # BTYD walkthrough, weeks 20-25
    assert curve["actual"][19:25] == [1359, 1414, 1484, 1517, 1573, 1672]
    published = [1312.5, 1387.3, 1460.4, 1531.7, 1601.4, 1669.6]
    assert curve["expected"][19:25] == pytest.approx(published, abs=0.05)
    # README: 4,339 cumulative repeat transactions by week 78
    assert curve["actual"][-1] == 4339
    ours = cumulative_repeat_purchases(our_fit(), summary, transactions, **options).to_pydict()  # type: ignore[arg-type]
    assert ours["expected"][19:25] == pytest.approx(published, abs=0.1)


def test_pareto_nbd() -> None:
    s = cdnow_data.published_summary()
    model = ParetoNBD.fit(s["frequency"], s["recency"], s["T"])
    # BTYD walkthrough §3: r=0.553, alpha=10.580, s=0.606, beta=11.656, LL=-9594.976 (lifetimes: 11.669)
    assert [model.r, model.alpha, model.s, model.beta] == pytest.approx(
        [0.553, 10.58, 0.606, 11.66], rel=0.01
    )
    assert model.fit_info is not None
    assert model.fit_info.loglik == pytest.approx(-9594.98, abs=0.01)
    assert model.expected_purchases_unconditional(52)[0] == pytest.approx(1.473, abs=0.0005)
    assert model.probability_alive(26, 30.86, 31)[0] == pytest.approx(0.9979, abs=0.00005)
    assert model.expected_purchases(52, 26, 30.86, 31)[0] == pytest.approx(25.456, abs=0.001)
    ours = cdnow_data.summary()
    table = holdout_by_frequency(ParetoNBD.fit(ours["frequency"], ours["recency"], ours["T"]), ours)
    # BTYD walkthrough §3.4; bin 1 comes out at 0.5994 here (with BTYD's parameters too): 0.001 apart
    expected = [0.138, 0.600, 1.196, 1.714, 2.399, 2.907, 3.819, 6.403]
    assert table["expected"].to_numpy() == pytest.approx(expected, abs=0.001)


def test_gamma_gamma() -> None:
    spend = cdnow_data.published_spend()
    model = GammaGamma.fit(spend["x"], spend["zbar"])
    # Fader, Hardie & Lee (2005, JMR) / Hardie's note 025: p=6.25, q=3.74, gamma=15.44
    assert [model.p, model.q, model.v] == pytest.approx([6.25, 3.74, 15.44], rel=0.005)
    assert model.fit_info is not None
    assert model.fit_info.n_customers == 946
    # README re-fit: LL -4055.92 on this likelihood
    assert model.fit_info.loglik == pytest.approx(-4055.92, abs=0.01)
    # Hardie's spreadsheet (lifetimes tests): expected spend of customers 1-10, from unrounded zbar
    ours = cdnow_data.summary()
    fitted = GammaGamma.fit(ours["frequency"], ours["monetary_value"])
    assert [fitted.p, fitted.q, fitted.v] == pytest.approx([6.25, 3.74, 15.44], rel=0.005)
    got = fitted.expected_spend(ours["frequency"][:10], ours["monetary_value"][:10])
    published = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    assert got == pytest.approx(published, abs=0.005)


def test_analytic_gradients_match_finite_differences() -> None:
    s = cdnow_data.summary()
    x, t_x, T = (s[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    m = s["monetary_value"].to_numpy()
    repeat = x > 0
    cases = [
        (lambda p: bgnbd_loglik_terms(p, x, t_x, T), np.log([0.3, 5.0, 0.7, 2.0])),
        (lambda p: bgnbd_loglik_terms(p, x, t_x, T), np.log([1.5, 0.5, 3.0, 0.4])),
        (lambda p: gamma_gamma_loglik_terms(p, x[repeat], m[repeat]), np.log([5.0, 3.0, 12.0])),
    ]
    for terms, point in cases:
        _, grad = terms(point)
        analytic = grad.sum(axis=1)
        numeric = np.empty_like(point)
        for i in range(len(point)):
            step = np.zeros_like(point)
            step[i] = 1e-6
            numeric[i] = (terms(point + step)[0].sum() - terms(point - step)[0].sum()) / 2e-6
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-4)


def test_fast_likelihood_sums_equal_the_per_customer_terms() -> None:
    s = cdnow_data.summary()
    x, t_x, T, m = (s[c].to_numpy().astype(float) for c in ("frequency", "recency", "T", "monetary_value"))
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(x))
    for point in (np.log([0.3, 5.0, 0.7, 2.0]), np.log([1.5, 0.5, 3.0, 0.4])):
        ll, grad = bgnbd_loglik_terms(point, x, t_x, T)
        fast_ll, fast_grad = BetaGeoData(x, t_x, T, w).loglik(point)
        assert fast_ll == pytest.approx(ll @ w, rel=1e-12)
        assert fast_grad == pytest.approx(grad @ w, rel=1e-10)
    repeat = x > 0
    for point in (np.log([5.0, 3.0, 12.0]), np.log([0.5, 1.5, 100.0])):
        ll, grad = gamma_gamma_loglik_terms(point, x[repeat], m[repeat])
        fast_ll, fast_grad = GammaGammaData(x[repeat], m[repeat], w[repeat]).loglik(point)
        assert fast_ll == pytest.approx(ll @ w[repeat], rel=1e-12)
        assert fast_grad == pytest.approx(grad @ w[repeat], rel=1e-10)


def test_compression_and_weights_give_the_same_fit() -> None:
    s = cdnow_data.summary()
    x, t_x, T = s["frequency"], s["recency"], s["T"]
    compressed, full = BetaGeo.fit(x, t_x, T), BetaGeo.fit(x, t_x, T, compress=False)
    assert compressed.params == pytest.approx(full.params, rel=1e-5)
    assert compressed.fit_info is not None and full.fit_info is not None
    assert compressed.fit_info.loglik == pytest.approx(full.fit_info.loglik, abs=1e-6)
    # the loglik at the optimum is the plain sum over customers
    assert full.loglik(x, t_x, T) == pytest.approx(full.fit_info.loglik, abs=1e-6)
    # every customer twice, or once with weight 2: the same optimum
    doubled = BetaGeo.fit(np.tile(x, 2), np.tile(t_x, 2), np.tile(T, 2))
    weighted = BetaGeo.fit(x, t_x, T, weights=np.full(len(x), 2.0))
    assert doubled.params == pytest.approx(weighted.params, rel=1e-5)
    assert doubled.params == pytest.approx(full.params, rel=1e-4)
    m = s["monetary_value"]
    gg, gg_full = GammaGamma.fit(x, m), GammaGamma.fit(x, m, compress=False)
    assert gg.params == pytest.approx(gg_full.params, rel=1e-5)


def test_customer_lifetime_value() -> None:
    s = cdnow_data.summary()
    bg, gg = our_fit(), GammaGamma.fit(s["frequency"], s["monetary_value"])
    x, t_x, T, m = (s[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    spend = gg.expected_spend(x, m)
    # without discounting, the monthly steps add up to the whole horizon's expected purchases
    undiscounted = customer_lifetime_value(
        bg, gg, x, t_x, T, m, periods=12, period_length=4.345, discount_rate=0
    )
    assert undiscounted == pytest.approx(spend * bg.expected_purchases(12 * 4.345, x, t_x, T))
    # one period: discounted once, and the margin scales it
    one = customer_lifetime_value(
        bg, gg, x, t_x, T, m, periods=1, period_length=4.345, discount_rate=0.1, margin=0.3
    )
    assert one == pytest.approx(0.3 * spend * bg.expected_purchases(4.345, x, t_x, T) / 1.1)
    discounted = customer_lifetime_value(bg, gg, x, t_x, T, m, discount_rate=0.01)
    assert np.all(discounted <= undiscounted + 1e-12) and np.all(discounted > 0)
    with pytest.raises(PredictiveError, match="discount_rate >= 0"):
        customer_lifetime_value(bg, gg, x, t_x, T, m, discount_rate=-0.1)


def test_score_customers_and_json() -> None:
    s = cdnow_data.summary()
    models = fit_value_models(s, pareto_nbd=True)
    assert models.gamma_gamma is not None
    scores = score_customers(s, models.bgnbd, models.gamma_gamma, horizon=52)
    assert scores.column_names == ["customer_id", "p_alive", "expected_purchases", "expected_spend", "clv"]
    x, t_x, T = (s[c].to_numpy() for c in ("frequency", "recency", "T"))
    assert scores["p_alive"].to_numpy() == pytest.approx(models.bgnbd.probability_alive(x, t_x, T))
    assert scores["expected_purchases"].to_numpy() == pytest.approx(
        models.bgnbd.expected_purchases(52, x, t_x, T)
    )
    clv = customer_lifetime_value(models.bgnbd, models.gamma_gamma, x, t_x, T, s["monetary_value"])
    assert scores["clv"].to_numpy() == pytest.approx(clv)
    out = json.loads(json.dumps(models.to_dict()))
    assert set(out) == {"bgnbd", "gamma_gamma", "pareto_nbd"}
    assert {"r", "alpha", "a", "b", "loglik", "standard_errors", "converged"} <= set(out["bgnbd"])
    assert {"p", "q", "v", "loglik"} <= set(out["gamma_gamma"])


def test_bad_model_inputs_are_named() -> None:
    with pytest.raises(PredictiveError, match=r"recency 40\.0 is after T 38\.0"):
        BetaGeo.fit([1, 2], [3.0, 40.0], [38.0, 38.0])
    with pytest.raises(PredictiveError, match="give one per customer"):
        BetaGeo.fit([1, 2], [3.0], [38.0, 38.0])
    with pytest.raises(PredictiveError, match=r"frequency\[1\] is nan"):
        BetaGeo.fit([1, float("nan")], [3.0, 4.0], [38.0, 38.0])
    with pytest.raises(PredictiveError, match=r"T\[0\] is -1.0"):
        BTYD_BGNBD.probability_alive([0], [0.0], [-1.0])
    with pytest.raises(PredictiveError, match="no customers: frequency, recency and T are empty"):
        BetaGeo.fit([], [], [])
    with pytest.raises(PredictiveError, match="no customer with a repeat purchase"):
        GammaGamma.fit([0, 0], [0.0, 0.0])
    with pytest.raises(PredictiveError, match="no holdout columns"):
        holdout_by_frequency(BTYD_BGNBD, pa.table({"frequency": [0], "recency": [0.0], "T": [1.0]}))
    with pytest.raises(PredictiveError, match="summarise_transactions"):
        fit_value_models(pa.table({"frequency": [0]}))


def test_expectations_stay_finite_when_the_fit_runs_to_the_boundary() -> None:
    """Data without heterogeneity in dropout (the demo world's) drive a and b to the hundreds of thousands,
    where Euler's form overflows: the expectations must stay finite and converge as a and b grow with the
    same mean dropout probability."""
    x, t_x, big_t = np.array([0.0, 2.0, 20.0]), np.array([0.0, 30.0, 44.0]), np.array([10.0, 40.0, 45.0])
    values = [
        BetaGeo(0.339, 10.03, 6.228e5 * k, 3.204e6 * k).expected_purchases(52.0, x, t_x, big_t)
        for k in (0.01, 1.0, 100.0)
    ]
    assert all(np.isfinite(v).all() for v in values)
    assert np.allclose(values[1], values[2], rtol=1e-3)
    assert np.allclose(values[0], values[1], rtol=1e-2)
    assert np.isfinite(
        BetaGeo(0.339, 10.03, 6.228e5, 3.204e6).expected_purchases_unconditional([1.0, 52.0])
    ).all()
