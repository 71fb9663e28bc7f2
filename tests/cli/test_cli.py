"""The ``touchpoints`` command as a user and a script use it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from tests.conftest import Home, ServerProcess
from touchpoints.cli.main import cli
from touchpoints.collector.app import create_app


def run(*args: str, ok: bool = True) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json").stdout)


def send(home: Home, batch: list[dict[str, Any]]) -> dict[str, Any]:
    with TestClient(create_app(home.settings)) as client:
        response = client.post("/v1/batch", json={"batch": batch}, headers=home.basic)
        assert response.status_code == 200
        return dict(response.json())


def test_init_creates_a_home_and_prints_keys_once(tmp_path: Path) -> None:
    home = tmp_path / "h"
    keys = run_json("init", "--home", str(home))
    assert keys["write_key"].startswith("tpw_") and keys["admin_key"].startswith("tpa_")
    assert len(keys["write_key"]) >= 4 + 32, "at least 128 random bits"
    stored = (home / "keys.json").read_text()
    assert keys["write_key"] not in stored and keys["admin_key"] not in stored, "only hashes are kept"
    assert (home / "keys.json").stat().st_mode & 0o077 == 0
    assert home.stat().st_mode & 0o077 == 0, "the home holds personal data: only its owner may enter"
    again = run("init", "--home", str(home), ok=False)
    assert again.exit_code != 0 and "already a Touchpoints home" in again.output


def test_home_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHPOINTS_HOME", str(tmp_path / "env-home"))
    run_json("init")
    assert (tmp_path / "env-home" / "store.duckdb").exists()


def test_a_command_on_a_missing_home_says_what_to_do(tmp_path: Path) -> None:
    result = run("events", "count", "--home", str(tmp_path / "nowhere"), ok=False)
    assert result.exit_code == 1
    assert "touchpoints init" in result.output


def test_a_bad_config_file_is_named(home: Home) -> None:
    home.settings.config_path.write_text("[collector]\nmax_batch_event = 10\n")
    result = run("events", "count", "--home", str(home.path), ok=False)
    assert "unknown setting collector.max_batch_event" in result.output
    assert "config.toml" in result.output


def test_serve_says_when_the_port_is_taken(home: Home) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), "--home", str(home.path), ok=False)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output


def test_keys_create_list_revoke(home: Home) -> None:
    created = run_json("keys", "create", "--role", "write", "--name", "tills", "--channel", "pos",
                       "--home", str(home.path))  # fmt: skip
    assert created["key"].startswith("tpw_") and created["channel"] == "pos"
    listed = run_json("keys", "list", "--home", str(home.path))
    assert {k["name"] for k in listed} == {"default", "analyst", "admin", "tills"}
    assert all("hash" not in k and "key" not in k for k in listed)
    run("keys", "revoke", "tills", "--home", str(home.path))
    assert "tills" not in {k["name"] for k in run_json("keys", "list", "--home", str(home.path))}
    refused = run("keys", "create", "--role", "read", "--name", "x", "--channel", "pos", "--home", str(home.path),
                  ok=False)  # fmt: skip
    assert "only write keys have a channel" in refused.output


def test_events_count_by_channel_type_and_event(home: Home) -> None:
    send(home, [
        {"type": "track", "event": "A", "userId": "u", "messageId": "1", "context": {"library": {"name": "analytics.js"}}},
        {"type": "track", "event": "A", "userId": "u", "messageId": "2", "context": {"library": {"name": "analytics-ios"}}},
        {"type": "page", "name": "Home", "anonymousId": "a", "messageId": "3", "context": {"page": {"path": "/"}}},
        {"type": "track", "userId": "u", "messageId": "bad"},
    ])  # fmt: skip
    by_channel = run_json("events", "count", "--by", "channel", "--home", str(home.path))
    assert by_channel == {"total": 3, "by": "channel", "counts": {"web": 2, "app": 1}, "quarantined": 1}
    assert run_json("events", "count", "--by", "type", "--home", str(home.path))["counts"] == {
        "track": 2,
        "page": 1,
    }
    assert run_json("events", "count", "--by", "event", "--home", str(home.path))["counts"] == {
        "A": 2,
        "Home": 1,
    }
    assert run_json("events", "count", "--home", str(home.path))["total"] == 3


def test_export_in_every_format_has_every_event_with_its_message_id(home: Home, tmp_path: Path) -> None:
    send(home, [
        {"type": "identify", "userId": "u1", "messageId": "m1", "traits": {"email": "ü@example.com"},
         "timestamp": "2026-01-02T03:04:05Z"},
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m2",
         "properties": {"total": 12.5}, "timestamp": "2026-01-03T00:00:00Z"},
    ])  # fmt: skip
    lines = [json.loads(x) for x in run("events", "export", "--home", str(home.path)).stdout.splitlines()]
    assert [e["messageId"] for e in lines] == ["m1", "m2"]
    assert lines[0]["traits"] == {"email": "ü@example.com"}
    assert lines[1]["properties"] == {"total": 12.5}
    assert lines[1]["timestamp"] == "2026-01-03T00:00:00.000000Z"

    rows = list(
        csv.DictReader(
            io.StringIO(run("events", "export", "--format", "csv", "--home", str(home.path)).stdout)
        )
    )
    assert [r["message_id"] for r in rows] == ["m1", "m2"]
    assert json.loads(rows[1]["properties"]) == {"total": 12.5}

    out = tmp_path / "events.parquet"
    run("events", "export", "--format", "parquet", "--out", str(out), "--home", str(home.path))
    table = pq.read_table(out)
    assert table.column("message_id").to_pylist() == ["m1", "m2"]
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert not (tmp_path / "events.parquet.partial").exists()

    since = run("events", "export", "--since", "2026-01-03", "--home", str(home.path)).stdout.splitlines()
    assert [json.loads(x)["messageId"] for x in since] == ["m2"]


def test_an_exported_file_can_be_sent_back_without_duplicates(home: Home) -> None:
    send(home, [{"type": "track", "event": "A", "userId": "u", "messageId": f"m{i}"} for i in range(3)])
    exported = [json.loads(x) for x in run("events", "export", "--home", str(home.path)).stdout.splitlines()]
    answer = send(home, exported)
    assert answer["accepted"] == 3
    assert run_json("events", "count", "--home", str(home.path))["total"] == 3


def test_quarantine_list_and_replay_after_a_fix(home: Home, tmp_path: Path) -> None:
    send(home, [
        {"type": "track", "userId": "u", "messageId": "no-name"},
        {"type": "track", "event": "A", "messageId": "no-id"},
    ])  # fmt: skip
    held = run_json("quarantine", "list", "--home", str(home.path))
    assert [json.loads(i["payload"])["messageId"] for i in held] == ["no-name", "no-id"]
    assert "no event name" in held[0]["reason"]
    human = run("quarantine", "list", "--home", str(home.path)).stdout
    assert held[0]["quarantine_id"] in human and "reason:" in human

    # Replaying without a fix changes nothing.
    outcome = run_json("quarantine", "replay", "--all", "--home", str(home.path))
    assert (outcome["replayed"], outcome["still_invalid"]) == (0, 2)

    fixed = tmp_path / "fixed.json"
    fixed.write_text(
        json.dumps({"type": "track", "event": "Signed Up", "userId": "u", "messageId": "no-name"})
    )
    outcome = run_json("quarantine", "replay", held[0]["quarantine_id"], "--payload-file", str(fixed),
                       "--home", str(home.path))  # fmt: skip
    assert outcome["replayed"] == 1
    exported = [json.loads(x) for x in run("events", "export", "--home", str(home.path)).stdout.splitlines()]
    assert [(e["messageId"], e["event"]) for e in exported] == [("no-name", "Signed Up")]
    remaining = run_json("quarantine", "list", "--home", str(home.path))
    assert [i["quarantine_id"] for i in remaining] == [held[1]["quarantine_id"]]
    everything = run_json("quarantine", "list", "--all", "--home", str(home.path))
    assert {i["status"] for i in everything} == {"held", "replayed"}

    # A failed fix leaves the client's original payload as it was.
    still_bad = tmp_path / "still-bad.json"
    still_bad.write_text(json.dumps({"type": "track", "messageId": "no-id"}))
    run(
        "quarantine",
        "replay",
        held[1]["quarantine_id"],
        "--payload-file",
        str(still_bad),
        "--home",
        str(home.path),
    )
    [kept] = run_json("quarantine", "list", "--home", str(home.path))
    assert kept["payload"] == held[1]["payload"]
    not_utf8 = tmp_path / "latin1.json"
    not_utf8.write_bytes(b"\xff\xfe")
    refused = run("quarantine", "replay", held[1]["quarantine_id"], "--payload-file", str(not_utf8),
                  "--home", str(home.path), ok=False)  # fmt: skip
    assert "is not UTF-8" in refused.output

    unknown = run("quarantine", "replay", "q_nope", "--home", str(home.path), ok=False)
    assert "no held quarantine item q_nope" in unknown.output


def test_replay_of_an_already_stored_event_is_not_a_duplicate(home: Home) -> None:
    send(home, [{"type": "track", "event": "A", "userId": "u", "messageId": "m1"}])
    send(home, [{"type": "track", "event": "A", "userId": "u", "messageId": "m1", "properties": [1]}])
    [item] = run_json("quarantine", "list", "--home", str(home.path))
    fixed = json.dumps({"type": "track", "event": "A", "userId": "u", "messageId": "m1"})
    result = CliRunner().invoke(cli, ["quarantine", "replay", item["quarantine_id"], "--payload-file", "-",
                                      "--home", str(home.path), "--json"], input=fixed)  # fmt: skip
    assert json.loads(result.stdout)["duplicates"] == 1
    assert run_json("events", "count", "--home", str(home.path))["total"] == 1


@pytest.mark.slow
def test_commands_read_the_store_while_a_server_is_running(home: Home, server: ServerProcess) -> None:
    batch = [{"type": "track", "event": "A", "userId": "u", "messageId": f"m{i}"} for i in range(50)]
    response = httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, headers=home.basic, timeout=10)
    assert response.status_code == 200
    # No waiting for the server's loader: the command loads what is spooled if it has to.
    assert run_json("events", "count", "--home", str(home.path))["total"] == 50
    response = httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, headers=home.basic, timeout=10)
    assert response.status_code == 200
    assert run_json("events", "count", "--home", str(home.path))["total"] == 50
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


@pytest.mark.slow
def test_demo_builds_the_same_world_from_the_same_seed(tmp_path: Path) -> None:
    first = run_json("demo", "--customers", "60", "--seed", "7", "--no-serve", "--home", str(tmp_path / "a"))
    again = run_json("demo", "--customers", "60", "--seed", "7", "--no-serve", "--home", str(tmp_path / "b"))
    assert first["stored_events"] > first["sent"] > 60, "online events over HTTP, the rest imported"
    assert first["quarantined"] == 0
    channels = {"web", "app", "email", "pos", "loyalty", "support", "survey", "review", "social", "qr"}
    assert channels <= set(first["by_channel"])
    for key in ("stored_events", "by_channel", "by_type", "identified_customers", "quarantine_held"):
        assert first[key] == again[key], key
    export_a = run("events", "export", "--home", str(tmp_path / "a")).stdout.splitlines()
    export_b = run("events", "export", "--home", str(tmp_path / "b")).stdout.splitlines()
    ids_a = sorted(json.loads(x)["messageId"] for x in export_a)
    assert ids_a == sorted(json.loads(x)["messageId"] for x in export_b), "link hits included: same ids"
    rerun = run_json("demo", "--customers", "60", "--seed", "7", "--no-serve", "--home", str(tmp_path / "a"))
    assert rerun["stored_events"] == 0, "re-sending the same world stores nothing twice"
    assert rerun["events_in_store"] == first["events_in_store"] == first["stored_events"]


def test_a_second_world_is_not_built_into_a_home_that_holds_another(tmp_path: Path) -> None:
    run_json("demo", "--customers", "20", "--seed", "1", "--no-serve", "--home", str(tmp_path / "w"))
    other = subprocess.run(
        [sys.executable, "-m", "touchpoints", "demo", "--customers", "20", "--seed", "2", "--no-serve",
         "--home", str(tmp_path / "w")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert other.returncode != 0
    assert "holds the demo world of seed 1" in other.stderr
