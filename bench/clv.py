"""Customer value models at scale: BG/NBD + Gamma-Gamma fit and scoring on generated customers, side by side
with lifetimes on the same data in the same run.

Customers are drawn (seeded) from the models' own generative processes with known parameters, so the run
also reports how well the fit recovers them:

- observed for T ~ uniform 1..365 days after the first purchase (times in weeks, whole days as real
  transactions give; ``--continuous`` leaves the purchase times unrounded);
- purchase rate lambda ~ Gamma(r, alpha), dropout p ~ Beta(a, b): the purchases in (0, T] are
  n ~ Poisson(lambda T), the customer dies right after repeat purchase J ~ Geometric(p), so x = min(n, J)
  and, given n, the x-th purchase time is T * Beta(x, n - x + 1) (uniform order statistics), rounded up to
  a whole day (which biases alpha and b up by a few per cent: several purchases can fall in one day);
- spend: nu ~ Gamma(q, gamma), each transaction ~ Gamma(p, nu), zbar = the mean of x of them.

Timed (wall clock, best of ``--runs``): our ``BetaGeo.fit`` and ``GammaGamma.fit`` on the summary, then
``score_customers`` (P(alive), expected purchases in 52 weeks, expected spend, CLV over 12 months of 4.345
weeks at 1 % a month). lifetimes 0.11 does not run on pandas 3 / numpy 2: give ``--lifetimes-python`` a
Python with lifetimes installed (its own venv, outside the repo; a benchmark-only dependency) and it runs
the same steps there on the same data (written to Parquet), timed inside that process; without it that
column is skipped with a message.

    python3 -m venv /tmp/lifetimes-venv
    /tmp/lifetimes-venv/bin/pip install lifetimes 'pandas<2' 'numpy<1.27' 'scipy<1.12' pyarrow
    .venv/bin/python bench/clv.py --customers 1000000 100000 --lifetimes-python /tmp/lifetimes-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy

from touchpoints.predictive.bgnbd import BetaGeo
from touchpoints.predictive.clv import customer_lifetime_value, score_customers
from touchpoints.predictive.gammagamma import GammaGamma

TRUE_BGNBD = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
TRUE_GG = {"p": 6.0, "q": 4.0, "v": 15.0}
HORIZON_WEEKS = 52.0
MONTHS, WEEKS_PER_MONTH, DISCOUNT = 12, 4.345, 0.01

LIFETIMES_SCRIPT = """
import json, sys, time
import pandas as pd
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter
d = pd.read_parquet(sys.argv[1])
horizon, months, discount = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
out = {"version": lifetimes.__version__, "pandas": pd.__version__}
t0 = time.perf_counter()
bgf = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
t1 = time.perf_counter()
rep = d[d["frequency"] > 0]
ggf = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
t2 = time.perf_counter()
alive = bgf.conditional_probability_alive(d["frequency"], d["recency"], d["T"])
purchases = bgf.conditional_expected_number_of_purchases_up_to_time(horizon, d["frequency"], d["recency"], d["T"])
spend = ggf.conditional_expected_average_profit(d["frequency"], d["monetary_value"])
clv = ggf.customer_lifetime_value(bgf, d["frequency"], d["recency"], d["T"], d["monetary_value"],
                                  time=months, discount_rate=discount, freq="W")
t3 = time.perf_counter()
out.update(fit_bgnbd=t1 - t0, fit_gamma_gamma=t2 - t1, scoring=t3 - t2, total=t3 - t0,
           bgnbd={k: float(v) for k, v in bgf.params_.items()},
           gamma_gamma={k: float(v) for k, v in ggf.params_.items()})
pd.DataFrame({"p_alive": alive, "expected_purchases": purchases, "clv": clv.to_numpy()}).to_parquet(sys.argv[2])
print(json.dumps(out))
"""


def simulate(customers: int, seed: int, continuous: bool = False) -> pa.Table:
    """A summary (customer_id, frequency, recency, T, monetary_value) drawn from BG/NBD and Gamma-Gamma;
    ``continuous`` keeps the purchase times unrounded (every customer's row then differs)."""
    rng = np.random.default_rng(seed)
    t_days = rng.integers(1, 366, customers)
    T = t_days / 7.0
    lam = rng.gamma(TRUE_BGNBD["r"], 1 / TRUE_BGNBD["alpha"], customers)
    p = rng.beta(TRUE_BGNBD["a"], TRUE_BGNBD["b"], customers)
    n = rng.poisson(lam * T)
    dies_after = rng.geometric(p)
    x = np.minimum(n, dies_after)
    repeat = x > 0
    order_stat = np.zeros(customers)
    order_stat[repeat] = rng.beta(x[repeat], n[repeat] - x[repeat] + 1)
    recency_days = order_stat * t_days if continuous else np.clip(np.ceil(order_stat * t_days), 1, t_days)
    recency_days = np.where(repeat, recency_days, 0.0)
    nu = rng.gamma(TRUE_GG["q"], 1 / TRUE_GG["v"], customers)
    total = np.zeros(customers)
    total[repeat] = rng.gamma(TRUE_GG["p"] * x[repeat], 1 / nu[repeat])
    zbar = np.where(repeat, np.round(total / np.maximum(x, 1), 2), 0.0)
    zbar = np.where(repeat, np.maximum(zbar, 0.01), 0.0)
    return pa.table(
        {
            "customer_id": np.arange(1, customers + 1),
            "frequency": x.astype(np.int64),
            "recency": recency_days / 7.0,
            "T": T,
            "monetary_value": zbar,
        }
    )


def ours(summary: pa.Table) -> tuple[dict[str, Any], pa.Table]:
    t0 = time.perf_counter()
    bg = BetaGeo.fit(summary["frequency"], summary["recency"], summary["T"])
    t1 = time.perf_counter()
    gg = GammaGamma.fit(summary["frequency"], summary["monetary_value"])
    t2 = time.perf_counter()
    scores = score_customers(
        summary,
        bg,
        gg,
        horizon=HORIZON_WEEKS,
        periods=MONTHS,
        period_length=WEEKS_PER_MONTH,
        discount_rate=DISCOUNT,
    )
    t3 = time.perf_counter()
    result = {
        "fit_bgnbd": t1 - t0,
        "fit_gamma_gamma": t2 - t1,
        "scoring": t3 - t2,
        "total": t3 - t0,
        "bgnbd": bg.params,
        "gamma_gamma": gg.params,
        "converged": bool(bg.fit_info and bg.fit_info.converged and gg.fit_info and gg.fit_info.converged),
        "standard_errors": {
            **(bg.fit_info.standard_errors if bg.fit_info else {}),
            **(gg.fit_info.standard_errors if gg.fit_info else {}),
        },
    }
    return result, scores


def run_lifetimes(python: str, summary: pa.Table, timeout: float) -> tuple[dict[str, Any], pa.Table] | str:
    with tempfile.TemporaryDirectory(prefix="tp-bench-clv-") as tmp:
        data, scores = Path(tmp) / "summary.parquet", Path(tmp) / "scores.parquet"
        pq.write_table(summary, data)
        try:
            done = subprocess.run(
                [
                    python,
                    "-c",
                    LIFETIMES_SCRIPT,
                    str(data),
                    str(scores),
                    str(HORIZON_WEEKS),
                    str(MONTHS),
                    str(DISCOUNT),
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"lifetimes did not finish in {timeout:.0f} s"
        if done.returncode != 0:
            return "lifetimes failed: " + done.stderr.strip().splitlines()[-1]
        return json.loads(done.stdout.strip().splitlines()[-1]), pq.read_table(scores)


def recovery(fitted: dict[str, float], truth: dict[str, float]) -> str:
    return ", ".join(
        f"{k} {fitted[k]:.4g} ({truth[k]:g}, {100 * (fitted[k] / truth[k] - 1):+.1f} %)" for k in truth
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000, 100_000])
    parser.add_argument("--runs", type=int, default=3, help="our side: best of this many runs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--continuous",
        action="store_true",
        help="purchase times not rounded to whole days: no two customers alike, the worst case for speed",
    )
    parser.add_argument("--lifetimes-python", help="a Python with lifetimes installed (benchmark only)")
    parser.add_argument("--lifetimes-timeout", type=float, default=1800.0)
    args = parser.parse_args()

    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}; load average {os.getloadavg()}"
    )
    if not args.lifetimes_python:
        print("lifetimes: skipped (no --lifetimes-python given; see the docstring to make one)")
    elif not Path(args.lifetimes_python).exists():
        print(f"lifetimes: skipped ({args.lifetimes_python} does not exist)")
        args.lifetimes_python = None
    for customers in args.customers:
        t0 = time.perf_counter()
        summary = simulate(customers, args.seed, args.continuous)
        generated = time.perf_counter() - t0
        x = summary["frequency"].to_numpy()
        print(
            f"\n== {customers:,} customers (generated in {generated:.1f} s; {(x > 0).mean():.1%} repeat buyers, "
            f"{x.sum():,} repeat purchases)"
        )
        runs = [ours(summary) for _ in range(args.runs)]
        best, scores = min(runs, key=lambda r: r[0]["total"])
        totals = sorted(r[0]["total"] for r in runs)
        print(
            f"touchpoints: total {best['total']:.2f} s (runs {', '.join(f'{t:.2f}' for t in totals)}): "
            f"fit BG/NBD {best['fit_bgnbd']:.2f} s, fit Gamma-Gamma {best['fit_gamma_gamma']:.2f} s, "
            f"scoring {best['scoring']:.2f} s; converged {best['converged']}"
        )
        print(f"  BG/NBD recovery: {recovery(best['bgnbd'], TRUE_BGNBD)}")
        print(f"  Gamma-Gamma recovery: {recovery(best['gamma_gamma'], TRUE_GG)}")
        print("  standard errors: " + ", ".join(f"{k} {v:.3g}" for k, v in best["standard_errors"].items()))
        bg_true = BetaGeo(**TRUE_BGNBD)
        gg_true = GammaGamma(**TRUE_GG)
        columns = [summary[c] for c in ("frequency", "recency", "T", "monetary_value")]
        clv_true = customer_lifetime_value(
            bg_true, gg_true, *columns, periods=MONTHS, period_length=WEEKS_PER_MONTH, discount_rate=DISCOUNT
        )
        clv_ours = scores["clv"].to_numpy()
        print(
            f"  CLV total, fitted vs true parameters: {clv_ours.sum():,.0f} vs {clv_true.sum():,.0f} "
            f"({100 * (clv_ours.sum() / clv_true.sum() - 1):+.2f} %)"
        )
        if args.lifetimes_python:
            outcome = run_lifetimes(args.lifetimes_python, summary, args.lifetimes_timeout)
            if isinstance(outcome, str):
                print(f"lifetimes: {outcome}")
                continue
            lt, lt_scores = outcome
            print(
                f"lifetimes {lt['version']} (pandas {lt['pandas']}): total {lt['total']:.2f} s: "
                f"fit BG/NBD {lt['fit_bgnbd']:.2f} s, fit Gamma-Gamma {lt['fit_gamma_gamma']:.2f} s, "
                f"scoring {lt['scoring']:.2f} s; ratio lifetimes / touchpoints {lt['total'] / best['total']:.1f}x"
            )
            print(f"  BG/NBD: {recovery(lt['bgnbd'], TRUE_BGNBD)}")
            print(f"  Gamma-Gamma: {recovery(lt['gamma_gamma'], TRUE_GG)}")
            for name in ("p_alive", "expected_purchases", "clv"):
                a, b = scores[name].to_numpy(), lt_scores[name].to_numpy()
                rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-9)
                print(
                    f"  {name}: median relative difference to lifetimes {np.median(rel):.2e}, max {rel.max():.2e}"
                )
    print(f"\nload average after: {os.getloadavg()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
