"""``touchpoints analytics``: funnels, trends, retention, paths and web analytics, on DuckDB or Spark."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from touchpoints.cli.common import home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.config import ENGINES
from touchpoints.store.backend import StoreBusy

if TYPE_CHECKING:  # Ibis loads in half a second: only when an analysis runs, not for every command
    from touchpoints.analytics.common import Scope
    from touchpoints.analytics.engine import Engine

F = TypeVar("F", bound=Callable[..., Any])


def analysis_options(func: F) -> F:
    """The options every analysis takes: where it runs, the time zone, the time range and channels."""
    for option in reversed(
        [
            click.option(
                "--engine",
                type=click.Choice(ENGINES),
                default=None,
                help="Where it runs (default: [analytics] engine, else duckdb).",
            ),
            click.option(
                "--timezone",
                default=None,
                help="Days, weeks and months in this IANA time zone (default: [analytics] timezone, else UTC).",
            ),
            click.option(
                "--start", default=None, help="From this date or time (inclusive), e.g. 2026-09-01."
            ),
            click.option("--end", default=None, help="Up to this date or time (exclusive)."),
            click.option(
                "--channel",
                "channels",
                multiple=True,
                help="Only events of this channel (repeatable), e.g. --channel web --channel app.",
            ),
            home_option,
            json_option,
        ]
    ):
        func = option(func)
    return func


def run(
    home: str | None,
    engine: str | None,
    timezone: str | None,
    analysis: Callable[[Engine], dict[str, Any]],
) -> dict[str, Any]:
    """Loads what is spooled, opens the engine (the prepared events refreshed if the store changed) and
    runs ``analysis``; a bad parameter or a busy store is a clear error, not a traceback."""
    from touchpoints.analytics.common import AnalysisError
    from touchpoints.analytics.engine import open_engine

    settings = settings_for(home)
    with loaded_store(settings):
        pass
    try:
        with open_engine(settings, engine, timezone) as eng:
            if eng.about.get("rebuilt"):
                click.echo(f"Prepared {eng.about['events']} events for analysis.", err=True)
            return analysis(eng)
    except AnalysisError as exc:
        raise click.UsageError(str(exc)) from exc
    except StoreBusy as exc:
        raise click.ClickException(str(exc)) from exc
    except RuntimeError as exc:
        if "[spark]" in str(exc):
            raise click.ClickException(str(exc)) from exc
        raise


def scope_of(start: str | None, end: str | None, channels: tuple[str, ...]) -> Scope:
    from touchpoints.analytics.common import Scope

    return Scope(start=start, end=end, channels=tuple(channels))


def _steps(value: str) -> list[str]:
    steps = [s.strip() for s in value.split(",") if s.strip()]
    if len(steps) < 2:
        raise click.BadParameter(
            "give at least two event names separated by commas, e.g. 'Product Viewed,Order Completed'",
            param_hint="--steps",
        )
    return steps


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 2 * 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s / 86400:.1f}d"


def table(rows: list[list[str]], header: list[str]) -> None:
    """A plain text table on stdout (numbers right-aligned)."""
    cells = [header, *rows]
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        out = []
        for i, v in enumerate(r):
            v = str(v)
            numeric = v.replace(".", "").replace("%", "").replace("-", "").replace(",", "").isdigit()
            out.append(v.rjust(widths[i]) if numeric and i else v.ljust(widths[i]))
        return "  ".join(out).rstrip()

    click.echo(fmt(header))
    for r in rows:
        click.echo(fmt(r))


@click.group()
def analytics() -> None:
    """Analytics: funnels, trends, retention, paths, web analytics and heatmaps, counted per customer
    after identity resolution, on the embedded store or on Spark (--engine spark)."""


@analytics.command("prepare")
@click.option(
    "--engine", type=click.Choice(ENGINES), default=None, help="spark: also write the Parquet files."
)
@home_option
@json_option
def prepare_cmd(engine: str | None, home: str | None, as_json: bool) -> None:
    """Prepare the events for analysis now (customers, sessions, referrers, devices). Analyses do this
    themselves when the store changed; run it after a large import to pay the cost up front."""
    from touchpoints.analytics import prepared
    from touchpoints.privacy.gate import Gate

    settings = settings_for(home)
    with loaded_store(settings) as db:
        ready = prepared.rebuild(db, Gate.for_settings(settings))
        answer: dict[str, Any] = {"events": ready.rows, "seconds": round(ready.seconds, 3),
                                  "prepared_at": ready.prepared_at.isoformat()}  # fmt: skip
        if (engine or settings.analytics_engine) == "spark":
            from touchpoints.store.spark import export_prepared

            answer["parquet"] = export_prepared(db, settings.parquet_location, ready.prepared_at)
    if as_json:
        print_json(answer)
        return
    click.echo(f"Prepared {ready.rows} events for analysis in {ready.seconds:.1f} s.")
    if "parquet" in answer:
        click.echo(f"Parquet for Spark: {answer['parquet']}")


@analytics.command("funnel")
@click.option("--steps", required=True, help="Event names in order, comma-separated: 'A,B,C'.")
@click.option(
    "--within", default="7d", show_default=True, help="The window from the first step: 30m, 24h, 7d..."
)
@click.option("--by", default=None, help="Break down by a column (channel, utm_campaign, ...) or a property.")
@click.option(
    "--unit",
    type=click.Choice(["customer", "session"]),
    default="customer",
    show_default=True,
    help="Count customers (after identity resolution) or sessions (every step within one visit).",
)
@analysis_options
def funnel_cmd(
    steps: str,
    within: str,
    by: str | None,
    unit: str,
    engine: str | None,
    timezone: str | None,
    start: str | None,
    end: str | None,
    channels: tuple[str, ...],
    home: str | None,
    as_json: bool,
) -> None:
    """How many customers go through the steps in order within the window: per step the customers
    reached, conversion from the previous and the first step, the drop-off and the median time to
    convert."""
    from touchpoints.analytics.funnel import funnel

    names = _steps(steps)
    answer = run(
        home,
        engine,
        timezone,
        lambda eng: funnel(eng, names, within, scope_of(start, end, channels), by, unit),
    )
    if as_json:
        print_json(answer)
        return
    _print_funnel(answer["steps"], unit)
    for group in answer.get("groups", []):
        click.echo(f"\n{by} = {group['group']}")
        _print_funnel(group["steps"], unit)


def _print_funnel(steps: list[dict[str, Any]], unit: str) -> None:
    rows = [
        [s["step"], f"{s['customers']:,}", _percent(s["conversion_from_previous"]),
         _percent(s["conversion_from_first"]), f"{s['drop_off']:,}", _duration(s["median_seconds_to_convert"])]
        for s in steps
    ]  # fmt: skip
    table(rows, ["step", f"{unit}s", "from previous", "from first", "drop-off", "median time"])
