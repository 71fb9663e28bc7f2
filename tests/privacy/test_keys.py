"""API keys: strong, shown once, stored hashed, checked by role, revocable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from touchpoints.privacy.keys import KeyError_, KeyRing


def test_a_key_is_random_stored_hashed_and_verified_by_role(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys.json")
    record, secret = ring.create("read", "analyst")
    _, other = ring.create("read", "analyst-2")
    assert secret != other and len(secret) >= 36
    on_disk = (tmp_path / "keys.json").read_text()
    assert secret not in on_disk
    assert json.loads(on_disk)["keys"][0]["hash"] == record.hash
    assert ring.verify(secret) == record
    assert ring.verify(secret, role="read") == record
    assert ring.verify(secret, role="write") is None
    assert ring.verify(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert ring.verify("") is None


def test_a_revoked_key_stops_working_for_another_process_at_once(tmp_path: Path) -> None:
    server_view, cli_view = KeyRing(tmp_path / "keys.json"), KeyRing(tmp_path / "keys.json")
    _, secret = cli_view.create("write", "web")
    assert server_view.verify(secret) is not None
    cli_view.revoke("web")
    assert server_view.verify(secret) is None
    assert [r.revoked_at is not None for r in server_view.records()] == [True]


@pytest.mark.parametrize(
    ("role", "name", "channel", "message"),
    [
        ("owner", "x", None, "not one of"),
        ("write", "  ", None, "needs a name"),
        ("write", "x", "fax", "not one of"),
        ("admin", "x", "web", "only write keys"),
    ],
)
def test_bad_key_requests_are_refused_with_a_reason(
    tmp_path: Path, role: str, name: str, channel: str | None, message: str
) -> None:
    with pytest.raises(KeyError_, match=message):
        KeyRing(tmp_path / "keys.json").create(role, name, channel)


def test_names_of_active_keys_are_unique_and_revoke_names_what_is_missing(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys.json")
    ring.create("write", "web")
    with pytest.raises(KeyError_, match="exists"):
        ring.create("write", "web")
    ring.revoke("web")
    ring.create("write", "web")  # the name is free again
    with pytest.raises(KeyError_, match="no active key"):
        ring.revoke("nope")
