"""``touchpoints churn train``: a calibrated churn-risk classifier on a customer table, with its holdout."""

from __future__ import annotations

from typing import Any

import click

from touchpoints.cli.common import json_option, print_json, scores_option, write_scores


@click.group("churn")
def churn() -> None:
    """Churn risk: which customers are likely to leave, and why (see docs/value.md)."""


@churn.command("train")
@click.option(
    "--table",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CSV or Parquet file, one row per customer.",
)
@click.option("--id-col", required=True, help="Column with the customer id (never a feature).")
@click.option("--label", required=True, help="Column saying who churned: Yes/No, 1/0 or true/false.")
@click.option(
    "--model", type=click.Choice(["logistic", "gradient_boosting"]), default="logistic", show_default=True
)
@click.option("--exclude", multiple=True, help="A column not to use as a feature (repeatable).")
@click.option(
    "--time-col", default=None, help="A date column: train on the earlier customers, test on the later ones."
)
@click.option(
    "--cutoff",
    default=None,
    help="With --time-col: the share of customers (default 0.8) or the date that ends training.",
)
@click.option(
    "--test-size",
    type=float,
    default=0.2,
    show_default=True,
    help="Without --time-col: the share held out (stratified by the label).",
)
@click.option(
    "--calibration", type=click.Choice(["sigmoid", "isotonic"]), default="sigmoid", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed gives the same model.")
@scores_option("Write every customer's churn risk and top drivers here (.csv or .parquet).")
@json_option
def train(
    path: str, id_col: str, label: str, model: str, exclude: tuple[str, ...], time_col: str | None, cutoff: str | None,
    test_size: float, calibration: str, seed: int, scores_path: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Train logistic regression or gradient boosting with calibrated probabilities; print the holdout's
    AUC, average precision, Brier score, lift and calibration, and the features that drive risk."""
    from touchpoints.predictive.churn import train_churn_model
    from touchpoints.predictive.common import PredictiveError

    if time_col is None and cutoff is not None:
        raise click.UsageError("--cutoff needs --time-col: it says where in time training ends")
    cutoff = cutoff or "0.8"
    cut: float | str = float(cutoff) if cutoff.replace(".", "", 1).isdigit() else cutoff
    try:
        fitted = train_churn_model(
            path, id_col=id_col, label=label, model=model, exclude=exclude,  # type: ignore[arg-type]
            time_col=time_col, cutoff=cut, test_size=test_size, calibration=calibration,  # type: ignore[arg-type]
            random_state=seed,
        )  # fmt: skip
        answer: dict[str, Any] = {"table": str(path), **fitted.to_dict()}
        if scores_path:
            write_scores(fitted.score(path), scores_path)
            answer["scores_written_to"] = scores_path
    except PredictiveError as exc:
        raise click.UsageError(_flags(str(exc))) from exc
    except OSError as exc:
        raise click.ClickException(
            f"--scores {scores_path}: {exc.strerror or exc}; give a writable file"
        ) from exc
    except ValueError as exc:  # scikit-learn's refusals: a table too small or too uneven to train on
        raise click.UsageError(f"--table {path}: cannot train on it: {exc}") from exc
    if as_json:
        print_json(answer)
        return
    m = answer["metrics"]
    click.echo(f"{model}: holdout AUC {m['auc']:.3f}, average precision {m['average_precision']:.3f}, "
               f"Brier {m['brier']:.3f}, accuracy {m['accuracy']:.3f} (base rate {m['base_rate']:.3f}), "
               f"top-decile lift {m['lift_top_decile']:.2f}, {m['n']:,} customers held out")  # fmt: skip
    for warning in answer.get("warnings") or []:
        click.echo(click.style(f"Warning: {warning}", fg="yellow"))
    drivers = answer.get("drivers") or []
    if drivers:
        click.echo("What drives risk:")
        for d in drivers[:10]:
            click.echo(
                "  " + ", ".join(f"{k} {round(v, 3) if isinstance(v, float) else v}" for k, v in d.items())
            )
    if scores_path:
        click.echo(f"Scores per customer written to {scores_path}")


def _flags(message: str) -> str:
    """The library's argument names as the command's options."""
    for name, flag in (("test_size", "--test-size"), ("cutoff", "--cutoff"), ("time column", "--time-col")):
        message = message.replace(name, flag)
    return message


@churn.command("rates")
@click.option(
    "--table",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="CSV or Parquet file, one row per contract: id, start date, end (cancellation) date or blank.",
)
@click.option("--id-col", default="customer_id", show_default=True)
@click.option(
    "--start-col", default="start", show_default=True, help="Column with the day the contract began."
)
@click.option(
    "--end-col", default="end", show_default=True, help="Column with the day it ended; blank: active."
)
@click.option("--period", type=click.Choice(["week", "month"]), default="month", show_default=True)
@click.option("--by", type=click.Choice(["period", "cohort"]), default="period", show_default=True,
              help="Per calendar period, or per signup cohort and periods since signup.")  # fmt: skip
@click.option("--as-of", default=None, help="Cancellations after this day have not happened yet.")
@json_option
def rates(
    path: str,
    id_col: str,
    start_col: str,
    end_col: str,
    period: str,
    by: str,
    as_of: str | None,
    as_json: bool,
) -> None:
    """Contractual churn rates: of the customers active at a period's start, the share who cancelled in
    it; per period or per signup cohort (see docs/value.md)."""
    from touchpoints.predictive.churn_rates import contractual_churn_rates
    from touchpoints.predictive.common import PredictiveError

    try:
        table = contractual_churn_rates(
            path, start_col=start_col, end_col=end_col, id_col=id_col, period=period,  # type: ignore[arg-type]
            by=by, as_of=as_of,  # type: ignore[arg-type]
        )  # fmt: skip
    except PredictiveError as exc:
        raise click.UsageError(str(exc)) from exc
    rows = [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        for r in table.to_dict(orient="records")
    ]
    if as_json:
        print_json({"period": period, "by": by, "rows": rows})
        return
    for r in rows:
        label = f"{r.get('cohort', '')} +{r['offset']}" if by == "cohort" else str(r["period_start"])
        rate = r["churn_rate"]
        shown = "-" if rate is None or rate != rate else f"{rate:.1%}"
        click.echo(
            f"  {label:<16} {r['customers_at_start']:>8,} active  {r['churned']:>6,} churned  {shown:>7}"
        )
