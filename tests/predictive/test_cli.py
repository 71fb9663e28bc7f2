"""``touchpoints clv fit`` and ``touchpoints churn train`` as an analyst runs them on a file: the published
CDNOW and Telco results come out of the commands' JSON, and a wrong column is named in the error."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.analytics.conftest import cli
from tests.predictive import cdnow_data

DATA = Path(__file__).parent / "data"
TELCO = DATA / "Telco-Customer-Churn.csv"


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The raw CDNOW sample as a user's CSV export: customer, date (YYYYMMDD), dollars."""
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    raw = cdnow_data.transactions()
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["customer", "date", "dollars"])
        out.writerows(zip(raw["customer"], raw["date"], raw["dollars"], strict=True))
    return path


def test_clv_fit_reproduces_the_published_cdnow_results(cdnow_csv: Path, tmp_path: Path) -> None:
    scores = tmp_path / "scores.parquet"
    out = cli(
        "clv", "fit", "--transactions", str(cdnow_csv), "--customer-col", "customer", "--date-col", "date",
        "--amount-col", "dollars", "--date-format", "%Y%m%d", "--calibration-end", "1997-09-30",
        "--observation-end", "1998-06-30", "--time-unit", "weeks", "--scores", str(scores), "--json",
    )  # fmt: skip
    answer = json.loads(out.stdout)
    bg, gg = answer["bgnbd"], answer["gamma_gamma"]
    # Fader, Hardie & Lee (2005); BTYD's log-likelihood; Hardie's Gamma-Gamma note
    for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert bg[name] == pytest.approx(published, rel=0.01), name
    assert bg["loglik"] == pytest.approx(-9582.43, abs=0.05)
    assert all(bg["standard_errors"][k] > 0 for k in ("r", "alpha", "a", "b"))
    for name, published in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert gg[name] == pytest.approx(published, rel=0.01), name
    assert (answer["customers"], answer["repeat_customers"]) == (2357, 946)
    # the holdout per calibration frequency, as in the BTYD vignette
    bins = answer["holdout"]["by_frequency"]
    assert [b["customers"] for b in bins] == [1411, 439, 214, 100, 62, 38, 29, 64]
    assert [round(b["actual"], 3) for b in bins] == [0.237, 0.697, 1.393, 1.560, 2.532, 2.947, 3.862, 6.359]
    assert [round(b["expected"], 3) for b in bins] == [0.225, 0.523, 1.044, 1.520, 2.164, 2.654, 3.504, 6.157]
    weeks = {c["period"]: c for c in answer["holdout"]["cumulative"]}
    assert [weeks[w]["actual"] for w in range(20, 26)] == [1359, 1414, 1484, 1517, 1573, 1672]
    # every customer's scores, written for the analyst
    table = pq.read_table(scores)
    assert table.num_rows == 2357 and {"p_alive", "expected_purchases", "clv"} <= set(table.column_names)
    assert answer["scores"]["total_clv"] == pytest.approx(sum(table["clv"].to_pylist()), rel=1e-6)


def test_clv_fit_names_a_wrong_column(cdnow_csv: Path) -> None:
    out = cli("clv", "fit", "--transactions", str(cdnow_csv), "--customer-col", "client", "--date-col", "date",
              check=False)  # fmt: skip
    assert out.returncode == 2
    assert "'client'" in out.stderr and "customer" in out.stderr and "Traceback" not in out.stderr


def test_churn_train_meets_the_published_auc_on_telco(tmp_path: Path) -> None:
    runs = {}
    for model in ("logistic", "gradient_boosting"):
        out = cli("churn", "train", "--table", str(TELCO), "--id-col", "customerID", "--label", "Churn",
                  "--model", model, "--json")  # fmt: skip
        runs[model] = json.loads(out.stdout)
    logistic, boosting = runs["logistic"]["metrics"], runs["gradient_boosting"]["metrics"]
    assert logistic["auc"] >= 0.83  # Machine Learning Bookcamp: 0.836-0.858
    assert boosting["auc"] >= logistic["auc"] - 0.01
    assert logistic["mean_predicted"] == pytest.approx(logistic["base_rate"], abs=0.03)  # calibrated
    assert "customerID" not in runs["logistic"]["features"]
    scores = tmp_path / "risk.csv"
    cli("churn", "train", "--table", str(TELCO), "--id-col", "customerID", "--label", "Churn",
        "--scores", str(scores))  # fmt: skip
    lines = scores.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7043 + 1 and "churn_risk" in lines[0]


def test_churn_train_names_a_bad_label(tmp_path: Path) -> None:
    table = tmp_path / "customers.csv"
    table.write_text("id,tenure,left\n1,3,maybe\n2,30,no\n3,5,yes\n", encoding="utf-8")
    out = cli("churn", "train", "--table", str(table), "--id-col", "id", "--label", "left", check=False)
    assert out.returncode == 2 and "'left'" in out.stderr and "maybe" in out.stderr


def _strict(text: str) -> dict[str, object]:
    """JSON as a strict parser reads it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the JSON output")

    answer: dict[str, object] = json.loads(text, parse_constant=refuse)
    return answer


def test_clv_fit_on_customers_without_heterogeneity_stays_finite_and_says_so(tmp_path: Path) -> None:
    """Every customer buys at the same rate and nobody drops out: BG/NBD's r and alpha run off to the
    Poisson limit. The answer must still be numbers (no NaN), with a warning that says what happened."""
    import numpy as np

    rng = np.random.default_rng(3)
    path = tmp_path / "uniform.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["customer", "date", "amount"])
        for c in range(400):
            start = int(rng.integers(0, 200))
            days = start + np.cumsum(rng.exponential(20.0, size=40)).astype(int)
            for d in sorted(set(days[days < 540].tolist()) | {start}):
                out.writerow(
                    [f"c{c}", (np.datetime64("2023-01-01") + d).astype(str), round(20 + 40 * rng.random(), 2)]
                )
    out_ = cli("clv", "fit", "--transactions", str(path), "--customer-col", "customer", "--date-col", "date",
               "--amount-col", "amount", "--calibration-end", "2024-03-31", "--json")  # fmt: skip
    answer = _strict(out_.stdout)
    scores = answer["scores"]
    assert isinstance(scores, dict) and scores["mean_expected_purchases"] > 0 and scores["total_clv"] > 0
    bins = answer["holdout"]["by_frequency"]  # type: ignore[index]
    assert all(b["expected"] is not None and b["expected"] > 0 for b in bins)
    assert any("edge" in w for w in answer["warnings"])  # type: ignore[union-attr]


def test_clv_fit_refuses_too_little_history_and_bad_options(cdnow_csv: Path, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.csv"
    tiny.write_text(
        "customer,date,amount\nA,2024-01-01,10\nA,2024-01-08,20\nB,2024-01-02,5\n", encoding="utf-8"
    )
    out = cli("clv", "fit", "--transactions", str(tiny), "--customer-col", "customer", "--date-col", "date",
              "--amount-col", "amount", check=False)  # fmt: skip
    assert out.returncode == 2 and "need at least" in out.stderr
    base = ["clv", "fit", "--transactions", str(cdnow_csv), "--customer-col", "customer", "--date-col", "date",
            "--amount-col", "dollars", "--date-format", "%Y%m%d"]  # fmt: skip
    for option, value in (("--discount-rate", "-1"), ("--margin", "nan"), ("--months", "100000"),
                          ("--scores", str(tmp_path / "scores.txt"))):  # fmt: skip
        out = cli(*base, option, value, check=False)
        assert out.returncode == 2 and option in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_churn_train_leaves_dates_and_ids_out_and_warns_of_a_leak(tmp_path: Path) -> None:
    import pandas as pd

    table = pd.read_csv(TELCO, dtype=str, keep_default_na=False).head(2000)
    table["signup"] = pd.date_range("2020-01-01", periods=len(table), freq="D").strftime("%Y-%m-%d")
    table["ticket_ref"] = [f"T-{i:05d}" for i in range(len(table))]
    table["churn_flag"] = (table["Churn"] == "Yes").astype(int).astype(str)
    path = tmp_path / "customers.csv"
    table.to_csv(path, index=False)
    answer = _strict(cli("churn", "train", "--table", str(path), "--id-col", "customerID", "--label", "Churn",
                         "--json").stdout)  # fmt: skip
    features = answer["features"]
    assert isinstance(features, dict) and {"signup", "ticket_ref"} <= set(features["dropped"])
    assert any("churn_flag" in w for w in answer["warnings"])  # type: ignore[union-attr]
    out = cli("churn", "train", "--table", str(path), "--id-col", "customerID", "--label", "Churn",
              "--cutoff", "2021-01-01", check=False)  # fmt: skip
    assert out.returncode == 2 and "--time-col" in out.stderr


def test_churn_rates_of_contracts_per_month_and_per_cohort(tmp_path: Path) -> None:
    """Four contracts worked by hand: January starts a and b, February c, March d; b ends in February,
    c in March. February: a and b active at its start, b leaves (1/2); March: a and c, c leaves (1/2)."""
    path = tmp_path / "contracts.csv"
    path.write_text(
        "customer_id,start,end\na,2026-01-05,\nb,2026-01-20,2026-02-10\nc,2026-02-03,2026-03-15\n"
        "d,2026-03-01,\n",
        encoding="utf-8",
    )
    rows = _strict(cli("churn", "rates", "--table", str(path), "--as-of", "2026-03-31", "--json").stdout)[
        "rows"
    ]
    by_month = {r["period_start"]: (r["customers_at_start"], r["churned"]) for r in rows}  # type: ignore[union-attr]
    assert by_month["2026-02-01"] == (2, 1) and by_month["2026-03-01"] == (2, 1)
    cohort = _strict(cli("churn", "rates", "--table", str(path), "--as-of", "2026-03-31", "--by", "cohort",
                         "--json").stdout)["rows"]  # fmt: skip
    january = {r["offset"]: r["churned"] for r in cohort if r["cohort"] == "2026-01-01"}  # type: ignore[union-attr]
    assert january == {0: 0, 1: 1, 2: 0}
