"""The shifted-beta-geometric model on Fader & Hardie's (2007) two cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.predictive.cdnow_data import DATA
from touchpoints.predictive.common import PredictiveError
from touchpoints.predictive.sbg import ShiftedBetaGeometric, sbg_loglik


def cohorts() -> pd.DataFrame:
    return pd.read_csv(DATA / "fader_hardie_2007_survivors.csv")


@pytest.mark.parametrize(
    ("cohort", "gamma", "delta", "forecast"),
    [
        # Fader & Hardie (2007); forecast: the README's re-fit, years 8-12, rounded to whole customers
        ("regular", 0.704, 1.182, [220, 204, 191, 180, 170]),
        ("highend", 0.668, 3.806, [460, 436, 414, 395, 378]),
    ],
)
def test_published_parameters_and_forecast(
    cohort: str, gamma: float, delta: float, forecast: list[int]
) -> None:
    survivors = cohorts()[cohort].to_numpy()
    model = ShiftedBetaGeometric.fit(survivors[:8])  # calibration: years 0-7
    assert model.gamma == pytest.approx(gamma, rel=0.005)
    assert model.delta == pytest.approx(delta, rel=0.005)
    assert model.fit_info is not None and model.fit_info.converged
    predicted = model.survivors(range(8, 13), cohort_size=1000)
    assert np.round(predicted).astype(int).tolist() == forecast
    # the forecast is close to what happened (within 5 % of the actual survivors)
    assert predicted == pytest.approx(survivors[8:], rel=0.05)


def test_retention_churn_and_survival_agree() -> None:
    model = ShiftedBetaGeometric.fit(cohorts()["regular"].to_numpy()[:8])
    t = np.arange(1, 13)
    survival = model.survival(np.arange(0, 13))
    assert survival[0] == 1.0
    assert model.churn_probability(t) == pytest.approx(survival[:-1] - survival[1:])
    assert model.retention_rate(t) == pytest.approx(survival[1:] / survival[:-1])
    # first-period churn is the mean of the Beta distribution, gamma / (gamma + delta)
    assert model.churn_probability(1)[0] == pytest.approx(model.gamma / (model.gamma + model.delta))
    # retention rates rise with tenure (the sBG's hallmark: the churn-prone leave first)
    assert np.all(np.diff(model.retention_rate(t)) > 0)
    assert model.to_dict()["model"] == "sbg"


def test_gradient_matches_finite_differences() -> None:
    survivors = cohorts()["highend"].to_numpy()[:8].astype(float)
    point = np.log([0.5, 2.5])
    _, analytic = sbg_loglik(point, survivors)
    numeric = [
        (sbg_loglik(point + step, survivors)[0] - sbg_loglik(point - step, survivors)[0]) / 2e-6
        for step in np.eye(2) * 1e-6
    ]
    assert analytic == pytest.approx(numeric, rel=1e-6)


def test_bad_survivors_are_named() -> None:
    with pytest.raises(PredictiveError, match="never increase"):
        ShiftedBetaGeometric.fit([1000, 800, 900])
    with pytest.raises(PredictiveError, match="cohort size"):
        ShiftedBetaGeometric.fit([1000])
    with pytest.raises(PredictiveError, match=r"survivors\[1\] is -5.0"):
        ShiftedBetaGeometric.fit([1000, -5])
    with pytest.raises(PredictiveError, match="periods must be whole numbers"):
        ShiftedBetaGeometric(0.7, 1.2).survival([1.5])
