r"""Customer analytics on 1M to 10M events (issue 6, "show it"): funnel, retention, trends and paths on
DuckDB (goal: p95 <= 1 s at 10M on 2 cores), the query layer's overhead against hand-written SQL for the
same question (goal: ratio <= 1.3), the same on Spark local[2], and how each time grows from 1M to 10M.

The store is built by SQL generation straight into ``events`` and ``identities`` (no collector, no
stitcher: they have their own benchmarks), shaped as a shop's web analytics:

- customers (N / 9.5, truncated so the store has exactly N events: about 10 events each) with 1 + a
  geometric number of visits (mean 1.67), the first on a day of the year, the next every 1-13 days
  (visits after the year's end are dropped); a visit starts 07:00-22:00 UTC and its events are 30-180 s
  apart (one session each, so ``session_id`` has sessions of 1-17 events);
- a visit lands on a page (``/``, a category, a product, ``/sale``, a blog post) from a referrer: direct
  30 %, search 28 %, social 10 %, an e-mail campaign 10 % and paid search 12 % (UTM source, medium and
  one of 12 campaigns, in ``context.campaign`` and the landing URL's query, a gclid for paid), another
  site 10 %; then goes down the funnel Products Searched > Product List Viewed > Product Viewed > Product
  Added > Cart Viewed > Checkout Started > Order Completed, continuing to each next step with probability
  0.75, 0.8, 0.7, 0.45, 0.7, 0.7, 0.75 (every step but Product Added after a page view of its page:
  ``/search?q=``, ``/c/<category>``, ``/p/<category>/SKU-n``, ``/cart``, ``/checkout``,
  ``/checkout/complete``; the track events carry their page in ``context.page`` as analytics.js does);
  then 0-2 content pages (``/blog/...``, ``/help/...``, ``/stores``, ``/account``);
- 60 % of customers sign in, on their first or second visit (an ``identify`` with an e-mail ends that
  visit; every later event has the userId); one customer in three uses two devices (anonymousIds);
- ``identities`` as the graph derives them: ``user_id:``, ``email:`` and ``anonymous_id:`` nodes; a
  device seen with the userId belongs to its customer, any other device is a customer of its own (so an
  anonymous visitor's events before sign-in count toward the customer); ``identity_links`` for the
  merges; ``user_agents`` parsed by the real parser (6 browsers); ``consents``: 3 % of customers deny
  analytics (their events keep no customer in the prepared events), 20 % grant it.

The built home is kept under ``--store-dir`` (``<dir>/<N>/home`` and ``meta.json``); ``--reuse`` takes it
from there instead of building it again. Each size then:

1. ``prepared.rebuild`` (the preparation every analysis reads: identity resolution, sessions, pages,
   referrers over ``events_enriched``), timed once (``--rebuilds`` times);
2. every analysis through the query layer (the real Python API on ``duckdb_engine(db)``) and as
   hand-written DuckDB SQL over ``analytics_events`` answering the same question, checked to give the same
   numbers, warm, interleaved (API, SQL, API, SQL ...) ``--runs`` times after one warm-up: median, p95 and
   the ratio of the medians (the API keeps each question's compiled SQL, ``Engine.run``: it is also timed
   as for a question asked for the first time, its SQL dropped before each run); the API's time split into building the expression, compiling it to SQL
   (``ibis.to_sql``) and running that SQL;
3. on Spark (``--spark-events``): the export of the prepared events as Parquet (timed alone), the
   session's start, then the same analyses through ``open_engine(settings, "spark")`` and as Spark SQL
   written by hand, ``--spark-runs`` times.

The analyses are those of ``touchpoints.analytics`` that exist when it runs (funnel, trends, retention,
paths); a missing module is reported and skipped.

    .venv/bin/python bench/analytics.py --events 100000 --runs 3 --spark-events   # quick check
    .venv/bin/python bench/analytics.py --reuse --events 1000000 3000000 10000000 --runs 15 \
        --spark-events 1000000 10000000 --spark-runs 5 --json /tmp/tp-bench-analytics/report.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from touchpoints.analytics import prepared
from touchpoints.analytics.engine import duckdb_engine, open_engine
from touchpoints.config import load_settings
from touchpoints.enrich.useragent import parse_agent
from touchpoints.privacy.gate import Gate
from touchpoints.store.duckdb import DuckDBBackend, open_store

SPAN_DAYS = 365
FUNNEL = ["Products Searched", "Product List Viewed", "Product Viewed", "Product Added", "Cart Viewed",
          "Checkout Started", "Order Completed"]  # fmt: skip
CONTINUE = [0.75, 0.8, 0.7, 0.45, 0.7, 0.7, 0.75]  # probability of going on to step k+1 after step k
UAS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
]
CATEGORIES = ["shoes", "dresses", "jackets", "bags", "accessories", "knitwear", "jeans", "sale"]
TERMS = ["red dress", "boots", "linen shirt", "rain jacket", "tote bag", "wool jumper", "slim jeans", "sandals",
         "gift card", "scarf", "trainers", "party dress"]  # fmt: skip
CAMPAIGNS = ["spring_sale", "summer_sale", "back_to_school", "autumn_edit", "black_friday", "cyber_monday",
             "christmas_gifts", "january_sale", "valentines", "new_arrivals", "loyalty_week", "clearance"]  # fmt: skip
CONTENT = ["/blog/how-to-style-boots", "/blog/summer-lookbook", "/blog/care-guide", "/help/delivery",
           "/help/returns", "/stores", "/account", "/about"]  # fmt: skip
SOCIAL = [
    "https://l.instagram.com/",
    "https://m.facebook.com/",
    "https://www.pinterest.co.uk/",
    "https://t.co/x",
]
SEARCH = [
    "https://www.google.com/",
    "https://www.google.co.uk/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
]
REFERRAL = ["https://www.fashionblog.example/", "https://deals.example.net/", "https://forum.example.org/t/1"]
SITE = "https://shop.example.com"


def _list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: list[str], h: str) -> str:
    return f"{_list(values)}[(1 + ({h}) % {len(values)})::BIGINT]"


def _uuid(hexpr: str) -> str:
    """SQL: a UUID-shaped string from a 32-hex-digit expression."""
    return (
        f"(substr({hexpr}, 1, 8) || '-' || substr({hexpr}, 9, 4) || '-4' || substr({hexpr}, 14, 3) || '-a' || "
        f"substr({hexpr}, 18, 3) || '-' || substr({hexpr}, 21, 12))"
    )


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _concat(*parts: str | tuple[str]) -> str:
    """SQL concat() of literal text (str) and SQL expressions (wrapped in a 1-tuple)."""
    return "concat(" + ", ".join(p[0] if isinstance(p, tuple) else _q(p) for p in parts) + ")"


def _json_str(expr: str) -> str:
    """SQL: a text expression as a JSON string literal (with its quotes)."""
    return f"to_json({expr})::VARCHAR"


# --------------------------------------------------------------------------------------------------------
# Building the store


def _events_sql(customers: int, events: int) -> list[str]:
    """Statements building ``_ev``: one row per event with its customer, visit, position and page."""
    depth = "CASE " + " ".join(
        f"WHEN ((vh >> {8 * k}) % 256) >= {int(p * 256)} THEN {k}" for k, p in enumerate(CONTINUE)
    ) + f" ELSE {len(CONTINUE)} END"  # fmt: skip
    base_len = "[1, 3, 5, 7, 8, 10, 12, 14]"  # events of a visit that reaches step d (index d + 1)
    # position in the visit -> (type, event, page kind): 0 landing, 1 search, 2 list, 3 product, 4 cart,
    # 5 checkout, 6 complete, 7 content
    types = _list(["page", "page", "track", "page", "track", "page", "track", "track", "page", "track", "page",
                   "track", "page", "track"])  # fmt: skip
    names = "[NULL, NULL, 'Products Searched', NULL, 'Product List Viewed', NULL, 'Product Viewed', " \
        "'Product Added', NULL, 'Cart Viewed', NULL, 'Checkout Started', NULL, 'Order Completed']"  # fmt: skip
    pages = "[0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 6]"
    referrers = "[-1, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 5]"  # the page before the position's page
    return [
        f"""
        CREATE TEMP TABLE _cust AS
        SELECT range AS c,
            hash(range, 'known') % 100 < 60 AS known,
            1 + (hash(range, 'ndev') % 3 = 0)::INT AS ndev,
            1 + least(11, floor(ln((1 + hash(range, 'nv') % 1000000) / 1000001.0) / ln(0.4)))::INT AS nvisits,
            (hash(range, 'sv') % 2)::INT AS signin_visit,
            (hash(range, 'start') % {SPAN_DAYS})::INT AS start_day,
            (1 + hash(range, 'gap') % 13)::INT AS gap_days
        FROM range({customers})
        """,
        f"""
        CREATE TEMP TABLE _visit AS
        WITH v AS (
            SELECT c.*, v, hash(c.c, v) AS vh, start_day + v * gap_days AS day
            FROM _cust c, LATERAL (SELECT unnest(range(c.nvisits)) AS v)
        ), d AS (
            SELECT *, {depth} AS depth,
                CASE WHEN ndev = 1 THEN 0 ELSE (hash(c, v, 'dev') % 2)::INT END AS dev,
                known AND v = signin_visit AS signs_in,
                known AND v > signin_visit AS signed_in
            FROM v WHERE day < {SPAN_DAYS}
        ), l AS (
            SELECT *, {base_len}[depth + 1] AS base_len,
                ({base_len}[depth + 1] + (vh >> 58) % 3 + signs_in::INT)::BIGINT AS len
            FROM d
        )
        SELECT *, (sum(len) OVER (PARTITION BY c ORDER BY v) - len)::BIGINT AS before_in_customer FROM l
        """,
        """
        CREATE TEMP TABLE _ctot AS
        SELECT c, (sum(n) OVER (ORDER BY c) - n)::BIGINT AS before
        FROM (SELECT c, sum(len) AS n FROM _visit GROUP BY c)
        """,
        f"""
        CREATE TEMP TABLE _ev AS
        WITH p AS (
            SELECT v.*, t.before + v.before_in_customer AS first_i, unnest(range(v.len)) AS p
            FROM _visit v JOIN _ctot t USING (c)
            WHERE t.before < {events}
        ), e AS (
            SELECT *, first_i + p AS i, hash(c, v, p) AS eh,
                CASE WHEN p < base_len THEN {types}[p + 1]
                     WHEN signs_in AND p = base_len THEN 'identify' ELSE 'page' END AS type,
                CASE WHEN p < base_len THEN {names}[p + 1] END AS event,
                CASE WHEN p < base_len THEN {pages}[p + 1] ELSE 7 END AS page_kind,
                CASE WHEN p < base_len THEN {referrers}[p + 1] WHEN p = base_len THEN {pages}[p] ELSE 7 END
                    AS prev_kind
            FROM p WHERE first_i + p < {events}
        )
        SELECT i, c, v, p, day, eh, vh, type, event, page_kind, prev_kind, known, signs_in,
            (signed_in OR (signs_in AND type = 'identify')) AS has_user, dev,
            md5('a' || c || '-' || dev) AS device_hex,
            (vh >> 40) % 100 AS landing_class,
            ?::TIMESTAMPTZ + to_seconds(day * 86400 + 7 * 3600 + (vh >> 20) % (15 * 3600)
                + p * (30 + (vh >> 32) % 150) + eh % 25) + to_milliseconds((eh >> 8) % 1000) AS ts
        FROM e
        """,
    ]


def _page_sql() -> tuple[str, str, str]:
    """SQL for a ``_ev`` row's page path, URL and referrer (after columns path_now/path_prev exist)."""
    sku = "(hash(c, v, 'sku') % 5000)"
    cat = _pick(CATEGORIES, sku)
    landing = (
        f"CASE (vh >> 48) % 10 WHEN 0 THEN '/' WHEN 1 THEN '/' WHEN 2 THEN '/sale' "
        f"WHEN 3 THEN '/c/' || {cat} WHEN 4 THEN '/c/' || {cat} WHEN 5 THEN {_pick(CONTENT[:3], 'vh >> 52')} "
        f"ELSE '/p/' || {cat} || '/SKU-' || {sku} END"
    )

    def path(kind: str) -> str:
        return (
            f"CASE {kind} WHEN 0 THEN {landing} WHEN 1 THEN '/search' WHEN 2 THEN '/c/' || {cat} "
            f"WHEN 3 THEN '/p/' || {cat} || '/SKU-' || {sku} WHEN 4 THEN '/cart' WHEN 5 THEN '/checkout' "
            f"WHEN 6 THEN '/checkout/complete' ELSE {_pick(CONTENT, 'eh >> 16')} END"
        )

    term = _pick(TERMS, "vh >> 44")
    campaign = _pick(CAMPAIGNS, "(vh >> 36) + day // 30")
    # the landing URL's query: UTM for e-mail (70-79) and paid (80-91), a gclid for paid
    query = (
        f"CASE WHEN page_kind = 1 THEN '?q=' || replace({term}, ' ', '+') "
        f"WHEN page_kind = 0 AND landing_class BETWEEN 70 AND 79 THEN "
        f"'?utm_source=newsletter&utm_medium=email&utm_campaign=' || {campaign} "
        f"WHEN page_kind = 0 AND landing_class BETWEEN 80 AND 91 THEN "
        f"'?utm_source=google&utm_medium=cpc&utm_campaign=' || {campaign} || '&gclid=' || substr(md5(vh::VARCHAR), 1, 12) "
        f"ELSE '' END"
    )  # fmt: skip
    external = (
        f"CASE WHEN landing_class < 30 OR landing_class BETWEEN 70 AND 79 THEN '' "
        f"WHEN landing_class < 58 OR landing_class BETWEEN 80 AND 91 THEN {_pick(SEARCH, 'vh >> 24')} "
        f"WHEN landing_class < 68 THEN {_pick(SOCIAL, 'vh >> 24')} ELSE {_pick(REFERRAL, 'vh >> 24')} END"
    )
    referrer = f"CASE WHEN prev_kind < 0 THEN {external} ELSE '{SITE}' || {path('prev_kind')} END"
    return path("page_kind"), query, referrer


def build(home: Path, events: int) -> dict[str, Any]:
    """A home whose store holds ``events`` events of a shop's web analytics, and the identity graph."""
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "touchpoints", "init", "--home", str(home), "--json"],
                   check=True, capture_output=True)  # fmt: skip
    customers = int(events / 9.5) + 10
    origin = (datetime.now(UTC) - timedelta(days=SPAN_DAYS)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    timings: dict[str, float] = {}

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - t, 1)

    with open_store(home / "store.duckdb") as db:
        con = db.con
        with phase("generate"):
            for i, sql in enumerate(_events_sql(customers, events)):
                con.execute(sql, [origin] if i == 3 else [])
            path, query, referrer = _page_sql()
            con.execute(
                f"""
                CREATE TEMP TABLE _ev2 AS
                SELECT *, {path} AS path, {query} AS query, {referrer} AS referrer,
                    {_uuid("md5('m' || i)")} AS message_id,
                    {_uuid("device_hex")} AS anonymous_id,
                    CASE WHEN has_user THEN 'user-' || c END AS user_id,
                    CASE WHEN type = 'identify' THEN 'customer.' || c || '@example.com' END AS email,
                    {_pick(CATEGORIES, "(hash(c, v, 'sku') % 5000)")} AS cat,
                    hash(c, v, 'sku') % 5000 AS sku,
                    hash(c, dev, 'ua') % {len(UAS)} AS ua
                FROM _ev
                """
            )
            con.execute("DROP TABLE _ev")
            con.execute("ALTER TABLE _ev2 RENAME TO _ev")
        with phase("events"):
            utm = (
                "CASE WHEN p = 0 AND landing_class BETWEEN 70 AND 91 THEN concat(',\"campaign\":{\"medium\":\"', "
                "CASE WHEN landing_class < 80 THEN 'email' ELSE 'cpc' END, '\",\"name\":\"', "
                "regexp_extract(query, 'utm_campaign=([a-z_]+)', 1), '\",\"source\":\"', "
                "CASE WHEN landing_class < 80 THEN 'newsletter' ELSE 'google' END, '\"}') ELSE '' END"
            )  # fmt: skip
            title = (
                "CASE page_kind WHEN 0 THEN 'Welcome' WHEN 1 THEN 'Search' WHEN 2 THEN upper(cat[1]) || cat[2:] "
                "WHEN 3 THEN 'Product ' || sku WHEN 4 THEN 'Your bag' WHEN 5 THEN 'Checkout' WHEN 6 THEN 'Thank you' "
                "ELSE 'Journal' END"
            )
            page = _concat(
                '{"path":', (_json_str("path"),), ',"referrer":', (_json_str("referrer"),), ',"search":',
                (_json_str("query"),), ',"title":', (_json_str(f"({title}) || ' | Example Shop'"),), ',"url":',
                (_json_str(f"'{SITE}' || path || query"),), "}",
            )  # fmt: skip
            context = _concat(
                '{"ip":"81.2.', ("(eh >> 48) % 256",), '.0","library":{"name":"analytics.js","version":'
                '"npm:next-1.72.0"},"locale":"en-GB","page":', (page,), ',"timezone":"Europe/London",'
                '"userAgent":"', (_pick(UAS, "ua"),), '"', (utm,), "}",
            )  # fmt: skip
            price = "(19 + sku % 180)"
            product = _concat(
                '{"category":"', ("cat",), '","currency":"GBP","name":"Product ', ("sku",), '","price":', (price,),
                '.99,"product_id":"SKU-', ("sku",), '","quantity":1,"sku":"SKU-', ("sku",), '"}',
            )  # fmt: skip
            order = _concat(
                '{"currency":"GBP","order_id":"o-', ("c",), "-", ("v",), '","revenue":', (price,), '.99,"total":',
                (f"{price} + 4",), '.99,"products":[{"product_id":"SKU-', ("sku",), '","quantity":1}]}',
            )  # fmt: skip
            searched = _concat('{"query":', (_json_str(_pick(TERMS, "vh >> 44")),), "}")
            listed = _concat('{"category":"', ("cat",), '","list_id":"', ("cat",), '"}')
            cart = _concat('{"cart_id":"cart-', ("c",), "-", ("v",), '"}')
            properties = (
                f"CASE WHEN type = 'page' THEN {page} WHEN type = 'identify' THEN '{{}}' "
                f"WHEN event = 'Products Searched' THEN {searched} WHEN event = 'Product List Viewed' THEN {listed} "
                f"WHEN event IN ('Product Viewed', 'Product Added') THEN {product} "
                f"WHEN event = 'Cart Viewed' THEN {cart} ELSE {order} END"
            )
            plan = _pick(["free", "member", "gold"], "hash(c)")
            identify = _concat('{"email":"', ("email",), '","plan":"', (plan,), '"}')
            traits = f"CASE WHEN type = 'identify' THEN {identify} ELSE '{{}}' END"
            con.execute(
                f"""
                INSERT INTO events (message_id, type, source, channel, user_id, anonymous_id, event, name,
                                    category, timestamp, received_at, original_timestamp, sent_at, flags,
                                    context, properties, traits, integrations, extra, ip)
                SELECT message_id, type, 'web', 'web', user_id, anonymous_id, event,
                    CASE WHEN type = 'page' THEN {title} END, NULL,
                    ts, ts + to_milliseconds((80 + (eh >> 20) % 900)::BIGINT),
                    strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ'), strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ'), [],
                    ({context})::JSON, ({properties})::JSON, ({traits})::JSON, '{{}}'::JSON, '{{}}'::JSON,
                    '81.2.' || ((eh >> 48) % 256) || '.0'
                FROM _ev ORDER BY ts
                """
            )
            for agent in UAS:
                con.execute("INSERT INTO user_agents VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            [agent, *parse_agent(agent)])  # fmt: skip
        with phase("graph"):
            # A device seen with the userId is the customer's; any other is a customer of its own (the
            # first device of a customer who never signs in keeps the customer's number).
            con.execute(
                """
                CREATE TEMP TABLE _dev AS
                SELECT c, dev, anonymous_id, min(ts) AS first_seen, arg_min(message_id, ts) AS first_mid,
                    min(ts) FILTER (WHERE has_user) AS link_at, arg_min(message_id, ts) FILTER (WHERE has_user)
                    AS link_mid
                FROM _ev GROUP BY c, dev, anonymous_id
                """
            )
            con.execute(
                f"""
                CREATE TEMP TABLE _nodes AS
                WITH users AS (
                    SELECT c, 'user_id:' || user_id AS node, 'user_id' AS kind, user_id AS value, min(ts) AS first_seen,
                        arg_min(message_id, ts) AS first_mid
                    FROM _ev WHERE has_user GROUP BY c, user_id
                ), emails AS (
                    SELECT c, 'email:' || email AS node, 'email' AS kind, email AS value, min(ts) AS first_seen,
                        arg_min(message_id, ts) AS first_mid
                    FROM _ev WHERE email IS NOT NULL GROUP BY c, email
                )
                SELECT c, node, kind, value, first_seen, first_mid, NULL::TIMESTAMPTZ AS link_at, NULL AS link_mid,
                    printf('cus_%07d', c + 1) AS customer_id FROM users
                UNION ALL
                SELECT c, node, kind, value, first_seen, first_mid, first_seen, first_mid, printf('cus_%07d', c + 1)
                FROM emails
                UNION ALL
                SELECT d.c, 'anonymous_id:' || d.anonymous_id, 'anonymous_id', d.anonymous_id, d.first_seen,
                    d.first_mid, d.link_at, d.link_mid,
                    CASE WHEN d.link_at IS NOT NULL OR (u.c IS NULL AND d.dev = 0) THEN printf('cus_%07d', d.c + 1)
                        ELSE printf('cus_%07d', {customers} + 1 + row_number() OVER (ORDER BY d.first_seen, d.c))
                    END
                FROM _dev d LEFT JOIN users u ON u.c = d.c
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
            top = con.execute("SELECT max(TRY_CAST(split_part(customer_id, '_', 2) AS BIGINT)) FROM identities"
                              ).fetchall()[0][0] or 0  # fmt: skip
            links = con.execute("SELECT count(*) FROM identity_links").fetchall()[0][0]
            con.execute("DROP SEQUENCE IF EXISTS customer_seq")
            con.execute(f"CREATE SEQUENCE customer_seq START {top + 1}")
            con.execute("DROP SEQUENCE IF EXISTS identity_link_seq")
            con.execute(f"CREATE SEQUENCE identity_link_seq START {links + 1}")
            # Consent stated on a customer's first identifier: 3 % deny analytics, 20 % grant it.
            con.execute(
                """
                INSERT INTO consents (node, purpose, status, stated_at, recorded_at, source, channel, via, evidence)
                SELECT node, 'analytics', CASE WHEN hash(customer_id, 'consent') % 100 < 3 THEN 'denied'
                    ELSE 'granted' END, first_seen, first_seen + INTERVAL 2 SECOND, 'web', 'web', 'event',
                    json_object('message_id', first_mid, 'version', 'v3')
                FROM _nodes WHERE hash(customer_id, 'consent') % 100 < 23
                QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY first_seen, node) = 1
                ORDER BY first_seen
                """
            )
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                  for t in ("events", "identities", "identity_links", "consents")}  # fmt: skip
        counts["customers"] = con.execute("SELECT count(DISTINCT customer_id) FROM identities").fetchall()[0][
            0
        ]
        counts["visits"] = con.execute("SELECT count(DISTINCT (c, v)) FROM _ev").fetchall()[0][0]
        counts["orders"] = con.execute("SELECT count(*) FROM _ev WHERE event = 'Order Completed'").fetchall()[
            0
        ][0]
        for t in ("_ev", "_dev", "_nodes", "_visit", "_ctot", "_cust"):
            con.execute(f"DROP TABLE {t}")
        with phase("checkpoint"):
            con.execute("CHECKPOINT")
    return {
        "events": events,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": timings,
        "store_bytes": (home / "store.duckdb").stat().st_size,
        "rows": counts,
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
# The analyses: the query layer's call, and the same question written by hand (DuckDB and Spark SQL)

WINDOW_S = 7 * 86400
PATH_STEPS, PATH_LIMIT = 3, 10
TREND_EVENTS = ["Product Viewed", "Product Added", "Order Completed"]


def _since(since: str) -> str:
    """The scope's start as a filter on the prepared events (UTC, as ``Scope.apply`` makes it)."""
    return f" AND timestamp >= TIMESTAMP '{since}'" if since else ""


def _r(x: Any) -> Any:
    return None if x is None else round(float(x), 6)


def _funnel_rows(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(k, s["customers"], _r(s["median_seconds_from_first"]), _r(s["median_seconds_to_convert"]))
            for k, s in enumerate(answer["steps"], start=1)]  # fmt: skip


def _funnel_sql_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    (row,) = rows
    n = len(FUNNEL)
    out = [(1, int(row[0] or 0), None, None)]
    for k in range(2, n + 1):
        out.append((k, int(row[k - 1] or 0), _r(row[n + 2 * (k - 2)]), _r(row[n + 2 * (k - 2) + 1])))
    return out


def _funnel_metrics(secs: Callable[[str], str], median: str) -> str:
    n = len(FUNNEL)
    cols = [f"count(*) FILTER (WHERE depth >= {k})" if median == "quantile_cont"
            else f"sum(CASE WHEN depth >= {k} THEN 1 ELSE 0 END)" for k in range(1, n + 1)]  # fmt: skip
    for k in range(2, n + 1):
        prev = "t1" if k == 2 else f"t{k - 1}"
        cols.append(f"{median}({secs(f't{k}')} - {secs('t1')}, 0.5)")
        cols.append(f"{median}({secs(f't{k}')} - {secs(prev)}, 0.5)")
    return ", ".join(cols)


def funnel_duckdb_asof(since: str = "") -> str:
    """Each next step by an ASOF join (the earliest occurrence at or
    after the previous step's, in one merge per step), then the window check."""
    n, names = len(FUNNEL), ", ".join(_q(s) for s in FUNNEL)
    ctes = [
        f"f AS (SELECT customer_id AS u, timestamp AS ts, event FROM analytics_events "
        f"WHERE customer_id IS NOT NULL AND event IN ({names}){_since(since)})",
        f"c1 AS (SELECT DISTINCT u, ts AS t1 FROM f WHERE event = {_q(FUNNEL[0])})",
    ]
    for k in range(2, n + 1):
        prev = "t1" if k == 2 else f"t{k - 1}"
        ctes.append(f"s{k} AS (SELECT u, ts FROM f WHERE event = {_q(FUNNEL[k - 1])})")
        ctes.append(
            f"c{k} AS (SELECT c.*, CASE WHEN s.ts <= c.t1 + INTERVAL {WINDOW_S} SECOND THEN s.ts END AS t{k} "
            f"FROM c{k - 1} c ASOF LEFT JOIN s{k} s ON c.u = s.u AND s.ts >= c.{prev})"
        )
    depth = " + ".join(["1"] + [f"(t{k} IS NOT NULL)::INT" for k in range(2, n + 1)])
    ctes.append(
        f"best AS (SELECT * FROM (SELECT *, {depth} AS depth FROM c{n}) "
        "QUALIFY row_number() OVER (PARTITION BY u ORDER BY depth DESC, t1) = 1)"
    )
    secs = lambda c: f"floor(epoch({c}))::BIGINT"  # noqa: E731
    return f"WITH {', '.join(ctes)} SELECT {_funnel_metrics(secs, 'quantile_cont')} FROM best"


def funnel_levels(engine: str, since: str = "") -> str:
    """The fastest funnel found, and the query layer's plan: each step reads its own events (the prepared
    events are stored by event name) by the customer's number; only the attempts still going are joined
    to the next step, those that stopped set aside with their depth; each customer's best attempt
    (deepest, then earliest) is the largest of one number, depth times 2^64 less the start in
    microseconds."""
    n, w = len(FUNNEL), WINDOW_S
    interval = f"INTERVAL {w} SECOND" if engine == "duckdb" else f"INTERVAL {w} SECONDS"
    micros = "epoch_us" if engine == "duckdb" else "unix_micros"
    null_ts = "NULL::TIMESTAMP" if engine == "duckdb" else "CAST(NULL AS TIMESTAMP)"

    def occ(name: str) -> str:
        return (f"(SELECT customer_no AS u, timestamp AS ts FROM analytics_events "
                f"WHERE customer_no IS NOT NULL AND event = {_q(name)}{_since(since)})")  # fmt: skip

    ctes = [
        f"j2 AS (SELECT c.u, c.ts AS t1, min(s.ts) AS t2 FROM {occ(FUNNEL[0])} c LEFT JOIN {occ(FUNNEL[1])} s "
        f"ON s.u = c.u AND s.ts >= c.ts AND s.ts <= c.ts + {interval} GROUP BY c.u, c.ts)"
    ]
    for k in range(3, n + 1):
        keep = ", ".join(["c.u", "c.t1"] + [f"c.t{j}" for j in range(2, k)])
        ctes.append(
            f"j{k} AS (SELECT {keep}, min(s.ts) AS t{k} FROM (SELECT * FROM j{k - 1} WHERE t{k - 1} IS NOT NULL) c "
            f"LEFT JOIN {occ(FUNNEL[k - 1])} s ON s.u = c.u AND s.ts >= c.t{k - 1} AND s.ts <= c.t1 + {interval} "
            f"GROUP BY {keep})"
        )
    parts = []
    for k in range(2, n + 1):
        last = k == n
        times = ", ".join(
            f"t{j}" if j < k or (last and j == n) else f"{null_ts} AS t{j}" for j in range(2, n + 1)
        )
        depth = f"CASE WHEN t{n} IS NULL THEN {n - 1} ELSE {n} END" if last else str(k - 1)
        parts.append(
            f"SELECT u, t1, {times}, {depth} AS depth FROM j{k}" + ("" if last else f" WHERE t{k} IS NULL")
        )
    dec = "DECIMAL(38, 0)"

    def packed(a: str = "") -> str:
        return f"CAST({a}depth AS {dec}) * CAST({2**64} AS {dec}) - CAST({micros}({a}t1) AS {dec})"

    ctes += [
        "a AS (" + " UNION ALL ".join(parts) + ")",
        f"best AS (SELECT u, max({packed()}) AS p FROM a GROUP BY u)",
        f"ranked AS (SELECT a.* FROM a JOIN best b ON a.u = b.u AND {packed('a.')} = b.p)",
    ]
    if engine == "duckdb":
        secs = lambda c: f"floor(epoch({c}))::BIGINT"  # noqa: E731
        median = "quantile_cont"
    else:
        secs = lambda c: f"CAST(floor(unix_micros({c}) / 1000000) AS BIGINT)"  # noqa: E731
        median = "percentile"
    return f"WITH {', '.join(ctes)} SELECT {_funnel_metrics(secs, median)} FROM ranked"


def funnel_joins(engine: str, since: str = "") -> str:
    """The funnel as one would write it without ASOF (and as the query layer's plan is): each next step
    by a range join grouped back to one row per attempt. Spark has no ASOF join: this is its hand SQL."""
    n, names = len(FUNNEL), ", ".join(_q(s) for s in FUNNEL)
    ctes = [
        f"f AS (SELECT customer_id AS u, timestamp AS ts, event FROM analytics_events "
        f"WHERE customer_id IS NOT NULL AND event IN ({names}){_since(since)})",
        f"c1 AS (SELECT DISTINCT u, ts AS t1 FROM f WHERE event = {_q(FUNNEL[0])})",
    ]
    interval = f"INTERVAL {WINDOW_S} SECOND" if engine == "duckdb" else f"INTERVAL {WINDOW_S} SECONDS"
    for k in range(2, n + 1):
        prev = "t1" if k == 2 else f"t{k - 1}"
        keep = ", ".join(["c.u", "c.t1"] + [f"c.t{j}" for j in range(2, k)])
        ctes.append(
            f"c{k} AS (SELECT {keep}, min(s.ts) AS t{k} FROM c{k - 1} c LEFT JOIN f s ON s.u = c.u "
            f"AND s.event = {_q(FUNNEL[k - 1])} AND s.ts >= c.{prev} AND s.ts <= c.t1 + {interval} GROUP BY {keep})"
        )
    if engine == "duckdb":
        depth = " + ".join(["1"] + [f"(t{k} IS NOT NULL)::INT" for k in range(2, n + 1)])
        secs = lambda c: f"floor(epoch({c}))::BIGINT"  # noqa: E731
        median = "quantile_cont"
    else:
        depth = " + ".join(["1"] + [f"CAST(t{k} IS NOT NULL AS INT)" for k in range(2, n + 1)])
        secs = lambda c: f"CAST(floor(unix_micros({c}) / 1000000) AS BIGINT)"  # noqa: E731
        median = "percentile"
    ctes.append(
        f"ranked AS (SELECT *, row_number() OVER (PARTITION BY u ORDER BY depth DESC, t1) AS _rank "
        f"FROM (SELECT *, {depth} AS depth FROM c{n}) d)"
    )
    return f"WITH {', '.join(ctes)} SELECT {_funnel_metrics(secs, median)} FROM ranked WHERE _rank = 1"


def _trend_api_rows(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (s["period"], s["group"], s["events"], s["customers"]) for s in answer["series"] if s["events"]
    )


def _trend_sql_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted((r[0].isoformat(), r[1], int(r[2]), int(r[3])) for r in rows)


def trends_day(engine: str) -> str:
    period = "timestamp::DATE" if engine == "duckdb" else "CAST(timestamp AS DATE)"
    return (f"SELECT {period} AS period, NULL AS grp, count(*), count(DISTINCT customer_no) "
            "FROM analytics_events GROUP BY 1")  # fmt: skip


def trends_week_by_event(engine: str) -> str:
    period = (
        "date_trunc('week', timestamp)::DATE"
        if engine == "duckdb"
        else "CAST(date_trunc('WEEK', timestamp) AS DATE)"
    )
    names = ", ".join(_q(e) for e in TREND_EVENTS)
    return (f"SELECT {period} AS period, event, count(*), count(DISTINCT customer_no) FROM analytics_events "
            f"WHERE event IN ({names}) GROUP BY 1, 2")  # fmt: skip


def _retention_api_rows(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for c in answer["cohorts"]:
        out.append((c["cohort"], 0, c["customers"]))
        out.extend((c["cohort"], k, n) for k, n in enumerate(c["returned"], start=1) if n)
    return sorted(out)


def _retention_sql_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted((r[0].isoformat(), int(r[1]), int(r[2])) for r in rows if r[1] >= 0)


def retention_sql(engine: str, cohort_event: str, return_event: str, period: str) -> str:
    """One row per customer and period with what they did in it (a much smaller table than the events),
    the cohort by a window over it, then a count: each (customer, period) is there once. The last period
    with events (the API's ``last``) is the period of the latest event: no period number per event."""
    if engine == "duckdb":
        start = f"date_trunc('{period}', timestamp)::DATE"
        number = {"week": "(datediff('day', DATE '1970-01-01', p) - 4) // 7",
                  "month": "year(p) * 12 + month(p) - 1"}[period]  # fmt: skip
        cohort_number = number.replace(", p)", ", cohort)").replace("(p)", "(cohort)")
    else:
        start = f"CAST(date_trunc('{period.upper()}', timestamp) AS DATE)"
        number = {"week": "floor((datediff(p, DATE'1970-01-01') - 4) / 7)",
                  "month": "year(p) * 12 + month(p) - 1"}[period]  # fmt: skip
        cohort_number = number.replace("(p,", "(cohort,").replace("(p)", "(cohort)")
    events = ", ".join(dict.fromkeys([_q(cohort_event), _q(return_event)]))
    return f"""
    WITH w AS (
        SELECT customer_no, {start} AS p, max(CASE WHEN event = {_q(cohort_event)} THEN 1 ELSE 0 END) AS is_c,
            max(CASE WHEN event = {_q(return_event)} THEN 1 ELSE 0 END) AS is_r
        FROM analytics_events WHERE customer_no IS NOT NULL AND event IN ({events}) GROUP BY 1, 2
    ), x AS (
        SELECT *, min(CASE WHEN is_c = 1 THEN p END) OVER (PARTITION BY customer_no) AS cohort FROM w
    )
    SELECT cohort, ({number}) - ({cohort_number}) AS k, count(*) FROM x
    WHERE cohort IS NOT NULL AND ((p = cohort AND is_c = 1) OR (p > cohort AND is_r = 1))
    GROUP BY 1, 2
    UNION ALL  -- the last period with events (how long the cohorts' lists are): k = -1
    SELECT {start.replace("timestamp", "max(timestamp)")}, -1, 0 FROM analytics_events
    """


def _paths_api_rows(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((int(link["target"].split(":", 1)[0]), link["source"].split(":", 1)[1],
                   link["target"].split(":", 1)[1], link["count"], link["customers"]) for link in answer["links"])  # fmt: skip


def _paths_sql_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted((int(r[0]), r[1], r[2], int(r[3]), int(r[4])) for r in rows)


def paths_sql(anchor: str, since: str = "", unit: str = "session") -> str:
    """Without the prepared runs (DuckDB): runs of one event by one customer folded (lag), the next steps
    read with lead on the anchor's rows only; each step's top events named by a count over the anchors'
    steps (a small table) joined back to the anchors' wide rows."""
    steps = range(1, PATH_STEPS + 1)
    leads = ", ".join(f"lead(event, {k}) OVER w AS e{k}" for k in steps)
    cols = ["coalesce(e1, '(end)') AS s1"] + [
        f"CASE WHEN e{k - 1} IS NOT NULL THEN coalesce(e{k}, '(end)') END AS s{k}" for k in steps if k > 1
    ]
    key = "session_id" if unit == "session" else "customer_id"
    window = f"WINDOW w AS (PARTITION BY {key} ORDER BY timestamp, message_id)"
    head = f"""
    WITH o AS (
        SELECT session_id, customer_id, message_id, timestamp, event, lag(event) OVER w AS before,
            lag(customer_id) OVER w AS before_by
        FROM analytics_events WHERE {key} IS NOT NULL{_since(since)} {window}
    ), d AS (
        SELECT message_id, customer_id, event, {leads} FROM o
        WHERE before IS NULL OR before <> event OR before_by IS DISTINCT FROM customer_id {window}
    ), a AS (
        SELECT message_id, customer_id, {", ".join(cols)} FROM d WHERE event = {_q(anchor)}
    )"""
    long = " UNION ALL ".join(f"SELECT {k} AS step, s{k} AS far FROM a WHERE s{k} IS NOT NULL" for k in steps)
    named = ", ".join(
        f"CASE WHEN a.s{k} IS NULL THEN NULL WHEN t{k}.far IS NULL THEN 'Other' ELSE a.s{k} END AS n{k}"
        for k in steps
    )
    joins = " ".join(f"LEFT JOIN top t{k} ON t{k}.step = {k} AND t{k}.far = a.s{k}" for k in steps)
    near = [_q(anchor)] + [f"n{k}" for k in steps]
    links = " UNION ALL ".join(
        f"SELECT {k} AS step, {near[k - 1]} AS near, n{k} AS far, count(*) AS n, count(DISTINCT customer_id) AS c "
        f"FROM named WHERE n{k} IS NOT NULL GROUP BY {near[k - 1]}, n{k}"
        for k in steps
    )
    return f"""{head}, counted AS (
        SELECT step, far, count(*) AS n FROM ({long}) l GROUP BY step, far
    ), top AS (
        SELECT step, far FROM (
            SELECT step, far, dense_rank() OVER (PARTITION BY step ORDER BY far = '(end)', n DESC, far) AS r
            FROM counted) x
        WHERE far = '(end)' OR r <= {PATH_LIMIT}
    ), named AS (
        SELECT a.customer_id, {named} FROM a {joins}
    )
    {links}
    """


def paths_runs_sql(anchor: str, since: str = "", unit: str = "session") -> str:
    """The same question over the prepared runs (each session's runs numbered, with the next run's
    event): the anchor runs once per step, joined to the run step - 1 further on; each step's top events
    named by a count over those rows, joined back. The same SQL on DuckDB and Spark."""
    ks = " UNION ALL ".join(f"SELECT {k} AS k" for k in range(1, PATH_STEPS + 1))
    after = f" AND last_ts >= TIMESTAMP '{since}'" if since else ""
    return f"""
    WITH a AS (
        SELECT unit_no, run, customer_id FROM analytics_runs WHERE unit = '{unit}' AND event = {_q(anchor)}{after}
    ), l AS (
        SELECT s.k AS step, a.customer_id, r.event AS near, coalesce(r.next_event, '(end)') AS far
        FROM a CROSS JOIN ({ks}) s JOIN analytics_runs r
            ON r.unit = '{unit}' AND r.unit_no = a.unit_no AND r.run = a.run + s.k - 1
    ), counted AS (
        SELECT step, far, count(*) AS n FROM l GROUP BY step, far
    ), top AS (
        SELECT step, far, CASE WHEN far = '(end)' OR dense_rank() OVER (PARTITION BY step
            ORDER BY far = '(end)', n DESC, far) <= {PATH_LIMIT} THEN far ELSE 'Other' END AS name
        FROM counted
    )
    SELECT l.step, CASE WHEN l.step = 1 THEN {_q(anchor)} ELSE tn.name END AS near, tf.name AS far, count(*),
        count(DISTINCT l.customer_id)
    FROM l JOIN top tf ON tf.step = l.step AND tf.far = l.far
    LEFT JOIN top tn ON tn.step = l.step - 1 AND tn.far = l.near
    GROUP BY 1, 2, 3
    """


@dataclass
class Case:
    """One question: the query layer's call and Ibis expression, the hand-written SQL per engine, and how
    to bring both answers to the same comparable rows."""

    name: str
    module: str
    api: Callable[[Any], dict[str, Any]]
    table: Callable[[Any], Any]
    sql: dict[str, str]  # engine -> the fastest hand SQL found
    api_rows: Callable[[dict[str, Any]], list[tuple[Any, ...]]]
    sql_rows: Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]]
    extra_sql: dict[str, str] = field(default_factory=dict)  # other DuckDB hand SQL worth timing


def cases(since: str = "") -> tuple[list[Case], list[str]]:
    """The cases whose module exists (the analytics are being written: a missing one is skipped); those
    named "last 30 d" start at ``since`` (a date: the last 30 days of the store)."""
    from touchpoints.analytics.common import Scope

    recent = Scope(start=since) if since else None
    out: list[Case] = []
    missing: list[str] = []

    def load(name: str) -> Any:
        try:
            return importlib.import_module(f"touchpoints.analytics.{name}")
        except ImportError:
            missing.append(name)
            return None

    if (m := load("funnel")) is not None:
        out.append(Case(
            "funnel: 7 steps, 7 d, customers", "funnel",
            lambda e, m=m: m.funnel(e, FUNNEL, within="7d"),
            lambda e, m=m: m.funnel_table(e, FUNNEL, WINDOW_S),
            {"duckdb": funnel_levels("duckdb"), "spark": funnel_levels("spark")},
            _funnel_rows, _funnel_sql_rows,
            {"range joins for every attempt (the plan before)": funnel_joins("duckdb"), "ASOF": funnel_duckdb_asof()},
        ))  # fmt: skip
        if since:
            out.append(Case(
                "funnel: 7 steps, 7 d, customers, last 30 d", "funnel",
                lambda e, m=m: m.funnel(e, FUNNEL, within="7d", scope=recent),
                lambda e, m=m: m.funnel_table(e, FUNNEL, WINDOW_S, recent),
                {"duckdb": funnel_levels("duckdb", since), "spark": funnel_levels("spark", since)},
                _funnel_rows, _funnel_sql_rows,
                {"range joins for every attempt (the plan before)": funnel_joins("duckdb", since),
                 "ASOF": funnel_duckdb_asof(since)},
            ))  # fmt: skip
    if (m := load("trends")) is not None:
        out.append(Case(
            "trends: all events per day", "trends",
            lambda e, m=m: m.trends(e, None, interval="day"),
            lambda e, m=m: m.trends_table(e, None, "day"),
            {"duckdb": trends_day("duckdb"), "spark": trends_day("spark")},
            _trend_api_rows, _trend_sql_rows,
        ))  # fmt: skip
        out.append(Case(
            "trends: 3 events per week, by event", "trends",
            lambda e, m=m: m.trends(e, TREND_EVENTS, interval="week", by="event"),
            lambda e, m=m: m.trends_table(e, TREND_EVENTS, "week", "event"),
            {"duckdb": trends_week_by_event("duckdb"), "spark": trends_week_by_event("spark")},
            _trend_api_rows, _trend_sql_rows,
        ))  # fmt: skip
    if (m := load("retention")) is not None:
        out.append(Case(
            "retention: Page Viewed -> Page Viewed, weekly", "retention",
            lambda e, m=m: m.retention(e, "Page Viewed", "Page Viewed", period="week"),
            lambda e, m=m: m.retention_table(e, "Page Viewed", "Page Viewed", "week"),
            {x: retention_sql(x, "Page Viewed", "Page Viewed", "week") for x in ("duckdb", "spark")},
            _retention_api_rows, _retention_sql_rows,
        ))  # fmt: skip
        out.append(Case(
            "retention: Product Viewed -> Order Completed, monthly", "retention",
            lambda e, m=m: m.retention(e, "Product Viewed", "Order Completed", period="month"),
            lambda e, m=m: m.retention_table(e, "Product Viewed", "Order Completed", "month"),
            {x: retention_sql(x, "Product Viewed", "Order Completed", "month") for x in ("duckdb", "spark")},
            _retention_api_rows, _retention_sql_rows,
        ))  # fmt: skip
    if (m := load("paths")) is not None:
        out.append(Case(
            "paths: 3 steps after Product Viewed, by session", "paths",
            lambda e, m=m: m.paths(e, "Product Viewed", steps=PATH_STEPS, limit=PATH_LIMIT),
            lambda e, m=m: m.paths_table(e, "Product Viewed", "next", PATH_STEPS, None, PATH_LIMIT),
            {x: paths_runs_sql("Product Viewed") for x in ("duckdb", "spark")},
            _paths_api_rows, _paths_sql_rows, {"events ordered by a window (no runs)": paths_sql("Product Viewed")},
        ))  # fmt: skip
        out.append(Case(
            "paths: 3 steps after Product Viewed, by customer", "paths",
            lambda e, m=m: m.paths(e, "Product Viewed", steps=PATH_STEPS, limit=PATH_LIMIT, by_session=False),
            lambda e, m=m: m.paths_table(e, "Product Viewed", "next", PATH_STEPS, None, PATH_LIMIT, False),
            {x: paths_runs_sql("Product Viewed", unit="customer") for x in ("duckdb", "spark")},
            _paths_api_rows, _paths_sql_rows,
            {"events ordered by a window (no runs)": paths_sql("Product Viewed", unit="customer")},
        ))  # fmt: skip
        if since:
            out.append(Case(
                "paths: 3 steps after Product Viewed, by session, last 30 d", "paths",
                lambda e, m=m: m.paths(e, "Product Viewed", steps=PATH_STEPS, scope=recent, limit=PATH_LIMIT),
                lambda e, m=m: m.paths_table(e, "Product Viewed", "next", PATH_STEPS, recent, PATH_LIMIT),
                {x: paths_runs_sql("Product Viewed", since) for x in ("duckdb", "spark")},
                _paths_api_rows, _paths_sql_rows,
                {"events ordered by a window (no runs)": paths_sql("Product Viewed", since)},
            ))  # fmt: skip
    return out, missing


# --------------------------------------------------------------------------------------------------------
# Timing


def p95(xs: list[float]) -> float:
    """Nearest rank: with 20 runs the 19th fastest."""
    s = sorted(xs)
    return s[max(0, -(-95 * len(s) // 100) - 1)]


def stats(xs: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(xs), 4), "p95": round(p95(xs), 4), "min": round(min(xs), 4),
            "runs": [round(x, 4) for x in xs]}  # fmt: skip


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall time, this process' CPU time (all threads: DuckDB's work whatever else runs here), result."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t, time.process_time() - c, out


def load() -> dict[str, float]:
    """The 1-minute load average and the share of the last 60 s some task waited for a CPU (PSI)."""
    out = {"load1": round(os.getloadavg()[0], 2)}
    try:
        some = Path("/proc/pressure/cpu").read_text().split("\n")[0]
        out["cpu_pressure_60s"] = float(some.split("avg60=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        pass
    return out


def duckdb_rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def check(case: Case, api_answer: dict[str, Any], rows: list[tuple[Any, ...]], what: str) -> int:
    a, b = case.api_rows(api_answer), case.sql_rows(rows)
    if a != b:
        diff = [x for x in a if x not in b][:5], [x for x in b if x not in a][:5]
        raise AssertionError(f"{case.name}: {what} differs from the API ({len(a)} vs {len(b)} rows): {diff}")
    return len(a)


def split_duckdb(eng: Any, db: DuckDBBackend, case: Case, runs: int) -> dict[str, Any]:
    """Where the API's time goes: building the Ibis expression, compiling it to SQL (as the backend does
    before running it, not pretty-printed), running that SQL."""
    build, compile_, execute = [], [], []
    for _ in range(runs):
        tb, _, expr = timed(lambda: case.table(eng))
        tc, _, sql = timed(lambda expr=expr: eng.con.compile(expr))
        te, _, _ = timed(lambda sql=sql: db.con.sql(sql).to_arrow_table())
        build.append(tb)
        compile_.append(tc)
        execute.append(te)
    return {"build": stats(build), "compile": stats(compile_), "execute_compiled_sql": stats(execute)}


COLD = "API, asked for the first time"


def cold(case: Case, eng: Any) -> dict[str, Any]:
    """The API as for a question not asked before: its expression built and compiled to SQL again."""
    from touchpoints.analytics import engine as tp_engine

    tp_engine._compiled.clear()
    return case.api(eng)


def bench_duckdb(home: Path, cases_: list[Case], runs: int, rebuilds: int, split_runs: int) -> dict[str, Any]:
    settings = load_settings(home)
    out: dict[str, Any] = {"rebuild": [], "cases": {}}
    with open_store(settings.store_path) as db:
        for _ in range(rebuilds):
            at = load()
            wall, cpu, ready = timed(lambda: prepared.rebuild(db, Gate.for_settings(settings)))
            out["rebuild"].append({"seconds": round(wall, 2), "cpu": round(cpu, 2), "rows": ready.rows,
                                   "load": [at, load()]})  # fmt: skip
            print(f"  prepared.rebuild: {wall:.1f} s, CPU {cpu:.1f} s ({ready.rows:,} rows, {at} -> {load()})",
                  flush=True)  # fmt: skip
        with duckdb_engine(db) as eng:
            for case in cases_:
                at = load()
                # warm-up, and the check that every version answers the same
                answer = case.api(eng)
                versions = {"hand SQL": case.sql["duckdb"], **case.extra_sql}
                compared = {
                    name: check(case, answer, duckdb_rows(db.con, sql), name)
                    for name, sql in versions.items()
                }
                walls: dict[str, list[float]] = {"api": [], COLD: [], **{name: [] for name in versions}}
                cpus: dict[str, list[float]] = {k: [] for k in walls}
                for _ in range(runs):  # interleaved, so every version sees the same load
                    w, c, _ = timed(lambda case=case: case.api(eng))
                    walls["api"].append(w)
                    cpus["api"].append(c)
                    w, c, _ = timed(lambda case=case: cold(case, eng))
                    walls[COLD].append(w)
                    cpus[COLD].append(c)
                    for name, sql in versions.items():
                        w, c, _ = timed(lambda sql=sql: duckdb_rows(db.con, sql))
                        walls[name].append(w)
                        cpus[name].append(c)
                result: dict[str, Any] = {k: stats(v) for k, v in walls.items()}
                result["cpu"] = {k: stats(v) for k, v in cpus.items()}
                result["ratio"] = round(result["api"]["median"] / result["hand SQL"]["median"], 2)
                result["ratio_cpu"] = round(
                    result["cpu"]["api"]["median"] / result["cpu"]["hand SQL"]["median"], 2
                )
                result["rows_compared"] = compared
                result["split"] = split_duckdb(eng, db, case, split_runs)
                result["load"] = [at, load()]
                out["cases"][case.name] = result
                others = "".join(
                    f"; {n} {result[n]['median']:.3f}" for n in walls if n not in ("api", "hand SQL")
                )
                sp = result["split"]
                print(f"  {case.name}: API {result['api']['median']:.3f} (p95 {result['api']['p95']:.3f}, CPU "
                      f"{result['cpu']['api']['median']:.2f}), hand SQL {result['hand SQL']['median']:.3f} (p95 "
                      f"{result['hand SQL']['p95']:.3f}, CPU {result['cpu']['hand SQL']['median']:.2f}), ratio "
                      f"{result['ratio']} (CPU {result['ratio_cpu']}){others}; build {sp['build']['median']:.3f} "
                      f"compile {sp['compile']['median']:.3f} execute {sp['execute_compiled_sql']['median']:.3f}; "
                      f"{result['load']}", flush=True)  # fmt: skip
    return out


def bench_spark(home: Path, cases_: list[Case], runs: int) -> dict[str, Any]:
    """The export (timed alone), the session's start, then each case through ``open_engine(settings,
    "spark")`` and as hand Spark SQL on the same session."""

    from touchpoints.store import spark as tp_spark

    settings = load_settings(home)
    out: dict[str, Any] = {"cases": {}}
    # no progress bars on the terminal (the session is the product's; this only reaches the JVM's start)
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--conf spark.ui.showConsoleProgress=false pyspark-shell")
    shutil.rmtree(settings.parquet_location, ignore_errors=True)
    with open_store(settings.store_path) as db:
        ready = prepared.ensure(db, Gate.for_settings(settings))
        at = load()
        t, _, _ = timed(lambda: tp_spark.export_prepared(db, settings.parquet_location, ready.prepared_at))
    size = sum(f.stat().st_size for f in Path(settings.parquet_location).rglob("*.parquet"))
    out["export"] = {"seconds": round(t, 2), "bytes": size, "load": at}
    print(f"  Parquet export: {t:.1f} s ({size / 1e6:.0f} MB, {at})", flush=True)
    t, _, session = timed(lambda: tp_spark.session(settings))
    out["session_start_seconds"] = round(t, 2)
    with open_engine(settings, "spark") as eng:  # the export is current: ensure + manifest check + view
        pass
    t, _, _ = timed(lambda: open_engine(settings, "spark").__enter__())
    out["open_engine_seconds"] = round(t, 2)
    print(
        f"  Spark session start: {out['session_start_seconds']:.1f} s; open_engine after: {t:.2f} s",
        flush=True,
    )
    with open_engine(settings, "spark") as eng:
        for case in cases_:
            at = load()
            answer = case.api(eng)
            sql = case.sql["spark"]
            compared = check(case, answer, [tuple(r) for r in session.sql(sql).collect()], "Spark hand SQL")
            times: dict[str, list[float]] = {"api": [], "hand SQL": [], "build+compile": []}
            for _ in range(runs):
                times["api"].append(timed(lambda case=case: case.api(eng))[0])
                times["hand SQL"].append(timed(lambda sql=sql: session.sql(sql).collect())[0])
                times["build+compile"].append(timed(lambda case=case: eng.con.compile(case.table(eng)))[0])
            result: dict[str, Any] = {k: stats(v) for k, v in times.items()}
            result["ratio"] = round(result["api"]["median"] / result["hand SQL"]["median"], 2)
            result["rows_compared"] = compared
            result["load"] = [at, load()]
            out["cases"][case.name] = result
            print(f"  spark {case.name}: API {result['api']['median']:.2f} (p95 {result['api']['p95']:.2f}), "
                  f"hand SQL {result['hand SQL']['median']:.2f} (p95 {result['hand SQL']['p95']:.2f}), ratio "
                  f"{result['ratio']}, build+compile {result['build+compile']['median']:.3f}; {result['load']}",
                  flush=True)  # fmt: skip
    return out


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")  # fmt: skip
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    git = Path(__file__).resolve().parent
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=git
    ).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "src/touchpoints/analytics"], capture_output=True,
                           text=True, cwd=git.parent).stdout  # fmt: skip
    import ibis
    import pyspark

    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem, 1), "python": platform.python_version(),
            "duckdb": duckdb.__version__, "ibis": ibis.__version__, "pyspark": pyspark.__version__,
            "commit": commit.strip() + (" with uncommitted analytics work" if dirty.strip() else ""),
            **load(), "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}  # fmt: skip


def last_30_days(home: Path) -> str:
    """The first day of the store's last 30 days (the scope of the "last 30 d" cases)."""
    con = duckdb.connect(str(home / "store.duckdb"), read_only=True)
    try:
        last = con.execute("SELECT max(timestamp AT TIME ZONE 'UTC')::DATE FROM events").fetchall()[0][0]
    finally:
        con.close()
    return (last - timedelta(days=29)).isoformat()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--store-dir", type=Path, default=Path("/tmp/tp-bench-analytics"))
    ap.add_argument("--reuse", action="store_true", help="use the stores built before under --store-dir")
    ap.add_argument(
        "--runs", type=int, default=20, help="timed runs of each case on DuckDB (after a warm-up)"
    )
    ap.add_argument("--split-runs", type=int, default=5, help="runs of the build/compile/execute split")
    ap.add_argument("--rebuilds", type=int, default=1, help="timed prepared.rebuild per size")
    ap.add_argument("--spark-events", type=int, nargs="*", default=[], help="sizes to run on Spark too")
    ap.add_argument("--spark-runs", type=int, default=5)
    ap.add_argument("--no-duckdb", action="store_true", help="only Spark (the store must be prepared)")
    ap.add_argument("--only", nargs="*", default=[], help="cases whose name starts with one of these")
    ap.add_argument("--json", type=Path, help="write the report here")
    args = ap.parse_args()

    report: dict[str, Any] = {"machine_at_start": machine(), "args": sys.argv[1:], "sizes": {}}
    print(f"machine: {report['machine_at_start']}", flush=True)
    for n in args.events:
        home, meta = built_home(args.store_dir, n, args.reuse)
        cases_, missing = cases(last_30_days(home))
        if args.only:
            cases_ = [c for c in cases_ if any(c.name.startswith(o) for o in args.only)]
        if missing:
            print(f"not benchmarked (module missing): {', '.join(missing)}")
        print(f"{n:,} events: {home} ({meta['store_bytes'] / 1e9:.2f} GB, built in "
              f"{meta['build_seconds'].get('total')} s), {meta['rows']}", flush=True)  # fmt: skip
        size: dict[str, Any] = {"meta": meta}
        if not args.no_duckdb:
            size["duckdb"] = bench_duckdb(home, cases_, args.runs, args.rebuilds, args.split_runs)
        if n in args.spark_events:
            size["spark"] = bench_spark(home, cases_, args.spark_runs)
        report["sizes"][str(n)] = size
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, default=str))
    report["machine_at_end"] = machine()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    print_summary(report)


def print_summary(report: dict[str, Any]) -> None:
    sizes = sorted(report["sizes"], key=int)
    names: list[str] = []
    for n in sizes:
        for engine in ("duckdb", "spark"):
            names += [c for c in report["sizes"][n].get(engine, {}).get("cases", {}) if c not in names]
    print(
        "\n| Analysis | Events | API median (p95) | hand SQL median (p95) | ratio (CPU ratio) | build + compile "
        "| Spark API median (p95) | Spark hand SQL | Spark ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        for n in sizes:
            d = report["sizes"][n].get("duckdb", {}).get("cases", {}).get(name)
            s = report["sizes"][n].get("spark", {}).get("cases", {}).get(name)
            if d is None and s is None:
                continue
            duck = ("", "", "", "")
            if d is not None:
                sp = d["split"]
                duck = (
                    f"{d['api']['median']:.3f} s ({d['api']['p95']:.3f})",
                    f"{d['hand SQL']['median']:.3f} s ({d['hand SQL']['p95']:.3f})",
                    f"{d['ratio']} ({d['ratio_cpu']})",
                    f"{sp['build']['median'] + sp['compile']['median']:.3f} s",
                )
            spark = ("", "", "")
            if s is not None:
                spark = (
                    f"{s['api']['median']:.2f} s ({s['api']['p95']:.2f})",
                    f"{s['hand SQL']['median']:.2f} s",
                    f"{s['ratio']}",
                )
            print(f"| {name} | {int(n) / 1e6:g}M | {' | '.join(duck)} | {' | '.join(spark)} |")
    with_duckdb = [n for n in sizes if "duckdb" in report["sizes"][n]]
    if len(with_duckdb) > 1:
        first = with_duckdb[0]
        print(
            f"\nGrowth from {int(first) / 1e6:g}M (median time ratio, wall and CPU; events ratio in brackets):"
        )
        for name in names:
            base = report["sizes"][first]["duckdb"]["cases"].get(name)
            if base is None:
                continue
            parts = []
            for n in with_duckdb[1:]:
                d = report["sizes"][n]["duckdb"]["cases"][name]
                parts.append(
                    f"{int(n) / 1e6:g}M [{int(n) / int(first):g}x]: API {d['api']['median'] / base['api']['median']:.1f}x "
                    f"(CPU {d['cpu']['api']['median'] / base['cpu']['api']['median']:.1f}x), hand SQL "
                    f"{d['hand SQL']['median'] / base['hand SQL']['median']:.1f}x "
                    f"(CPU {d['cpu']['hand SQL']['median'] / base['cpu']['hand SQL']['median']:.1f}x)"
                )
            print(f"  {name}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
