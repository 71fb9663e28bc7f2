"""Rectification: a corrected trait wins in the profile whatever the precedence, the old value is still
listed as seen, a corrected e-mail becomes an identifier, and the audit log says who changed what and why
(never the values)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.conftest import ServerProcess, make_home
from tests.privacy.test_consent import at, store
from touchpoints.cli.main import cli


def test_a_correction_wins_and_is_audited(tmp_path: Path) -> None:
    # The CRM is the most trusted source here: a rectification must still win over it.
    home = make_home(tmp_path / "home",
                     '[profiles]\ntrait_precedence = "source_priority"\nsource_priority = ["web-shop"]\n')  # fmt: skip
    store(home, {"type": "identify", "userId": "u-r", "timestamp": at(0),
                 "traits": {"email": "old@example.com", "lastName": "Smiht", "city": "Leeds"}})  # fmt: skip
    runner = CliRunner()
    out = runner.invoke(cli, ["privacy", "rectify", "old@example.com", "--set", "lastName=Smith", "--set",
                              "email=new@example.com", "--reason", "customer wrote in (ticket 7)",
                              "--home", str(home.path), "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    shown = runner.invoke(cli, ["profiles", "show", "u-r", "--home", str(home.path), "--json"])
    profile = json.loads(shown.stdout)
    assert profile["traits"]["lastName"]["value"] == "Smith"
    assert profile["traits"]["lastName"]["source"] == "rectification"
    assert [o["value"] for o in profile["traits"]["lastName"]["others"]] == ["Smiht"]
    assert profile["traits"]["city"]["value"] == "Leeds"  # untouched traits stay
    emails = {i["value"] for i in profile["identifiers"] if i["kind"] == "email"}
    assert emails == {"old@example.com", "new@example.com"}
    entry = json.loads(home.settings.audit_path.read_text().splitlines()[-2])
    assert entry["action"] == "privacy.rectify" and entry["details"]["traits"] == ["email", "lastName"]
    assert "Smith" not in json.dumps(entry) and "new@example.com" not in json.dumps(entry)

    bad = runner.invoke(cli, ["privacy", "rectify", "u-r", "--set", "noequals", "--reason", "x",
                              "--home", str(home.path)])  # fmt: skip
    assert bad.exit_code == 2 and "name=value" in bad.output
    missing = runner.invoke(cli, ["privacy", "rectify", "nobody@example.com", "--set", "a=b", "--reason", "x",
                                  "--home", str(home.path)])  # fmt: skip
    assert missing.exit_code == 4

    server = ServerProcess(home.path).start()
    try:
        answer = httpx.post(f"{server.url}/v1/privacy/rectify", timeout=10,
                            headers={"Authorization": f"Bearer {home.admin_key}"},
                            json={"identifier": "u-r", "traits": {"city": "York"}, "reason": "moved"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        read = httpx.get(
            f"{server.url}/v1/profiles/u-r", headers={"Authorization": f"Bearer {home.read_key}"}
        )
        assert read.json()["traits"]["city"]["value"] == "York"
    finally:
        server.kill()


def test_no_key_can_pose_as_a_rectification(tmp_path: Path) -> None:
    from touchpoints.privacy.keys import KeyError_, KeyRing

    ring = KeyRing(tmp_path / "keys.json")
    for name in ("rectification", "Rectification", "spool"):
        with pytest.raises(KeyError_, match="source name"):
            ring.create("write", name)
