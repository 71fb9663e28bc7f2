"""``touchpoints clv fit``: BG/NBD and Gamma-Gamma on a transactions file, with holdout diagnostics."""

from __future__ import annotations

from typing import Any

import click

from touchpoints.cli.common import json_option, print_json, scores_option, write_scores


@click.group("clv")
def clv() -> None:
    """Customer lifetime value from a transactions file (BG/NBD, Gamma-Gamma; see docs/value.md)."""


@clv.command("fit")
@click.option(
    "--transactions",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CSV or Parquet file, one row per transaction.",
)
@click.option("--customer-col", required=True, help="Column with the customer id.")
@click.option("--date-col", required=True, help="Column with the transaction's date (or time).")
@click.option("--amount-col", default=None, help="Column with the amount (for Gamma-Gamma and CLV).")
@click.option("--date-format", default=None, help="strptime format of the dates, e.g. %Y%m%d (default ISO).")
@click.option(
    "--calibration-end",
    default=None,
    help="Last day of calibration (inclusive); later transactions are the holdout.",
)
@click.option("--observation-end", default=None, help="Last day of data (default: the last transaction's).")
@click.option("--time-unit", type=click.Choice(["days", "weeks"]), default="weeks", show_default=True)
@click.option("--pareto-nbd", is_flag=True, help="Also fit Pareto/NBD.")
@click.option(
    "--horizon",
    type=float,
    default=None,
    help="Expected purchases over this many time units (default: 52 weeks, or 364 days).",
)
@click.option("--months", type=int, default=12, show_default=True, help="CLV over this many months.")
@click.option("--discount-rate", type=float, default=0.01, show_default=True, help="Monthly discount rate.")
@click.option("--margin", type=float, default=1.0, show_default=True, help="Share of spend that is profit.")
@scores_option("Write each customer's P(alive), expected purchases, spend and CLV here (.csv or .parquet).")
@json_option
def fit(
    path: str, customer_col: str, date_col: str, amount_col: str | None, date_format: str | None,
    calibration_end: str | None, observation_end: str | None, time_unit: str, pareto_nbd: bool,
    horizon: float | None, months: int, discount_rate: float, margin: float, scores_path: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Fit BG/NBD (and Gamma-Gamma with --amount-col) by maximum likelihood: parameters with standard
    errors and log-likelihood; with --calibration-end before the data's end, the holdout per calibration
    frequency and the cumulative repeat purchases, actual against predicted."""
    import numpy as np

    from touchpoints.predictive.clv import (
        cumulative_repeat_purchases,
        fit_value_models,
        holdout_by_frequency,
        score_customers,
    )
    from touchpoints.predictive.common import PredictiveError, check_history, check_value_options, unstable
    from touchpoints.predictive.summary import summarise_transactions

    horizon = horizon if horizon is not None else (52.0 if time_unit == "weeks" else 364.0)
    try:
        check_value_options(horizon, time_unit, months, discount_rate, margin)
        summary = summarise_transactions(
            path, customer_col=customer_col, date_col=date_col, amount_col=amount_col,
            calibration_end=calibration_end, observation_end=observation_end, time_unit=time_unit,
            date_format=date_format,
        )  # fmt: skip
        repeaters = int(np.count_nonzero(summary["frequency"].to_numpy(zero_copy_only=False) > 0))
        too_few = check_history(len(summary), repeaters)
        if too_few:
            raise PredictiveError(f"{path}: {too_few}")
        with np.errstate(all="ignore"):
            models = fit_value_models(summary, pareto_nbd=pareto_nbd)
            fitted = models.to_dict()
            answer: dict[str, Any] = {
                "transactions": str(path),
                "time_unit": time_unit,
                "customers": len(summary),
                "repeat_customers": repeaters,
                **fitted,
                "warnings": [w for m in fitted.values() if m for w in unstable(m)],
            }
            if "frequency_holdout" in summary.column_names:
                answer["holdout"] = {
                    "by_frequency": [
                        b for b in holdout_by_frequency(models.bgnbd, summary).to_pylist() if b["customers"]
                    ],
                    "cumulative": _cumulative(
                        cumulative_repeat_purchases, models.bgnbd, summary, path, customer_col, date_col,
                        date_format, time_unit, str(calibration_end),
                    ),
                }  # fmt: skip
            scores = score_customers(
                summary, models.bgnbd, models.gamma_gamma, horizon=horizon, periods=months,
                period_length=4.345 if time_unit == "weeks" else 30.0, discount_rate=discount_rate, margin=margin,
            )  # fmt: skip
        answer["scores"] = _totals(scores)
        if scores_path:
            write_scores(scores, scores_path)
            answer["scores"]["written_to"] = scores_path
    except PredictiveError as exc:
        raise click.UsageError(_flags(str(exc))) from exc
    except OSError as exc:
        raise click.ClickException(
            f"--scores {scores_path}: {exc.strerror or exc}; give a writable file"
        ) from exc
    if as_json:
        print_json(answer)
        return
    _print(answer)


def _cumulative(fn: Any, model: Any, summary: Any, path: str, customer_col: str, date_col: str,
                date_format: str | None, time_unit: str, calibration_end: str) -> list[dict[str, Any]]:  # fmt: skip
    """The tracking curve from the first customer's first purchase to the holdout's end."""
    from datetime import date, timedelta

    from touchpoints.predictive.summary import TIME_UNITS

    unit = TIME_UNITS[time_unit]
    end = date.fromisoformat(str(calibration_end)[:10])
    start = end - timedelta(days=round(max(summary["T"].to_pylist()) * unit))
    last = end + timedelta(days=round(max(summary["duration_holdout"].to_pylist()) * unit))
    periods = -(-((last - start).days + 1) // int(unit))
    table = fn(model, summary, path, customer_col=customer_col, date_col=date_col, start=start,
               periods=periods, time_unit=time_unit, date_format=date_format)  # fmt: skip
    return [
        {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in table.to_pylist()
    ]


_FLAGS = {
    "customer_col / date_col / amount_col": "--customer-col / --date-col / --amount-col",
    "date_format": "--date-format",
    "calibration_end": "--calibration-end",
    "observation_end": "--observation-end",
    "time_unit": "--time-unit",
}


def _flags(message: str) -> str:
    """The library's argument names as the command's options."""
    for name, flag in _FLAGS.items():
        message = message.replace(name, flag)
    return message


def _totals(scores: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"customers": len(scores)}
    for name in ("p_alive", "expected_purchases", "expected_spend", "clv"):
        if name in scores.column_names:
            values = [v for v in scores[name].to_pylist() if v is not None]
            out[f"mean_{name}"] = round(sum(values) / len(values), 4) if values else None
    if "clv" in scores.column_names:
        out["total_clv"] = round(sum(v for v in scores["clv"].to_pylist() if v is not None), 2)
    return out


def _print(answer: dict[str, Any]) -> None:
    b = answer["bgnbd"]
    click.echo(f"{answer['customers']:,} customers, {answer['repeat_customers']:,} with a repeat purchase")
    click.echo(f"BG/NBD: r={b['r']:.4f} alpha={b['alpha']:.4f} a={b['a']:.4f} b={b['b']:.4f} "
               f"log-likelihood {b['loglik']:.2f}")  # fmt: skip
    g = answer.get("gamma_gamma")
    if g:
        click.echo(
            f"Gamma-Gamma: p={g['p']:.4f} q={g['q']:.4f} v={g['v']:.4f} log-likelihood {g['loglik']:.2f}"
        )
    p = answer.get("pareto_nbd")
    if p:
        click.echo(f"Pareto/NBD: r={p['r']:.4f} alpha={p['alpha']:.4f} s={p['s']:.4f} beta={p['beta']:.4f} "
                   f"log-likelihood {p['loglik']:.2f}")  # fmt: skip
    if "holdout" in answer:
        click.echo("Holdout, mean purchases per customer by calibration frequency:")
        click.echo(f"  {'freq':>5} {'customers':>10} {'actual':>8} {'predicted':>10}")
        for r in answer["holdout"]["by_frequency"]:
            click.echo(
                f"  {r['frequency_bin']:>5} {r['customers']:>10,} {r['actual']:>8.3f} {r['expected']:>10.3f}"
            )
    for warning in answer.get("warnings", []):
        click.echo(click.style(f"Warning: {warning}", fg="yellow"))
    s = answer["scores"]
    if "total_clv" in s and s["total_clv"] is not None:
        click.echo(f"CLV: mean {s['mean_clv']:.2f}, total {s['total_clv']:,.2f}")
    if s.get("written_to"):
        click.echo(f"Scores per customer written to {s['written_to']}")
