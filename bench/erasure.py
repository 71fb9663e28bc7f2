r"""Erasure of one person in a large store (issue 5: "logical erasure of one person in a 10M-event store is
a benchmark, goal <= 10 s; the purge's cost is documented").

The store is built by SQL generation straight into the tables (no collector, no stitcher: they have their
own benchmarks), in the shape the real code writes, so that ``privacy.subject.find`` and the inventory's
predicates find a person exactly as in a real store:

- ``events``: N events in arrival order over two years (one person's events are scattered over the whole
  table, as in a real store), about one customer per 10 events (Poisson: 10-50 for the people erased).
  70 % of customers sign in: they have a userId (``user-<n>``, on 60 % of their events and every
  identify), an e-mail (in ``traits`` of their identify events, 8 % of their events) and one to three
  devices (anonymousIds, UUIDs); the others browse anonymously on one device. Types: page 50 %,
  identify 8 % of signed-in customers' events, track the rest. Message ids are UUIDs. ``context`` is
  ~700 bytes (page, userAgent and userAgentData, library, locale, screen, timezone, a campaign on 10 %),
  ``properties`` ~150 bytes, ``traits`` of an identify ~120 bytes.
- ``identities``: derived from the events as the graph derives them: ``user_id:``, ``email:`` and
  ``anonymous_id:`` nodes, ``cus_%06d`` customer ids; a device never seen with the userId is a customer of
  its own; first_seen and first_message_id from the first event carrying the identifier.
- ``identity_links``: the merged links of each signed-in customer (userId with e-mail, userId with each
  device), caused by the first event that carried both.
- ``consents`` (30 % of customers, two purposes each), ``identity_reviews`` (~750 pending pairs),
  ``message_ids`` (the last 7 days' events, the dedup window), ``quarantine`` (5,000 items, a quarter of
  them raw identifies naming a real customer's userId and e-mail).

The built home is kept under ``--store-dir`` (``<dir>/<N>/home``, with ``meta.json`` listing the people
to erase: signed-in customers with an e-mail, 10-50 events and at least four identifiers); ``--reuse``
takes it from there instead of building it again. Each run copies the built home to a work home, prunes the
dedup window as the running server does hourly (not timed), then times, in-process, ``erase()`` of
``--persons`` different people found by e-mail (statement by statement: opening and migrating, finding the
subject, each table's DELETE, the commit, closing with its checkpoint), one more erasure through the CLI
(``touchpoints privacy erase --yes --json``: a new process), and ``purge()`` (store size before and after).

``--proposed`` erases the same people again, on fresh copies, with the real ``erase()`` but pieces replaced
in this process (the source is not changed), in two variants: "proposed": ``delete_rows`` without
``RETURNING 1`` and with a quarantine predicate that runs the regex only after the substring test,
``CUSTOMER_MESSAGE_IDS`` as a UNION of two single-column filters, and ``ORPHAN_EVENTS`` joining the id
columns with the identifiers' values (see the ``*_FIXED`` constants); "proposed + find once": the same, and
the second look-up ``erase`` makes after loading the spool answered by the first when the spool stored
nothing. The counts erased are checked against the current code's. ``--no-current`` runs only those.
``--explain`` times the dominating statements alone, cold (new connection)
and warm, against their alternatives (checking they find the same rows), and prints EXPLAIN ANALYZE of
them to stderr.

    .venv/bin/python bench/erasure.py --store-dir /tmp/tp-bench-erasure                # 10M, 2 runs
    # the reported runs (each size: 2 fresh copies x 3 people + 1 through the CLI, then the purge)
    .venv/bin/python bench/erasure.py --store-dir /tmp/tp-bench-erasure --reuse \
        --events 1000000 3000000 --runs 2 --persons 3 --proposed
    .venv/bin/python bench/erasure.py --store-dir /tmp/tp-bench-erasure --reuse \
        --events 10000000 --runs 2 --persons 3 --proposed --explain
    .venv/bin/python bench/erasure.py --events 100000 --runs 1                         # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

import touchpoints.privacy.erasure as tp_erasure
import touchpoints.privacy.subject as tp_subject
import touchpoints.store.duckdb as tp_duckdb
from touchpoints.collector.loader import Loader
from touchpoints.config import load_settings
from touchpoints.identity.lookup import CUSTOMER_MESSAGE_IDS
from touchpoints.privacy.erasure import erase
from touchpoints.privacy.inventory import PERSONAL
from touchpoints.privacy.purge import purge
from touchpoints.privacy.subject import find, registered
from touchpoints.store.duckdb import DuckDBBackend, open_store
from touchpoints.store.events import prune_message_ids

SPAN_DAYS = 730
MB = 1e6

UAS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
]
FIRST = ["jane", "john", "maria", "ahmed", "li", "sophie", "oliver", "amelia", "noah", "isla", "lucas", "mia",
         "leo", "ava", "omar", "chloe", "jack", "emily", "harry", "grace"]  # fmt: skip
LAST = ["smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies", "patel", "wright",
        "thompson", "evans", "walker", "white", "roberts", "green", "hall", "wood", "jackson", "clarke"]  # fmt: skip
DOMAINS = ["example.com", "mail.example.org", "example.net", "inbox.example.co.uk"]
EVENTS = ["Product Viewed", "Product Added", "Product List Viewed", "Checkout Started", "Order Completed",
          "Cart Viewed", "Signed In", "Products Searched"]  # fmt: skip
CATEGORIES = ["shoes", "dresses", "jackets", "bags", "accessories", "knitwear", "jeans", "sale"]
REFERRERS = ["https://www.google.com/", "https://www.bing.com/", "", "https://l.instagram.com/",
             "https://shop.example.com/", "https://newsletter.example.com/"]  # fmt: skip


def _list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _uuid(hexpr: str) -> str:
    """SQL: a UUID-shaped string from a 32-hex-digit expression."""
    return (
        f"(substr({hexpr}, 1, 8) || '-' || substr({hexpr}, 9, 4) || '-4' || substr({hexpr}, 14, 3) || '-a' || "
        f"substr({hexpr}, 18, 3) || '-' || substr({hexpr}, 21, 12))"
    )


def _pick(values: list[str], h: str) -> str:
    return f"{_list(values)}[(1 + ({h}) % {len(values)})::BIGINT]"


# --------------------------------------------------------------------------------------------------------
# Building the store


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _concat(*parts: str | tuple[str]) -> str:
    """SQL concat() of literal text (str) and SQL expressions (wrapped in a 1-tuple); one allocation per
    row, where a chain of || makes a string per step."""
    return "concat(" + ", ".join(p[0] if isinstance(p, tuple) else _q(p) for p in parts) + ")"


def _json_sql() -> tuple[str, str, str]:
    """SQL for the context, properties and traits JSON of a ``_gen`` row (columns h, c, type, email, ...)."""
    sku = ("(h >> 32) % 20000",)
    category = (_pick(CATEGORIES, "(h >> 40)"),)
    page: list[str | tuple[str]] = [
        '{"path":"/p/', category, "/SKU-", sku, '","referrer":"', (_pick(REFERRERS, "(h >> 44)"),),
        '","search":"","title":"Product ', sku, ' | Example Shop","url":"https://shop.example.com/p/', category,
        "/SKU-", sku, '"}',
    ]  # fmt: skip
    ua = ("hash(c, 'ua') % 6",)
    context = _concat(
        '{"ip":"81.2.', ("(h >> 48) % 256",), '.0","library":{"name":"analytics.js","version":"npm:next-1.72.0"},'
        '"locale":"en-GB","page":', *page, ',"screen":{"density":2,"height":', ("600 + (h >> 50) % 600",),
        ',"width":', ("360 + (h >> 52) % 1600",), '},"timezone":"Europe/London","userAgent":"',
        (_pick(UAS, ua[0]),), '","userAgentData":{"brands":[{"brand":"Chromium","version":"131"},'
        '{"brand":"Not_A Brand","version":"24"}],"mobile":',
        (f"CASE WHEN {ua[0]} IN (2, 3) THEN 'true' ELSE 'false' END",), ',"platform":"',
        (_pick(["macOS", "Windows", "iOS", "Android", "Linux", "Windows"], ua[0]),), '"}',
        ("CASE WHEN (h >> 56) % 10 = 0 THEN concat(',\"campaign\":{\"medium\":\"email\",\"name\":\"spring_sale_', "
         "(h >> 33) % 50, '\",\"source\":\"newsletter\"}') ELSE '' END",),
        "}",
    )  # fmt: skip
    track = _concat(
        '{"category":"', category, '","currency":"GBP","name":"Product ', sku, '","price":', ("(h >> 36) % 200",),
        '.99,"product_id":"SKU-', sku, '","quantity":', ("1 + (h >> 34) % 3",), ',"sku":"SKU-', sku, '"}',
    )  # fmt: skip
    properties = f"CASE type WHEN 'page' THEN {_concat(*page)} WHEN 'track' THEN {track} ELSE '{{}}' END"
    identify = _concat(
        '{"createdAt":"2024-0', ("1 + c % 9",), "-1", ("c % 9",), 'T10:00:00Z","email":"', ("email",),
        '","firstName":"', ("first_name",), '","lastName":"', ("last_name",), '","plan":"',
        (_pick(["free", "member", "gold"], "hash(c, 'plan')"),), '"}',
    )  # fmt: skip
    traits = f"CASE WHEN type = 'identify' THEN {identify} ELSE '{{}}' END"
    return context, properties, traits


def build(home: Path, events: int) -> dict[str, Any]:
    """A home whose store holds ``events`` events and the graph, ledgers and queues that go with them."""
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "touchpoints", "init", "--home", str(home), "--json"],
                   check=True, capture_output=True)  # fmt: skip
    customers = max(10, events // 10)
    now = datetime.now(UTC).replace(microsecond=0)
    step_us = SPAN_DAYS * 86400 * 1_000_000 // events
    timings: dict[str, float] = {}

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - t, 1)

    with open_store(home / "store.duckdb") as db:
        con = db.con
        with phase("generate"):
            # One row per event with what the graph needs; the events' JSON is built from it below.
            con.execute(
                f"""
                CREATE TEMP TABLE _gen AS
                WITH x AS (
                    SELECT range AS i, hash(range) AS h, hash(range) % {customers} AS c FROM range({events})
                ), y AS (
                    SELECT i, h, c, hash(c, 'known') % 10 < 7 AS known, 1 + hash(c, 'devices') % 3 AS ndev,
                           (h >> 8) % 100 AS t, md5('m' || i) AS m5 FROM x
                )
                SELECT i, h, c, known,
                       {_uuid("m5")} AS message_id,
                       CASE WHEN known AND t < 8 THEN 'identify' WHEN t < 50 THEN 'page' ELSE 'track' END AS type,
                       CASE WHEN known AND (t < 8 OR (h >> 16) % 100 < 60) THEN 'user-' || c END AS user_id,
                       {_uuid("md5('a' || c || '-' || CASE WHEN known THEN (h >> 24) % ndev ELSE 0 END)")} AS anonymous_id,
                       {_pick(FIRST, "hash(c, 'first')")} AS first_name,
                       {_pick(LAST, "hash(c, 'last')")} AS last_name,
                       ?::TIMESTAMPTZ - INTERVAL {SPAN_DAYS} DAY + to_microseconds((i * {step_us})::BIGINT) AS ts
                FROM y
                """,
                [now],
            )
            con.execute(
                f"""
                CREATE TEMP TABLE _gen2 AS
                SELECT *, CASE WHEN type = 'identify' THEN first_name || '.' || last_name || '.' || c || '@' ||
                          {_pick(DOMAINS, "hash(c, 'domain')")} END AS email
                FROM _gen
                """
            )
            con.execute("DROP TABLE _gen")
            con.execute("ALTER TABLE _gen2 RENAME TO _gen")
        with phase("events"):
            context, properties, traits = _json_sql()
            con.execute(
                f"""
                INSERT INTO events (message_id, type, source, channel, user_id, anonymous_id, event, name,
                                    category, timestamp, received_at, original_timestamp, sent_at, flags,
                                    context, properties, traits, integrations, extra, ip)
                SELECT message_id, type, 'web', 'web', user_id, anonymous_id,
                       CASE WHEN type = 'track' THEN {_pick(EVENTS, "(h >> 12)")} END,
                       CASE WHEN type = 'page' THEN 'Product' END, NULL,
                       ts, ts + to_milliseconds(((h >> 20) % 3000)::BIGINT),
                       strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ'), strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ'), [],
                       ({context})::JSON, ({properties})::JSON, ({traits})::JSON, '{{}}'::JSON, '{{}}'::JSON,
                       '81.2.' || ((h >> 48) % 256) || '.0'
                FROM _gen
                """
            )
        with phase("graph"):
            # Devices: linked to the customer if ever seen with the userId, else a customer of their own.
            con.execute(
                """
                CREATE TEMP TABLE _anon AS
                SELECT c, anonymous_id, min(ts) AS first_seen, arg_min(message_id, ts) AS first_mid,
                       min(ts) FILTER (WHERE user_id IS NOT NULL) AS link_at,
                       arg_min(message_id, ts) FILTER (WHERE user_id IS NOT NULL) AS link_mid,
                       bool_or(known) AS known
                FROM _gen GROUP BY c, anonymous_id
                """
            )
            con.execute(
                f"""
                CREATE TEMP TABLE _nodes AS
                SELECT 'user_id:' || user_id AS node, 'user_id' AS kind, user_id AS value, c,
                       min(ts) AS first_seen, arg_min(message_id, ts) AS first_mid, NULL::TIMESTAMPTZ AS link_at,
                       NULL AS link_mid, printf('cus_%06d', c + 1) AS customer_id
                FROM _gen WHERE user_id IS NOT NULL GROUP BY c, user_id
                UNION ALL
                SELECT 'email:' || email, 'email', email, c, min(ts), arg_min(message_id, ts), min(ts),
                       arg_min(message_id, ts), printf('cus_%06d', c + 1)
                FROM _gen WHERE email IS NOT NULL GROUP BY c, email
                UNION ALL
                SELECT 'anonymous_id:' || anonymous_id, 'anonymous_id', anonymous_id, c, first_seen, first_mid,
                       link_at, link_mid,
                       CASE WHEN link_at IS NOT NULL OR NOT known THEN printf('cus_%06d', c + 1)
                            ELSE printf('cus_%06d', {customers} + row_number() OVER (ORDER BY first_seen)) END
                FROM _anon
                """
            )
            con.execute(
                "INSERT INTO identities (node, kind, value, source, customer_id, first_seen, first_message_id) "
                "SELECT node, kind, value, 'web', customer_id, first_seen, first_mid FROM _nodes ORDER BY first_seen"
            )
            con.execute(
                """
                INSERT INTO identity_links (seq, a, b, status, cause, cause_ref, source, evidence_at, recorded_at,
                                            from_node, customer_into)
                SELECT row_number() OVER (ORDER BY o.link_at, o.node), least(u.node, o.node), greatest(u.node, o.node),
                       'merged', 'event', o.link_mid, 'web', o.link_at, o.link_at + INTERVAL 2 SECOND, o.node,
                       u.customer_id
                FROM _nodes o JOIN _nodes u ON u.c = o.c AND u.kind = 'user_id'
                WHERE o.kind <> 'user_id' AND o.link_at IS NOT NULL
                ORDER BY o.link_at, o.node
                """
            )
            top = con.execute("SELECT coalesce(max(customer_number), 0) FROM (SELECT "
                              "TRY_CAST(split_part(customer_id, '_', 2) AS BIGINT) AS customer_number FROM identities)"
                              ).fetchall()[0][0]  # fmt: skip
            links = con.execute("SELECT count(*) FROM identity_links").fetchall()[0][0]
            con.execute("DROP SEQUENCE IF EXISTS customer_seq")
            con.execute(f"CREATE SEQUENCE customer_seq START {top + 1}")
            con.execute("DROP SEQUENCE IF EXISTS identity_link_seq")
            con.execute(f"CREATE SEQUENCE identity_link_seq START {links + 1}")
        with phase("ledgers"):
            # Consent stated on a customer's first identifier; two purposes each, 30 % of customers.
            con.execute(
                """
                INSERT INTO consents (node, purpose, status, stated_at, recorded_at, source, channel, via, evidence)
                SELECT node, p.purpose, CASE WHEN p.purpose = 'marketing' AND hash(node) % 3 = 0 THEN 'denied'
                       ELSE 'granted' END, first_seen, first_seen + INTERVAL 2 SECOND, 'web', 'web', 'event',
                       json_object('message_id', first_mid, 'version', 'v3')
                FROM (SELECT * FROM _nodes WHERE hash(c, 'consent') % 10 < 3
                      QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY first_seen, node) = 1) n,
                     (VALUES ('analytics'), ('marketing')) p(purpose)
                ORDER BY first_seen
                """
            )
            con.execute(
                """
                INSERT INTO identity_reviews (a, b, score, weight, status, created_at)
                SELECT least(x.node, y.node), greatest(x.node, y.node), 0.8 + (hash(x.c) % 19) / 100, 12.5,
                       'pending', x.first_seen
                FROM (SELECT * FROM _nodes WHERE kind = 'email' ORDER BY hash(c, 'review') LIMIT 2000) x
                JOIN _nodes y ON y.c = x.c + 1 AND y.kind = 'email'
                """
            )
            con.execute(
                "INSERT INTO message_ids SELECT message_id, received_at FROM events "
                "WHERE received_at > ?::TIMESTAMPTZ - INTERVAL 7 DAY",
                [now],
            )
            # Quarantine: a quarter are raw identifies of real customers (a bad timestamp), the rest junk.
            con.execute(
                """
                INSERT INTO quarantine (quarantine_id, source, origin, received_at, reason, payload, envelope,
                                        message_id)
                SELECT 'q_' || md5('q' || q), 'web', 'spool-' || (q % 40) || '.jsonl',
                       ?::TIMESTAMPTZ - to_seconds((hash(q) % (25 * 86400))::BIGINT),
                       CASE WHEN e.c IS NOT NULL THEN 'event 0: timestamp is not ISO-8601'
                            ELSE 'event 0: type is missing' END,
                       CASE WHEN e.c IS NOT NULL THEN
                           '{"type":"identify","userId":"user-' || e.c || '","anonymousId":"' || e.anonymous_id ||
                           '","traits":{"email":"' || e.email || '","firstName":"' || e.first_name ||
                           '"},"timestamp":"yesterday","messageId":"' || e.message_id || 'x"}'
                       ELSE '{"event":"Product Viewed","properties":{"sku":"SKU-' || (q % 20000) ||
                           '"},"anonymousId":"' || md5('junk' || q) || '"}' END,
                       '{"write_key":"wk_web","ip":"81.2.' || (q % 256) || '.0"}',
                       CASE WHEN e.c IS NOT NULL THEN e.message_id || 'x' END
                FROM range(5000) r(q)
                LEFT JOIN (SELECT row_number() OVER (ORDER BY hash(c, 'quarantine')) - 1 AS k, *
                           FROM (SELECT * FROM _gen WHERE type = 'identify'
                                 QUALIFY row_number() OVER (PARTITION BY c ORDER BY i) = 1)
                           ORDER BY hash(c, 'quarantine') LIMIT 1250) e ON e.k = q
                """,
                [now],
            )
        with phase("people"):
            # Whom to erase: signed-in customers with an e-mail, 10-50 events, 4+ identifiers.
            people = con.execute(
                """
                WITH n AS (SELECT customer_id, c, count(*) AS identifiers,
                                  any_value(value) FILTER (WHERE kind = 'email') AS email
                           FROM _nodes GROUP BY customer_id, c),
                     ev AS (SELECT g.c, count(*) AS events FROM _gen g
                            WHERE g.user_id IS NOT NULL OR g.anonymous_id IN (SELECT anonymous_id FROM _anon
                                                                              WHERE link_at IS NOT NULL)
                            GROUP BY g.c)
                SELECT n.customer_id, n.email, n.identifiers, ev.events
                FROM n JOIN ev ON ev.c = n.c
                WHERE n.email IS NOT NULL AND n.identifiers >= 4 AND ev.events BETWEEN 10 AND 50
                  AND n.customer_id = printf('cus_%06d', n.c + 1)
                ORDER BY hash(n.c, 'erase') LIMIT 40
                """
            ).fetchall()
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                  for t in ("events", "identities", "identity_links", "consents", "identity_reviews",
                            "message_ids", "quarantine")}  # fmt: skip
        customers_sql = "SELECT count(DISTINCT customer_id) FROM identities"
        counts["customers"] = con.execute(customers_sql).fetchall()[0][0]
        counts["quarantine_naming_a_customer"] = con.execute(
            "SELECT count(*) FROM quarantine WHERE message_id IS NOT NULL").fetchall()[0][0]  # fmt: skip
        for t in ("_gen", "_anon", "_nodes"):
            con.execute(f"DROP TABLE {t}")
        with phase("checkpoint"):
            con.execute("CHECKPOINT")
    return {
        "events": events,
        "built_at": now.isoformat(),
        "build_seconds": timings,
        "store_bytes": (home / "store.duckdb").stat().st_size,
        "rows": counts,
        "people": [{"customer_id": p[0], "email": p[1], "identifiers": p[2], "events": p[3]} for p in people],
    }


def built_home(store_dir: Path, events: int, reuse: bool) -> tuple[Path, dict[str, Any]]:
    folder = store_dir / str(events)
    home, meta_path = folder / "home", folder / "meta.json"
    if reuse and meta_path.exists() and (home / "store.duckdb").exists():
        return home, json.loads(meta_path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    started = time.perf_counter()
    meta = build(home, events)
    meta["build_seconds"]["total"] = round(time.perf_counter() - started, 1)
    meta_path.write_text(json.dumps(meta, indent=2))
    return home, meta


# --------------------------------------------------------------------------------------------------------
# Timing statement by statement (the store's connection is wrapped in-process; no source is changed)


_LABELS: tuple[tuple[str, str], ...] = (
    # (a substring of the statement, whitespace collapsed; its label), first match wins
    ("DELETE FROM message_ids WHERE received_at", "open: prune dedup window"),
    ("UNION SELECT first_message_id FROM identities", "find: message ids (SUBJECT_MESSAGE_IDS)"),
    ("WITH mine AS", "find: message ids (CUSTOMER_MESSAGE_IDS)"),
    ("FROM events e WHERE NOT EXISTS (SELECT 1 FROM identities u", "find: orphan events (ORPHAN_EVENTS)"),
    ("trim(e.user_id) NOT IN (SELECT value FROM identities", "find: orphan events (ORPHAN_EVENTS_FIXED)"),
    ("SELECT quarantine_id, payload", "quarantine scan (quarantine_hits)"),
    ("SELECT DISTINCT cause_ref FROM identity_links", "redact others: refused links"),
    ("UPDATE events SET", "redact others: update events"),
    ("SELECT DISTINCT i.customer_id FROM identity_links", "related customers"),
    ("SELECT DISTINCT node FROM consents", "find: unlinked subject"),
    ("FROM identities WHERE node IN", "find: customer by identifier"),
    ("kind = 'record' AND value", "find: customer by identifier"),
    ("customer_id = ? LIMIT 1", "find: customer by identifier"),
    ("SELECT node, kind, value, source FROM identities", "find: identifiers"),
    ("SELECT node FROM identities WHERE customer_id", "find: identifier nodes"),
    ("WITH RECURSIVE merged", "find: absorbed customers"),
    ("schema_version", "open: migrate check"),
    ("loader_state", "open: spool position"),
    ("export", "scrub files"),
    ("COPY FROM DATABASE", "purge: copy"),
)


def _label(sql: str) -> str:
    s = " ".join(sql.split())
    m = re.match(r"DELETE FROM (\w+) WHERE", s)
    if m and not s.startswith("DELETE FROM message_ids WHERE received_at"):
        return f"delete {m.group(1)}"
    for needle, label in _LABELS:
        if needle in s:
            return label
    if s == "BEGIN TRANSACTION":
        return "begin"
    if s in ("COMMIT", "CHECKPOINT"):
        return s.lower()
    return "other: " + s[:40]


class Recorder:
    def __init__(self) -> None:
        self.active = False
        self.rows: list[tuple[str, float]] = []

    def add(self, label: str, seconds: float) -> None:
        if self.active:
            self.rows.append((label, seconds))

    @contextmanager
    def recording(self) -> Iterator[list[tuple[str, float]]]:
        self.rows = []
        self.active = True
        try:
            yield self.rows
        finally:
            self.active = False


def timed_fn(rec: Recorder, name: str, fn: Any) -> Any:
    """``fn`` recording its own time as ``fn: name`` (whole calls; statements inside are recorded too)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            rec.add(f"fn: {name}", time.perf_counter() - t)

    return wrapper


# Functions an erasure calls, timed whole where the module has them (the code changes; missing ones are
# skipped): their Python work (reading quarantined payloads, hashing values) is not in any one statement.
TIMED_FUNCTIONS = (
    (tp_erasure, ("find", "related_customers", "redact_others", "delete_rows", "scrub_files",
                  "scrub_spool_subject", "count_rows")),
    (tp_subject, ("quarantine_hits", "suppressed_message_ids")),
)  # fmt: skip


def install(rec: Recorder) -> None:
    execute, close, connect = DuckDBBackend.execute, DuckDBBackend.close, tp_duckdb.connect
    arrow = DuckDBBackend.arrow

    def timed_arrow(self: DuckDBBackend, sql: str, params: Any = ()) -> Any:
        t = time.perf_counter()
        try:
            return arrow(self, sql, params)
        finally:
            rec.add(_label(sql), time.perf_counter() - t)

    DuckDBBackend.arrow = timed_arrow  # type: ignore[method-assign]
    for module, names in TIMED_FUNCTIONS:
        for name in names:
            if hasattr(module, name):
                setattr(module, name, timed_fn(rec, name, getattr(module, name)))
    load_pending = Loader.load_pending
    Loader.load_pending = timed_fn(rec, "load_pending", load_pending)  # type: ignore[method-assign]

    def timed_execute(self: DuckDBBackend, sql: str, params: Any = ()) -> Any:
        t = time.perf_counter()
        try:
            return execute(self, sql, params)
        finally:
            rec.add(_label(sql), time.perf_counter() - t)

    def timed_close(self: DuckDBBackend) -> None:
        t = time.perf_counter()
        try:
            close(self)
        finally:
            rec.add("close (checkpoint)", time.perf_counter() - t)

    def timed_connect(path: Path, **kw: Any) -> DuckDBBackend:
        t = time.perf_counter()
        try:
            return connect(path, **kw)
        finally:
            rec.add("open: connect", time.perf_counter() - t)

    DuckDBBackend.execute = timed_execute  # type: ignore[method-assign]
    DuckDBBackend.close = timed_close  # type: ignore[method-assign]
    tp_duckdb.connect = timed_connect


# --------------------------------------------------------------------------------------------------------
# One run: a fresh copy, N erasures in-process, one through the CLI, the purge


def fresh_copy(built: Path, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(built, work)
    return work


def one_run(
    built: Path,
    work: Path,
    people: list[dict[str, Any]],
    rec: Recorder,
    cli_person: dict[str, Any] | None,
    purge_too: bool = True,
) -> dict[str, Any]:
    home = fresh_copy(built, work)
    settings = load_settings(home)
    with open_store(settings.store_path) as db:  # what the server does hourly: not part of an erasure
        with db.transaction():
            prune_message_ids(db, datetime.now(UTC), timedelta(days=settings.dedup_window_days))
        db.execute("CHECKPOINT")
    erasures = []
    for person in people:
        with rec.recording() as rows:
            t = time.perf_counter()
            report = erase(settings, person["email"].upper(), actor="bench")  # any case finds the e-mail
            wall = time.perf_counter() - t
        if report["customer_id"] != person["customer_id"]:
            raise SystemExit(f"found {report['customer_id']}, expected {person['customer_id']}")
        if report["rows"]["events"] != person["events"]:
            raise SystemExit(f"{person['customer_id']}: erased {report['rows']['events']} events, "
                             f"expected {person['events']}")  # fmt: skip
        parts: dict[str, float] = defaultdict(float)
        for label, seconds in rows:
            parts[label] += seconds
        erasures.append({"customer_id": person["customer_id"], "seconds": wall, "rows": report["rows"],
                         "identifiers": report["identifiers"], "parts": dict(parts)})  # fmt: skip
    result: dict[str, Any] = {"erasures": erasures}
    if cli_person is not None:
        person = cli_person
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "touchpoints", "privacy", "erase", person["email"], "--yes", "--json",
             "--home", str(home)],
            capture_output=True, text=True,
        )  # fmt: skip
        result["cli_seconds"] = time.perf_counter() - t
        if done.returncode:
            raise SystemExit(f"touchpoints privacy erase failed: {done.stderr}")
        result["cli_events"] = json.loads(done.stdout)["rows"]["events"]
    if not purge_too:
        return result
    with rec.recording() as rows:
        t = time.perf_counter()
        report = purge(settings, actor="bench")
        result["purge_seconds"] = time.perf_counter() - t
    result["purge"] = report
    parts = defaultdict(float)
    for label, seconds in rows:
        parts[label] += seconds
    result["purge_parts"] = {k: round(v, 2) for k, v in parts.items() if v >= 0.01}
    return result


# --------------------------------------------------------------------------------------------------------
# EXPLAIN ANALYZE of the statements that dominate, and alternatives measured on the same store


def _timed(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None, n: int = 3) -> float:
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        con.execute(sql, params or []).fetchall()
        best = min(best, time.perf_counter() - t)
    return best


# The proposed quarantine predicate: the regular expression (a pattern per row, so compiled per row) only
# where the cheap substring test has matched. DuckDB reorders the two sides of an AND, and ran the regex
# first on every (row, value) pair.
QUARANTINE_FIXED = (
    "message_id IN (SELECT message_id FROM _subject_messages) OR EXISTS (SELECT 1 FROM _subject_values v WHERE "
    "CASE WHEN contains(lower(payload), v.value) THEN regexp_matches(lower(payload), v.pattern) ELSE false END)"
)
_T = {t.name: t for t in PERSONAL}

# The proposed CUSTOMER_MESSAGE_IDS: the same rule (the userId's customer, else the anonymousId's), as two
# scans each filtered by one id column, with "has this event's userId a customer?" asked only of the few
# events found by anonymousId. The current query's OR makes DuckDB compute that NOT EXISTS for every event of
# the store (a join of all distinct userIds with the identities), which is what grows with the store.
CUSTOMER_MESSAGE_IDS_FIXED = """
WITH mine AS (SELECT kind, value FROM identities WHERE customer_id = $1 AND kind IN ('user_id', 'anonymous_id'))
SELECT message_id FROM events WHERE user_id IN (SELECT value FROM mine WHERE kind = 'user_id')
UNION ALL
SELECT e.message_id FROM (
    SELECT message_id, user_id FROM events WHERE anonymous_id IN (SELECT value FROM mine WHERE kind = 'anonymous_id')
) e
WHERE e.user_id IS NULL OR NOT EXISTS (SELECT 1 FROM identities u WHERE u.node = 'user_id:' || e.user_id)
"""
PERSONAL_FIXED = tuple(replace(t, where=QUARANTINE_FIXED) if t.name == "quarantine" else t for t in PERSONAL)


# The proposed ORPHAN_EVENTS (privacy/subject.py: events whose userId and anonymousId both have no
# identifier node): the same test on the identifiers' values of that kind, so the engine joins the events'
# own column with the values instead of building 'user_id:' || trim(user_id) for every event of the store.
# A node of these kinds is exactly kind || ':' || value (identity.rules.node_key).
ORPHAN_EVENTS_FIXED = """(SELECT * FROM events e
WHERE (e.user_id IS NULL OR trim(e.user_id) NOT IN (SELECT value FROM identities WHERE kind = 'user_id'))
  AND (e.anonymous_id IS NULL OR trim(e.anonymous_id) NOT IN (SELECT value FROM identities WHERE kind = 'anonymous_id')))"""


def delete_rows_fixed(db: Any, subject: Any) -> dict[str, int]:
    """``erasure.delete_rows`` as proposed: DuckDB's own count of deleted rows instead of ``RETURNING 1``
    (which makes the delete read every column of the rows, the JSON included), and the quarantine
    predicate above."""
    counts = {}
    with registered(db, subject):
        for table in PERSONAL_FIXED:
            where = table.where.replace("$customer", "?")
            params = [subject.customer_id] * table.where.count("$customer")
            counts[table.name] = int(db.execute(f"DELETE FROM {table.name} WHERE {where}", params)[0][0])
    return counts


@contextmanager
def proposed(rec: Recorder, find_once: bool = False) -> Iterator[None]:
    """The real ``erase()``, with ``delete_rows``, and the message-id and orphan-event queries
    ``subject.find`` runs, replaced by the proposals (in this process only; the source is not changed).
    ``find_once``: ``erase`` looks the person up again after loading the spool; with this, the second
    lookup returns the first one's answer when the spool stored nothing (the store is then unchanged
    since, in the same connection: the same answer)."""
    state: dict[str, Any] = {"subject": None, "stored": None}
    saved_find, saved_load = getattr(tp_erasure, "find"), Loader.load_pending  # noqa: B009
    if find_once:

        def find_first(db: Any, ref: str, rules: Any = None) -> Any:
            first = state["subject"]
            if first is not None and ref == first.customer_id and state["stored"] == 0:
                state["subject"] = None
                return first
            state["subject"], state["stored"] = saved_find(db, ref, rules), None
            return state["subject"]

        def load_pending(self: Loader, *args: Any, **kwargs: Any) -> Any:
            result = saved_load(self, *args, **kwargs)
            state["stored"] = result.stored
            return result

        tp_erasure.find = find_first  # type: ignore[attr-defined]
        Loader.load_pending = load_pending  # type: ignore[method-assign]
    saved = {name: getattr(tp_subject, name) for name in ("CUSTOMER_MESSAGE_IDS", "SUBJECT_MESSAGE_IDS",
             "ORPHAN_EVENTS") if hasattr(tp_subject, name)}  # fmt: skip
    if "ORPHAN_EVENTS" in saved:
        tp_subject.ORPHAN_EVENTS = ORPHAN_EVENTS_FIXED
    saved_delete = tp_erasure.delete_rows
    tp_erasure.delete_rows = timed_fn(rec, "delete_rows", delete_rows_fixed)
    if "SUBJECT_MESSAGE_IDS" in saved:  # the profile's rule plus more, built from CUSTOMER_MESSAGE_IDS
        assert CUSTOMER_MESSAGE_IDS in saved["SUBJECT_MESSAGE_IDS"]
        tp_subject.SUBJECT_MESSAGE_IDS = saved["SUBJECT_MESSAGE_IDS"].replace(
            CUSTOMER_MESSAGE_IDS, CUSTOMER_MESSAGE_IDS_FIXED
        )
    else:
        assert "CUSTOMER_MESSAGE_IDS" in saved
        tp_subject.CUSTOMER_MESSAGE_IDS = CUSTOMER_MESSAGE_IDS_FIXED  # type: ignore[attr-defined]
    try:
        yield
    finally:
        tp_erasure.delete_rows = saved_delete
        tp_erasure.find, Loader.load_pending = saved_find, saved_load  # type: ignore[attr-defined,method-assign]
        for name, value in saved.items():
            setattr(tp_subject, name, value)


def _cold(path: Path) -> duckdb.DuckDBPyConnection:
    """A new connection: an empty buffer pool, as every erasure (a CLI call) starts with."""
    return duckdb.connect(str(path), config=dict(tp_duckdb._CONFIG))


def explain(built: Path, work: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The statements that dominate, cold (new connection) and warm, with the proposed alternatives, and
    EXPLAIN ANALYZE of the slow ones (printed to stderr)."""
    home = fresh_copy(built, work)
    settings = load_settings(home)
    path = settings.store_path
    person = meta["people"][-1]
    out: dict[str, Any] = {}
    with open_store(path) as db:
        subject = find(db, person["email"], settings.identity)
        assert subject is not None
        # Quarantined items that name a customer: the proposed predicate must find exactly what the
        # current one finds.
        named = [r[0] for r in db.execute(
            "SELECT json_extract_string(payload, '$.traits.email') FROM quarantine WHERE message_id IS NOT NULL "
            "ORDER BY quarantine_id LIMIT 5")]  # fmt: skip
        subjects = [subject, *(x for x in (find(db, e, settings.identity) for e in named) if x is not None)]
        same = []
        for s in subjects:
            with registered(db, s):
                now_ = db.execute(f"SELECT count(*) FROM quarantine WHERE {_T['quarantine'].where}")[0][0]
                fix = db.execute(f"SELECT count(*) FROM quarantine WHERE {QUARANTINE_FIXED}")[0][0]
            same.append((now_, fix))
        out["quarantine_rows_found_current_vs_fixed"] = same
    cid = subject.customer_id
    # Finding the events: cold (as in an erasure), then warm.
    con = _cold(path)
    t = time.perf_counter()
    con.execute(CUSTOMER_MESSAGE_IDS, [cid]).fetchall()
    out["message_ids_cold_s"] = round(time.perf_counter() - t, 3)
    out["message_ids_warm_s"] = round(_timed(con, CUSTOMER_MESSAGE_IDS, [cid]), 3)
    plans = {
        "CUSTOMER_MESSAGE_IDS": con.execute("EXPLAIN ANALYZE " + CUSTOMER_MESSAGE_IDS, [cid]).fetchall()[0][1]
    }
    expected = sorted(r[0] for r in con.execute(CUSTOMER_MESSAGE_IDS, [cid]).fetchall())
    con.close()
    con = _cold(path)
    t = time.perf_counter()
    found = sorted(r[0] for r in con.execute(CUSTOMER_MESSAGE_IDS_FIXED, [cid]).fetchall())
    out["message_ids_fixed_cold_s"] = round(time.perf_counter() - t, 3)
    out["message_ids_fixed_warm_s"] = round(_timed(con, CUSTOMER_MESSAGE_IDS_FIXED, [cid]), 3)
    out["message_ids_fixed_same_rows"] = found == expected
    plans["CUSTOMER_MESSAGE_IDS (proposed)"] = con.execute(
        "EXPLAIN ANALYZE " + CUSTOMER_MESSAGE_IDS_FIXED, [cid]).fetchall()[0][1]  # fmt: skip
    con.close()
    # Deleting, each after the message ids were found (so the id columns are in memory, as in an erasure).
    backend = DuckDBBackend(_cold(path))
    backend.execute(CUSTOMER_MESSAGE_IDS, [cid])
    with registered(backend, subject):
        for name, table in (
            ("events", _T["events"]),
            ("identity_links", _T["identity_links"]),
            ("quarantine", _T["quarantine"]),
        ):
            for label, sql in (
                ("current", f"DELETE FROM {name} WHERE {table.where} RETURNING 1"),
                ("no_returning", f"DELETE FROM {name} WHERE {table.where}"),
                *(
                    (("fixed_predicate", f"DELETE FROM {name} WHERE {QUARANTINE_FIXED}"),)
                    if name == "quarantine"
                    else ()
                ),
            ):
                best = float("inf")
                for _ in range(3):
                    backend.execute("BEGIN TRANSACTION")
                    t = time.perf_counter()
                    backend.execute(sql)
                    best = min(best, time.perf_counter() - t)
                    backend.execute("ROLLBACK")
                out[f"delete_{name}_{label}_s"] = round(best, 3)
        backend.execute("BEGIN TRANSACTION")
        plans["DELETE events ... RETURNING 1"] = backend.execute(
            f"EXPLAIN ANALYZE DELETE FROM events WHERE {_T['events'].where} RETURNING 1")[0][1]  # fmt: skip
        backend.execute("ROLLBACK")
        backend.execute("BEGIN TRANSACTION")
        plans["DELETE events (no RETURNING)"] = backend.execute(
            f"EXPLAIN ANALYZE DELETE FROM events WHERE {_T['events'].where}")[0][1]  # fmt: skip
        backend.execute("ROLLBACK")
        plans["quarantine predicate (current)"] = backend.execute(
            f"EXPLAIN ANALYZE SELECT count(*) FROM quarantine WHERE {_T['quarantine'].where}")[0][1]  # fmt: skip
    backend.close()
    orphans = getattr(tp_subject, "ORPHAN_EVENTS", None)
    if orphans is not None:
        for label, relation in (("current", orphans), ("fixed", ORPHAN_EVENTS_FIXED)):
            con = _cold(path)
            t = time.perf_counter()
            con.execute(f"SELECT count(*) FROM {relation}").fetchall()
            out[f"orphan_events_{label}_cold_s"] = round(time.perf_counter() - t, 3)
            con.close()
        # The built store has no orphan: plant some (and ids with stray spaces, which are not orphans),
        # check both find the same, and roll back.
        con = _cold(path)
        con.execute("BEGIN TRANSACTION")
        con.execute(
            """
            INSERT INTO events
            SELECT e.* REPLACE (message_id || '-o' || k AS message_id,
                   CASE k WHEN 0 THEN 'undefined' WHEN 1 THEN NULL ELSE ' ' || user_id || ' ' END AS user_id,
                   CASE k WHEN 0 THEN NULL WHEN 1 THEN 'never-seen-' || message_id ELSE anonymous_id END
                       AS anonymous_id)
            FROM (SELECT * FROM events WHERE user_id IS NOT NULL LIMIT 60) e, range(3) r(k)
            """
        )
        out["orphan_events_found_current_vs_fixed"] = [
            con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
            for relation in (orphans, ORPHAN_EVENTS_FIXED)
        ]
        con.execute("ROLLBACK")
        con.close()
    for name, plan in plans.items():
        print(f"--- EXPLAIN ANALYZE {name} ---\n{plan}", file=sys.stderr)
    return out


# --------------------------------------------------------------------------------------------------------


def source_stamp() -> str:
    """A short hash of the code an erasure runs (the tree is edited while benchmarks run: a change between
    the start and the end of a run is reported)."""
    import hashlib

    root = Path(tp_erasure.__file__).resolve().parent.parent
    files = sorted(
        [*(root / "privacy").glob("*.py"), *(root / "identity").glob("*.py"), *(root / "store").glob("*.py")]
    )
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def machine() -> dict[str, Any]:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = f"{int(fh.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"arch": platform.machine(), "cpus": os.cpu_count(), "memory": mem,
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "load_1_5_15": [round(x, 2) for x in os.getloadavg()], "source": source_stamp(),
            "at": datetime.now(UTC).strftime("%H:%M UTC")}  # fmt: skip


def summarise(events: int, label: str, meta: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    erasures = [e for r in runs for e in r["erasures"]]
    seconds = [e["seconds"] for e in erasures]
    parts: dict[str, list[float]] = defaultdict(list)
    for e in erasures:
        for part in {k for x in erasures for k in x["parts"]}:
            parts[part].append(e["parts"].get(part, 0.0))
    purged = [r for r in runs if "purge_seconds" in r]
    purges = [r["purge_seconds"] for r in purged]
    purge: dict[str, Any] = {}
    if purged:
        best = min(purged, key=lambda r: r["purge_seconds"])
        before, after = best["purge"]["store_bytes_before"], best["purge"]["store_bytes_after"]
        purge = {
            "purge_s": [round(p, 1) for p in purges],
            "purge_best_s": round(min(purges), 1),
            "purge_parts_best": best["purge_parts"],
            "purge_before_mb": round(before / MB),
            "purge_after_mb": round(after / MB),
            "purge_mb_per_s": round(before / MB / best["purge_seconds"]),
        }
    return {
        "events": events,
        "label": label,
        "store_mb": round(meta["store_bytes"] / MB),
        "build_s": meta["build_seconds"].get("total"),
        "erase_median_s": round(statistics.median(seconds), 3),
        "erase_min_s": round(min(seconds), 3),
        "erase_max_s": round(max(seconds), 3),
        "erase_runs_s": [[round(e["seconds"], 2) for e in r["erasures"]] for r in runs],
        "events_erased": [e["rows"]["events"] for e in erasures],
        "identifiers": [e["identifiers"] for e in erasures],
        "parts_median_s": {
            k: round(statistics.median(v), 3)
            for k, v in sorted(parts.items(), key=lambda kv: -statistics.median(kv[1]))
        },
        "cli_erase_s": [round(r["cli_seconds"], 2) for r in runs if "cli_seconds" in r],
        "load_before_runs": [round(r["load_before"], 2) for r in runs],
        **purge,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| Events | Store MB | Erase median (min–max) | Find | Deletes | Commit+close | CLI erase | Purge (best) "
            "| Before → after MB | MB/s |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        p = r["parts_median_s"]
        find_s = sum(v for k, v in p.items() if k.startswith("find"))
        delete_s = sum(v for k, v in p.items() if k.startswith("delete"))
        commit_s = p.get("commit", 0) + p.get("close (checkpoint)", 0)
        purge_cells = "| - | - | - |"
        if "purge_s" in r:
            purge_cells = (f"| {r['purge_best_s']:.1f} s ({'/'.join(f'{s:.1f}' for s in r['purge_s'])}) | "
                           f"{r['purge_before_mb']:,} → {r['purge_after_mb']:,} | {r['purge_mb_per_s']} |")  # fmt: skip
        cli = "/".join(f"{s:.2f}" for s in r["cli_erase_s"])
        lines.append(
            f"| {r['events']:,}{r['label']} | {r['store_mb']:,} | {r['erase_median_s']:.2f} s ({r['erase_min_s']:.2f}–"
            f"{r['erase_max_s']:.2f}) | {find_s:.2f} s | {delete_s:.2f} s | {commit_s:.2f} s | "
            f"{cli + ' s' if cli else '-'} {purge_cells}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, nargs="+", default=[10_000_000], help="store sizes to run")
    parser.add_argument("--runs", type=int, default=2, help="fresh copies of the store per size")
    parser.add_argument("--persons", type=int, default=5, help="people erased in-process per run")
    parser.add_argument("--store-dir", type=Path, default=None, help="where built stores are kept")
    parser.add_argument("--reuse", action="store_true", help="reuse a store built before under --store-dir")
    parser.add_argument("--no-cli", action="store_true", help="skip the erasure through the CLI")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slow statements")
    parser.add_argument("--no-current", action="store_true", help="only the proposed variants (no purge)")
    parser.add_argument("--proposed", action="store_true",
                        help="erase the same people again on fresh copies with the proposed fixes")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print every figure as JSON too")
    args = parser.parse_args()
    temporary = args.store_dir is None
    store_dir = args.store_dir or Path(tempfile.mkdtemp(prefix="tp-bench-erasure-"))
    rec = Recorder()
    install(rec)
    summaries: list[dict[str, Any]] = []
    details: dict[int, dict[str, Any]] = {}
    start_machine = machine()
    try:
        for n in args.events:
            t = time.perf_counter()
            built, meta = built_home(store_dir, n, args.reuse)
            print(f"{n:,} events: store {meta['store_bytes'] / MB:,.0f} MB, built in "
                  f"{meta['build_seconds'].get('total', '?')} s {meta['build_seconds']} "
                  f"(ready after {time.perf_counter() - t:.1f} s); rows {meta['rows']}", file=sys.stderr)  # fmt: skip
            need = args.persons + (0 if args.no_cli else 1)
            if len(meta["people"]) < need * args.runs:
                raise SystemExit(f"only {len(meta['people'])} people to erase; use fewer --runs/--persons")
            variants = [("", 0)] if not args.no_current else []
            variants += [(" proposed", 1), (" proposed + find once", 2)] if args.proposed else []
            details[n] = {"meta": {k: v for k, v in meta.items() if k != "people"}}
            for label, fixed in variants:
                runs = []
                for r in range(args.runs):
                    people = meta["people"][r * need : (r + 1) * need]
                    load = os.getloadavg()[0]
                    with proposed(rec, find_once=fixed == 2) if fixed else nullcontext():
                        # The proposed runs erase the same people in-process only (a CLI process would run the
                        # unchanged code) and skip the purge (unchanged).
                        cli_person = None if args.no_cli or fixed else people[-1]
                        result = one_run(built, store_dir / str(n) / "work", people[: args.persons], rec,
                                         cli_person, purge_too=not fixed)  # fmt: skip
                    result["load_before"] = load
                    runs.append(result)
                    print(f"  run {r + 1}{label}: erase {[round(e['seconds'], 2) for e in result['erasures']]} s, "
                          f"cli {result.get('cli_seconds', 0):.2f} s, purge {result.get('purge_seconds', 0):.1f} s "
                          f"{result.get('purge_parts', '')} (load {load:.2f})", file=sys.stderr)  # fmt: skip
                summaries.append(summarise(n, label, meta, runs))
                details[n]["runs" + label.replace(" ", "_")] = runs
            if args.explain:
                details[n]["explain"] = explain(built, store_dir / str(n) / "work", meta)
                print(json.dumps(details[n]["explain"]), file=sys.stderr)
            shutil.rmtree(store_dir / str(n) / "work", ignore_errors=True)
    finally:
        if temporary:
            shutil.rmtree(store_dir, ignore_errors=True)
    end_source = source_stamp()
    print(f"machine at start: {start_machine}; at end: load {[round(x, 2) for x in os.getloadavg()]}, "
          f"{datetime.now(UTC).strftime('%H:%M UTC')}, source {end_source}"
          + ("" if end_source == start_machine["source"] else " (THE CODE CHANGED DURING THE RUN: the in-process "
             "erasures ran the code as it was at the start; CLI erasures ran whatever was there then)"))  # fmt: skip
    print(table(summaries))
    for s in summaries:
        print(f"{s['events']:,}{s['label']} events, erase parts (median s): {s['parts_median_s']}")
        if "purge_parts_best" in s:
            print(f"{s['events']:,} events, purge parts (best run, s): {s['purge_parts_best']}")
    if args.json:
        print(json.dumps({"machine": start_machine, "summaries": summaries, "details": details}, indent=2,
                         default=str))  # fmt: skip


if __name__ == "__main__":
    main()
