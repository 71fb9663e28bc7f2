"""The prepared events follow the store: an unmerge, a switch of analytics consent to opt-in and a
retention run show in the next analysis, and nothing deleted from the events lives on in the copy."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from tests.analytics.conftest import cli
from tests.analytics.test_funnel import _counts, _import, _row
from tests.conftest import Home
from touchpoints.analytics import engine as engine_module
from touchpoints.analytics import funnel as funnel_module
from touchpoints.analytics.engine import open_engine
from touchpoints.analytics.funnel import funnel
from touchpoints.config import load_settings
from touchpoints.store.duckdb import open_store

pytestmark = pytest.mark.slow


def _steps(home: Home) -> list[int]:
    with open_engine(load_settings(home.path), "duckdb") as eng:
        return _counts(funnel(eng, ["A", "B"], "1d"))


def test_an_unmerge_shows_in_the_next_analysis(home: Home) -> None:
    rows = [
        _row("anon-1", "A", 0),
        {
            "type": "identify",
            "user_id": "jane",
            "anonymous_id": "anon-1",
            "timestamp": "2026-03-02T10:01:00+00:00",
        },
        _row("jane", "B", 2),
    ]
    _import(home, rows)
    assert _steps(home) == [1, 1]  # the anonymous A and the signed-in B are one customer
    with open_store(home.settings.store_path) as db:
        link = db.execute("SELECT seq FROM identity_links WHERE status = 'merged' ORDER BY seq LIMIT 1")[0][0]
    cli("identity", "unmerge", "--link", str(link), "--reason", "test", "--home", str(home.path))
    assert _steps(home) == [1, 0]  # two customers now: A's visitor never did B


def test_switching_analytics_to_opt_in_and_retention_reach_the_prepared_events(home: Home) -> None:
    _import(home, [_row(u, e, i) for u in ("u1", "u2") for i, e in enumerate(["A", "B"])])
    cli("privacy", "consent", "u1", "--grant", "analytics", "--evidence", "form", "--home", str(home.path))
    assert _steps(home) == [2, 2]
    config = home.settings.config_path
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    config.write_text(text + '\n[privacy]\nmodes = { analytics = "opt_in" }\n', encoding="utf-8")
    assert _steps(home) == [1, 1]  # only u1 granted it
    # every event expires: the prepared copy empties too, before any analysis rebuilds it
    config.write_text(
        config.read_text(encoding="utf-8") + '\n[retention]\ndefault = "1 day"\n', encoding="utf-8"
    )
    report = json.loads(cli("privacy", "retention", "--json", "--home", str(home.path)).stdout)
    assert report["events"] == 4
    with open_store(home.settings.store_path) as db:
        assert db.execute("SELECT count(*) FROM analytics_events")[0][0] == 0
    assert _steps(home) == [0, 0]


def test_a_question_asked_again_is_compiled_once_and_reads_the_events_of_the_moment(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    original = funnel_module.funnel_table

    @functools.wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(funnel_module, "funnel_table", counted)
    monkeypatch.setattr(engine_module, "_compiled", type(engine_module._compiled)())
    _import(home, [_row("u1", "A", 0), _row("u1", "B", 1)])
    assert _steps(home) == [1, 1]
    _import(home, [_row("u2", "A", 0)], name="more.csv")
    assert _steps(home) == [2, 1]  # the kept query reads the new events
    assert len(built) == 1  # the expression was built and compiled once
    with open_engine(load_settings(home.path), "duckdb") as eng:
        funnel(eng, ["A", "B"], "2d")  # another question is compiled anew
    assert len(built) == 2


def test_tables_prepared_by_another_version_are_prepared_again(home: Home) -> None:
    """A store prepared by a version of Touchpoints that built the prepared tables differently (here its
    mark without this version's layout, and a runs table of another shape) is prepared again before it is
    read, even where the HTTP API would serve a copy up to max_staleness_seconds old."""
    from touchpoints.analytics import prepared
    from touchpoints.analytics.paths import paths
    from touchpoints.privacy.gate import Gate

    _import(home, [_row("anon-1", "A", 0), _row("anon-1", "B", 1)])
    settings = load_settings(home.path)
    with open_store(settings.store_path) as db:
        prepared.rebuild(db, Gate.for_settings(settings))
        db.execute("CREATE OR REPLACE TABLE analytics_runs (session_no BIGINT, run BIGINT)")  # an older shape
        db.execute("UPDATE analytics_state SET fingerprint = 'an older layout|' || fingerprint")
    with open_engine(settings, "duckdb", max_staleness_seconds=3600) as eng:
        assert eng.about["rebuilt"]
        answer = paths(eng, "A")
    links = [(link["source"], link["target"], link["count"]) for link in answer["links"]]
    assert links == [("0:A", "1:B", 1), ("1:B", "2:(end)", 1)]
