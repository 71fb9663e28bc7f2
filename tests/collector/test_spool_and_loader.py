"""The spool and the loader: what was acknowledged reaches the store once, whatever happened in between."""

from __future__ import annotations

import asyncio
import errno
import json
import os
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from tests.conftest import Home
from touchpoints.collector.loader import Loader
from touchpoints.collector.spool import Spool, SpoolLocked, list_segments, segment_path
from touchpoints.events.validate import normalize_event
from touchpoints.store.duckdb import open_store

_encode = msgspec.json.Encoder().encode


def record(message_id: str) -> bytes:
    raw = json.dumps({"type": "track", "event": "A", "userId": "u", "messageId": message_id}).encode()
    event = normalize_event(raw, source="default", received_at=datetime.now(UTC))
    return _encode(event) + b"\n"


def stored_ids(home: Home) -> list[str]:
    with open_store(home.settings.store_path) as db:
        return [r[0] for r in db.execute("SELECT message_id FROM events ORDER BY message_id")]


def test_group_commit_resolves_every_waiter_with_few_fsyncs(home: Home) -> None:
    spool = Spool(home.settings.spool_dir)
    spool.start()

    async def many() -> None:
        await asyncio.gather(*(spool.append(record(f"m{i:03d}")) for i in range(200)))

    asyncio.run(many())
    spool.close()
    assert spool.commits < 200, "concurrent appends share fsyncs"
    [(_, path)] = list_segments(home.settings.spool_dir)
    assert path.read_bytes().count(b"\n") == 200


def test_spooled_events_left_by_a_stopped_server_are_loaded_once(home: Home) -> None:
    spool = Spool(home.settings.spool_dir)
    spool.start()
    for i in range(5):
        spool.append_sync(record(f"m{i}"))
    spool.close()  # the "server" is gone; nothing was loaded
    loader = Loader(home.settings.spool_dir, home.settings.store_path)
    assert loader.catch_up().stored == 5
    assert stored_ids(home) == [f"m{i}" for i in range(5)]
    # A second loader (a restarted server) resumes from the stored position: nothing twice.
    assert Loader(home.settings.spool_dir, home.settings.store_path).catch_up().received == 0
    assert stored_ids(home) == [f"m{i}" for i in range(5)]


def test_loaded_closed_segments_are_deleted_and_the_open_one_kept(home: Home) -> None:
    for _ in range(3):  # three server runs, three segments
        spool = Spool(home.settings.spool_dir)
        spool.start()
        spool.append_sync(record(f"s{spool.seq}"))
        spool.close()
    assert len(list_segments(home.settings.spool_dir)) == 3
    Loader(home.settings.spool_dir, home.settings.store_path).catch_up()
    assert stored_ids(home) == ["s1", "s2", "s3"]
    assert [seq for seq, _ in list_segments(home.settings.spool_dir)] == [3]


def test_a_quiet_spool_closes_its_segment_after_a_while_so_loaded_events_go(home: Home) -> None:
    import time

    spool = Spool(home.settings.spool_dir, segment_seconds=0.3)
    spool.start()
    try:
        spool.append_sync(record("quiet"))
        first = spool.seq
        deadline = time.monotonic() + 5
        while spool.seq == first and time.monotonic() < deadline:  # no write: the writer rotates by itself
            time.sleep(0.05)
        assert spool.seq == first + 1
        Loader(home.settings.spool_dir, home.settings.store_path).catch_up()
        assert stored_ids(home) == ["quiet"]
        # The old segment, loaded, is gone with its bytes; the new one is empty.
        assert [seq for seq, _ in list_segments(home.settings.spool_dir)] == [first + 1]
        assert segment_path(home.settings.spool_dir, first + 1).stat().st_size == 0
    finally:
        spool.close()


def test_a_torn_record_from_a_crash_is_quarantined_not_lost(home: Home) -> None:
    spool_dir = home.settings.spool_dir
    spool_dir.mkdir(parents=True, exist_ok=True)
    torn = record("whole") + record("torn")[:40]
    segment_path(spool_dir, 1).write_bytes(torn)
    segment_path(spool_dir, 2).write_bytes(record("after"))  # the restarted server's segment
    Loader(spool_dir, home.settings.store_path).catch_up()
    assert stored_ids(home) == ["after", "whole"]
    with open_store(home.settings.store_path) as db:
        [(reason, payload)] = db.execute("SELECT reason, payload FROM quarantine")
    assert "incomplete record" in reason
    assert payload == record("torn")[:40].decode(), "the torn bytes are kept as they were"


def test_a_corrupt_line_is_quarantined_and_its_neighbours_loaded(home: Home) -> None:
    spool_dir = home.settings.spool_dir
    spool_dir.mkdir(parents=True, exist_ok=True)
    segment_path(spool_dir, 1).write_bytes(record("a") + b'{"_k":"e","garbage\n' + record("b"))
    Loader(spool_dir, home.settings.store_path).catch_up()
    assert stored_ids(home) == ["a", "b"]
    with open_store(home.settings.store_path) as db:
        [(reason,)] = db.execute("SELECT reason FROM quarantine")
    assert "unreadable spool record" in reason


def test_a_partial_last_line_of_the_open_segment_waits_for_the_rest(home: Home) -> None:
    spool_dir = home.settings.spool_dir
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = segment_path(spool_dir, 1)
    whole, second = record("one"), record("two")
    path.write_bytes(whole + second[:25])  # the writer is mid-write
    loader = Loader(spool_dir, home.settings.store_path)
    loader.catch_up()
    assert stored_ids(home) == ["one"]
    with path.open("ab") as fh:
        fh.write(second[25:])
    assert loader.has_pending()
    loader.catch_up()
    assert stored_ids(home) == ["one", "two"]


def test_a_second_writer_on_the_same_home_is_refused(home: Home) -> None:
    first = Spool(home.settings.spool_dir)
    first.start()
    try:
        with pytest.raises(SpoolLocked, match=f"pid {os.getpid()}"):
            Spool(home.settings.spool_dir).start()
    finally:
        first.close()
    second = Spool(home.settings.spool_dir)  # free again once the first has stopped
    second.start()
    second.close()


def test_a_failed_write_is_refused_and_writing_goes_on_in_a_new_segment(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: the group is refused (never acknowledged), nothing already written is cut back, and
    the next groups land whole in a fresh segment."""
    import touchpoints.collector.spool as spool_module

    spool = Spool(home.settings.spool_dir)
    spool.start()
    spool.append_sync(record("before"))
    real_write = os.write
    calls = {"n": 0}

    def disk_full(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            real_write(fd, bytes(data)[:30])  # a torn write, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(spool_module.os, "write", disk_full)
    with pytest.raises(OSError, match="No space"):
        spool.append_sync(record("refused"))
    spool.append_sync(record("after"))
    spool.close()
    assert [seq for seq, _ in list_segments(home.settings.spool_dir)] == [1, 2]
    Loader(home.settings.spool_dir, home.settings.store_path).catch_up()
    assert stored_ids(home) == ["after", "before"]
    with open_store(home.settings.store_path) as db:
        [(reason,)] = db.execute("SELECT reason FROM quarantine")
    assert "incomplete record" in reason
