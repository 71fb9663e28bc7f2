"""Audience exports go through the consent gate: a customer whose consent does not allow marketing is
never in the file (no statement at all, a denial, or a grant taken back), one who granted it is, with
identifiers hashed exactly as Meta and Google publish; the file is recorded line by line, and
``scrub_export_rows`` takes exactly one customer's line out of every file again."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from tests.conftest import Home, make_home
from touchpoints.audiences.export import ExportChanged, export_audience, scrub_export_rows
from touchpoints.cli.main import cli
from touchpoints.events.model import StoredEvent
from touchpoints.privacy.audit import AuditLog
from touchpoints.privacy.consent import record
from touchpoints.privacy.gate import Gate
from touchpoints.store.duckdb import DuckDBBackend, open_store
from touchpoints.store.events import append_events

START = datetime.now(UTC) - timedelta(days=30)

# Published examples (see tests/privacy/test_hashing.py for the pages): Meta's for John Smith, Google's
# Data Manager quickstart for cloudySanFrancisco and +1-800-555-0100.
META_JOHN_EMAIL = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
META_JOHN_PHONE = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
GOOGLE_CLOUDY_EMAIL = "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4"
GOOGLE_CLOUDY_PHONE = "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"

# user id -> (identify traits, marketing statements by event in order). Statements recorded through the
# admin path (consent.record) are added in the fixture.
PEOPLE: dict[str, tuple[dict[str, Any], list[bool]]] = {
    "u-john": ({"email": "John_Smith@gmail.com", "phone": "+1 650-555-1212", "city": "Leeds"}, [True]),
    "u-cloudy": ({"email": "cloudy.sanfrancisco+shopping@gmail.com", "phone": "+1-800-555-0100", "city": "Leeds"}, []),
    "u-nocontact": ({"city": "York"}, [True]),
    "u-silent": ({"email": "silent@example.com", "phone": "+44 7700 900001", "city": "Leeds"}, []),
    "u-denied": ({"email": "denied@example.com", "city": "Leeds"}, [False]),
    "u-withdrawn": ({"email": "withdrawn@example.com", "city": "Leeds"}, [True, False]),
    "u-revoked": ({"email": "revoked@example.com", "city": "Leeds"}, [True]),
}  # fmt: skip
ALLOWED = {"u-john", "u-cloudy", "u-nocontact"}
NOT_ALLOWED = {"u-silent", "u-denied", "u-withdrawn", "u-revoked"}


@dataclass
class World:
    home: Home
    customer: dict[str, str]  # user id -> customer id

    def db(self) -> AbstractContextManager[DuckDBBackend]:
        return open_store(self.home.settings.store_path)

    def gate(self) -> Gate:
        return Gate.for_settings(self.home.settings)


def _event(n: int, user: str, traits: dict[str, Any], marketing: bool | None) -> StoredEvent:
    context = {"consent": {"categoryPreferences": {"marketing": marketing}}} if marketing is not None else {}
    return StoredEvent(
        message_id=f"m-{user}-{n}",
        type="identify",
        source="web",
        channel="web",
        timestamp=START + timedelta(hours=n),
        received_at=START + timedelta(hours=n),
        user_id=user,
        traits=msgspec.Raw(msgspec.json.encode(traits if n == 0 else {})),
        context=msgspec.Raw(msgspec.json.encode(context)),
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = make_home(tmp_path / "home")
    events = []
    for user, (traits, statements) in PEOPLE.items():
        events.append(_event(0, user, traits, None))
        events += [_event(i + 1, user, {}, granted) for i, granted in enumerate(statements)]
    with open_store(home.settings.store_path) as db:
        with db.transaction():  # the loader's path: the privacy gate records the consent the events state
            append_events(db, events, home.settings.identity)
        with db.transaction():  # the admin path: statements made by phone or on paper
            policy = home.settings.privacy
            record(
                db, ["user_id:u-cloudy"], {"marketing": "granted"}, policy=policy, source="test", via="cli"
            )
            record(
                db, ["user_id:u-revoked"], {"marketing": "denied"}, policy=policy, source="test", via="cli"
            )
        customer = dict(db.execute("SELECT value, customer_id FROM identities WHERE kind = 'user_id'"))
    yield World(home, customer)


def scrub(db: DuckDBBackend, customer_id: str) -> list[str]:
    """As the erasure calls it: inside its transaction."""
    with db.transaction():
        return scrub_export_rows(db, customer_id)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(lines(path)))


def recorded(db: DuckDBBackend, path: Path) -> list[tuple[str, int]]:
    """(customer id, line) of every recorded line of the file at ``path``, in line order."""
    return [
        (c, n)
        for c, n in db.execute(
            "SELECT r.customer_id, r.line FROM export_rows r JOIN exports e ON e.id = r.export_id "
            "WHERE e.path = ? ORDER BY r.line",
            [str(path)],
        )
    ]


def test_only_customers_whose_consent_allows_marketing_are_written(world: World, tmp_path: Path) -> None:
    out = tmp_path / "own.csv"
    with world.db() as db:
        result = export_audience(db, world.gate(), out, "csv")
        ledger = dict(
            db.execute(
                "SELECT i.value, c.status FROM consents c JOIN identities i ON i.node = c.node "
                "WHERE c.purpose = 'marketing' QUALIFY row_number() OVER (PARTITION BY i.value ORDER BY c.stated_at DESC, c.seq DESC) = 1"
            )
        )
    # The ledger says what the fixture meant: a grant taken back is a withdrawal, whichever path said it.
    assert ledger == {"u-john": "granted", "u-cloudy": "granted", "u-nocontact": "granted",
                      "u-denied": "denied", "u-withdrawn": "withdrawn", "u-revoked": "withdrawn"}  # fmt: skip
    rows = list(csv.DictReader(lines(out)))
    assert {r["customer_id"] for r in rows} == {world.customer[u] for u in ALLOWED}
    john = next(r for r in rows if r["customer_id"] == world.customer["u-john"])
    assert (john["email"], john["phone"]) == ("john_smith@gmail.com", "+16505551212")
    assert (result.rows, result.left_out, result.without_identifier) == (3, len(NOT_ALLOWED), 0)
    text = out.read_text(encoding="utf-8")
    for user in NOT_ALLOWED:  # not a trace of them: no id, no address
        assert world.customer[user] not in text
        assert PEOPLE[user][0]["email"] not in text


def test_meta_and_google_files_carry_the_published_hashes_and_no_plain_identifier(
    world: World, tmp_path: Path
) -> None:
    with world.db() as db:
        meta = export_audience(db, world.gate(), tmp_path / "meta.csv", "meta")
        google = export_audience(db, world.gate(), tmp_path / "google.csv", "google")
    meta_lines = lines(meta.path)
    assert meta_lines[0] == "EMAIL,PHONE"
    assert f"{META_JOHN_EMAIL},{META_JOHN_PHONE}" in meta_lines
    google_lines = lines(google.path)
    assert google_lines[0] == "Email,Phone"
    assert f"{GOOGLE_CLOUDY_EMAIL},{GOOGLE_CLOUDY_PHONE}" in google_lines
    # The customer with no e-mail or phone is allowed, but nothing of them can be matched: left out.
    assert (meta.rows, meta.without_identifier, meta.left_out) == (2, 1, len(NOT_ALLOWED))
    for path in (meta.path, google.path):
        body = path.read_text(encoding="utf-8")
        assert "@" not in body and "cus_" not in body and "+1" not in body
        assert all(len(v) == 64 for line in lines(path)[1:] for v in line.split(","))


def test_the_file_and_the_customer_of_every_line_are_recorded(world: World, tmp_path: Path) -> None:
    out = tmp_path / "audience.jsonl"
    with world.db() as db:
        result = export_audience(db, world.gate(), out, "jsonl", actor="cli:tester")
        (row,) = db.execute(
            "SELECT id, kind, purpose, path, format, rows, actor, written_at IS NOT NULL FROM exports"
        )
        assert row == (
            result.export_id,
            "audience",
            "marketing",
            str(out.resolve()),
            "jsonl",
            3,
            "cli:tester",
            True,
        )
        on_record = recorded(db, out.resolve())
    written = [json.loads(line)["customer_id"] for line in lines(out)]  # jsonl: no header, line 1 is data
    assert on_record == [(customer, n) for n, customer in enumerate(written, start=1)]
    assert Path(row[3]).is_absolute()


def test_scrub_takes_exactly_one_customers_line_out_of_every_file(world: World, tmp_path: Path) -> None:
    john, cloudy = world.customer["u-john"], world.customer["u-cloudy"]
    with world.db() as db:
        own = export_audience(db, world.gate(), tmp_path / "own.csv", "csv").path
        meta = export_audience(db, world.gate(), tmp_path / "meta.csv", "meta").path
        before = {own: lines(own), meta: lines(meta)}
        johns = {p: dict(recorded(db, p))[john] for p in (own, meta)}

        touched = scrub(db, john)

        assert sorted(touched) == sorted([str(own), str(meta)])
        for path in (own, meta):
            assert lines(path) == [line for n, line in enumerate(before[path]) if n != johns[path]]
            assert lines(path)[0] == before[path][0]  # the header stays
            assert john not in dict(recorded(db, path))
        assert META_JOHN_EMAIL not in meta.read_text(encoding="utf-8")
        # The records still point at the right lines: the next erasure takes the next customer's line.
        own_rows = csv_rows(own)
        assert [(own_rows[n][0], n) for _, n in recorded(db, own)] == recorded(db, own)
        assert sorted(scrub(db, cloudy)) == sorted([str(own), str(meta)])
        assert {c for c, _ in recorded(db, own)} == {world.customer["u-nocontact"]}
        assert lines(meta) == ["EMAIL,PHONE"]
        assert scrub(db, john) == []  # nothing left of them to scrub
        assert dict(db.execute("SELECT format, rows FROM exports")) == {"csv": 1, "meta": 0}


def test_a_file_changed_by_hand_is_not_cut_blindly(world: World, tmp_path: Path) -> None:
    with world.db() as db:
        meta = export_audience(db, world.gate(), tmp_path / "meta.csv", "meta").path
        out = export_audience(db, world.gate(), tmp_path / "own.csv", "csv").path
        with out.open("a", encoding="utf-8") as f:
            f.write("someone,added,this\n")
        before = {p: p.read_text(encoding="utf-8") for p in (meta, out)}
        with pytest.raises(ExportChanged, match="was changed since"):
            scrub(db, world.customer["u-john"])
        # Every file is checked before any is cut: meta.csv, checked first and fine, is untouched too.
        assert {p: p.read_text(encoding="utf-8") for p in (meta, out)} == before
        assert world.customer["u-john"] in dict(recorded(db, out))  # still on record, for a second try


def test_writing_over_an_earlier_export_replaces_its_records(world: World, tmp_path: Path) -> None:
    out = tmp_path / "audience.csv"
    with world.db() as db:
        export_audience(db, world.gate(), out, "csv")
        second = export_audience(db, world.gate(), out, "csv", traits={"city": "York"})
        assert recorded(db, out) == [(world.customer["u-nocontact"], 1)]
        assert scrub(db, world.customer["u-john"]) == []  # not in the file any more
    assert len(lines(second.path)) == 2


def test_a_customer_list_and_traits_narrow_the_audience(world: World, tmp_path: Path) -> None:
    names = ["JOHN_SMITH@gmail.com", world.customer["u-nocontact"], "u-silent", "nobody@example.com"]
    with world.db() as db:
        listed = export_audience(db, world.gate(), tmp_path / "a.csv", "csv", customers=names)
        leeds = export_audience(db, world.gate(), tmp_path / "b.csv", "csv", traits={"city": "Leeds"})
        both = export_audience(
            db, world.gate(), tmp_path / "c.csv", "csv", customers=names, traits={"city": "Leeds"}
        )
    assert (listed.rows, listed.left_out, listed.not_found) == (2, 1, 1)  # u-silent has not consented
    assert (leeds.rows, leeds.left_out) == (2, len(NOT_ALLOWED))  # John and cloudy; York is not Leeds
    assert (both.rows, both.left_out, both.not_found) == (1, 1, 1)
    assert [r[0] for r in csv_rows(tmp_path / "c.csv")][1:] == [world.customer["u-john"]]


def test_the_command_reports_counts_and_audits_without_identifiers(world: World, tmp_path: Path) -> None:
    home = str(world.home.path)
    out = tmp_path / "meta.csv"
    result = CliRunner().invoke(
        cli, ["audiences", "export", "--format", "meta", "--out", str(out), "--home", home]
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote 2 customers to {out.resolve()}" in result.output
    assert f"Left out for lack of marketing consent: {len(NOT_ALLOWED)}." in result.output
    assert "no e-mail or phone Meta can match on: 1" in result.output

    as_json = CliRunner().invoke(
        cli, ["audiences", "export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--trait", "city=Leeds",
              "--home", home, "--json"],
    )  # fmt: skip
    assert as_json.exit_code == 0, as_json.output
    summary = json.loads(as_json.output)
    assert {k: summary[k] for k in ("rows", "left_out_without_consent", "purpose", "format")} == {
        "rows": 2, "left_out_without_consent": len(NOT_ALLOWED), "purpose": "marketing", "format": "csv"
    }  # fmt: skip

    entries = [
        e for e in AuditLog(world.home.settings.audit_path).entries() if e["action"] == "audience.export"
    ]
    assert len(entries) == 2 and entries[0]["details"]["rows"] == 2
    assert entries[0]["details"]["path"] == str(out.resolve())
    assert entries[1]["details"]["traits"] == ["city"]  # the trait's name, not its value
    logged = json.dumps(entries)
    assert (
        "@" not in logged and "cus_" not in logged and META_JOHN_EMAIL not in logged and "Leeds" not in logged
    )


def test_the_command_names_a_purpose_the_home_does_not_know(world: World, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["audiences", "export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--purpose", "spam",
              "--home", str(world.home.path)],
    )  # fmt: skip
    assert result.exit_code == 2 and "unknown purpose 'spam'" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_an_opt_out_purpose_includes_everyone_who_did_not_object(world: World, tmp_path: Path) -> None:
    """Analytics is opt-out by default: nobody here stated anything about it, so all are in."""
    with world.db() as db:
        result = export_audience(db, world.gate(), tmp_path / "a.csv", "csv", purpose="analytics")
    assert (result.rows, result.left_out) == (len(PEOPLE), 0)


def test_traits_are_read_as_the_profile_shows_them(world: World, tmp_path: Path) -> None:
    """John moved: the CRM says Bradford, later than the web shop said Leeds. The latest value wins,
    unless the home ranks the web shop first."""
    moved = StoredEvent(
        message_id="m-crm-john",
        type="track",
        event="Contact Updated",
        source="crm",
        channel="crm",
        timestamp=START + timedelta(days=1),
        received_at=START + timedelta(days=1),
        user_id="u-john",
        context=msgspec.Raw(msgspec.json.encode({"traits": {"city": "Bradford"}})),
    )
    with world.db() as db:
        with db.transaction():
            append_events(db, [moved], world.home.settings.identity)
        latest = export_audience(db, world.gate(), tmp_path / "a.csv", "csv", traits={"city": "Bradford"})
        ranked = export_audience(
            db, world.gate(), tmp_path / "b.csv", "csv", traits={"city": "Leeds"},
            trait_precedence="source_priority", source_priority=("web",),
        )  # fmt: skip
    assert [r[0] for r in csv_rows(latest.path)][1:] == [world.customer["u-john"]]
    assert world.customer["u-john"] in {r[0] for r in csv_rows(ranked.path)}


def test_erasing_a_customer_takes_them_out_of_every_audience_file(world: World, tmp_path: Path) -> None:
    """The right to erasure reaches the files: ``touchpoints privacy erase`` rewrites them."""
    home = str(world.home.path)
    paths = {fmt: tmp_path / f"audience.{fmt}" for fmt in ("meta", "google", "csv", "jsonl")}
    for fmt, path in paths.items():
        done = CliRunner().invoke(
            cli, ["audiences", "export", "--format", fmt, "--out", str(path), "--home", home]
        )
        assert done.exit_code == 0, done.output
    before = {fmt: lines(path) for fmt, path in paths.items()}

    erased = CliRunner().invoke(
        cli, ["privacy", "erase", "John_Smith@gmail.com", "--yes", "--home", home, "--json"]
    )
    assert erased.exit_code == 0, erased.output
    assert sorted(json.loads(erased.output)["files"]) == sorted(str(p) for p in paths.values())

    john = world.customer["u-john"]
    for fmt, path in paths.items():
        after = lines(path)
        assert len(after) == len(before[fmt]) - 1, fmt
        text = path.read_text(encoding="utf-8")
        assert john not in text and "john_smith" not in text and META_JOHN_EMAIL not in text, fmt
    assert world.customer["u-cloudy"] in paths["csv"].read_text(encoding="utf-8")
    assert f"{GOOGLE_CLOUDY_EMAIL},{GOOGLE_CLOUDY_PHONE}" in lines(paths["google"])
