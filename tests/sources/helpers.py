"""Running ``touchpoints import`` the way a user does (the click command, in-process) and reading back what
landed: the events (``touchpoints events export``), the quarantine (``touchpoints quarantine list``) and the
enrichment tables (the store itself)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from tests.conftest import Home
from touchpoints.cli.main import cli
from touchpoints.store import open_store

COUNTS = ("imported", "quarantined", "duplicates", "rows", "released_from_quarantine")


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def write(path: Path, text: str) -> Path:
    """A file holding ``text``, dedented, without its first and last blank lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).strip("\n") + "\n", encoding="utf-8")
    return path


def do_import(home: Home, kind: str, path: Path, *options: str, source: str = "src") -> dict[str, Any]:
    """``touchpoints import KIND FILE --source SOURCE ... --json``; returns the printed counts. The exit
    code is 0, or 3 exactly when nothing of the file could be imported."""
    out = run(
        "import", kind, str(path), "--source", source, *options, "--home", str(home.path), "--json", ok=False
    )
    result: dict[str, Any] = json.loads(out.stdout)
    nothing = result["quarantined"] > 0 and not result["imported"] and not result["duplicates"]
    assert out.exit_code == (3 if nothing else 0), (out.exit_code, out.output)
    return result


def import_error(home: Home, kind: str, path: Path, *options: str, source: str = "src") -> str:
    """An import that must fail as a whole; returns what the user reads."""
    result = run("import", kind, str(path), "--source", source, *options, "--home", str(home.path), ok=False)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


def counts(result: dict[str, Any]) -> dict[str, int]:
    return {k: result[k] for k in COUNTS}


def expect(
    imported: int, quarantined: int, rows: int, duplicates: int = 0, released: int = 0
) -> dict[str, int]:
    return {
        "imported": imported,
        "quarantined": quarantined,
        "duplicates": duplicates,
        "rows": rows,
        "released_from_quarantine": released,
    }


def stored(home: Home) -> list[dict[str, Any]]:
    """Every stored event in the Segment shape (``touchpoints events export``), oldest first."""
    out = run("events", "export", "--home", str(home.path)).stdout
    return [json.loads(line) for line in out.splitlines()]


def view(event: dict[str, Any]) -> dict[str, Any]:
    """What a user checks of an imported event (no receivedAt, no context.import bookkeeping)."""
    properties = dict(event.get("properties", {}))
    if "products" in properties:
        properties["products"] = products(event)
    return {
        "type": event["type"],
        "event": event.get("event"),
        "name": event.get("name"),
        "channel": event["channel"],
        "userId": event.get("userId"),
        "anonymousId": event.get("anonymousId"),
        "timestamp": event["timestamp"],
        "flags": event.get("flags", []),
        "properties": properties,
        "traits": event.get("traits", {}),
    }


def products(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The order's lines, without the fields a line did not have (null or absent alike)."""
    return [{k: v for k, v in line.items() if v is not None} for line in event["properties"]["products"]]


def by_property(events: list[dict[str, Any]], prop: str) -> dict[str, dict[str, Any]]:
    return {str(e["properties"][prop]): e for e in events}


def quarantine(home: Home, *, everything: bool = False) -> list[dict[str, Any]]:
    args = ["quarantine", "list", "--json", "--home", str(home.path)]
    items: list[dict[str, Any]] = json.loads(run(*args, *(["--all"] if everything else [])).stdout)
    return items


def held_reasons(home: Home) -> dict[str, str]:
    """origin -> reason of every held item; fails if one origin is held twice."""
    items = quarantine(home)
    origins = [i["origin"] for i in items]
    assert len(origins) == len(set(origins)), f"an origin is held twice: {origins}"
    return {i["origin"]: i["reason"] for i in items}


def assert_names(reason: str, field: str, value: str | None = None) -> None:
    """The reason names the field (and the bad value, when there is one)."""
    assert field in reason, f"{reason!r} does not name {field!r}"
    if value is not None:
        assert value in reason, f"{reason!r} does not show the bad value {value!r}"


def enrichment_rows(home: Home) -> list[tuple[Any, ...]]:
    with open_store(home.path / "store.duckdb") as db:
        return db.execute(
            "SELECT source, trait, key, attributes::VARCHAR FROM enrichment ORDER BY source, key"
        )


def snapshot(home: Home) -> tuple[Any, ...]:
    """Everything an import can change (events, quarantine, enrichment tables), to compare before and after."""
    with open_store(home.path / "store.duckdb") as db:
        return tuple(
            db.execute(f"SELECT * FROM {table} ORDER BY ALL")
            for table in ("events", "quarantine", "enrichment")
        )


def assert_reimport_changes_nothing(
    home: Home, kind: str, path: Path, first: dict[str, Any], *options: str, source: str = "src"
) -> None:
    """The same file again: nothing new, every good row a duplicate, no bad row held a second time."""
    before = snapshot(home)
    again = do_import(home, kind, path, *options, source=source)
    assert counts(again) == expect(0, 0, first["rows"], duplicates=first["imported"]), again
    assert snapshot(home) == before, "re-importing the same file changed the store"
