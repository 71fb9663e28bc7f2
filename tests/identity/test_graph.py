"""The identity graph against an oracle: random identify/alias/track traffic, stored through the same door
as live events (in random batches), must give the partition a plain union-find gives when it applies the
same rules one event at a time. And the rules hold: a shared device never joins two userIds; an unmerge
restores the exact partition (and customer ids) from before the merge."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchpoints.events.model import StoredEvent
from touchpoints.identity.ledger import LedgerError, explain, unmerge
from touchpoints.identity.rules import IdentityRules
from touchpoints.store.duckdb import DuckDBBackend, open_store
from touchpoints.store.events import append_events

USERS = [f"u{i}" for i in range(4)]
ANONS = [f"a{i}" for i in range(6)]
EMAILS = [f"p{i}@example.com" for i in range(4)]
START = datetime(2026, 1, 1, tzinfo=UTC)
_counter = itertools.count()

# (type, user_id, anonymous_id, previous_id, email)
Call = tuple[str, str | None, str | None, str | None, str | None]

identify = st.tuples(
    st.just("identify"), st.sampled_from(USERS) | st.none(), st.sampled_from(ANONS), st.none(),
    st.sampled_from(EMAILS) | st.none(),
)  # fmt: skip
alias = st.tuples(
    st.just("alias"), st.sampled_from(USERS), st.none(), st.sampled_from(USERS + ANONS), st.none()
)
track = st.tuples(
    st.just("track"), st.sampled_from(USERS) | st.none(), st.sampled_from(ANONS), st.none(), st.none()
)
traffic = st.lists(identify | alias | track, min_size=1, max_size=40)


def event(call: Call) -> StoredEvent:
    etype, user, anon, previous, email = call
    n = next(_counter)
    traits = msgspec.json.encode({"email": email} if email else {})
    return StoredEvent(
        message_id=f"m{n}",
        type=etype,
        source="test",
        channel="web",
        timestamp=START + timedelta(seconds=n),
        received_at=START + timedelta(seconds=n),
        user_id=user,
        anonymous_id=anon,
        previous_id=previous,
        event="Clicked" if etype == "track" else None,
        traits=msgspec.Raw(traits) if etype == "identify" else msgspec.Raw(b"{}"),
    )


def oracle(calls: list[Call], limit: int = 1) -> set[frozenset[str]]:
    """Union-find in its plainest form: every event links its first identifier (userId, else e-mail,
    else anonymousId) to each of the others, unless the union would hold more than ``limit`` userIds."""
    group: dict[str, frozenset[str]] = {}

    def node(n: str) -> str:
        group.setdefault(n, frozenset([n]))
        return n

    for _type, user, anon, previous, email in calls:
        ids = []
        if user:
            ids.append(f"user_id:{user}")
        if email:
            ids.append(f"email:{email}")
        if previous:
            ids.append(
                f"user_id:{previous}" if f"user_id:{previous}" in group else f"anonymous_id:{previous}"
            )
        if anon:
            ids.append(f"anonymous_id:{anon}")
        anchor = node(ids[0])
        for other in ids[1:]:
            node(other)
            if group[anchor] is group[other] or group[anchor] == group[other]:
                continue
            union = group[anchor] | group[other]
            if sum(1 for n in union if n.startswith("user_id:")) > limit:
                continue
            for n in union:
                group[n] = union
    return set(group.values())


def partition(db: DuckDBBackend) -> set[frozenset[str]]:
    rows = db.execute("SELECT customer_id, list(node) FROM identities GROUP BY customer_id")
    return {frozenset(nodes) for _, nodes in rows}


def customers(db: DuckDBBackend) -> dict[str, str]:
    return dict(db.execute("SELECT node, customer_id FROM identities"))


def store(db: DuckDBBackend, calls: list[Call], cuts: list[int]) -> None:
    """Stores ``calls`` in batches split at ``cuts``, one transaction each, as the loader does."""
    bounds = sorted({0, len(calls), *(c % (len(calls) + 1) for c in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        with db.transaction():
            append_events(db, [event(c) for c in calls[lo:hi]])


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def _store(tmp_path: Path) -> Iterator[DuckDBBackend]:
    path = tmp_path / f"s{next(_counter)}.duckdb"
    with open_store(path) as db:
        yield db


PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(calls=traffic, cuts=st.lists(st.integers(0, 40), max_size=4))
def test_stitching_gives_the_partition_of_a_union_find_oracle(
    fresh_store: Path, calls: list[Call], cuts: list[int]
) -> None:
    for db in _store(fresh_store):
        store(db, calls, cuts)
        assert partition(db) == oracle(calls)


@PROPERTY
@given(calls=traffic, cuts=st.lists(st.integers(0, 40), max_size=4))
def test_a_shared_device_never_joins_two_user_ids(
    fresh_store: Path, calls: list[Call], cuts: list[int]
) -> None:
    for db in _store(fresh_store):
        store(db, calls, cuts)
        for group in partition(db):
            assert sum(1 for n in group if n.startswith("user_id:")) <= 1, group
        # Every refusal is on record with its reason.
        for (reason,) in db.execute("SELECT reason FROM identity_links WHERE status = 'refused'"):
            assert "user_id" in reason and "limit is 1" in reason


@PROPERTY
@given(before=traffic, merging=identify | alias, cuts=st.lists(st.integers(0, 40), max_size=3))
def test_unmerge_restores_the_exact_partition_and_ids(
    fresh_store: Path, before: list[Call], merging: Call, cuts: list[int]
) -> None:
    for db in _store(fresh_store):
        store(db, before, cuts)
        was = partition(db)
        ids = customers(db)
        last = db.execute("SELECT coalesce(max(seq), 0) FROM identity_links")[0][0]
        store(db, [merging], [])
        merges = [s for (s,) in db.execute(
            "SELECT seq FROM identity_links WHERE seq > ? AND status = 'merged' ORDER BY seq DESC", [last])]  # fmt: skip
        for seq in merges:
            with db.transaction():
                unmerge(db, IdentityRules(), link=seq)
        old_nodes = set().union(*was)
        now = partition(db)
        assert {g & old_nodes for g in now if g & old_nodes} == was
        assert all(len(g) == 1 for g in now if not g & old_nodes)  # what the event brought stands alone
        assert {n: c for n, c in customers(db).items() if n in old_nodes} == ids
        # The same evidence again is refused (the separation is remembered), and logged.
        store(db, [merging], [])
        assert {g & old_nodes for g in partition(db) if g & old_nodes} == was


def test_a_kiosk_shared_by_two_customers_is_refused_with_the_reason(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as db:
        store(db, [("identify", "alice", "kiosk", None, "alice@example.com"),
                   ("identify", "bob", "kiosk", None, "bob@example.com"),
                   ("track", None, "kiosk", None, None)], [])  # fmt: skip
        groups = partition(db)
        assert frozenset({"user_id:alice", "email:alice@example.com", "anonymous_id:kiosk"}) in groups
        assert frozenset({"user_id:bob", "email:bob@example.com"}) in groups
        refused = db.execute("SELECT a, b, reason, cause_ref FROM identity_links WHERE status = 'refused'")
        assert [(a, b) for a, b, _, _ in refused] == [("anonymous_id:kiosk", "user_id:bob")]
        assert "2 user_id values (alice, bob)" in refused[0][2]
        customer = db.execute("SELECT customer_id FROM identities WHERE node = 'user_id:alice'")[0][0]
        explained = explain(db, customer)
        assert [r["b"] for r in explained["refused"]] == ["user_id:bob"]
        assert explained["refused"][0]["evidence"] == {"type": "identify", "event": None, "channel": "web"}


def test_detaching_a_shared_device_splits_it_off_and_keeps_it_off(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as db:
        store(
            db, [("identify", "alice", "tablet", None, None), ("identify", "alice", "phone", None, None)], []
        )
        alice = db.execute("SELECT customer_id FROM identities WHERE node = 'user_id:alice'")[0][0]
        with db.transaction():
            result = unmerge(db, IdentityRules(), detach="anonymous_id:tablet", reason="family tablet")
        assert result["after"][alice] == ["anonymous_id:phone", "user_id:alice"]
        assert len(result["after"]) == 2
        # Alice signs in on the tablet again: refused, logged, and the tablet stays apart.
        store(db, [("identify", "alice", "tablet", None, None)], [])
        groups = partition(db)
        assert frozenset({"anonymous_id:tablet"}) in groups
        with pytest.raises(LedgerError, match="not linked to anything"), db.transaction():
            unmerge(db, IdentityRules(), detach="anonymous_id:tablet")


def test_blocked_placeholder_values_are_never_identifiers(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as db:
        store(db, [("identify", "alice", "a1", None, "test@test.com"), ("identify", "bob", "b1", None, "TEST@test.com"),
                   ("identify", "null", "c1", None, None)], [])  # fmt: skip
        nodes = {n for g in partition(db) for n in g}
        assert "email:test@test.com" not in nodes and "user_id:null" not in nodes
        assert frozenset({"user_id:alice", "anonymous_id:a1"}) in partition(db)


def test_the_ledger_keeps_a_pair_s_history_and_logs_evidence_against_an_unmerge_once(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as db:
        store(
            db, [("identify", "alice", "tablet", None, None), ("identify", "bob", "tablet", None, None)], []
        )
        refused = db.execute("SELECT seq FROM identity_links WHERE status = 'refused'")
        assert len(refused) == 1
        with db.transaction():
            unmerge(db, IdentityRules(), detach="anonymous_id:tablet")
        store(db, [("identify", "bob", "tablet", None, None)], [])  # now permitted: a new row, history kept
        rows = db.execute(
            "SELECT status, reason FROM identity_links WHERE a = 'anonymous_id:tablet' AND b = 'user_id:bob' ORDER BY seq"
        )
        assert [r[0] for r in rows] == ["refused", "merged"] and "no longer holds" in rows[1][1]
        # Alice signs in on the tablet again, twice: refused by the unmerge, and logged once.
        store(db, [("identify", "alice", "tablet", None, None)], [])
        store(db, [("identify", "alice", "tablet", None, None)], [])
        rows = db.execute(
            "SELECT status, reason FROM identity_links WHERE a = 'anonymous_id:tablet' AND b = 'user_id:alice' ORDER BY seq"
        )
        assert [r[0] for r in rows] == ["unmerged", "refused"]
        assert "limit is 1" in rows[1][1] or "unmerge" in rows[1][1]


def test_an_unmerge_can_be_undone(tmp_path: Path) -> None:
    from touchpoints.identity.ledger import undo_unmerge

    with open_store(tmp_path / "s.duckdb") as db:
        store(db, [("identify", "alice", "a1", None, "alice@example.com")], [])
        was = partition(db)
        seq = db.execute("SELECT seq FROM identity_links WHERE b = 'user_id:alice' AND a LIKE 'email:%'")[0][
            0
        ]
        with db.transaction():
            result = unmerge(db, IdentityRules(), link=seq)
        assert len(partition(db)) == 2
        with db.transaction():
            undone = undo_unmerge(db, IdentityRules(), result["unmerge"])
        assert undone["merged"] == 1 and partition(db) == was
        assert not db.execute("SELECT * FROM identity_separations")
