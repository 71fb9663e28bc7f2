"""``touchpoints value refresh``: every customer's value scores from the store's orders, on their profile,
and gone where privacy says so (no analytics consent, erasure, retention).

The store is filled the way a user fills it: an events file imported with ``touchpoints import events``
(orders with an order id, a total and a currency; a re-sent order, a refund, an order in another currency
and an anonymous order placed before signing in), and a CRM contacts file for a denial of analytics.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.analytics.conftest import cli
from tests.conftest import Home, ServerProcess
from tests.profiles.world import profile_over_http
from tests.sources.helpers import do_import

pytestmark = pytest.mark.slow

START = date(2026, 1, 5)
AS_OF = "2026-09-30"
FIELDS = [
    "message_id",
    "timestamp",
    "type",
    "event",
    "user_id",
    "anonymous_id",
    "order_id",
    "total",
    "currency",
]


def _order(n: int, user: str, day: date, total: float, currency: str = "GBP", **extra: Any) -> dict[str, Any]:
    return {
        "message_id": f"m-{n}", "timestamp": f"{day.isoformat()}T12:00:00Z", "type": "track",
        "event": "Order Completed", "user_id": user, "order_id": f"o-{n}", "total": total,
        "currency": currency, **extra,
    }  # fmt: skip


def _orders() -> list[dict[str, Any]]:
    """60 customers: each buys on their own first day; every third buys again every 3 weeks (4 times); u00
    spends the most and buys every 3 weeks until September."""
    rows = []
    n = 0
    for i in range(60):
        user, first = f"u{i:02d}", START + timedelta(days=3 * i)
        repeats = 12 if i == 0 else 4 if i % 3 == 0 else 0
        for k in range(repeats + 1):
            n += 1
            rows.append(_order(n, user, first + timedelta(weeks=3 * k), 500.0 if i == 0 else 20.0 + i))
    return rows


def _store(home: Home, rows: list[dict[str, Any]], name: str = "orders.csv") -> None:
    path = home.path / name
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.DictWriter(f, FIELDS)
        out.writeheader()
        out.writerows({k: r.get(k, "") for k in FIELDS} for r in rows)
    do_import(home, "events", path, source="shop")


def _values(home: Home) -> dict[str, dict[str, Any]]:
    with duckdb.connect(str(home.settings.store_path), read_only=True) as con:
        rows = con.sql("SELECT * FROM customer_values").to_arrow_table().to_pylist()
    return {r["customer_id"]: r for r in rows}


def _customer(home: Home, user: str) -> str:
    with duckdb.connect(str(home.settings.store_path), read_only=True) as con:
        return str(
            con.execute("SELECT customer_id FROM identities WHERE node = ?", [f"user_id:{user}"]).fetchone()[
                0
            ]
        )


def _refresh(home: Home, *options: str) -> dict[str, Any]:
    out = cli("value", "refresh", "--as-of", AS_OF, "--json", "--home", str(home.path), *options)
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def test_refresh_scores_every_buyer_and_the_profile_shows_it(home: Home) -> None:
    rows = _orders()
    # u01 re-sends its order (same order id): one purchase; u02 is refunded in full: no purchase;
    # u04's order in dollars is left out of the GBP models; an anonymous order then a sign-in joins u05
    rows.append({**rows[1], "message_id": "m-resent"})
    u02 = next(r for r in rows if r["user_id"] == "u02")
    rows.append({**u02, "message_id": "m-refund", "event": "Order Refunded", "total": "",
                 "timestamp": "2026-03-01T12:00:00Z"})  # fmt: skip
    rows.append(_order(900, "u04", date(2026, 5, 1), 99.0, currency="USD"))
    # u10's order gets two partial refunds (5 each): both count; u11's order is re-sent with another total
    # after the day the scores are as of: as of then, the first version counts
    u10 = next(r for r in rows if r["user_id"] == "u10")
    rows += [{**u10, "message_id": f"m-part-{k}", "event": "Order Refunded", "total": 5.0,
              "timestamp": f"2026-0{k + 4}-01T12:00:00Z"} for k in (1, 2)]  # fmt: skip
    u11 = next(r for r in rows if r["user_id"] == "u11")
    rows.append({**u11, "message_id": "m-resent-11", "total": 999.0, "timestamp": "2026-10-05T12:00:00Z"})
    # u07 is refunded after the day the scores are as of: then, it was a purchase
    u07 = next(r for r in rows if r["user_id"] == "u07")
    rows.append({**u07, "message_id": "m-refund-7", "event": "Order Refunded", "total": "",
                 "timestamp": "2026-10-20T12:00:00Z"})  # fmt: skip
    rows.append(_order(901, "", date(2026, 6, 1), 30.0, anonymous_id="anon-5"))
    rows.append({"message_id": "m-id5", "timestamp": "2026-06-01T12:05:00Z", "type": "identify",
                 "user_id": "u05", "anonymous_id": "anon-5"})  # fmt: skip
    _store(home, rows)

    future = cli("value", "refresh", "--as-of", "2099-01-01", "--home", str(home.path), check=False)
    assert future.returncode == 2 and "--as-of 2099-01-01" in future.stderr and "future" in future.stderr
    report = _refresh(home)
    assert report["model"] == "pareto_nbd" and report["currency"] == "GBP"
    assert report["orders_left_out"] == {"other_currencies": {"USD": 1}, "fully_refunded": 1}
    assert report["customers"] == 59  # u02's only order was refunded
    # every third, and u05 (an anonymous order, then a signed-in one)
    assert report["repeat_customers"] == 20 + 1
    assert report["churn"]["basis"] == "p_alive" and "at least 100" in report["churn"]["reason"]
    assert set(report["models"]) == {"pareto_nbd", "gamma_gamma"}
    cohorts = report["churn_by_cohort"]  # the expected share of each first-purchase month gone for good
    assert [c["cohort"] for c in cohorts] == sorted(c["cohort"] for c in cohorts)
    assert sum(c["customers"] for c in cohorts) == 59 and all(0 <= c["churned_share"] <= 1 for c in cohorts)
    values = _values(home)
    assert _customer(home, "u02") not in values
    u00, u01, u05 = (values[_customer(home, u)] for u in ("u00", "u01", "u05"))
    assert (u01["orders"], u01["spend"]) == (1, 21.0)  # the re-sent order counted once
    u10, u11 = (values[_customer(home, u)] for u in ("u10", "u11"))
    assert u10["spend"] == 30.0 - 5.0 - 5.0  # every partial refund
    # ... as the profile counts them (Order Refunded events after --as-of count there: u10 has none)
    shown10 = json.loads(cli("profiles", "show", "u10", "--json", "--home", str(home.path)).stdout)
    shown10 = shown10["computed"]
    assert (shown10["total_spend"], shown10["refunds"]) == (20.0, 1)
    assert u11["spend"] == 31.0  # the version of the order as of --as-of, not the later one
    assert u05["orders"] == 2 and u05["frequency"] == 1  # the anonymous order is the customer's
    # the biggest spender with the most purchases is a Champion and worth the most
    assert u00["rfm_segment"] == "Champions" and u00["big_spender"]
    assert u00["clv"] == max(v["clv"] for v in values.values())
    assert all(
        0 <= v["p_alive"] <= 1 and v["churn_risk"] == pytest.approx(1 - v["p_alive"]) for v in values.values()
    )
    # a one-time buyer from January is less likely alive than one from September (Pareto/NBD)
    early, late = values[_customer(home, "u01")], values[_customer(home, "u38")]
    assert early["p_alive"] < late["p_alive"]

    shown = json.loads(cli("profiles", "show", "u00", "--json", "--home", str(home.path)).stdout)
    value = shown["computed"]["value"]
    assert value["rfm_segment"] == "Champions" and value["clv"] == pytest.approx(u00["clv"], abs=1e-3)
    text = cli("profiles", "show", "u00", "--home", str(home.path)).stdout
    assert "value" in text and "Champions" in text and "CLV" in text
    assert json.loads(cli("value", "report", "--json", "--home", str(home.path)).stdout)["customers"] == 59
    server = ServerProcess(home.path).start()  # the read API shows the same, to a read key
    try:
        answer = profile_over_http(server.url, home.read_key, "u00")
        assert answer.status_code == 200 and answer.json()["computed"]["value"]["rfm_segment"] == "Champions"
    finally:
        server.kill()

    # BG/NBD on request: every one-time buyer is "alive" for it, which is why it is not the default
    _refresh(home, "--model", "bgnbd")
    once = [v for v in _values(home).values() if v["frequency"] == 0]
    assert once and all(v["p_alive"] == 1.0 for v in once)


def test_too_little_history_scores_segments_only(home: Home) -> None:
    _store(home, [_order(i, f"u{i}", START + timedelta(days=i), 10.0 + i) for i in range(5)])
    report = _refresh(home)
    assert report["models"] is None and "need at least" in report["reason"]
    values = _values(home)
    assert len(values) == 5 and all(v["clv"] is None and v["rfm_segment"] for v in values.values())


def test_privacy_no_consent_no_score_and_erasure_and_retention_remove_them(home: Home) -> None:
    _store(home, _orders())
    contacts = home.path / "contacts.csv"
    contacts.write_text(
        "record_id,user_id,consent_analytics,timestamp\nR-1,u03,denied,2026-01-01T00:00:00Z\n"
    )
    do_import(home, "contacts", contacts, source="crm")
    _refresh(home)
    values = _values(home)
    assert _customer(home, "u03") not in values  # denied analytics: not scored at all
    assert len(values) == 59

    # a customer who withdraws after the refresh: the profile stops showing the scores at once
    cli("privacy", "consent", "u06", "--deny", "analytics", "--evidence", "form", "--home", str(home.path))
    shown = json.loads(cli("profiles", "show", "u06", "--json", "--home", str(home.path)).stdout)
    assert shown["computed"]["value"] is None

    # erasure deletes the person's row (it is in the privacy inventory); the export includes it before
    bundle = home.path / "u09.json"
    cli("privacy", "export", "u09", "--out", str(bundle), "--home", str(home.path))
    assert "customer_values" in bundle.read_text(encoding="utf-8")
    u09 = _customer(home, "u09")
    cli("privacy", "erase", "u09", "--yes", "--home", str(home.path))
    assert u09 not in _values(home)

    # retention that deletes events empties the scores made from them
    config = home.settings.config_path
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    config.write_text(text + '\n[retention.events]\n"Order Completed" = "1 day"\n', encoding="utf-8")
    cli("privacy", "retention", "--home", str(home.path))
    assert _values(home) == {}


def test_the_demo_world_is_scored_with_a_churn_classifier_learned_from_the_store(
    demo_world: tuple[Path, dict[str, object]],
) -> None:
    """The demo runs the refresh as of its last day: enough history to train the churn classifier on
    what customers did in the 90 days after a cut-off, and its risk must rank them sensibly."""
    home, _ = demo_world
    report = json.loads(cli("value", "report", "--json", "--home", str(home)).stdout)
    churn = report["churn"]
    assert churn["basis"] == "classifier" and churn["training"]["customers"] >= 100
    assert churn["metrics"]["auc"] > 0.6  # better than chance on customers it did not train on (about 80)
    with duckdb.connect(str(home / "store.duckdb"), read_only=True) as con:
        rows = con.sql(
            "SELECT churn_basis, churn_risk, churn_drivers, last_purchase, clv FROM customer_values"
        ).fetchall()
        last_day = con.sql("SELECT max(timestamp)::DATE FROM events").fetchall()[0][0]
    assert len(rows) == report["customers"] and {r[0] for r in rows} == {"classifier"}
    assert all(0 <= r[1] <= 1 and len(json.loads(r[2])) == 3 for r in rows)
    recent = [r[1] for r in rows if (last_day - r[3]).days <= 30]
    lapsed = [r[1] for r in rows if (last_day - r[3]).days > 180]
    assert recent and lapsed and sum(lapsed) / len(lapsed) > sum(recent) / len(recent)
