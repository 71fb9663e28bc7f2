"""What every command shares: the ``--home`` and ``--json`` options, settings, output, opening the store."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from touchpoints.collector.loader import Loader
from touchpoints.config import CONFIG_TEMPLATE, ConfigError, Settings, load_settings, resolve_home
from touchpoints.store.backend import StoreBusy
from touchpoints.store.duckdb import DuckDBBackend, open_store

F = TypeVar("F", bound=Callable[..., Any])


def home_option(func: F) -> F:
    return click.option(
        "--home",
        type=click.Path(file_okay=False),
        default=None,
        help="Touchpoints home (default: $TOUCHPOINTS_HOME, else ./.touchpoints).",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def settings_for(home: str | None, *, must_exist: bool = True) -> Settings:
    path = resolve_home(home)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if must_exist and not settings.is_initialised:
        raise click.ClickException(
            f"no Touchpoints home at {path}; create one with `touchpoints init --home {path}`"
        )
    return settings


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _finite(value: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers, and scripts' parsers reject them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(_finite(data), default=_default, ensure_ascii=False, allow_nan=False) + "\n")


def create_home(settings: Settings) -> None:
    """The home folder (owner-only: it holds personal data), its config.toml and an empty store."""
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not settings.config_path.exists():
        settings.config_path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    with open_store(settings.store_path):
        pass


@contextmanager
def loaded_store(settings: Settings) -> Iterator[DuckDBBackend]:
    """The store, with anything still in the spool loaded first (so reads are complete even when no
    server is running, e.g. after a crash)."""
    loader = Loader.for_settings(settings)
    try:
        with open_store(settings.store_path) as db:
            loader.load_pending(db)
            yield db
    except StoreBusy as exc:
        raise click.ClickException(str(exc)) from exc


def audit(settings: Settings, action: str, subject: str | None = None, **details: Any) -> None:
    """Writes a command's access to personal data to the home's audit log, as the user running it."""
    from touchpoints.privacy.audit import AuditLog, cli_actor

    AuditLog(settings.audit_path).append(cli_actor(), action, subject, via="cli", **details)


def _scores_suffix(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and Path(value).suffix.lower() not in (".csv", ".parquet"):
        raise click.BadParameter(f"{value}: give a .csv or .parquet file name")
    return value


def scores_option(help_text: str) -> Callable[[F], F]:
    """``--scores FILE``: where to write one row per customer; the file type is checked before any work."""

    def decorate(func: F) -> F:
        return click.option(
            "--scores", "scores_path", type=click.Path(dir_okay=False), default=None, callback=_scores_suffix,
            help=help_text,
        )(func)  # fmt: skip

    return decorate


def write_scores(table: Any, path: str) -> None:
    """A pyarrow Table or pandas DataFrame as CSV or Parquet, by the file's suffix (``scores_option``)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    arrow = table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)
    if Path(path).suffix.lower() == ".parquet":
        pq.write_table(arrow, path)
    else:
        pacsv.write_csv(arrow, path)
