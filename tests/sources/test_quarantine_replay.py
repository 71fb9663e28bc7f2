"""``touchpoints quarantine replay --all`` next to rows held by imports.

Replay runs held items through the collector's validation, as Segment events. An imported row is not a
Segment event: it is fixed in its file and imported again. So replay must leave import items as they are:
held, with the importer's reason, and nothing stored behind the importer's back."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Home
from tests.sources.helpers import counts, do_import, expect, quarantine, run, stored, write

TILLS = """
    order_id,timestamp,sku,quantity,unit_price,customer_id
    A1,2024-05-01T10:00:00Z,A,x,1.00,c1
    A2,2024-05-01T10:00:00Z,B,1,1.00,c2
    A3,2024-05-01T10:00:00Z,C,1,1.00,c3,extra
"""


def replay_all(home: Home) -> dict[str, object]:
    result = run("quarantine", "replay", "--all", "--home", str(home.path), "--json")
    outcome: dict[str, object] = json.loads(result.stdout)
    return outcome


def hold_import_rows(home: Home, tmp_path: Path, tills: str = TILLS) -> Path:
    path = write(tmp_path / "tills.csv", tills)
    assert do_import(home, "transactions", path, source="pos")["quarantined"] == 2
    census = write(tmp_path / "census.csv", "postcode,band\n,A\n")
    assert do_import(home, "enrichment", census, "--key", "postcode", source="census")["quarantined"] == 1
    return path


def test_replay_all_runs_and_stores_nothing_from_import_rows(home: Home, tmp_path: Path) -> None:
    hold_import_rows(home, tmp_path)
    events_before = stored(home)
    outcome = replay_all(home)  # exit code 0: it does not break
    assert (outcome["replayed"], outcome["still_invalid"], outcome["left_for_reimport"]) == (0, 0, 3)
    human = run("quarantine", "replay", "--all", "--home", str(home.path)).stdout
    assert "import it again" in human, "the user is told what to do with them"
    assert stored(home) == events_before
    assert len(quarantine(home)) == 3, "every import item is still held"


def test_replay_all_survives_a_held_csv_line_that_starts_with_a_number(home: Home, tmp_path: Path) -> None:
    """Order numbers are often numeric: the raw text of a malformed line is then '536365,2010-...', which
    starts like a JSON number. Replay must not stop at it (and so replay nothing at all)."""
    hold_import_rows(home, tmp_path, TILLS.replace("A1,", "1,").replace("A2,", "2,").replace("A3,", "3,"))
    result = run("quarantine", "replay", "--all", "--home", str(home.path), "--json", ok=False)
    assert result.exit_code == 0, result.output
    assert len(quarantine(home)) == 3


def test_replaying_one_import_item_says_to_fix_the_file(home: Home, tmp_path: Path) -> None:
    hold_import_rows(home, tmp_path)
    item = quarantine(home)[0]
    result = run("quarantine", "replay", item["quarantine_id"], "--home", str(home.path), ok=False)
    assert result.exit_code == 1
    assert item["origin"] in result.output and "import" in result.output
    assert quarantine(home)[0] == item


def test_replay_all_keeps_the_importers_reasons(home: Home, tmp_path: Path) -> None:
    hold_import_rows(home, tmp_path)
    before = {i["quarantine_id"]: i["reason"] for i in quarantine(home)}
    replay_all(home)
    after = {i["quarantine_id"]: i["reason"] for i in quarantine(home)}
    assert after == before, "replay replaced what is wrong with the row by a Segment validation message"


def test_an_unfixed_file_after_replay_is_not_held_twice(home: Home, tmp_path: Path) -> None:
    tills = hold_import_rows(home, tmp_path)
    replay_all(home)
    again = do_import(home, "transactions", tills, source="pos")
    assert counts(again) == expect(imported=0, quarantined=0, rows=3, duplicates=1)
    assert len(quarantine(home)) == 3


def test_replay_all_does_not_land_rows_the_importer_refused(home: Home, tmp_path: Path) -> None:
    """An events file in the Segment shape: rows the importer refused (a date it cannot read, a channel that
    does not exist) must not be stored by replay with other ids, today's time or another channel."""
    rows = [
        {"type": "track", "event": "Viewed", "user_id": "u1", "userId": "u1", "timestamp": "yesterday"},
        {"type": "track", "event": "Bought", "user_id": "u1", "userId": "u1", "timestamp": "2024-05-01T10:00:00Z",
         "channel": "telepathy"},
    ]  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert do_import(home, "events", path, source="legacy")["quarantined"] == 2
    replay_all(home)
    assert stored(home) == []
    assert len(quarantine(home)) == 2
