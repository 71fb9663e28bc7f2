"""Identity resolution on the demo world, end to end through the CLI: the planted duplicates are found and
the look-alikes kept apart (pairwise F1 against the ground truth), and Jane Doe is one customer whose
timeline holds every touchpoint of her journey, in order, across at least five channels."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

CUSTOMERS = 400
SEED = 11

pytestmark = pytest.mark.slow


def _cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "touchpoints", *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    home = tmp_path_factory.mktemp("demo") / "home"
    summary = json.loads(
        _cli(
            "demo",
            "--customers",
            str(CUSTOMERS),
            "--seed",
            str(SEED),
            "--no-serve",
            "--json",
            "--home",
            str(home),
        )
    )
    truth = json.loads(Path(summary["ground_truth"]).read_text(encoding="utf-8"))
    return home, summary, truth


def test_matching_finds_the_planted_duplicates_and_keeps_look_alikes_apart(
    demo: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    _, summary, truth = demo
    matching = summary["identity"]["matching"]
    assert matching["records"] == sum(
        1 for p in truth["people"] for f in ("crm_record_id", "pos_record_id") if p["ids"].get(f)
    )
    assert matching["true_pairs"] == len(truth["duplicates"])
    print(json.dumps(matching, indent=1))
    assert matching["f1"] >= 0.98, matching


def test_jane_is_one_customer_with_every_touchpoint_in_order(
    demo: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    home, _, truth = demo
    jane = truth["jane"]
    explained = json.loads(_cli("identity", "explain", "jane.doe@example.com", "--json", "--home", str(home)))
    mine = {(i["kind"], i["value"]) for i in explained["identifiers"]}
    assert {("user_id", jane["user_id"]), ("email", jane["email"]), ("loyalty_id", jane["loyalty_id"]),
            ("record", jane["crm_record_id"])} <= mine  # fmt: skip
    # The same customer whichever identifier is asked for.
    for ref in (jane["user_id"], jane["loyalty_id"], "JANE.DOE@example.com", "+44 7700 900123"):
        other = json.loads(_cli("profiles", "show", ref, "--json", "--timeline", "0", "--home", str(home)))
        assert other["customer_id"] == explained["customer_id"]
    profile = json.loads(
        _cli("profiles", "show", jane["email"], "--json", "--timeline", "500", "--home", str(home))
    )
    timeline = profile["timeline"][::-1]  # oldest first
    position = {e["message_id"]: i for i, e in enumerate(timeline)}
    story = jane["story"]
    missing = [s for s in story if s["message_id"] not in position]
    assert not missing, missing
    entries = [timeline[position[s["message_id"]]] for s in story]
    times = [datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in entries]
    assert times == sorted(times)
    assert [e["channel"] for e in entries] == [s["channel"] for s in story]
    assert len({e["channel"] for e in entries}) >= 5


def test_links_list_every_identifier_and_record_with_its_customer(
    demo: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    home, _, truth = demo
    rows = list(
        csv.DictReader(io.StringIO(_cli("identity", "links", "--format", "csv", "--home", str(home))))
    )
    assert set(rows[0]) == {"kind", "value", "source", "customer_id"}
    records = {(r["source"], r["value"]): r["customer_id"] for r in rows if r["kind"] == "record"}
    for person in truth["people"]:
        crm, pos = person["ids"].get("crm_record_id"), person["ids"].get("pos_record_id")
        if crm:
            assert ("crm", crm) in records
        if pos:
            assert ("pos-signup", pos) in records
    lines = [json.loads(line) for line in _cli("identity", "links", "--home", str(home)).splitlines()]
    assert len(lines) == len(rows)
    assert all(set(line) == {"kind", "value", "source", "customer_id"} for line in lines)
