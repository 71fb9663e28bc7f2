"""Retention: ``touchpoints privacy retention`` deletes exactly the events, message ids and quarantined items
whose time-to-live has passed (the most specific rule wins), ``--dry-run`` changes nothing, the server's
loader does the same by itself about once a day, and a wrong setting is named before anything is deleted."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner, Result

from tests.conftest import Home, make_home
from touchpoints.cli.main import cli
from touchpoints.collector.loader import Loader, LoaderThread
from touchpoints.config import CONFIG_TEMPLATE, ConfigError, Settings, load_settings
from touchpoints.events.model import QuarantinedItem, StoredEvent
from touchpoints.privacy.audit import AuditLog
from touchpoints.privacy.retention import TTL, RetentionPolicy, RetentionSchedule, parse_ttl
from touchpoints.store.duckdb import open_store
from touchpoints.store.events import append_records, prune_message_ids

NOW = datetime.now(UTC)

CONFIG = """
[retention]
quarantine = "30 days"
automatic = true
[retention.types]
screen = "13 months"
[retention.sources]
crm = "2 years"
[retention.events]
"Newsletter Opened" = "90 days"
"""

# (message id, type, source, track event name, age in days, expired?) under CONFIG. Cut-offs: the default
# 25 months is ~760 days; screen 13 months ~395; crm 2 years ~730; orders 5 years ~1826; newsletter 90.
EVENTS: list[tuple[str, str, str, str | None, int, bool]] = [
    ("page-recent", "page", "web", None, 700, False),
    ("page-old", "page", "web", None, 800, True),  # the default
    ("track-recent", "track", "web", "Product Viewed", 10, False),
    ("track-old", "track", "web", "Product Viewed", 800, True),
    ("screen-recent", "screen", "app", None, 380, False),
    ("screen-old", "screen", "app", None, 420, True),  # a type rule
    ("identify-ancient", "identify", "web", None, 3000, False),  # identify: kept for ever
    ("identify-crm-recent", "identify", "crm", None, 700, False),
    ("identify-crm-old", "identify", "crm", None, 800, True),  # the source beats the type
    ("order-recent", "track", "pos", "Order Completed", 1800, False),
    ("order-old", "track", "pos", "Order Completed", 1900, True),
    ("order-crm", "track", "crm", "Order Completed", 800, False),  # the event name beats the source
    ("newsletter-recent", "track", "email", "Newsletter Opened", 80, False),
    ("newsletter-old", "track", "email", "Newsletter Opened", 100, True),
    ("alias-ancient", "alias", "web", None, 3000, False),
    ("group-ancient", "group", "web", None, 3000, False),
]
EXPIRED = {m for m, *_, expired in EVENTS if expired}
KEPT = {m for m, *_, expired in EVENTS if not expired}


def event(message_id: str, etype: str, source: str, name: str | None, age_days: float,
          received_age_days: float | None = None) -> StoredEvent:  # fmt: skip
    at = NOW - timedelta(days=age_days)
    received = (
        at + timedelta(seconds=2) if received_age_days is None else NOW - timedelta(days=received_age_days)
    )
    return StoredEvent(
        message_id=message_id,
        type=etype,
        source=source,
        channel="web",
        timestamp=at,
        received_at=received,
        user_id=f"user-{message_id}",
        anonymous_id=f"anon-{message_id}",
        previous_id="anon-old" if etype == "alias" else None,
        group_id="acme" if etype == "group" else None,
        event=name if etype == "track" else None,
        traits=msgspec.Raw(b'{"email": "' + message_id.encode() + b'@example.com"}')
        if etype == "identify"
        else msgspec.Raw(b"{}"),
    )


def held(quarantine_id: str, age_days: float) -> QuarantinedItem:
    return QuarantinedItem(
        quarantine_id=quarantine_id,
        source="web",
        origin="spool",
        received_at=NOW - timedelta(days=age_days),
        reason="event 0: timestamp is not ISO-8601",
        payload='{"userId": "someone", "timestamp": "yesterday"}',
    )


def store(home: Home, records: list[StoredEvent | QuarantinedItem]) -> None:
    """Through the store's one door, as the loader and the importers write."""
    with open_store(home.settings.store_path) as db, db.transaction():
        append_records(db, records, home.settings.identity)


def seed(home: Home) -> None:
    store(
        home,
        [
            # received yesterday (an import of history): their messageIds are still in the dedup window
            *(event(*spec[:5], received_age_days=1) for spec in EVENTS),
            held("q_old", 40),
            held("q_recent", 10),
        ],
    )


def table(home: Home, sql: str) -> set[Any]:
    with open_store(home.settings.store_path) as db:
        return {row[0] for row in db.execute(sql)}


def snapshot(home: Home) -> tuple[Any, ...]:
    with open_store(home.settings.store_path) as db:
        return tuple(
            db.execute(f"SELECT * FROM {name} ORDER BY ALL")
            for name in ("events", "message_ids", "quarantine", "identities", "identity_links")
        )


def run(home: Home, *args: str) -> Result:
    return CliRunner().invoke(cli, ["privacy", "retention", *args, "--home", str(home.path)])


def run_json(home: Home, *args: str) -> dict[str, Any]:
    result = run(home, *args, "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
def configured(tmp_path: Path) -> Home:
    home = make_home(tmp_path / "home", CONFIG)
    seed(home)
    return home


def test_exactly_the_expired_events_quarantine_items_and_message_ids_go(configured: Home) -> None:
    home = configured
    graph_before = snapshot(home)[3:]
    report = run_json(home)
    assert (report["events"], report["message_ids"], report["quarantine"]) == (len(EXPIRED), len(EXPIRED), 1)
    assert table(home, "SELECT message_id FROM events") == KEPT
    assert table(home, "SELECT message_id FROM message_ids") == KEPT
    assert table(home, "SELECT quarantine_id FROM quarantine") == {"q_recent"}
    assert snapshot(home)[3:] == graph_before, "retention must leave the identity graph alone"

    expired = {(r["rule"], r["match"]): r["expired"] for r in report["rules"]}
    assert expired == {
        ("event", "Newsletter Opened"): 1,
        ("event", "Order Completed"): 1,
        ("event", "Order Refunded"): 0,
        ("source", "crm"): 1,
        ("type", "alias"): 0,
        ("type", "group"): 0,
        ("type", "identify"): 0,
        ("type", "screen"): 1,
        ("default", None): 2,
        ("quarantine", None): 1,
    }
    keep = {(r["rule"], r["match"]): r["keep"] for r in report["rules"]}
    assert keep[("default", None)] == "25 months" and keep[("type", "identify")] == "forever"
    assert keep[("event", "Order Completed")] == "5 years" and keep[("quarantine", None)] == "30 days"

    again = run_json(home)
    assert (again["events"], again["message_ids"], again["quarantine"]) == (0, 0, 0)


def test_the_dry_run_counts_the_same_and_changes_nothing(configured: Home) -> None:
    home = configured
    before = snapshot(home)
    dry = run_json(home, "--dry-run")
    assert dry["dry_run"] is True
    assert (dry["events"], dry["message_ids"], dry["quarantine"]) == (len(EXPIRED), len(EXPIRED), 1)
    assert snapshot(home) == before
    assert list(AuditLog(home.settings.audit_path).entries()) == [], "a dry run deletes nothing to audit"

    text = run(home, "--dry-run")
    assert text.exit_code == 0, text.output
    assert "dry run: nothing deleted" in text.stdout
    assert "Would delete 6 events, 6 message ids and 1 quarantined items." in text.stdout
    lines = {line.split()[0] + " " + line.split()[1]: line for line in text.stdout.splitlines()[2:-1]}
    assert lines['event "Newsletter'].split()[-1] == "1"
    assert lines["default 25"].split()[-1] == "2"
    assert snapshot(home) == before

    real = run(home)
    assert "Deleted 6 events, 6 message ids and 1 quarantined items." in real.stdout
    assert table(home, "SELECT message_id FROM events") == KEPT


def test_the_run_is_audited_with_counts_only(configured: Home) -> None:
    run_json(configured)
    (entry,) = AuditLog(configured.settings.audit_path).entries()
    assert entry["action"] == "retention.apply" and entry["actor"].startswith("cli:")
    assert entry["details"] == {
        "via": "cli",
        "events": 6,
        "message_ids": 6,
        "quarantine": 1,
        "rules": {
            'event "Newsletter Opened"': 1,
            'event "Order Completed"': 1,
            "source crm": 1,
            "type screen": 1,
            "default": 2,
            "quarantine": 1,
        },
    }
    assert not any(m in json.dumps(entry) for m in EXPIRED | {"q_old"}), "no identifier in the audit log"
    assert AuditLog(configured.settings.audit_path).verify().ok


def test_age_runs_from_the_timestamp_but_never_later_than_arrival(home: Home) -> None:
    store(
        home,
        [
            event(
                "imported-old", "page", "shop", None, 800, received_age_days=0
            ),  # old receipts, imported today
            event(
                "clock-2099", "page", "web", None, -365 * 70, received_age_days=800
            ),  # a client clock in 2099
            event("late-arrival", "page", "web", None, 10, received_age_days=0),
        ],
    )
    assert run_json(home)["events"] == 2
    assert table(home, "SELECT message_id FROM events") == {"late-arrival"}


def test_a_message_id_stored_again_after_its_window_keeps_its_row(home: Home) -> None:
    store(home, [event("m-1", "page", "web", None, 800, received_age_days=1)])
    with open_store(home.settings.store_path) as db, db.transaction():
        prune_message_ids(
            db, NOW + timedelta(days=8), timedelta(days=7)
        )  # the window passed: m-1 is new again
    store(home, [event("m-1", "page", "web", None, 0, received_age_days=0)])
    report = run_json(home)
    assert (report["events"], report["message_ids"]) == (1, 0)
    assert table(home, "SELECT message_id FROM message_ids") == {"m-1"}


def test_defaults_keep_profiles_and_orders_and_expire_views(home: Home) -> None:
    store(
        home,
        [
            event("view", "page", "web", None, 25 * 31),
            event("tap", "screen", "app", None, 25 * 31),
            event("click", "track", "web", "Product Clicked", 25 * 31),
            event("order", "track", "pos", "Order Completed", 4 * 365),
            event("refund", "track", "pos", "Order Refunded", 6 * 365),
            event("profile", "identify", "web", None, 10 * 365),
            held("q_old", 31),
        ],
    )
    report = run_json(home)
    assert (report["events"], report["quarantine"]) == (4, 1)
    assert table(home, "SELECT message_id FROM events") == {"order", "profile"}


def test_zero_and_forever_keep_everything(tmp_path: Path) -> None:
    home = make_home(
        tmp_path / "home",
        '[retention]\ndefault = 0\nquarantine = "forever"\n'
        '[retention.events]\n"Order Completed" = "forever"\n"Order Refunded" = 0\n',
    )
    seed(home)
    before = snapshot(home)
    report = run_json(home)
    assert (report["events"], report["message_ids"], report["quarantine"]) == (0, 0, 0)
    assert snapshot(home) == before


def test_the_loader_thread_applies_retention_when_the_server_starts(configured: Home) -> None:
    loader = Loader.for_settings(configured.settings)
    assert loader.retention is not None
    thread = LoaderThread(loader, interval=0.02)
    thread.start()
    try:
        for _ in range(500):
            if loader.retention.next_run > loader.retention.clock() + 3600:  # it ran
                break
            time.sleep(0.02)
    finally:
        thread.stop()
    assert table(configured, "SELECT message_id FROM events") == KEPT
    (entry,) = AuditLog(configured.settings.audit_path).entries()
    assert (entry["actor"], entry["action"], entry["details"]["events"]) == (
        "system:loader",
        "retention.apply",
        6,
    )


def test_the_schedule_runs_once_a_day_and_only_audits_deletions(configured: Home) -> None:
    now = [1000.0]
    schedule = RetentionSchedule(
        configured.settings.retention, configured.settings.audit_path, clock=lambda: now[0]
    )
    path = configured.settings.store_path
    first = schedule.run_if_due(path)
    assert first is not None and first.events == 6
    now[0] += 23 * 3600
    assert schedule.run_if_due(path) is None  # not a day yet: one clock reading, no store opened
    now[0] += 3600
    second = schedule.run_if_due(path)
    assert second is not None and second.events == 0
    assert len(list(AuditLog(configured.settings.audit_path).entries())) == 1, "an empty run is not audited"


def test_automatic_false_leaves_it_to_the_command(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", "[retention]\nautomatic = false\n")
    assert Loader.for_settings(home.settings).retention is None
    # Off by default: imported history is never deleted by surprise.
    assert Loader.for_settings(make_home(tmp_path / "plain").settings).retention is None


# --- settings ---------------------------------------------------------------------------------------


def test_the_template_holds_the_defaults_and_documents_every_setting(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG_TEMPLATE)
    assert load_settings(tmp_path).retention == RetentionPolicy() == Settings(home=tmp_path).retention
    for key in ("default", "quarantine", "automatic"):
        assert f"\n{key} = " in CONFIG_TEMPLATE.split("[retention]")[1]
    for section in ("[retention.types]", "[retention.events]", "[retention.sources]"):
        assert section in CONFIG_TEMPLATE


def test_an_entry_replaces_only_its_own_default(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[retention.types]\npage = "13 months"\n[retention.events]\n"Order Completed" = "10 years"\n'
    )
    policy = load_settings(tmp_path).retention
    assert policy.types == {"identify": None, "group": None, "alias": None, "page": TTL(months=13)}
    assert policy.events == {"Order Completed": TTL(months=120), "Order Refunded": TTL(months=60)}


@pytest.mark.parametrize(
    ("value", "ttl"),
    [
        ("30 days", TTL(days=30)),
        ("1 day", TTL(days=1)),
        ("2 weeks", TTL(days=14)),
        ("25 Months", TTL(months=25)),
        (" 5 years ", TTL(months=60)),
        ("5years", TTL(months=60)),
        ("forever", None),
        ("0 days", None),
        (0, None),
    ],
)
def test_durations(value: object, ttl: TTL | None) -> None:
    assert parse_ttl(value) == ttl


def test_months_are_calendar_months() -> None:
    assert TTL(months=1).cutoff(datetime(2026, 3, 31, 12, tzinfo=UTC)) == datetime(
        2026, 2, 28, 12, tzinfo=UTC
    )
    assert TTL(months=25).cutoff(datetime(2026, 11, 23, tzinfo=UTC)) == datetime(2024, 10, 23, tzinfo=UTC)
    assert TTL(days=30).cutoff(datetime(2026, 3, 1, tzinfo=UTC)) == datetime(2026, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[retention]\ndefualt = "1 year"\n', "unknown setting retention.defualt; known: default"),
        ('[retention]\ndefault = "25 monts"\n', 'retention.default must be a duration like "30 days"'),
        ("[retention]\ndefault = 30\n", 'retention.default has no unit: write "30 days"'),
        ("[retention]\nquarantine = -1\n", "retention.quarantine has no unit"),
        ("[retention]\nquarantine = true\n", "retention.quarantine must be a duration"),
        ('[retention]\ndefault = "200 years"\n', "retention.default is more than 100 years"),
        ("[retention]\nautomatic = 1\n", "retention.automatic must be true or false"),
        ('[retention]\ntypes = "page"\n', "retention.types must be a table, e.g. [retention.types]"),
        (
            '[retention.types]\npageview = "1 year"\n',
            "retention.types.pageview: 'pageview' is not an event type",
        ),
        ('[retention.events]\npage = "1 year"\n', "'page' is an event type, not a track event's name"),
        ('[retention.events]\n"Order Completed" = "5 yrs"\n', 'retention.events."Order Completed" must be'),
        ('[retention.sources]\n"" = "1 year"\n', "the name is empty"),
        ('[retention.sources]\ncrm = "1 year 2 months"\n', "retention.sources.crm must be a duration"),
    ],
)
def test_a_bad_setting_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(tmp_path)


def test_the_command_names_a_bad_setting_and_deletes_nothing(configured: Home) -> None:
    before = snapshot(configured)
    configured.settings.config_path.write_text('[retention]\ndefault = "25 monts"\n')
    result = run(configured)
    assert result.exit_code == 1
    assert "retention.default must be a duration" in result.output and "25 monts" in result.output
    assert snapshot(configured) == before
