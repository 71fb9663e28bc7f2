"""The demo world: seeded and pure, every channel in it, and its planted truth exactly what the data says."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from touchpoints.demo.catalog import NICKNAMES, SURVEY_COMMENTS, WORLD_END, WORLD_START
from touchpoints.demo.files import write_files
from touchpoints.demo.online import online_events, plan_hits, render_customer
from touchpoints.demo.people import edit_distance
from touchpoints.demo.truth import ground_truth
from touchpoints.demo.world import CHECKOUT_ABANDONMENT, FUNNEL, World, build_world
from touchpoints.events.validate import normalize_event

N, SEED = 200, 7
CHANNELS = {"web", "app", "email", "pos", "loyalty", "support", "survey", "review", "social", "qr"}
FAKE_LINKS: dict[str, dict[str, str]] = {
    "email": {str(k): f"mail{k}" for k in range(6)},
    "qr": defaultdict(lambda: "qr"),
}


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(N, SEED)


@pytest.fixture(scope="module")
def events(world: World) -> list[dict[str, Any]]:
    return list(online_events(world, Counter(), {}))


@pytest.fixture(scope="module")
def built(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("demo")
    files = write_files(world, folder)
    by_channel: Counter[str] = Counter()
    story: dict[str, tuple[str, str]] = {}
    for _ in online_events(world, by_channel, story):
        pass
    hits = Counter(h.channel for h in plan_hits(world, FAKE_LINKS))
    return folder, ground_truth(world, files, dict(by_channel), story, dict(hits))


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- determinism ---------------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_events_files_and_ids(
    world: World, events: list[dict[str, Any]], tmp_path: Path
) -> None:
    again = build_world(N, SEED)
    assert list(online_events(again, Counter(), {})) == events
    files = write_files(world, tmp_path / "a"), write_files(again, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    truths = [json.dumps(ground_truth(w, f, {}, {}, {})) for w, f in zip((world, again), files, strict=True)]
    assert truths[0] == truths[1]
    assert [c.user_id for c in again.customers] == [c.user_id for c in world.customers]
    assert [[d.anonymous_id for d in c.devices] for c in again.customers] == [
        [d.anonymous_id for d in c.devices] for c in world.customers
    ]


def test_another_seed_gives_another_world(world: World, events: list[dict[str, Any]], tmp_path: Path) -> None:
    other = build_world(N, SEED + 1)
    other_ids = {e["messageId"] for e in online_events(other, Counter(), {})}
    assert not other_ids & {e["messageId"] for e in events}
    write_files(world, tmp_path / "a")
    write_files(other, tmp_path / "b")
    digests = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert all(digests[0][name] != digests[1][name] for name in digests[0])


def test_message_ids_are_unique(events: list[dict[str, Any]]) -> None:
    assert len({e["messageId"] for e in events}) == len(events)


# -- the events are what SDKs send -----------------------------------------------------------------------------


def test_every_online_event_is_valid_and_lands_on_its_channel(events: list[dict[str, Any]]) -> None:
    received = WORLD_END + timedelta(days=20)
    channels: Counter[str] = Counter()
    for event in events:
        stored = normalize_event(json.dumps(event).encode(), source="demo", received_at=received)
        channels[stored.channel] += 1
        assert stored.flags == [], event
        assert event["context"]["ip"].startswith(("203.0.113.", "198.51.100.", "192.0.2."))
        assert event["anonymousId"]
        if event["type"] == "page":
            page = event["context"]["page"]
            assert page["url"].startswith("https://shop.example.com/") and page["title"]
            assert page["url"].endswith(page["path"] + page["search"])
    assert set(channels) == {"web", "app"}
    assert 15 <= len(events) / N <= 30, "about 15 to 30 online events per customer"


def test_every_channel_is_in_the_world(built: tuple[Path, dict[str, Any]]) -> None:
    folder, truth = built
    expected = truth["expected"]["events_by_channel"]
    assert {channel for channel, n in expected.items() if n > 0} >= CHANNELS
    assert {p.name for p in folder.iterdir()} == {
        "crm_contacts.csv",
        "pos_contacts.csv",
        "transactions.csv",
        "store_visits.csv",
        "loyalty.parquet",
        "email_activity.csv",
        "tickets.csv",
        "surveys.csv",
        "reviews.jsonl",
        "social.csv",
        "census.csv",
    }
    statuses = Counter(r["status"] for r in _rows(folder / "email_activity.csv"))
    assert set(statuses) >= {"sent", "delivered", "bounced", "unsubscribed"}
    loyalty = pq.read_table(folder / "loyalty.parquet").to_pylist()
    assert {"enrolled", "earned"} <= {r["activity"] for r in loyalty}
    transactions = _rows(folder / "transactions.csv")
    assert any(not r["loyalty_id"] and not r["email"] for r in transactions), "anonymous sales"
    assert sum(1 for r in transactions if r["loyalty_id"]) > sum(1 for r in transactions if r["email"])
    census = {r["postcode"] for r in _rows(folder / "census.csv")}
    for name in ("crm_contacts.csv", "pos_contacts.csv"):
        assert {r["postcode"].upper().replace(" ", "") for r in _rows(folder / name)} <= {
            p.replace(" ", "") for p in census
        }


# -- the planted truth -----------------------------------------------------------------------------------------


def _sessions(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Sessions the usual way: per anonymousId, a new one after 30 minutes without an event."""
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_device[event["anonymousId"]].append(event)
    sessions = []
    for device_events in by_device.values():
        device_events.sort(key=lambda e: e["timestamp"])
        current: list[dict[str, Any]] = []
        for event in device_events:
            if current and _at(event["timestamp"]) - _at(current[-1]["timestamp"]) > timedelta(minutes=30):
                sessions.append(current)
                current = []
            current.append(event)
        sessions.append(current)
    return sessions


def test_the_funnel_and_its_planted_drop_off_match_the_events(
    events: list[dict[str, Any]], built: tuple[Path, dict[str, Any]]
) -> None:
    truth = built[1]["funnel"]
    counts = Counter(e["event"] for e in events if e["type"] == "track")
    assert {step: counts[step] for step in FUNNEL} == truth["events"]
    checkout = truth["checkout"]
    started, completed = counts["Checkout Started"], counts["Order Completed"]
    assert (checkout["started"], checkout["completed"]) == (started, completed)
    assert checkout["abandoned"] == started - completed == round(completed * 0.35 / 0.65)
    assert abs(checkout["abandonment_rate"] - CHECKOUT_ABANDONMENT) < 1 / started
    # the sessions recovered with the 30-minute rule are the planned visits, step for step
    sessions = _sessions(events)
    assert len(sessions) == truth["sessions"]
    strict: Counter[str] = Counter()
    for session in sessions:
        names = [e["event"] for e in session if e["type"] == "track"]
        if names and names[0] == FUNNEL[0]:
            assert names == list(FUNNEL[: len(names)])
            for name in names:
                strict[name] += 1
    assert {step: strict[step] for step in FUNNEL} == truth["strict"]
    # every completed order was started in the same session, and the abandoned ones never completed
    for session in sessions:
        names = [e["event"] for e in session if e["type"] == "track"]
        assert names.count("Order Completed") <= names.count("Checkout Started") <= 1


def test_duplicates_differ_by_real_typos(world: World, built: tuple[Path, dict[str, Any]]) -> None:
    folder, truth = built
    crm = {r["record_id"]: r for r in _rows(folder / "crm_contacts.csv")}
    pos = {r["record_id"]: r for r in _rows(folder / "pos_contacts.csv")}
    assert len(truth["duplicates"]) >= 10
    kinds: Counter[str] = Counter()
    for dup in truth["duplicates"]:
        a, b = crm[dup["crm"]], pos[dup["pos"]]
        names = (a["first_name"], a["last_name"]), (b["first_name"], b["last_name"])
        assert names[0] != names[1], "a duplicate's name is typed differently"
        for field in ("first_name", "last_name"):
            if a[field] != b[field]:
                close = edit_distance(a[field], b[field]) <= 2 or NICKNAMES.get(a[field]) == b[field]
                assert close, (a[field], b[field])
        for diff in dup["differences"]:
            kinds[diff["kind"]] += 1
            if diff["field"] in ("first_name", "last_name", "address", "postcode"):
                assert a[diff["field"]] == diff["crm"] and b[diff["field"]] == diff["pos"]
        if "email" in dup["shared_identifiers"]:
            assert a["email"] == b["email"]
        if "loyalty_id" in dup["shared_identifiers"]:
            assert a["loyalty_id"] == b["loyalty_id"] != ""
        if not dup["shared_identifiers"]:
            assert not (a["email"] and a["email"] == b["email"]) and not (
                a["loyalty_id"] and a["loyalty_id"] == b["loyalty_id"]
            )
    assert {"abbreviation", "transposition"} <= set(kinds)
    assert any(not d["shared_identifiers"] for d in truth["duplicates"]), "some only fuzzy matching can join"


def test_hard_negatives_are_different_people_who_look_alike(built: tuple[Path, dict[str, Any]]) -> None:
    truth = built[1]
    people = {p["person"]: p for p in truth["people"]}
    assert {n["kind"] for n in truth["hard_negatives"]} == {"namesake", "household"}
    for item in truth["hard_negatives"]:
        a, b = (people[p] for p in item["people"])
        assert a["person"] != b["person"]
        assert not set(a["ids"]["emails"]) & set(b["ids"]["emails"])
        if item["kind"] == "namesake":
            assert a["name"] == b["name"]
        else:
            assert a["name"].split()[-1] == b["name"].split()[-1] and a["name"] != b["name"]


def test_the_truth_knows_every_id_and_which_ones_were_signed_in(
    world: World, events: list[dict[str, Any]], built: tuple[Path, dict[str, Any]]
) -> None:
    signed_in = {(e["anonymousId"], e["userId"]) for e in events if e["type"] == "identify"}
    owners = {}
    for person in built[1]["people"]:
        ids = person["ids"]
        for device in ids["anonymous_ids"]:
            owners[device["id"]] = person["person"]
            assert device["signed_in"] == ((device["id"], ids["user_id"]) in signed_in), person["person"]
        if ids["crm_record_id"] is None:
            assert ids["user_id"] is None and ids["pos_record_id"] is not None and ids["loyalty_id"]
    seen = {e["anonymousId"] for e in events}
    assert seen - set(owners) == {v.device.anonymous_id for v in world.visitors}
    for event in events:
        if "userId" in event:
            assert owners[event["anonymousId"]] == f"P{int(event['userId'][5:]):06d}"


def test_churners_go_quiet_after_their_churn_date(world: World, built: tuple[Path, dict[str, Any]]) -> None:
    churners = {c["person"]: c for c in built[1]["churners"]}
    assert len(churners) == sum(1 for c in world.customers if c.lifecycle == "churned") > 10
    for c in world.customers:
        if c.lifecycle != "churned":
            continue
        assert c.churn_date is not None and c.churn_date <= WORLD_END - timedelta(days=100)
        moments = [v.end for v in c.visits] + [o.at for o in (*c.orders, *c.refunds)]
        moments += [t.opened_at for t in c.tickets] + [s.at for s in c.surveys] + [r.at for r in c.reviews]
        moments += [p.at for p in c.posts] + [s.at for s in c.store_visits] + [q.at for q in c.qr_scans]
        for send in c.emails:
            moments += [t for t in (send.opened_at, send.clicked_at, send.unsubscribed_at) if t is not None]
        assert max(moments) <= c.churn_date
        last = max(o.at for o in c.orders)
        assert churners[c.person_id]["last_purchase"] == last.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        )


def test_survey_answers_follow_the_customers_attitude(
    world: World, built: tuple[Path, dict[str, Any]]
) -> None:
    folder, truth = built
    attitude = {c.user_id or c.email or c.loyalty_id: c.attitude for c in world.customers}
    seen: Counter[str] = Counter()
    for row in _rows(folder / "surveys.csv"):
        if row["response_id"].startswith("resp-test"):
            continue
        who = attitude[row["customer_id"] or row["email"] or row["loyalty_id"]]
        nps = int(row["nps"])
        assert who == ("promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor")
        if row["comment"]:
            assert row["comment"] in SURVEY_COMMENTS[who]
        seen[who] += 1
    assert dict(seen) == {k: v for k, v in truth["nps"]["responses"].items() if k != "total"}
    assert all(seen[k] > 0 for k in ("promoter", "passive", "detractor"))


def test_jane_s_story_is_complete_and_in_order(world: World, built: tuple[Path, dict[str, Any]]) -> None:
    folder, truth = built
    jane = truth["jane"]
    assert (jane["email"], jane["user_id"]) == ("jane.doe@example.com", "user-000001")
    steps = jane["story"]
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5, 6, 7, 7, 8]
    assert [s["channel"] for s in steps] == [
        "web",
        "web",
        "web",
        "pos",
        "qr",
        "social",
        "pos",
        "loyalty",
        "web",
    ]
    times = [_at(s["at"]) for s in steps]
    assert times == sorted(times) and times[-1] - times[0] < timedelta(days=6)
    events = {e["messageId"]: e for e in render_customer(world, world.jane)[0]}
    ad, banner, viewed, signin = (events[s["message_id"]] for s in (steps[0], steps[1], steps[2], steps[8]))
    assert ad["context"]["campaign"]["source"] == "google" and ad["context"]["campaign"]["medium"] == "cpc"
    assert ad["context"]["page"]["referrer"] == "https://www.google.com/" and "userId" not in ad
    assert "utm_medium=display" in banner["context"]["page"]["search"]
    assert banner["context"]["page"]["referrer"].startswith("https://www.gadgetreview.example/")
    assert viewed["event"] == "Product Viewed" and viewed["properties"]["product_id"] == "sku-tv-55"
    assert viewed["userId"] == "user-000001"
    assert (
        signin["type"] == "identify"
        and signin["anonymousId"] == ad["anonymousId"] == jane["devices"]["phone"]
    )
    visit = next(r for r in _rows(folder / "store_visits.csv") if r["message_id"] == steps[3]["message_id"])
    assert visit["loyalty_id"] == jane["loyalty_id"] and visit["store_id"] == "store-001"
    post = next(r for r in _rows(folder / "social.csv") if r["handle"] == jane["social"]["handle"])
    assert post["sku"] == "sku-tv-55" and post["platform"] == "instagram"
    receipt = [r for r in _rows(folder / "transactions.csv") if r["order_id"] == steps[6]["order_id"]]
    assert [(r["sku"], r["loyalty_id"]) for r in receipt] == [("sku-tv-55", jane["loyalty_id"])]
    earned = [
        r
        for r in pq.read_table(folder / "loyalty.parquet").to_pylist()
        if r["order_id"] == steps[6]["order_id"]
    ]
    assert [(r["activity"], r["points"]) for r in earned] == [("earned", 1299)]
    scans = [
        h for h in plan_hits(world, FAKE_LINKS) if h.channel == "qr" and jane["devices"]["phone"] in h.path
    ]
    assert len(scans) == 1 and "u=" not in scans[0].path


def test_the_world_stays_inside_its_year(world: World, events: list[dict[str, Any]]) -> None:
    start = WORLD_START - timedelta(days=31)
    assert all(start <= _at(e["timestamp"]) < WORLD_END for e in events)
    assert all(start <= o.at < WORLD_END for c in world.customers for o in c.orders)
    assert world.customers[0].crm is not None and world.customers[0].crm.email == "jane.doe@example.com"
    assert WORLD_END.tzinfo is UTC


# -- end to end ------------------------------------------------------------------------------------------------


def _cli(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "touchpoints", *args], check=True, capture_output=True, text=True
    )
    return out.stdout


@pytest.mark.slow
def test_the_demo_builds_the_world_through_the_collector_and_the_importers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    summary = json.loads(
        _cli("demo", "--customers", str(N), "--seed", str(SEED), "--no-serve", "--json", "--home", str(home))
    )
    truth = json.loads(Path(summary["ground_truth"]).read_text(encoding="utf-8"))
    assert Path(summary["ground_truth"]) == home / "demo" / "ground_truth.json"
    counts = json.loads(_cli("events", "count", "--by", "channel", "--json", "--home", str(home)))
    assert set(counts["counts"]) >= CHANNELS
    assert counts["counts"] == truth["expected"]["events_by_channel"]
    assert summary["quarantined"] == 0 and summary["sent"] == summary["accepted"]
    # only the rows planted bad are held, each for the reason planted
    held = json.loads(_cli("quarantine", "list", "--json", "--home", str(home)))
    items = held if isinstance(held, list) else held["items"]
    assert counts["quarantined"] == len(truth["bad_rows"]) == len(items)
    by_origin = {item["origin"]: item["reason"] for item in items}
    for bad in truth["bad_rows"]:
        assert bad["reason"] in by_origin[bad["origin"]]
    # the stored events agree with the truth: the funnel, and Jane's touchpoints
    exported = [json.loads(line) for line in _cli("events", "export", "--home", str(home)).splitlines()]
    ids = {e["messageId"]: e for e in exported}
    online = Counter(e.get("event") for e in exported if e["channel"] in ("web", "app"))
    assert {step: online[step] for step in FUNNEL} == truth["funnel"]["events"]
    for step in truth["jane"]["story"]:
        assert step["message_id"] in ids, step
        stored = ids[step["message_id"]]
        assert stored["channel"] == step["channel"]
        if step["channel"] != "qr":  # the link endpoint stamps a scan when it arrives
            assert _at(stored["timestamp"]) == _at(step["at"])
    # a churner's ids show nothing after the churn date but the e-mail service's own sends
    people = {p["person"]: p for p in truth["people"]}
    for churner in truth["churners"]:
        ids = people[churner["person"]]["ids"]
        mine = {ids["user_id"], *(a["id"] for a in ids["anonymous_ids"]), f"loyalty:{ids['loyalty_id']}"} - {
            None
        }
        late = {
            e.get("event") or e["type"]
            for e in exported
            if (e.get("userId") in mine or e.get("anonymousId") in mine)
            and _at(e["timestamp"]) > _at(churner["churn_date"])
            and e["source"] != "links"
        }
        assert late <= {"Email Sent", "Email Delivered", "Email Bounced"}, (churner, late)
    jane = [
        e
        for e in exported
        if e.get("userId") == "user-000001"
        or e["messageId"] in {s["message_id"] for s in truth["jane"]["story"]}
    ]
    assert len(jane) >= len(truth["jane"]["story"])
    # building the same world again stores nothing twice
    rerun = json.loads(
        _cli("demo", "--customers", str(N), "--seed", str(SEED), "--no-serve", "--json", "--home", str(home))
    )
    assert rerun["stored_events"] == 0
    assert json.loads(Path(rerun["ground_truth"]).read_text(encoding="utf-8"))["people"] == truth["people"]
