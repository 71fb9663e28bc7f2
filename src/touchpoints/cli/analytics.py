"""``touchpoints analytics``: funnels, trends, retention, paths and web analytics, on DuckDB or Spark."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from touchpoints.cli.common import home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.config import ENGINES
from touchpoints.store.backend import StoreBusy

if TYPE_CHECKING:  # Ibis loads in half a second: only when an analysis runs, not for every command
    from touchpoints.analytics.common import Scope
    from touchpoints.analytics.engine import Engine


def _analysis_options() -> list[Callable[[Any], Any]]:
    return [
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
        click.option("--start", default=None, help="From this date or time (inclusive), e.g. 2026-09-01."),
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


_ANALYSIS_OPTIONS = _analysis_options()


@dataclass(frozen=True)
class Ask:
    """What every analysis command shares: where it runs, its time zone, time range and channels, --json."""

    home: str | None
    engine: str | None
    timezone: str | None
    start: str | None
    end: str | None
    channels: tuple[str, ...]
    as_json: bool

    @property
    def scope(self) -> Scope:
        from touchpoints.analytics.common import Scope

        return Scope(start=self.start, end=self.end, channels=self.channels)

    def answer(
        self, analysis: Callable[[Engine, Scope], dict[str, Any]], show: Callable[[dict[str, Any]], None]
    ) -> None:
        """Runs ``analysis`` and prints its answer: as JSON with --json, else with ``show``."""
        scope = self.scope
        result = run(self.home, self.engine, self.timezone, lambda eng: analysis(eng, scope))
        if self.as_json:
            print_json(result)
        else:
            show(result)


def analysis_options(func: Callable[..., None]) -> Callable[..., None]:
    """The options every analysis takes (where it runs, the time zone, the time range and channels,
    --home, --json), handed to the command as one ``Ask``, its first argument."""

    @functools.wraps(func)
    def command(
        *, engine: str | None, timezone: str | None, start: str | None, end: str | None,
        channels: tuple[str, ...], home: str | None, as_json: bool, **kwargs: Any,
    ) -> None:  # fmt: skip
        func(Ask(home, engine, timezone, start, end, tuple(channels), as_json), **kwargs)

    wrapped: Callable[..., None] = command
    for option in reversed(_ANALYSIS_OPTIONS):
        wrapped = option(wrapped)
    return wrapped


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
    """Prepare the events for analysis now (customers, sessions, referrers, devices, and each session's
    and customer's runs of events for paths). Analyses do this themselves when the store changed; run it
    after a large import to pay the cost up front."""
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
def funnel_cmd(ask: Ask, steps: str, within: str, by: str | None, unit: str) -> None:
    """How many customers go through the steps in order within the window: per step the customers
    reached, conversion from the previous and the first step, the drop-off and the median time to
    convert."""
    from touchpoints.analytics.funnel import funnel

    names = _steps(steps)

    def show(answer: dict[str, Any]) -> None:
        _print_funnel(answer["steps"], unit)
        for group in answer.get("groups", []):
            click.echo(f"\n{by} = {group['group']}")
            _print_funnel(group["steps"], unit)

    ask.answer(lambda eng, scope: funnel(eng, names, within, scope, by, unit), show)


def _print_funnel(steps: list[dict[str, Any]], unit: str) -> None:
    rows = [
        [s["step"], f"{s['customers']:,}", _percent(s["conversion_from_previous"]),
         _percent(s["conversion_from_first"]), f"{s['drop_off']:,}", _duration(s["median_seconds_to_convert"])]
        for s in steps
    ]  # fmt: skip
    table(rows, ["step", f"{unit}s", "from previous", "from first", "drop-off", "median time"])


def _rows_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    def cell(v: Any, name: str) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return _percent(v) if name.endswith(("rate", "share")) else f"{v:,.1f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    table([[cell(r.get(c), c) for c in columns] for r in rows], columns)


@analytics.command("trends")
@click.option("--event", "events", multiple=True, help="Only this event (repeatable; default: every event).")
@click.option("--interval", type=click.Choice(["day", "week", "month"]), default="day", show_default=True)
@click.option(
    "--by", default=None, help="Break down by event, a column (channel, utm_campaign...) or a property."
)
@analysis_options
def trends_cmd(ask: Ask, events: tuple[str, ...], interval: str, by: str | None) -> None:
    """Events and unique customers per day, week or month, optionally broken down."""
    from touchpoints.analytics.trends import trends

    columns = ["period", *(["group"] if by else []), "events", "customers"]
    ask.answer(
        lambda eng, scope: trends(eng, list(events) or None, interval, by, scope),
        lambda answer: _rows_table(answer["series"], columns),
    )


@analytics.command("retention")
@click.option("--cohort-event", required=True, help="A customer's cohort is the period of their first one.")
@click.option("--return-event", required=True, help="The event that counts as coming back.")
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="month", show_default=True)
@click.option(
    "--periods", type=click.IntRange(1, 1000), default=None, help="At most this many periods after."
)
@analysis_options
def retention_cmd(ask: Ask, cohort_event: str, return_event: str, period: str, periods: int | None) -> None:
    """Cohorts by the period of each customer's first COHORT-EVENT, and the share of each that did
    RETURN-EVENT in every later period."""
    from touchpoints.analytics.retention import retention

    ask.answer(
        lambda eng, scope: retention(eng, cohort_event, return_event, period, scope, periods), _print_cohorts
    )


def _print_cohorts(answer: dict[str, Any]) -> None:
    width = max((len(c["share"]) for c in answer["cohorts"]), default=0)
    rows = [
        [
            c["cohort"],
            f"{c['customers']:,}",
            *(_percent(s) for s in c["share"]),
            *([""] * (width - len(c["share"]))),
        ]
        for c in answer["cohorts"]
    ]
    table(rows, ["cohort", "customers", *(f"+{n}" for n in range(1, width + 1))])


@analytics.command("paths")
@click.option(
    "--event", required=True, help="The event the paths start from (or lead to, --direction previous)."
)
@click.option(
    "--direction",
    type=click.Choice(["next", "previous"]),
    default="next",
    show_default=True,
    help="next: what came after the event; previous: what came before it.",
)
@click.option(
    "--steps", type=click.IntRange(1, 10), default=3, show_default=True, help="How many steps to follow."
)
@click.option(
    "--limit",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="Events named at each step; the rest are Other ((end) and (start) are always shown).",
)
@click.option("--per", type=click.Choice(["session", "customer"]), default="session", show_default=True,
              help="Follow each session, or each customer across sessions.")  # fmt: skip
@analysis_options
def paths_cmd(ask: Ask, event: str, direction: str, steps: int, limit: int, per: str) -> None:
    """The most common next (or previous) steps after (before) an event, as nodes and links for a Sankey
    diagram (--json)."""
    from touchpoints.analytics.paths import paths

    ask.answer(
        lambda eng, scope: paths(eng, event, direction, steps, scope, limit, per == "session"), _print_paths
    )


def _print_paths(answer: dict[str, Any]) -> None:
    if not answer["links"]:
        click.echo(
            f"No paths: no {answer['event']!r} events in this range (names are case-sensitive; "
            "touchpoints analytics trends --by event lists them)."
        )
        return
    far = "target" if answer["direction"] == "next" else "source"  # the end farther from the event
    _rows_table(
        sorted(
            answer["links"],
            key=lambda r: (int(r[far].split(":", 1)[0]), -r["count"], r["source"], r["target"]),
        ),
        ["source", "target", "count", "customers"],
    )


@analytics.command("sessions")
@click.option("--interval", type=click.Choice(["day", "week", "month"]), default=None, help="Per period.")
@click.option("--by", default=None, help="Per value of a column or property of the session's first event.")
@click.option(
    "--goal", default="Order Completed", show_default=True, help="The event a session converts with."
)
@analysis_options
def sessions_cmd(ask: Ask, interval: str | None, by: str | None, goal: str) -> None:
    """Sessions, visitors, pageviews, bounce rate, duration and conversion (web and app)."""
    from touchpoints.analytics.web import sessions

    ask.answer(lambda eng, scope: sessions(eng, scope, interval, by, goal), _print_sessions)


def _print_sessions(answer: dict[str, Any]) -> None:
    columns = [
        "sessions",
        "visitors",
        "pageviews",
        "bounce_rate",
        "median_duration_seconds",
        "conversion_rate",
    ]
    keys = [k for k in ("period", "group") if answer.get("rows") and k in answer["rows"][0]]
    _rows_table(
        [*answer.get("rows", []), {**answer["total"], **dict.fromkeys(keys[:1], "total")}], [*keys, *columns]
    )


_TOP = {
    "landing-pages": ("landing_pages", ["landing_page"], "The pages sessions start on."),
    "exit-pages": ("exit_pages", ["exit_page"], "The pages sessions end on."),
    "referrers": (
        "referrers",
        None,
        "Where sessions come from: the referrer's class (--by class) or site (--by host).",
    ),
    "campaigns": ("campaigns", ["utm_source", "utm_medium", "utm_campaign"], "Sessions per UTM campaign."),
    "devices": (
        "devices",
        None,
        "Sessions per device type, browser or OS (--by device_type|browser|os, or several).",
    ),
}


def _top_command(name: str, function: str, keys: list[str] | None, about: str) -> None:
    def callback(ask: Ask, goal: str, limit: int, by: str | None = None) -> None:
        from touchpoints.analytics import web

        fn = getattr(web, function)
        extra = {"by": by} if by is not None else {}

        def show(answer: dict[str, Any]) -> None:
            names = keys or [k for k in (answer["rows"][0] if answer["rows"] else {}) if k not in _METRICS]
            _rows_table(answer["rows"], [*names, "sessions", "share", "bounce_rate", "conversion_rate"])

        ask.answer(lambda eng, scope: fn(eng, scope, goal=goal, limit=limit, **extra), show)

    command = analysis_options(callback)
    if keys is None:
        default = "class" if name == "referrers" else "device_type"
        command = click.option("--by", default=default, show_default=True)(command)
    command = click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)(command)
    command = click.option("--goal", default="Order Completed", show_default=True)(command)
    analytics.add_command(click.command(name, help=about)(command))


_METRICS = {"sessions", "share", "pageviews", "bounces", "bounce_rate", "conversions", "conversion_rate"}


@analytics.command("heatmap")
@click.option(
    "--page", default=None, help="The page's path, e.g. /pricing; without it, the pages with click data."
)
@click.option(
    "--grid", type=click.IntRange(2, 200), default=20, show_default=True, help="Cells across and down."
)
@analysis_options
def heatmap_cmd(ask: Ask, page: str | None, grid: int) -> None:
    """Click and scroll heatmap aggregates of one page: clicks per cell, the most clicked elements, and
    how far page views scroll."""
    from touchpoints.analytics.heatmap import heatmap, pages

    if page is None:
        ask.answer(
            lambda eng, scope: pages(eng, scope),
            lambda answer: _rows_table(
                answer["rows"], ["page", "clicks", "visitors", "pageviews", "scrolls"]
            ),
        )
        return
    ask.answer(lambda eng, scope: heatmap(eng, page, scope, grid), _print_heatmap)


def _print_heatmap(answer: dict[str, Any]) -> None:
    clicks = answer["clicks"]
    click.echo(f"{clicks['total']:,} clicks ({clicks['unplaced']:,} without a position)")
    _rows_table(answer["elements"], ["selector", "text", "clicks", "visitors", "share"])
    _rows_table(answer["scroll"]["depths"], ["depth", "pageviews", "share"])


for _name, (_function, _keys, _about) in _TOP.items():
    _top_command(_name, _function, _keys, _about)
