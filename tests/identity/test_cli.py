"""``touchpoints identity resolve|review|explain|unmerge|links`` on contact records imported from two
systems: a CRM (with customer ids) and store sign-ups (without), some of them the same people with typos."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Home

FIRST = ["Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Ivy", "Leo", "Grace", "Oscar",
         "Freya", "Harry", "Lily", "Jack", "Rosie", "Henry", "Ella", "Theo"]  # fmt: skip
LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Wright",
        "Walker", "Evans", "Thomas", "Roberts", "Khan", "Lewis", "Hughes", "Clarke", "Hall", "Green"]  # fmt: skip
STREETS = ["High Street", "Station Road", "Church Lane", "Park Avenue", "Mill Road", "Victoria Street"]
CITIES = ["London", "Leeds", "Bristol", "York", "Bath"]


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # two letters swapped


def write_contacts(folder: Path) -> tuple[Path, Path, list[tuple[str, str]]]:
    """120 CRM records; 40 store sign-ups, of which 12 are CRM customers again (a typo in the name or the
    street, another e-mail, no phone) and 28 are new people. Returns the files and the duplicate pairs."""
    rng = random.Random(5)
    header = ["record_id", "customer_id", "first_name", "last_name", "email", "phone", "address", "city",
              "postcode", "dob", "timestamp"]  # fmt: skip
    people = []
    for i in range(148):
        first, last = FIRST[i % 20], LAST[(i * 7 + i // 20) % 20]
        people.append({
            "first_name": first, "last_name": last,
            "email": f"{first.lower()}{i}@mail{i % 3}.example.com",
            "phone": f"+4479{rng.randrange(10**8):08d}",
            "address": f"{rng.randrange(1, 200)} {rng.choice(STREETS)}", "city": rng.choice(CITIES),
            "postcode": f"AB{rng.randrange(1, 30)} {rng.randrange(1, 9)}CD",
            "dob": f"19{rng.randrange(50, 99)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        })  # fmt: skip
    crm, pos = io.StringIO(), io.StringIO()
    crm_w, pos_w = csv.writer(crm), csv.writer(pos)
    crm_w.writerow(header)
    pos_w.writerow([h for h in header if h != "customer_id"])
    for i, p in enumerate(people[:120]):
        crm_w.writerow([f"CRM-{i}", f"user-{i}", p["first_name"], p["last_name"], p["email"], p["phone"],
                        p["address"], p["city"], p["postcode"], p["dob"], "2026-01-01T10:00:00Z"])  # fmt: skip
    duplicates = []
    for j in range(40):
        if j < 12:
            i = j * 9
            p = dict(people[i])
            p["last_name" if j % 2 else "address"] = _typo(rng, p["last_name" if j % 2 else "address"])
            p["email"], p["phone"] = f"{p['first_name'].lower()}.shop{j}@example.org", ""
            duplicates.append((f"record:crm/CRM-{i}", f"record:pos/POS-{j}"))
        else:
            p = people[120 + j - 12]
        pos_w.writerow([f"POS-{j}", p["first_name"], p["last_name"], p["email"], p["phone"], p["address"],
                        p["city"], p["postcode"], p["dob"], "2026-03-01T10:00:00Z"])  # fmt: skip
    (folder / "crm.csv").write_text(crm.getvalue(), encoding="utf-8")
    (folder / "pos.csv").write_text(pos.getvalue(), encoding="utf-8")
    return folder / "crm.csv", folder / "pos.csv", duplicates


def cli(home: Home, *args: str, ok: bool = True, code: int | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "touchpoints", *args, "--home", str(home.path)], capture_output=True, text=True
    )
    if ok:
        assert out.returncode == 0, out.stderr
    elif code is not None:
        assert out.returncode == code, out.stderr
    return out.stdout if ok else out.stderr


def customers_of(home: Home) -> dict[str, str]:
    rows = csv.DictReader(io.StringIO(cli(home, "identity", "links", "--format", "csv")))
    return {f"{r['kind']}:{r['source']}/{r['value']}" if r["kind"] == "record" else f"{r['kind']}:{r['value']}":
            r["customer_id"] for r in rows}  # fmt: skip


@pytest.fixture
def imported(home: Home, tmp_path: Path) -> tuple[Home, list[tuple[str, str]]]:
    crm, pos, duplicates = write_contacts(tmp_path)
    cli(home, "import", "contacts", str(crm), "--source", "crm")
    cli(home, "import", "contacts", str(pos), "--source", "pos")
    return home, duplicates


def test_resolve_merges_the_duplicates_and_nothing_else(imported: tuple[Home, list[tuple[str, str]]]) -> None:
    home, duplicates = imported
    before = customers_of(home)
    assert all(
        before[a] != before[b] for a, b in duplicates
    )  # nothing shared exactly: only matching finds them
    report = json.loads(cli(home, "identity", "resolve", "--json"))
    assert report["records"] == 160 and report["model"] == {"trained": True}
    after = customers_of(home)
    found = {(a, b) for a, b in duplicates if after[a] == after[b]}
    assert len(found) >= 11, sorted(set(duplicates) - found)
    records = [n for n in after if n.startswith("record:")]
    same = {(a, b) for a in records for b in records if a < b and after[a] == after[b]}
    assert same <= {tuple(sorted(p)) for p in duplicates}  # no wrong merge
    assert report["customers_before"] - report["customers_after"] == report["merged"] == len(found)
    # Run again: the model is kept, nothing new to merge.
    again = json.loads(cli(home, "identity", "resolve", "--json"))
    assert again["model"] == {"trained": False} and again["merged"] == 0
    assert again["already_one_customer"] >= len(found)


def test_explain_shows_the_match_and_unmerge_keeps_the_pair_apart(
    imported: tuple[Home, list[tuple[str, str]]],
) -> None:
    home, duplicates = imported
    cli(home, "identity", "resolve", "--json")
    crm, pos = duplicates[0]
    explained = json.loads(cli(home, "identity", "explain", crm.replace("record:crm/", ""), "--json"))
    match = [link for link in explained["links"] if link["cause"] == "match"]
    assert len(match) == 1 and {match[0]["a"], match[0]["b"]} == {crm, pos}
    weights = {c["comparison"]: c["match_weight"] for c in match[0]["match"]["comparisons"]}
    assert weights["first_name"] > 0 and weights["dob"] > 0
    text = cli(home, "identity", "explain", crm.replace("record:crm/", ""))
    assert f"#{match[0]['seq']}" in text and "match with probability" in text and "Date of birth" in text

    preview = json.loads(
        cli(home, "identity", "unmerge", "--link", str(match[0]["seq"]), "--dry-run", "--json")
    )
    assert preview["dry_run"] and len(preview["after"]) == 2
    assert customers_of(home)[crm] == customers_of(home)[pos]  # nothing changed
    result = json.loads(
        cli(home, "identity", "unmerge", "--link", str(match[0]["seq"]), "--reason", "test", "--json")
    )
    assert len(result["after"]) == 2
    assert customers_of(home)[crm] != customers_of(home)[pos]
    # Matching finds the pair again and leaves it apart: the unmerge stands.
    report = json.loads(cli(home, "identity", "resolve", "--json"))
    assert report["kept_apart_by_unmerge"] == 1 and report["merged"] == 0
    assert customers_of(home)[crm] != customers_of(home)[pos]
    with_refusal = json.loads(cli(home, "identity", "explain", pos.replace("record:pos/", ""), "--json"))
    assert with_refusal["unmerges"] and with_refusal["unmerges"][0]["reason"] == "test"
    # Undone: the pair is one customer again, and the ledger keeps both steps.
    cli(home, "identity", "unmerge", "--undo", str(result["unmerge"]))
    assert customers_of(home)[crm] == customers_of(home)[pos]
    # The chain joining two identifiers named by bare record ids: the matched pair's link.
    chain = json.loads(
        cli(home, "identity", "explain", crm.split("/")[1], "--with", pos.split("/")[1], "--json")
    )["path"]
    assert [{c["a"], c["b"]} for c in chain] == [{crm, pos}]


def test_the_review_queue_remembers_decisions(imported: tuple[Home, list[tuple[str, str]]]) -> None:
    home, duplicates = imported
    # Nothing is sure enough to merge on its own: every likely pair waits for a person.
    home.settings.config_path.write_text("[identity]\nmatch_threshold = 1.0\nreview_threshold = 0.5\n")
    report = json.loads(cli(home, "identity", "resolve", "--json"))
    assert report["merged"] == 0 and report["queued_for_review"] >= 11
    pending: list[dict[str, Any]] = json.loads(cli(home, "identity", "review", "--json"))["pending"]
    assert {(p["a"], p["b"]) for p in pending} >= {tuple(sorted(d)) for d in duplicates[:10]}
    first, second = pending[0], pending[1]
    assert first["records"][0]["record_id"] == first["a"] and first["records"][0]["first_name"]  # by field
    decided = json.loads(
        cli(home, "identity", "review", "--accept", str(first["id"]), "--reject", str(second["id"]), "--json")
    )
    assert [d["decision"] for d in decided["decisions"]] == ["accepted", "rejected"]
    after = customers_of(home)
    assert after[first["a"]] == after[first["b"]] and after[second["a"]] != after[second["b"]]
    again = json.loads(cli(home, "identity", "resolve", "--json"))
    assert again["queued_for_review"] == 0 and again["rejected_before"] == 1
    remaining = json.loads(cli(home, "identity", "review", "--json"))["pending"]
    assert len(remaining) == len(pending) - 2
    assert "already" in cli(home, "identity", "review", "--accept", str(first["id"]), ok=False)


def test_an_unknown_identifier_says_what_to_do(home: Home) -> None:
    err = cli(
        home, "identity", "explain", "nobody@example.com", ok=False, code=4
    )  # as profiles show: not found
    assert "no customer has 'nobody@example.com'" in err and "identity links" in err
