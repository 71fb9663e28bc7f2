"""Every table of the store is in the privacy inventory: either with how one person's rows are found (so
access, erasure and retention reach it) or declared free of personal data, with the reason."""

from __future__ import annotations

from pathlib import Path

from touchpoints.privacy.inventory import NOT_PERSONAL, PERSONAL
from touchpoints.store.duckdb import open_store


def test_every_table_is_classified(tmp_path: Path) -> None:
    with open_store(tmp_path / "store.duckdb") as db:
        tables = {r[0] for r in db.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary")}
    personal = {t.name for t in PERSONAL}
    assert not personal & set(NOT_PERSONAL), "a table is declared both personal and not"
    unclassified = tables - personal - set(NOT_PERSONAL)
    assert not unclassified, (
        f"tables {sorted(unclassified)} are not in privacy/inventory.py: say how a person's rows are found "
        "(PERSONAL) or why they hold no personal data (NOT_PERSONAL)"
    )
    assert not (personal | set(NOT_PERSONAL)) - tables, "the inventory names tables the store does not have"


def test_every_predicate_runs(tmp_path: Path) -> None:
    """Each table's predicate is valid SQL against the real schema (an erasure must never fail midway)."""
    from touchpoints.privacy.erasure import count_rows
    from touchpoints.privacy.subject import Subject

    subject = Subject("cus_x", ["user_id:x"], [("user_id", "someone-x", "web")], ["m1"])
    with open_store(tmp_path / "store.duckdb") as db:
        assert count_rows(db, subject) == {t.name: 0 for t in PERSONAL}
