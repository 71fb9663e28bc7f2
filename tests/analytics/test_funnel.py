"""Funnels: the planted drop-off of the demo world recovered exactly, the definition (order, window,
repeated steps, a customer's anonymous events before sign-in) on hand-made events, an external
clickstream file imported and checked against an independent computation, the command's JSON and the
read API on a real server."""

from __future__ import annotations

import csv
import json
import random
import shutil
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.analytics.conftest import cli
from tests.conftest import Home, ServerProcess
from touchpoints.analytics.common import AnalysisError, Scope
from touchpoints.analytics.engine import open_engine
from touchpoints.analytics.funnel import funnel

FUNNEL = [
    "Products Searched", "Product List Viewed", "Product Viewed", "Product Added", "Cart Viewed",
    "Checkout Started", "Order Completed",
]  # fmt: skip
WHOLE_WORLD = "400d"
ONLINE = Scope(channels=("web", "app"))

pytestmark = pytest.mark.slow


def _counts(answer: dict[str, Any]) -> list[int]:
    return [s["customers"] for s in answer["steps"]]


# -- the demo world ----------------------------------------------------------------------------------------


def test_the_planted_checkout_drop_off_is_recovered_exactly(demo_world: tuple[Path, dict[str, Any]]) -> None:
    home, truth = demo_world
    planted = truth["funnel"]
    with open_engine(_settings(home), "duckdb") as eng:
        checkout = funnel(eng, ["Checkout Started", "Order Completed"], WHOLE_WORLD, ONLINE, unit="session")
        strict = funnel(eng, FUNNEL, WHOLE_WORLD, ONLINE, unit="session")
        customers = funnel(eng, FUNNEL, WHOLE_WORLD, ONLINE)
        customer_checkout = funnel(eng, ["Checkout Started", "Order Completed"], WHOLE_WORLD, ONLINE)
    # Sessions: every visit that started a checkout, and the share that never completed it (35 % planted).
    started, completed = _counts(checkout)
    assert (started, completed) == (planted["checkout"]["started"], planted["checkout"]["completed"])
    assert checkout["steps"][1]["drop_off"] == planted["checkout"]["abandoned"]
    assert (
        round(1 - checkout["steps"][1]["conversion_from_previous"], 6)
        == planted["checkout"]["abandonment_rate"]
    )
    # Sessions entering at the first step, through every step.
    assert _counts(strict) == [planted["strict"][s] for s in FUNNEL]
    # Customers after identity resolution: a customer's devices and their anonymous visits are one.
    assert _counts(customers) == [planted["customers"]["reached"][s] for s in FUNNEL]
    assert _counts(customer_checkout) == [
        planted["customers"]["checkout"]["started"],
        planted["customers"]["checkout"]["completed"],
    ]
    # Counting raw anonymous ids instead would give more "customers" than there are people.
    assert customers["steps"][0]["customers"] == planted["customers"]["reached"][FUNNEL[0]]


def test_the_command_prints_the_documented_json(demo_world: tuple[Path, dict[str, Any]]) -> None:
    home, _ = demo_world
    out = cli("analytics", "funnel", "--steps", "Product Viewed,Checkout Started,Order Completed",
              "--within", "7d", "--json", "--home", str(home))  # fmt: skip
    answer = json.loads(out.stdout)
    steps = answer["steps"]
    assert [s["step"] for s in steps] == ["Product Viewed", "Checkout Started", "Order Completed"]
    first, second, third = steps
    assert first["customers"] >= second["customers"] >= third["customers"] > 0
    assert second["drop_off"] == first["customers"] - second["customers"]
    assert third["conversion_from_first"] == round(third["customers"] / first["customers"], 6)
    assert third["conversion_from_previous"] == round(third["customers"] / second["customers"], 6)
    assert third["median_seconds_to_convert"] > 0
    # A breakdown by channel: each customer in one group (their best attempt's first step).
    out = cli("analytics", "funnel", "--steps", "Product Viewed,Order Completed", "--by", "channel", "--json",
              "--home", str(home))  # fmt: skip
    by_channel = json.loads(out.stdout)
    groups = {g["group"]: g["steps"][0]["customers"] for g in by_channel["groups"]}
    assert set(groups) == {"web", "app"}
    assert sum(groups.values()) == by_channel["steps"][0]["customers"]
    # A human-readable table without --json.
    text = cli("analytics", "funnel", "--steps", "Product Viewed,Order Completed", "--home", str(home)).stdout
    assert "Product Viewed" in text and "from previous" in text
    # Bad input names the option.
    bad = cli(
        "analytics", "funnel", "--steps", "A,B", "--within", "7 parsecs", "--home", str(home), check=False
    )
    assert bad.returncode == 2 and "--within" in bad.stderr


# -- the definition, on hand-made events ---------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _import(home: Home, rows: list[dict[str, Any]], name: str = "events.csv") -> None:
    path = home.path / name
    fields = sorted({k for r in rows for k in r})
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()})
    cli("import", "events", str(path), "--source", "test", "--channel", "web", "--home", str(home.path))


def _row(who: str, event: str, minutes: float, **extra: Any) -> dict[str, Any]:
    key = "anonymous_id" if who.startswith("anon") else "user_id"
    return {key: who, "event": event, "timestamp": T0 + timedelta(minutes=minutes), **extra}


def test_order_window_and_repeated_steps(home: Home) -> None:
    rows = [
        # u1: A, B, C in order within an hour: reaches C
        _row("u1", "A", 0), _row("u1", "B", 10), _row("u1", "C", 60),
        # u2: B before A: only A counts
        _row("u2", "B", 0), _row("u2", "A", 5), _row("u2", "C", 6),
        # u3: C exactly at the window's end (2 h): reached; u4 one second over: not
        _row("u3", "A", 0), _row("u3", "B", 1), _row("u3", "C", 120),
        _row("u4", "A", 0), _row("u4", "B", 1), _row("u4", "C", 120 + 1 / 60),
        # u5: a first attempt that stalls, a later one that completes: the later one counts
        _row("u5", "A", 0), _row("u5", "A", 600), _row("u5", "B", 601), _row("u5", "C", 602),
        # u6: A and B at the same instant: t1 <= t2 holds
        _row("u6", "A", 0), _row("u6", "B", 0),
    ]  # fmt: skip
    _import(home, rows)
    with open_engine(home.settings, "duckdb") as eng:
        answer = funnel(eng, ["A", "B", "C"], "2h")
        assert _counts(answer) == [6, 5, 3]  # B: u1 u3 u4 u5 u6; C: u1 u3 u5
        medians = [s["median_seconds_from_first"] for s in answer["steps"]]
        assert medians[2] == 3600.0  # the middle of u5 120 s, u1 3600 s, u3 7200 s
        # A step named twice needs a second occurrence (u5 has two As)
        assert _counts(funnel(eng, ["A", "A"], "1d")) == [6, 1]
        # within a shorter window u3 no longer reaches C; within a day u4 does, and u2's B came first
        assert _counts(funnel(eng, ["A", "B", "C"], "1h")) == [6, 5, 2]
        assert _counts(funnel(eng, ["A", "B", "C"], "1d")) == [6, 5, 4]
        with pytest.raises(AnalysisError, match="--steps"):
            funnel(eng, ["A"], "1d")
        with pytest.raises(AnalysisError, match="--unit"):
            funnel(eng, ["A", "B"], "1d", unit="household")


def test_a_customers_best_attempt_is_the_deepest_then_the_earliest_to_the_microsecond(home: Home) -> None:
    ms = 1 / 60_000  # a millisecond, in minutes
    rows = [
        # u1: two attempts a millisecond apart, both reach B: the earlier one (group x) is the best
        _row("u1", "A", 0, p="x"), _row("u1", "A", 0.1 * ms, p="y"), _row("u1", "B", 1),
        # u2: an early attempt that stalls (group x), a later one that goes deeper (group y): y
        _row("u2", "A", 0, p="x"), _row("u2", "A", 300, p="y"), _row("u2", "B", 301), _row("u2", "C", 302),
        # u3: two attempts reaching C, the later one faster: the earlier one still gives the times
        _row("u3", "A", 0, p="x"), _row("u3", "B", 10), _row("u3", "A", 20, p="y"), _row("u3", "B", 25),
        _row("u3", "C", 30),
    ]  # fmt: skip
    _import(home, rows)
    with open_engine(home.settings, "duckdb") as eng:
        answer = funnel(eng, ["A", "B", "C"], "1h", by="p")
    groups = {g["group"]: _counts(g) for g in answer["groups"]}
    assert groups == {"x": [2, 2, 1], "y": [1, 1, 1]}  # x: u1, u3 (u3 reaches C); y: u2
    assert _counts(answer) == [3, 3, 2]
    # from the first step to C: u2 2 min, u3 30 min (its earlier attempt)
    assert answer["steps"][2]["median_seconds_from_first"] == (120 + 1800) / 2


def test_anonymous_events_before_sign_in_count_toward_the_customer(home: Home) -> None:
    rows = [
        # browsing anonymously, then signing in (an identify with both ids), then ordering as the user
        _row("anon-1", "Product Viewed", 0),
        _row("anon-1", "Product Added", 2),
        {
            "type": "identify",
            "user_id": "jane",
            "anonymous_id": "anon-1",
            "timestamp": T0 + timedelta(minutes=3),
        },
        _row("jane", "Order Completed", 5),
        # the same person on another browser that never signed in stays its own visitor
        _row("anon-2", "Product Viewed", 30),
    ]
    _import(home, rows)
    with open_engine(home.settings, "duckdb") as eng:
        answer = funnel(eng, ["Product Viewed", "Product Added", "Order Completed"], "1d")
    assert _counts(answer) == [2, 1, 1]  # Jane (anonymous, then signed in) and the other browser
    assert answer["steps"][2]["median_seconds_from_first"] == 300.0


def test_a_customer_without_analytics_consent_is_not_counted_and_an_erased_one_is_gone(home: Home) -> None:
    rows = [_row(u, e, i) for u in ("u1", "u2", "u3") for i, e in enumerate(["A", "B"])]
    _import(home, [*rows, _row("u3", "Checkout", -1)])
    with open_engine(home.settings, "duckdb") as eng:
        assert _counts(funnel(eng, ["A", "B"], "1d")) == [3, 3]
    # what the access export shows of the prepared copy: every row, in time order (it is stored by name)
    out = home.path / "u3.json"
    cli("privacy", "export", "u3", "--out", str(out), "--home", str(home.path))
    prepared = json.loads(out.read_text(encoding="utf-8"))["tables"]["analytics_events"]
    assert [r["event"] for r in prepared] == ["Checkout", "A", "B"]
    assert len({r["customer_no"] for r in prepared}) == 1 and prepared[0]["customer_no"] is not None
    cli(
        "privacy",
        "consent",
        "u2",
        "--deny",
        "analytics",
        "--evidence",
        "phone call",
        "--home",
        str(home.path),
    )
    with open_engine(home.settings, "duckdb") as eng:
        assert _counts(funnel(eng, ["A", "B"], "1d")) == [2, 2]
        # without consent, neither the customer id nor its number is in the prepared copy
        kept = eng.con.raw_sql(
            "SELECT count(customer_id), count(customer_no) FROM analytics_events WHERE user_id = 'u2'"
        ).fetchone()
        assert kept == (0, 0)
    # Spark's copy of the prepared events is deleted by an erasure
    parquet = Path(home.settings.parquet_location) / "analytics_events"
    parquet.mkdir(parents=True)
    (parquet / "_touchpoints.json").write_text("{}", encoding="utf-8")
    # ... and nothing else that happens to be at the configured location
    (parquet.parent / "notes.txt").write_text("keep me", encoding="utf-8")
    erased = json.loads(cli("privacy", "erase", "u3", "--yes", "--json", "--home", str(home.path)).stdout)
    assert erased["rows"]["analytics_events"] == 3
    assert not parquet.exists()
    assert (parquet.parent / "notes.txt").read_text(encoding="utf-8") == "keep me"
    with open_engine(home.settings, "duckdb") as eng:
        assert _counts(funnel(eng, ["A", "B"], "1d")) == [1, 1]
        left = eng.con.raw_sql("SELECT count(*) FROM analytics_events WHERE user_id = 'u3'").fetchone()
    assert left == (0,)


# -- an external clickstream file ----------------------------------------------------------------------------


def _clickstream(path: Path, users: int = 300, seed: int = 7) -> list[dict[str, str]]:
    """A clickstream in the shape of the public e-commerce behaviour exports (event_time, event_type,
    product_id, category_code, brand, price, user_id, user_session), generated: views, carts, purchases
    over a month, sessions minutes long, days apart."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    start = datetime(2019, 10, 1, tzinfo=UTC)
    for u in range(users):
        t = start + timedelta(seconds=rng.randrange(0, 20 * 86400))
        for s in range(rng.randrange(1, 5)):
            session = f"{u:04d}-{s}"
            for _ in range(rng.randrange(1, 8)):
                event = rng.choices(["view", "cart", "remove_from_cart", "purchase"], [60, 20, 5, 15])[0]
                rows.append({
                    "event_time": t.strftime("%Y-%m-%d %H:%M:%S UTC"), "event_type": event,
                    "product_id": str(rng.randrange(1000, 1100)), "category_code": "electronics.smartphone",
                    "brand": rng.choice(["apple", "samsung", "xiaomi"]), "price": f"{rng.uniform(50, 900):.2f}",
                    "user_id": str(500000 + u), "user_session": session,
                })  # fmt: skip
                t += timedelta(seconds=rng.randrange(5, 600))
            t += timedelta(seconds=rng.randrange(3600, 5 * 86400))
    rng.shuffle(rows)  # files are not in time order
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def _reference_funnel(rows: list[dict[str, str]], steps: list[str], window: timedelta) -> list[int]:
    """An independent computation: for every user and every start, try every later occurrence of every
    step (exhaustively, no greedy shortcut) and keep the deepest step reached within the window."""
    times: dict[str, dict[str, list[datetime]]] = {}
    for r in rows:
        t = datetime.strptime(r["event_time"], "%Y-%m-%d %H:%M:%S UTC")
        times.setdefault(r["user_id"], {}).setdefault(r["event_type"], []).append(t)

    def deepest(user: dict[str, list[datetime]], k: int, t1: datetime, prev: datetime) -> int:
        if k == len(steps):
            return k
        best = k
        for t in user.get(steps[k], []):
            if t >= prev and t - t1 <= window:
                best = max(best, deepest(user, k + 1, t1, t))
        return best

    reached = [0] * len(steps)
    for user in times.values():
        depth = max((deepest(user, 1, t1, t1) for t1 in user.get(steps[0], [])), default=0)
        for k in range(depth):
            reached[k] += 1
    return reached


def test_an_imported_clickstream_gives_the_same_funnel_as_an_independent_computation(home: Home) -> None:
    path = home.path / "clickstream.csv"
    rows = _clickstream(path)
    out = cli("import", "events", str(path), "--source", "clickstream", "--map", "event_time=timestamp",
              "--map", "event_type=event", "--time-format", "%Y-%m-%d %H:%M:%S UTC", "--timezone", "UTC",
              "--json", "--home", str(home.path))  # fmt: skip
    assert json.loads(out.stdout)["imported"] == len(rows)
    for steps, within in ((["view", "cart", "purchase"], "1d"), (["view", "purchase"], "2h"),
                          (["cart", "view", "cart", "purchase"], "7d")):  # fmt: skip
        expected = _reference_funnel(
            rows, steps, timedelta(seconds={"1d": 86400, "2h": 7200, "7d": 604800}[within])
        )
        answer = json.loads(
            cli("analytics", "funnel", "--steps", ",".join(steps), "--within", within, "--json",
                "--home", str(home.path)).stdout
        )  # fmt: skip
        assert _counts(answer) == expected, (steps, within)
        assert expected[-1] > 0


def _reference_groups(
    rows: list[dict[str, str]], steps: list[str], window: timedelta, by: str
) -> dict[str, list[tuple[int, float | None, float | None]]]:
    """The definition computed row by row in Python, for each group of ``by``: every start followed by the
    earliest next occurrence of each step (a step named again: a later one), a user's best attempt the
    deepest then the earliest; per step the users reaching it and the median seconds from the previous
    step and from the first."""
    events: dict[str, list[tuple[datetime, str, str]]] = {}
    for r in rows:
        t = datetime.strptime(r["event_time"], "%Y-%m-%d %H:%M:%S UTC")
        events.setdefault(r["user_id"], []).append((t, r["event_type"], r[by]))
    chains: dict[str, list[list[datetime]]] = {}
    for evs in events.values():
        best: list[datetime] = []
        for t1 in sorted({t for t, e, _ in evs if e == steps[0]}):
            chain = [t1]
            for k in range(1, len(steps)):
                later = [t for t, e, _ in evs if e == steps[k] and t - t1 <= window
                         and (t > chain[-1] if steps[k] in steps[:k] else t >= chain[-1])]  # fmt: skip
                if not later:
                    break
                chain.append(min(later))
            if len(chain) > len(best):
                best = chain
        if best:
            group = min(v for t, e, v in evs if e == steps[0] and t == best[0])
            chains.setdefault(group, []).append(best)
    out: dict[str, list[tuple[int, float | None, float | None]]] = {}
    for group, cs in chains.items():
        out[group] = []
        for k in range(len(steps)):
            went = [c for c in cs if len(c) > k]
            gaps = [(c[k] - c[k - 1]).total_seconds() for c in went] if k else []
            firsts = [(c[k] - c[0]).total_seconds() for c in went] if k else []
            out[group].append((len(went), statistics.median(gaps) if gaps else None,
                               statistics.median(firsts) if firsts else None))  # fmt: skip
    return out


def test_an_imported_clickstream_gives_the_same_times_and_groups_as_an_independent_computation(
    home: Home,
) -> None:
    path = home.path / "clickstream.csv"
    rows = _clickstream(path, users=400, seed=11)
    cli("import", "events", str(path), "--source", "clickstream", "--map", "event_time=timestamp",
        "--map", "event_type=event", "--time-format", "%Y-%m-%d %H:%M:%S UTC", "--timezone", "UTC",
        "--home", str(home.path))  # fmt: skip
    for steps, within in ((["view", "cart", "purchase"], "1d"), (["cart", "view", "cart", "purchase"], "7d")):
        seconds = {"1d": 86400, "7d": 604800}[within]
        expected = _reference_groups(rows, steps, timedelta(seconds=seconds), "brand")
        answer = json.loads(
            cli("analytics", "funnel", "--steps", ",".join(steps), "--within", within, "--by", "brand",
                "--json", "--home", str(home.path)).stdout
        )  # fmt: skip
        got = {
            g["group"]: [(s["customers"], s["median_seconds_to_convert"], s["median_seconds_from_first"])
                         for s in g["steps"]]
            for g in answer["groups"]
        }  # fmt: skip
        for group in got:  # the command leaves times out where nobody went on
            got[group][0] = (got[group][0][0], None, None)
        assert got == expected, (steps, within)
        assert all(per[-1][0] > 0 for per in expected.values())


# -- the read API ----------------------------------------------------------------------------------------------


def test_the_read_api_answers_the_same_as_the_command(
    demo_world: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    from tests.conftest import make_home

    source, _ = demo_world
    target = tmp_path / "home"
    shutil.copytree(source, target)
    (target / "keys.json").unlink()
    home = make_home(target)
    steps = "Product Viewed,Checkout Started,Order Completed"
    expected = json.loads(
        cli("analytics", "funnel", "--steps", steps, "--json", "--home", str(target)).stdout
    )
    server = ServerProcess(target).start()
    try:
        url = f"{server.url}/v1/analytics/funnel"
        reader = {"Authorization": f"Bearer {home.read_key}"}
        r = httpx.get(url, params={"steps": steps}, headers=reader, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["steps"] == expected["steps"]
        by = {"steps": steps, "channel": ["web"], "by": "utm_source"}
        r = httpx.get(url, params=by, headers=reader, timeout=60)
        assert r.status_code == 200 and r.json()["groups"]
        bad = httpx.get(url, params={"steps": steps, "within": "soon"}, headers=reader, timeout=60)
        assert bad.status_code == 400 and bad.json()["message"].startswith(
            "within 'soon'"
        )  # the query parameter
        assert httpx.get(url, params={"steps": steps}, timeout=60).status_code == 401
        assert httpx.get(url, params={"steps": steps}, headers=home.basic, timeout=60).status_code in (
            401,
            403,
        )
    finally:
        server.kill()


def _settings(home: Path) -> Any:
    from touchpoints.config import load_settings

    return load_settings(home)
