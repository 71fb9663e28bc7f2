"""``touchpoints profiles show|search`` over copies of Jane's world, the trait precedence setting, and a
merge showing in the profile at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from tests.profiles.conftest import copy_world
from tests.profiles.world import JANE_EVENTS, World
from touchpoints.cli.main import cli
from touchpoints.collector.app import create_app
from touchpoints.config import ConfigError, load_settings


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def world(built_world: World, tmp_path: Path) -> World:
    return copy_world(built_world, tmp_path / "home")


def show(world: World, ref: str, *options: str) -> dict[str, Any]:
    out = run("profiles", "show", ref, *options, "--home", str(world.home.path), "--json").stdout
    data: dict[str, Any] = json.loads(out)
    return data


def test_show_json_has_the_whole_profile(world: World) -> None:
    profile = show(world, "jane.doe@example.com", "--timeline", "3")
    assert set(profile) == {
        "customer_id",
        "identifiers",
        "traits",
        "computed",
        "consent",
        "timeline",
        "next_before",
    }
    assert profile["computed"]["events"] == JANE_EVENTS
    assert profile["traits"]["firstName"]["value"] == "Janet"
    assert [e["event"] for e in profile["timeline"]] == [
        "Survey Responded",
        "Ticket Opened",
        "Order Refunded",
    ]
    older = show(world, profile["customer_id"], "--timeline", "3", "--before", profile["next_before"])
    assert [e["event"] for e in older["timeline"]] == ["Ticket Resolved", "Ticket Opened", "Order Completed"]


def test_show_reads_well_on_a_terminal(world: World) -> None:
    text = run("profiles", "show", "u-jane", "--home", str(world.home.path)).stdout
    for expected in (
        "Jane Doe  cus_",
        "firstName            Janet",
        "also: Jane (crm, 2026-01-05 09:00)",
        "orders        2, 1 refunded; spend 199.00 GBP, average order 114.50 GBP",
        "favourite     Dresses",
        "open tickets  1 (T-2 Refund not received)",
        "last NPS      3 (detractor) 2026-03-07 18:00",
        "marketing            refused  web-shop/web  2026-02-01 10:05",
        "2026-03-01 12:00  Order Completed 80.00 GBP #1001, 2 items (pos)",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"


def test_an_unknown_id_says_so_and_what_to_try(world: World) -> None:
    result = run("profiles", "show", "nobody@example.com", "--home", str(world.home.path), code=4)
    assert "nobody@example.com" in result.output
    assert "touchpoints profiles search" in result.output and "touchpoints identity links" in result.output


def test_search_by_email_phone_and_name(world: World) -> None:
    home = str(world.home.path)
    jane = show(world, "u-jane", "--timeline", "0")["customer_id"]
    found = json.loads(
        run("profiles", "search", "--email", "JANE.DOE@example.com", "--home", home, "--json").stdout
    )
    assert [c["customer_id"] for c in found] == [jane]
    found = json.loads(run("profiles", "search", "--phone", "+447700900123", "--home", home, "--json").stdout)
    assert [c["customer_id"] for c in found] == [jane]
    text = run("profiles", "search", "--name", "doe", "--home", home).stdout
    assert jane in text and "Jane Doe" in text and "jane.doe@example.com" in text
    nobody = run("profiles", "search", "--name", "nobody", "--home", home, "--json", code=4)
    assert json.loads(nobody.stdout) == []
    assert run("profiles", "search", "--home", home, code=2).exit_code == 2


def test_source_priority_prefers_the_crm(built_world: World, tmp_path: Path) -> None:
    config = '[profiles]\ntrait_precedence = "source_priority"\nsource_priority = ["crm", "web"]\n'
    world = copy_world(built_world, tmp_path / "home", config)
    traits = show(world, "u-jane", "--timeline", "0")["traits"]
    assert (traits["firstName"]["value"], traits["firstName"]["source"]) == ("Jane", "crm")
    assert [o["value"] for o in traits["firstName"]["others"]] == ["Janet"]
    assert traits["address.city"]["value"] == "London"
    # The CRM's own email statement wins over the later ones of the tills, support and surveys.
    assert (traits["email"]["source"], traits["email"]["at"]) == ("crm", "2026-01-05T09:00:00.000000Z")
    # The value that lost is still shown, with where it came from ("web" ranks the web shop second).
    assert traits["address.city"]["others"] == [
        {"value": "Manchester", "source": "web-shop", "channel": "web", "at": "2026-02-01T10:05:00.000000Z"}
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            '[profiles]\ntrait_precedence = "newest"\n',
            "trait_precedence must be one of latest, source_priority",
        ),
        ('[profiles]\ntrait_precedence = "source_priority"\n', "needs profiles.source_priority"),
        ('[profiles]\nsource_priority = ["crm"]\n', "would be ignored"),
    ],
)
def test_a_bad_precedence_setting_is_named(tmp_path: Path, config: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(config)
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path)


def test_a_merge_shows_in_the_profile_at_once(world: World) -> None:
    """A visitor browsing anonymously is their own customer until they sign in; then every earlier event
    of theirs is in Jane's profile, with nothing recomputed."""
    browse = {
        "type": "track",
        "messageId": "w-10",
        "anonymousId": "a-2",
        "event": "Products Searched",
        "properties": {"query": "raincoat"},
        "timestamp": "2026-03-08T08:00:00Z",
    }
    sign_in = {
        "type": "identify",
        "messageId": "w-11",
        "userId": "u-jane",
        "anonymousId": "a-2",
        "timestamp": "2026-03-08T08:05:00Z",
    }
    with TestClient(create_app(world.home.settings)) as client:
        assert client.post("/v1/batch", json={"batch": [browse]}, auth=(world.web_key, "")).status_code == 200
    before = show(world, "a-2", "--timeline", "5")
    assert before["computed"]["events"] == 1 and before["timeline"][0]["summary"] == (
        "Products Searched: raincoat (web)"
    )
    with TestClient(create_app(world.home.settings)) as client:
        assert (
            client.post("/v1/batch", json={"batch": [sign_in]}, auth=(world.web_key, "")).status_code == 200
        )
    after = show(world, "a-2", "--timeline", "2")
    assert after["customer_id"] == show(world, "u-jane", "--timeline", "0")["customer_id"]
    assert after["computed"]["events"] == JANE_EVENTS + 2
    assert after["computed"]["last_seen"] == "2026-03-08T08:05:00.000000Z"
    assert [e["message_id"] for e in after["timeline"]] == ["w-11", "w-10"]


def test_a_consent_recorded_on_the_command_line_reads_well(world: World) -> None:
    """A statement taken by phone has a source (who recorded it) and no channel: no "None" is printed."""
    run("privacy", "consent", "u-jane", "--grant", "marketing", "--evidence", "phone call",
        "--home", str(world.home.path))  # fmt: skip
    text = run("profiles", "show", "u-jane", "--home", str(world.home.path)).stdout
    line = next(x for x in text.splitlines() if x.strip().startswith("marketing"))
    assert "granted" in line and "cli:" in line and "None" not in line, line
