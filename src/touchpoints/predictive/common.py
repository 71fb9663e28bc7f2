"""What the customer-value modules share: their error, and array helpers for fitting on compressed data."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Objective = Callable[[FloatArray], tuple[float, FloatArray]]


class PredictiveError(ValueError):
    """Bad input to a customer-value model: the message names the input and says what to do."""


class ChurnInputError(PredictiveError):
    """The churn input is wrong; the message names the input and says what to give instead."""


def as_float_array(values: Any, name: str) -> FloatArray:
    """``values`` (a sequence, numpy array, pandas Series or pyarrow array) as a 1-d float array, checked
    finite and non-negative."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise PredictiveError(f"{name} has shape {array.shape}: give one value per customer")
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise PredictiveError(
            f"{name}[{i}] is {float(array[i])!r}: give finite, non-negative values ({int(bad.sum())} bad)"
        )
    return array


def compress_rows(*columns: FloatArray) -> tuple[list[FloatArray], FloatArray, npt.NDArray[np.intp]]:
    """The unique rows of ``columns`` (as separate arrays), how many times each occurs, and the index of
    each input row's unique row: fitting on (unique rows, weights) gives the same likelihood as on all
    rows, with far fewer evaluations when customers share values (times in whole days)."""
    stacked = np.ascontiguousarray(np.column_stack(columns))
    view = stacked.view(np.dtype((np.void, stacked.dtype.itemsize * stacked.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(view, return_index=True, return_inverse=True, return_counts=True)
    unique = stacked[first]
    return [unique[:, i].copy() for i in range(unique.shape[1])], counts.astype(np.float64), inverse.ravel()


@dataclass(frozen=True)
class FitInfo:
    """How a model was fitted: maximised log-likelihood, customers, convergence and standard errors."""

    loglik: float
    n_customers: int
    converged: bool
    iterations: int
    standard_errors: dict[str, float]
    message: str = ""


def maximise_loglik(
    objective: Objective, start: FloatArray, names: tuple[str, ...], n: float
) -> tuple[FloatArray, FitInfo]:
    """Minimises ``objective(log_params) -> (mean negative loglik, gradient)`` over ``n`` customers (the
    mean is better conditioned than the sum) with L-BFGS-B; returns the parameters and the fit: the summed
    log-likelihood, and standard errors from the inverse Hessian of the summed negative log-likelihood
    (central differences of the gradient in log-parameters, then the delta method)."""
    from scipy import optimize

    result = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-20.0, 20.0)] * len(start),
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-7},
    )
    log_params = np.asarray(result.x, dtype=np.float64)
    params = np.exp(log_params)
    hessian = np.empty((len(start), len(start)))
    for i in range(len(start)):
        step = 1e-5 * max(1.0, abs(log_params[i]))
        up, down = log_params.copy(), log_params.copy()
        up[i] += step
        down[i] -= step
        hessian[i] = (objective(up)[1] - objective(down)[1]) / (2 * step)
    hessian = (hessian + hessian.T) / 2
    try:
        cov = np.linalg.inv(hessian * n)
        se_log = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    except np.linalg.LinAlgError:
        se_log = np.full(len(start), np.nan)
    errors = {name: float(p * s) for name, p, s in zip(names, params, se_log, strict=True)}
    gradient_ok = bool(np.max(np.abs(objective(log_params)[1])) < 1e-3 * max(1.0, abs(result.fun)))
    info = FitInfo(
        loglik=-float(result.fun) * n,
        n_customers=round(n),
        converged=bool(result.success) or gradient_ok,
        iterations=int(result.nit),
        standard_errors=errors,
        message=str(result.message),
    )
    return params, info


def fit_info_dict(info: FitInfo) -> dict[str, Any]:
    """``info`` as JSON-friendly values (a standard error that could not be computed is None)."""
    return {
        "loglik": info.loglik,
        "n_customers": info.n_customers,
        "converged": info.converged,
        "iterations": info.iterations,
        "standard_errors": {k: (None if math.isnan(v) else v) for k, v in info.standard_errors.items()},
    }


def read_table(
    source: Any, what: str, error: type[PredictiveError] = PredictiveError, *, copy: bool = False
) -> Any:
    """A pandas DataFrame from a CSV or Parquet path, a pyarrow Table or a DataFrame (``copy``: a copy of
    it). CSV columns are read as text and typed later, so blanks and ids with leading zeros survive."""
    import os

    import pandas as pd
    import pyarrow as pa

    if isinstance(source, pd.DataFrame):
        return source.copy() if copy else source
    if isinstance(source, pa.Table):
        return source.to_pandas()
    path = os.fspath(source)
    if not os.path.exists(path):
        raise error(f"{what} {path!r}: no such file; give a CSV or Parquet file")
    if path.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if path.lower().endswith((".csv", ".txt")):
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise error(
                f"{what} {path!r}: not a readable CSV file ({exc}); give a CSV with a header row"
            ) from exc
        if frame.empty:
            raise error(f"{what} {path!r}: no rows below the header; give a file with data")
        return frame
    raise error(f"{what} {path!r}: unknown file type; give a .csv or .parquet file")


def require_columns(
    frame: Any, columns: Any, what: str, error: type[PredictiveError] = PredictiveError, hint: str = ""
) -> None:
    """Raise ``error`` naming the missing columns of ``what`` and the columns it has."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:30]))
        raise error(f"{what}: no column {', '.join(map(repr, missing))}; the columns are: {have}{hint}")


# The least history the value models are fitted on: below it the parameters are noise (a Gamma-Gamma p in
# the millions from five repeat buyers), so no CLV is given rather than a confident wrong one.
MIN_CUSTOMERS = 50
MIN_REPEATERS = 20


def check_history(customers: int, repeaters: int) -> str | None:
    """Why ``customers`` buyers, ``repeaters`` of them with a repeat purchase, are too few to fit on."""
    if customers >= MIN_CUSTOMERS and repeaters >= MIN_REPEATERS:
        return None
    return (
        f"{customers} customers, {repeaters} with a repeat purchase: the models need at least {MIN_CUSTOMERS} "
        f"customers and {MIN_REPEATERS} with a repeat purchase to say anything"
    )


def check_value_options(horizon: float, unit: str, months: int, discount_rate: float, margin: float) -> None:
    """The CLV options, named as the command line names them."""
    top = 520 if unit == "weeks" else 3650
    if not math.isfinite(horizon) or not 0 < horizon <= top:
        raise PredictiveError(f"--horizon {horizon}: give a number of {unit} above 0, at most {top}")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
        raise PredictiveError(f"--months {months}: give a whole number of months from 1 to 120")
    if not math.isfinite(discount_rate) or not 0 <= discount_rate < 1:
        raise PredictiveError(
            f"--discount-rate {discount_rate}: give a monthly rate from 0 to below 1, e.g. 0.01"
        )
    if not math.isfinite(margin) or not 0 < margin <= 1:
        raise PredictiveError(
            f"--margin {margin}: give the share of spend that is profit, above 0, at most 1"
        )


def unstable(fitted: dict[str, Any]) -> list[str]:
    """Warnings for a fitted model's ``to_dict()``: not converged, or parameters without a standard error
    (the fit ran to the edge of the parameter space: the data do not pin them down)."""
    name = fitted.get("model", "model")
    out = []
    if fitted.get("converged") is False:
        out.append(f"{name}: the fit did not converge ({fitted.get('message', 'see iterations')})")
    loose = [k for k, v in (fitted.get("standard_errors") or {}).items() if v is None or not math.isfinite(v)]
    if loose:
        out.append(
            f"{name}: {', '.join(loose)} ran to the edge of what the data can tell (no standard error): "
            "read them as 'very large or very small', not as estimates"
        )
    return out


def rft_arrays(frequency: Any, recency: Any, T: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
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


def compress_weighted(*columns: FloatArray) -> list[FloatArray]:
    """The unique rows of the data columns, then the weights (the last column) summed per unique row."""
    *data, w = columns
    unique, _, inverse = compress_rows(*data)
    counts = np.bincount(inverse, weights=w, minlength=len(unique[0])).astype(np.float64)
    return [*unique, counts]


def fit_rows(
    frequency: Any, recency: Any, T: Any, weights: Any, compress: bool
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """A repeat-purchase model's data: (x, t_x, T) checked (``rft_arrays``) and each row's weight (1, or
    ``weights``), on the unique rows with summed weights when ``compress`` (the same likelihood, faster)."""
    x, t_x, big_t = rft_arrays(frequency, recency, T)
    w = np.ones_like(x) if weights is None else as_float_array(weights, "weights")
    if compress:
        x, t_x, big_t, w = compress_weighted(x, t_x, big_t, w)
    return x, t_x, big_t, w
