"""``touchpoints value``: score every customer in the store (CLV, P(alive), churn risk, RFM segments)."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from touchpoints.cli.common import audit, home_option, json_option, loaded_store, print_json, settings_for


@click.group("value")
def value() -> None:
    """Customer value in the store: lifetime value, P(alive), churn risk and RFM segments on profiles."""


@value.command("refresh")
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Score as of this day (default: today, UTC); later orders are left out.",
)
@click.option(
    "--model",
    type=click.Choice(["pareto_nbd", "bgnbd"]),
    default="pareto_nbd",
    show_default=True,
    help="The repeat-purchase model (BG/NBD calls every one-time buyer alive).",
)
@click.option(
    "--churn-days",
    type=int,
    default=90,
    show_default=True,
    help="Churn risk: the probability of no purchase in this many days.",
)
@click.option(
    "--horizon-weeks",
    type=float,
    default=52.0,
    show_default=True,
    help="Expected purchases over this many weeks.",
)
@click.option("--months", type=int, default=12, show_default=True, help="CLV over this many months.")
@click.option("--discount-rate", type=float, default=0.01, show_default=True, help="Monthly discount rate.")
@click.option("--margin", type=float, default=1.0, show_default=True, help="Share of spend that is profit.")
@home_option
@json_option
def refresh(
    as_of: Any, model: str, churn_days: int, horizon_weeks: float, months: int, discount_rate: float,
    margin: float, home: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Fit Pareto/NBD (or BG/NBD) and Gamma-Gamma on the store's orders, train a churn classifier on the
    store, and score every customer who allows analytics: clv, p_alive, churn_risk, expected purchases,
    RFM scores and segment, big/loyal/future spenders. The scores replace the last refresh's and show on
    profiles. CLV is revenue unless --margin says what share of it is profit."""
    from touchpoints.predictive.common import PredictiveError
    from touchpoints.predictive.value import refresh as run
    from touchpoints.privacy.gate import Gate

    settings = settings_for(home)
    day: date | None = as_of.date() if as_of else None
    with loaded_store(settings) as db:
        try:
            report = run(
                db, Gate.for_settings(settings), as_of=day, model=model, churn_days=churn_days,
                horizon_weeks=horizon_weeks, months=months, discount_rate=discount_rate, margin=margin,
            )  # fmt: skip
        except PredictiveError as exc:
            raise click.UsageError(str(exc)) from exc
    audit(settings, "value.refresh", None, customers=report["customers"], orders=report["orders"])
    if as_json:
        print_json(report)
        return
    _print(report)


@value.command("report")
@home_option
@json_option
def report(home: str | None, as_json: bool) -> None:
    """The last refresh: when, on how many customers and orders, the models' parameters, segment sizes."""
    from touchpoints.predictive.value import last_report

    settings = settings_for(home)
    with loaded_store(settings) as db:
        found = last_report(db)
    if found is None:
        raise click.ClickException(
            "no value scores: run `touchpoints value refresh` (a retention run that deletes events clears them)"
        )
    if as_json:
        print_json(found)
        return
    _print(found)


def _print(report: dict[str, Any]) -> None:
    click.echo(f"Customer value as of {report['as_of']}: {report['customers']:,} customers, "
               f"{report['orders']:,} purchases ({report.get('currency') or 'no currency'})")  # fmt: skip
    left = report.get("orders_left_out") or {}
    others = sum((left.get("other_currencies") or {}).values())
    if others or left.get("fully_refunded"):
        click.echo(
            f"  left out: {others:,} orders in other currencies, {left.get('fully_refunded', 0):,} fully refunded"
        )
    models = report.get("models")
    if models:
        g = models.get("gamma_gamma")
        if "pareto_nbd" in models:
            p = models["pareto_nbd"]
            click.echo(
                f"  Pareto/NBD r={p['r']:.3f} alpha={p['alpha']:.3f} s={p['s']:.3f} beta={p['beta']:.3f}"
            )
        else:
            b = models["bgnbd"]
            click.echo(f"  BG/NBD r={b['r']:.3f} alpha={b['alpha']:.3f} a={b['a']:.3f} b={b['b']:.3f}")
        if g:
            click.echo(f"  Gamma-Gamma p={g['p']:.3f} q={g['q']:.3f} v={g['v']:.3f}")
    if report.get("reason"):
        click.echo(f"  {report['reason']}")
    for warning in report.get("warnings") or []:
        click.echo(click.style(f"  Warning: {warning}", fg="yellow"))
    churn = report.get("churn") or {}
    if churn.get("basis") == "classifier":
        m = churn["metrics"]
        click.echo(f"  Churn risk (no purchase in {report['churn_days']} days): logistic regression trained on "
                   f"{churn['training']['customers']:,} customers, holdout AUC {m['auc']:.3f}")  # fmt: skip
    elif churn.get("reason"):
        click.echo(f"  {churn['reason']}")
    segments = report.get("segments") or {}
    if segments:
        click.echo("  RFM segments: " + ", ".join(f"{k} {v:,}" for k, v in segments.items()))
    spenders = report.get("spenders") or {}
    if spenders:
        click.echo("  " + ", ".join(f"{k.replace('_', ' ')}s {v:,}" for k, v in spenders.items()))
