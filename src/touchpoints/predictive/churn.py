"""Churn: who is likely to leave, why, and how many left.

Churn risk is a calibrated probability from a scikit-learn classifier trained on a customer table: one row
per customer, an id column, a churn label and any other columns as features.

- Features: the id, the label, the time column and ``exclude`` are never features. A column whose every
  non-blank value reads as a number is numeric (blank strings become missing, e.g. Telco's
  ``TotalCharges``; missing values take the training median); booleans are 0/1; date columns are left out
  (listed in ``features["dropped"]``); every other column is categorical, one-hot encoded with unknown
  values ignored at scoring time (missing values are the category ``"missing"``).
- Models: ``"logistic"`` (logistic regression on standardised features) or ``"gradient_boosting"``
  (``HistGradientBoostingClassifier``); both seeded by ``random_state``. Training and scoring run on one
  thread (no ``n_jobs``, OpenMP and BLAS limited to 1): on a busy machine OpenMP threads that wait for
  each other made boosting 50 times slower.
- Split: with ``time_col``, train on customers up to a cut-off (a quantile of the time column, or a date)
  and test on those after it; without, a stratified random split seeded by ``random_state``.
- Calibration: ``CalibratedClassifierCV(method=..., cv=5, ensemble=False)``. The model is fitted once on the
  whole training set and a single calibrator (Platt's sigmoid by default, or isotonic) is fitted on 5-fold
  out-of-fold scores. The sigmoid is strictly increasing, so calibration never reorders customers: AUC and
  drivers are those of the fitted model. Isotonic is more flexible but makes ties and wants more data.
- Drivers, globally: standardised coefficients (logistic) or permutation importance on the holdout, the
  drop in AUC when a column is shuffled (gradient boosting). Per customer, contributions to the model's
  log-odds, positive raising risk: for logistic regression ``coef * standardised value`` summed over a
  column's one-hot features (relative to the average training customer); for gradient boosting, by
  occlusion against the training distribution: the log-odds minus their average when that column alone
  takes the training values instead (numbers: 10 equally weighted decile midpoints; categories: the 20
  most frequent, weighted by share). For a linear model the two are the same number; against a single
  baseline value instead, the most common category (Telco's month-to-month contract) would never show.

Churn rates per period and cohort are in ``churn_rates``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from touchpoints.predictive import common
from touchpoints.predictive.common import ChurnInputError as ChurnInputError

TableLike: TypeAlias = str | os.PathLike[str] | pa.Table | pd.DataFrame
ModelKind = Literal["logistic", "gradient_boosting"]
MODELS: tuple[str, ...] = ("logistic", "gradient_boosting")
_YES = frozenset({"yes", "y", "true", "t", "1", "1.0", "churned", "churn"})
_NO = frozenset({"no", "n", "false", "f", "0", "0.0", "retained", "active"})
_MISSING = "missing"


def read_table(source: TableLike, what: str = "table") -> pd.DataFrame:
    """``common.read_table`` (a copy: the caller may change it), raising ``ChurnInputError``."""
    frame: pd.DataFrame = common.read_table(source, what, ChurnInputError, copy=True)
    return frame


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    common.require_columns(frame, columns, what, ChurnInputError)


def churn_labels(values: pd.Series, column: str) -> np.ndarray:
    """0/1 labels from Yes/No, true/false, 1/0 (any case; booleans and numbers too)."""
    if values.isna().any():
        raise ChurnInputError(
            f"label column {column!r}: {int(values.isna().sum())} rows have no label; "
            "drop them or fill them with Yes/No"
        )
    text = values.astype(str).str.strip().str.lower()
    yes, no = text.isin(_YES), text.isin(_NO)
    if not (yes | no).all():
        seen = sorted(set(values.astype(str)))
        shown = ", ".join(map(repr, seen[:10])) + (" ..." if len(seen) > 10 else "")
        raise ChurnInputError(
            f"label column {column!r} has values {shown}; give Yes/No, 1/0 or true/false "
            "(1 / Yes / true meaning the customer churned)"
        )
    labels: np.ndarray = np.asarray(yes.to_numpy(), dtype=np.int64)
    if labels.min() == labels.max():
        raise ChurnInputError(
            f"label column {column!r}: every customer is {'churned' if labels[0] else 'retained'}; "
            "a churn model needs customers of both kinds"
        )
    return labels


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns are features and how: numeric (imputed) or categorical (one-hot)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    dropped: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def frame(self, table: pd.DataFrame, what: str = "table") -> pd.DataFrame:
        """The feature columns of ``table``, typed: numbers (blank -> NaN) and category strings."""
        require_columns(table, self.columns, what)
        out = pd.DataFrame(index=table.index)
        for col in self.numeric:
            out[col] = _as_number(table[col])
        for col in self.categorical:
            out[col] = table[col].astype(object).where(table[col].notna(), _MISSING).astype(str)
        return out

    def preprocessor(self) -> ColumnTransformer:
        """Numeric: median imputation; categorical: one-hot (``column_value``), unknown values ignored."""
        # a column with no value in training keeps its place (filled with 0): contributions go by position
        impute = SimpleImputer(strategy="median", keep_empty_features=True)
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        return ColumnTransformer(
            [("num", impute, list(self.numeric)), ("cat", onehot, list(self.categorical))],
            verbose_feature_names_out=False,
        )


def _as_number(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype(str).str.strip().where(values.notna(), "")
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
    return numbers.where(
        np.isfinite(numbers) & (numbers.abs() < 1e100)
    )  # 1e300 overflows the scaler: missing


MOSTLY_NUMBERS = 0.95  # a column this share of whose values are numbers is numeric (the rest missing)
MAX_LEVELS = 100  # a text column with more distinct values than this, over half its rows, is an identifier


def infer_features(table: pd.DataFrame, skip: Sequence[str]) -> FeatureSpec:
    """Numeric columns (at least ``MOSTLY_NUMBERS`` of the non-blank values numbers: the others become
    missing), categorical ones, and dropped columns: dates (typed, or text that reads as dates: a date is
    not a feature, its age would be), identifier-like text (more than ``MAX_LEVELS`` distinct values over
    more than half the rows: one-hot, it would only memorise customers) and columns with no value."""
    numeric: list[str] = []
    categorical: list[str] = []
    dropped: list[str] = []
    for col in table.columns:
        if col in skip:
            continue
        values = table[col]
        if pd.api.types.is_datetime64_any_dtype(values):
            dropped.append(col)
        elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            (numeric if values.notna().any() else dropped).append(col)
        else:
            text = values.astype(str).str.strip()
            filled = values.notna() & (text != "")
            if not filled.any():
                dropped.append(col)
                continue
            as_number = pd.to_numeric(text[filled], errors="coerce")
            if as_number.notna().mean() >= MOSTLY_NUMBERS:
                numeric.append(col)
                continue
            sample = text[filled].head(1000)
            is_date = (
                sample.str.contains(r"\d[-/.]\d", regex=True).all()
                and pd.to_datetime(sample, errors="coerce", format="mixed").notna().all()
            )
            levels = text[filled].nunique()
            is_identifier = levels > MAX_LEVELS and levels > 0.5 * filled.sum()
            (dropped if is_date or is_identifier else categorical).append(col)
    if not numeric and not categorical:
        raise ChurnInputError("the table has no feature columns besides the id, label and excluded ones")
    return FeatureSpec(tuple(numeric), tuple(categorical), tuple(dropped))


@dataclass(frozen=True)
class Split:
    """How the holdout was chosen, and its size."""

    kind: Literal["random", "time"]
    n_train: int
    n_test: int
    test_size: float | None = None
    time_col: str | None = None
    cutoff: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _split(
    table: pd.DataFrame,
    labels: np.ndarray,
    time_col: str | None,
    cutoff: float | str | date,
    test_size: float,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray, Split]:
    rows = np.arange(len(table))
    if time_col is None:
        if not 0.05 <= test_size <= 0.5:
            raise ChurnInputError(f"test_size {test_size}: give a share from 0.05 to 0.5, e.g. 0.2")
        if min(int(labels.sum()), len(labels) - int(labels.sum())) < 10:
            raise ChurnInputError(
                f"{int(labels.sum())} churned and {len(labels) - int(labels.sum())} retained customers: "
                "give at least 10 of each to train and test on"
            )
        train, test = train_test_split(rows, test_size=test_size, random_state=random_state, stratify=labels)
        return np.sort(train), np.sort(test), Split("random", len(train), len(test), test_size=test_size)
    times = pd.to_datetime(table[time_col], errors="coerce", format="ISO8601", utc=True).dt.tz_localize(None)
    if times.isna().any():
        raise ChurnInputError(
            f"time column {time_col!r}: {int(times.isna().sum())} values are not dates; fix or drop those rows"
        )
    if isinstance(cutoff, float | int) and not isinstance(cutoff, bool):
        if not 0 < cutoff < 1:
            raise ChurnInputError(f"cutoff {cutoff}: give a quantile between 0 and 1 (e.g. 0.8) or a date")
        boundary = times.quantile(float(cutoff))
    else:
        try:
            boundary = pd.Timestamp(cutoff)
        except ValueError as exc:
            raise ChurnInputError(
                f"cutoff {cutoff!r}: give a quantile such as 0.8 or a date such as 2024-06-30"
            ) from exc
        boundary = boundary.tz_convert("UTC").tz_localize(None) if boundary.tzinfo else boundary
    train_mask = (times <= boundary).to_numpy()
    train, test = rows[train_mask], rows[~train_mask]
    if len(train) == 0 or len(test) == 0:
        raise ChurnInputError(
            f"cutoff {boundary}: {len(train)} customers on or before it and {len(test)} after; "
            f"give a cut-off inside the range of {time_col!r} ({times.min()} to {times.max()})"
        )
    split = Split("time", len(train), len(test), time_col=time_col, cutoff=str(boundary))
    return train, test, split


def _estimator(kind: str, spec: FeatureSpec, random_state: int) -> Pipeline:
    if kind == "logistic":
        return Pipeline(
            [
                ("prepare", spec.preprocessor()),
                ("scale", StandardScaler()),
                ("model", LogisticRegression(C=1.0, max_iter=2000, random_state=random_state)),
            ]
        )
    if kind == "gradient_boosting":
        gbm = HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=200,
            max_depth=3,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=random_state,
        )
        return Pipeline([("prepare", spec.preprocessor()), ("model", gbm)])
    raise ChurnInputError(f"model {kind!r}: give one of {', '.join(MODELS)}")


def holdout_metrics(labels: np.ndarray, risk: np.ndarray) -> dict[str, float]:
    """AUC, average precision, Brier, log loss, accuracy at 0.5, base rate, mean risk, top-decile lift."""
    order = np.argsort(-risk, kind="stable")
    top = order[: max(1, int(np.ceil(len(risk) / 10)))]
    base = float(labels.mean())
    return {
        "auc": float(roc_auc_score(labels, risk)),
        "average_precision": float(average_precision_score(labels, risk)),
        "brier": float(brier_score_loss(labels, risk)),
        "log_loss": float(log_loss(labels, np.clip(risk, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "accuracy": float(accuracy_score(labels, (risk >= 0.5).astype(np.int64))),
        "base_rate": base,
        "mean_predicted": float(risk.mean()),
        "lift_top_decile": float(labels[top].mean() / base) if base > 0 else float("nan"),
        "n": len(labels),
    }


def calibration_table(labels: np.ndarray, risk: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Customers in ``bins`` equal-count groups by predicted risk (lowest first): mean predicted vs actual."""
    ranks = np.argsort(np.argsort(risk, kind="stable"), kind="stable")
    decile = ranks * bins // len(risk)
    frame = pd.DataFrame({"decile": decile + 1, "predicted": risk, "actual": labels})
    grouped = frame.groupby("decile").agg(
        customers=("actual", "size"), mean_predicted=("predicted", "mean"), actual_rate=("actual", "mean")
    )
    return [
        {"decile": int(d), "customers": int(r.customers), "mean_predicted": float(r.mean_predicted), "actual_rate": float(r.actual_rate)}
        for d, r in grouped.iterrows()
    ]  # fmt: skip


@dataclass
class ChurnModel:
    """A trained, calibrated churn-risk model with its holdout evaluation."""

    kind: str
    id_col: str
    label: str
    features: FeatureSpec
    calibration_method: str
    split: Split
    metrics: dict[str, float]
    calibration: list[dict[str, float]]
    drivers: list[dict[str, Any]]
    calibrated: CalibratedClassifierCV = field(repr=False)
    background: dict[str, tuple[list[Any], np.ndarray]] = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    @property
    def fitted(self) -> Pipeline:
        """The model fitted on the whole training set (the one the calibrator wraps)."""
        estimator: Pipeline = self.calibrated.calibrated_classifiers_[0].estimator
        return estimator

    def risk(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probabilities for typed feature rows."""
        return np.asarray(self.calibrated.predict_proba(features)[:, 1], dtype=float)

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per customer and feature column, the signed contribution to the log-odds of churn (see the
        module docstring), for typed feature rows (``self.features.frame(table)``)."""
        with threadpool_limits(limits=1):
            return self._contributions(features)

    def _contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        if self.kind == "logistic":
            prepare, scale = self.fitted.named_steps["prepare"], self.fitted.named_steps["scale"]
            coef = self.fitted.named_steps["model"].coef_[0]
            per_encoded = scale.transform(prepare.transform(features)) * coef
            # the one-hot features of a column follow the numeric ones, in the encoder's category order
            categories = prepare.named_transformers_["cat"].categories_ if self.features.categorical else []
            sizes = [1] * len(self.features.numeric) + [len(c) for c in categories]
            starts = np.cumsum([0, *sizes[:-1]])
            summed = np.add.reduceat(per_encoded, starts, axis=1) if len(starts) else per_encoded
            return pd.DataFrame(summed, columns=self.features.columns, index=features.index)
        full = self.fitted.decision_function(features)
        out = pd.DataFrame(index=features.index, columns=self.features.columns, dtype=float)
        for col in self.features.columns:  # one batch per column and background value, over all customers
            values, weights = self.background[col]
            expected = np.zeros(len(features))
            for value, weight in zip(values, weights, strict=True):
                occluded = features.copy()
                occluded[col] = value
                expected += weight * self.fitted.decision_function(occluded)
            out[col] = full - expected
        return out

    def score(self, table: TableLike, top: int = 3) -> pd.DataFrame:
        """Per customer: the id, ``churn_risk`` (calibrated probability) and the ``top`` drivers, the
        feature columns with the largest absolute contribution to the log-odds (positive raises risk):
        ``driver_1``, ``driver_1_value`` (the customer's value, as text), ``driver_1_contribution``,
        ``driver_2``, ..."""
        with threadpool_limits(limits=1):
            return self._score(read_table(table), top)

    def _score(self, frame: pd.DataFrame, top: int) -> pd.DataFrame:
        require_columns(frame, [self.id_col], "table to score")
        features = self.features.frame(frame, "table to score")
        contrib = self.contributions(features)
        values = contrib.to_numpy()
        order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :top]
        names = np.asarray(contrib.columns)[order]
        picked = np.take_along_axis(values, order, axis=1)
        shown = np.take_along_axis(features[contrib.columns].astype(str).to_numpy(), order, axis=1)
        out = pd.DataFrame({self.id_col: frame[self.id_col].to_numpy(), "churn_risk": self.risk(features)})
        for k in range(order.shape[1]):
            out[f"driver_{k + 1}"] = names[:, k]
            out[f"driver_{k + 1}_value"] = shown[:, k]
            out[f"driver_{k + 1}_contribution"] = picked[:, k]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: model, label, features, split, calibration method, metrics, deciles, drivers."""
        return {
            "model": self.kind,
            "id_col": self.id_col,
            "label": self.label,
            "features": {
                "numeric": list(self.features.numeric),
                "categorical": list(self.features.categorical),
                "dropped": list(self.features.dropped),
            },
            "split": self.split.to_dict(),
            "calibration_method": self.calibration_method,
            "metrics": dict(self.metrics),
            "calibration": list(self.calibration),
            "drivers": list(self.drivers),
            "warnings": list(self.warnings),
        }


def train_churn_model(
    table: TableLike,
    *,
    id_col: str,
    label: str,
    model: ModelKind = "logistic",
    exclude: Sequence[str] = (),
    time_col: str | None = None,
    cutoff: float | str | date | datetime = 0.8,
    test_size: float = 0.2,
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid",
    random_state: int = 0,
) -> ChurnModel:
    """Train and evaluate a calibrated churn-risk model on a customer table (one row per customer).

    ``label`` holds Yes/No, 1/0 or true/false (1 = churned). With ``time_col`` (e.g. the signup or snapshot
    date), customers up to ``cutoff`` train the model and later ones test it; ``cutoff`` is a quantile
    (0.8: the earliest 80%) or a date. Otherwise ``test_size`` of the customers, stratified by the label, are
    held out. The same ``random_state`` gives the same model and metrics."""
    with threadpool_limits(limits=1):
        return _train(
            table, id_col, label, model, exclude, time_col, cutoff, test_size, calibration, random_state
        )


def _train(
    table: TableLike,
    id_col: str,
    label: str,
    model: str,
    exclude: Sequence[str],
    time_col: str | None,
    cutoff: float | str | date | datetime,
    test_size: float,
    calibration: str,
    random_state: int,
) -> ChurnModel:
    if model not in MODELS:
        raise ChurnInputError(f"model {model!r}: give one of {', '.join(MODELS)}")
    if calibration not in ("sigmoid", "isotonic"):
        raise ChurnInputError(f"calibration {calibration!r}: give sigmoid or isotonic")
    frame = read_table(table).reset_index(drop=True)
    require_columns(frame, [id_col, label, *exclude, *([time_col] if time_col else [])], "customer table")
    if frame[id_col].duplicated().any():
        dup = frame.loc[frame[id_col].duplicated(), id_col].iloc[0]
        raise ChurnInputError(
            f"id column {id_col!r}: {dup!r} appears more than once; give one row per customer"
        )
    labels = churn_labels(frame[label], label)
    spec = infer_features(frame, [id_col, label, *exclude, *([time_col] if time_col else [])])
    features = spec.frame(frame)
    train, test, split = _split(frame, labels, time_col, cutoff, test_size, random_state)
    if labels[train].min() == labels[train].max():
        raise ChurnInputError(
            f"the training customers ({split.kind} split) are all of one class; move the cut-off or add data"
        )
    x_train, y_train = features.iloc[train], labels[train]
    x_test, y_test = features.iloc[test], labels[test]
    calibrated = CalibratedClassifierCV(
        _estimator(model, spec, random_state), method=calibration, cv=5, ensemble=False
    )
    calibrated.fit(x_train, y_train)
    risk = np.asarray(calibrated.predict_proba(x_test)[:, 1], dtype=float)
    if y_test.min() == y_test.max():
        raise ChurnInputError(
            f"the holdout customers are all {'churned' if y_test[0] else 'retained'}, so AUC is undefined; "
            "move the cut-off or use a random split"
        )
    metrics = holdout_metrics(y_test, risk)
    result = ChurnModel(
        kind=model,
        id_col=id_col,
        label=label,
        features=spec,
        calibration_method=calibration,
        split=split,
        metrics=metrics,
        calibration=calibration_table(y_test, risk),
        drivers=[],
        calibrated=calibrated,
        background=_background(x_train, spec),
    )
    result.drivers = _global_drivers(result, x_test, y_test, random_state)
    result.warnings = _warnings(features.iloc[train], y_train, len(test), label)
    return result


def _warnings(x_train: pd.DataFrame, y_train: np.ndarray, held_out: int, label: str) -> list[str]:
    """What a user should know about the trained model: a column that alone gives the label away (it is
    probably the label under another name, or known only after the customer left), a holdout too small
    to trust its metrics."""
    out = []
    for col in x_train.columns:
        values = x_train[col]
        if pd.api.types.is_numeric_dtype(values) and values.notna().all() and values.nunique() > 1:
            auc = roc_auc_score(y_train, values)
            if max(auc, 1 - auc) >= 0.99:
                out.append(f"column {col!r} alone separates churned from retained customers (AUC "
                           f"{max(auc, 1 - auc):.3f}): is it {label!r} under another name, or known only "
                           "after they left? Leave it out with --exclude")  # fmt: skip
        elif label.lower() in str(col).lower():
            out.append(f"column {col!r} looks like the label {label!r}: leave it out with --exclude if it is")
    if held_out < 50:
        out.append(f"only {held_out} customers held out: the metrics are rough")
    return out


def _background(x_train: pd.DataFrame, spec: FeatureSpec) -> dict[str, tuple[list[Any], np.ndarray]]:
    """Each column's training distribution in a few weighted values, for occlusion."""
    out: dict[str, tuple[list[Any], np.ndarray]] = {}
    for col in spec.numeric:
        known = x_train[col].dropna()
        points = known.quantile((np.arange(10) + 0.5) / 10).tolist() if len(known) else [np.nan]
        out[col] = (points, np.full(len(points), 1 / len(points)))
    for col in spec.categorical:
        shares = (
            x_train[col]
            .value_counts(normalize=True, sort=False)
            .sort_values(ascending=False, kind="stable")[:20]
        )
        out[col] = (shares.index.tolist(), (shares / shares.sum()).to_numpy())
    return out


def _global_drivers(
    model: ChurnModel, x_test: pd.DataFrame, y_test: np.ndarray, random_state: int
) -> list[dict[str, Any]]:
    """Logistic: standardised coefficients per encoded feature; boosting: permutation AUC drop per column."""
    if model.kind == "logistic":
        names = model.fitted.named_steps["prepare"].get_feature_names_out()
        coef = model.fitted.named_steps["model"].coef_[0]
        order = np.argsort(-np.abs(coef), kind="stable")
        return [{"feature": str(names[i]), "coefficient": float(coef[i])} for i in order]
    imp = permutation_importance(
        model.fitted, x_test, y_test, scoring="roc_auc", n_repeats=5, random_state=random_state
    )
    order = np.argsort(-imp.importances_mean, kind="stable")
    cols = x_test.columns
    return [
        {"feature": str(cols[i]), "auc_drop": float(imp.importances_mean[i]), "auc_drop_std": float(imp.importances_std[i])}
        for i in order
    ]  # fmt: skip
