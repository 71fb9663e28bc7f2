"""The audit log: every profile read is on record with who and when, and no entry can be changed, removed
or slipped in without ``touchpoints privacy audit --verify`` saying so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import Home, ServerProcess
from touchpoints.privacy.audit import AuditLog


def cli(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "touchpoints", *args, "--home", str(home.path)], capture_output=True, text=True
    )


def test_a_chain_of_entries_verifies_and_each_kind_of_tampering_is_found(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(4):
        log.append("key:k1:agent", "profile.read", f"cus_00000{i}", via="api")
    assert log.verify().ok and log.verify().entries == 4
    lines = log.path.read_text().splitlines()

    changed = json.loads(lines[1])
    changed["subject"] = "cus_999999"  # someone hides which customer was read
    log.path.write_text("\n".join([lines[0], json.dumps(changed), *lines[2:]]) + "\n")
    result = log.verify()
    assert not result.ok and result.entries == 1 and "entry 2 was changed" in (result.problem or "")

    log.path.write_text("\n".join([lines[0], *lines[2:]]) + "\n")  # an entry removed
    assert "seq 3" in (log.verify().problem or "")

    log.path.write_text("\n".join(lines[:2]) + "\n")  # the tail cut off: the chain itself cannot tell
    assert log.verify().ok and log.verify().last_hash == json.loads(lines[1])["hash"]


def test_appends_from_two_processes_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    code = (
        "import sys; from pathlib import Path; from touchpoints.privacy.audit import AuditLog\n"
        "log = AuditLog(Path(sys.argv[1]))\n"
        "for i in range(60): log.append(sys.argv[2], 'profile.read', f'cus_{i:06d}')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), who]) for who in ("cli:a", "cli:b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    result = AuditLog(path).verify()
    assert result.ok and result.entries == 120


@pytest.mark.slow
def test_profile_reads_through_the_api_and_the_cli_are_on_record(home: Home, server: ServerProcess) -> None:
    sent = httpx.post(
        f"{server.url}/v1/identify",
        json={"userId": "u-ada", "anonymousId": "a-ada", "traits": {"email": "ada@example.com"}},
        auth=(home.write_key, ""),
    )
    assert sent.status_code == 200
    bearer = {"Authorization": f"Bearer {home.read_key}"}
    for _ in range(100):  # until the loader has stored it
        read = httpx.get(f"{server.url}/v1/profiles/ada@example.com", headers=bearer)
        if read.status_code == 200:
            break
    assert read.status_code == 200, read.text
    customer = read.json()["customer_id"]
    assert (
        httpx.get(
            f"{server.url}/v1/profiles", params={"email": "ada@example.com"}, headers=bearer
        ).status_code
        == 200
    )
    assert httpx.get(f"{server.url}/v1/profiles/nobody@example.com", headers=bearer).status_code == 404
    assert cli(home, "profiles", "show", "u-ada", "--json").returncode == 0

    entries = json.loads(cli(home, "privacy", "audit", "--json").stdout)["entries"]
    by_action = [(e["action"], e["subject"], e["actor"].split(":")[0], e["details"]["via"]) for e in entries]
    assert by_action == [
        ("profile.read", customer, "key", "api"),
        ("profile.search", None, "key", "api"),
        ("profile.read", customer, "cli", "cli"),
    ]
    assert entries[0]["actor"].endswith(":analyst")  # the read key's name
    assert entries[1]["details"] == {"via": "api", "criteria": ["email"], "customers": [customer]}
    assert "ada@example.com" not in json.dumps(entries)  # what was searched for is not copied into the log
    verified = cli(home, "privacy", "audit", "--verify")
    assert verified.returncode == 0 and "3 entries, chain intact" in verified.stdout

    home.settings.audit_path.write_text(
        home.settings.audit_path.read_text().replace("profile.search", "profile.seen")
    )
    broken = cli(home, "privacy", "audit", "--verify")
    assert broken.returncode == 1 and "entry 2 was changed" in broken.stderr
