"""Customer value in the store: ``touchpoints value refresh`` scores every customer from their purchases.

The purchases are the ``Order Completed`` events of the prepared events (``analytics/prepared.py``), so
customers are counted after identity resolution (an order placed before signing in is the customer's) and
a customer without analytics consent is not scored at all. An order is its store's order id (a resent or
re-imported order counts once, its latest version up to ``as_of``), its amount ``total`` (else
``revenue``) less what every ``Order Refunded`` event up to ``as_of`` gave back; a fully refunded order is
not a purchase. Only the currency most
orders are in is modelled (amounts in two currencies do not add up); orders in others are counted in the
report. Purchase days are UTC days.

From those purchases (``summary.summarise_transactions``, in weeks, up to ``as_of``):

- a model of repeat purchases, Pareto/NBD by default (``model="pareto_nbd"``) or BG/NBD
  (``model="bgnbd"``), and Gamma-Gamma for spend (``clv.fit_value_models``), then per customer ``p_alive``,
  ``expected_purchases`` over ``horizon_weeks``, ``expected_spend`` per purchase and ``clv`` (the
  discounted margin over ``months`` months, ``clv.customer_lifetime_value``). Pareto/NBD is the default because BG/NBD lets a customer drop out only right after a
  repeat purchase, so it calls every one-time buyer certainly alive (P(alive) = 1, churn risk 0) however
  long ago they bought; Pareto/NBD's dropout can happen at any time. BG/NBD fits faster (``bench/clv.py``).
  With too little history to fit (``common.check_history``: fewer than 50 buyers or 20 with a repeat
  purchase) these are left empty and the report says why; a prediction that is not a finite number is
  left empty too and counted in the report's warnings, never stored as NaN;
- ``churn_risk``: the probability of no purchase in the next ``churn_days``, from a calibrated logistic
  regression (``churn.train_churn_model``) trained on the store itself: customers' features as of
  ``churn_days`` before ``as_of`` (``features.py``: recency, purchases, spend, visits, e-mail, tickets,
  NPS, loyalty), labelled by whether they bought in the ``churn_days`` that followed; each customer's top
  three drivers are kept with it (``churn_drivers``). With too few customers to learn from (fewer than
  ``MIN_TRAINING`` with features, or ``MIN_CLASS`` who did or did not buy again), or a classifier whose
  holdout AUC is below ``MIN_AUC``, it is ``1 - p_alive``, the repeat-purchase model's probability that the
  customer has stopped buying for good (``churn_basis`` says which). The two answer different questions:
  P(alive) is whether the customer will ever buy again, churn risk whether they will buy in the next
  ``churn_days``; a loyal customer who buys twice a year is alive and yet at risk of no purchase in 90 days;
- RFM scores and the named segment (``segments.rfm_scores``) and the big, loyal and future spenders
  (``segments.spender_segments``).

The scores replace the previous refresh's in ``customer_values`` (one transaction), and the models'
parameters go to ``value_models``. Profiles show them as computed traits (``read_value``) only while the
customer allows analytics. ``customer_values`` is in the privacy inventory: an erasure deletes the
person's row and an export includes it; a retention run that deletes events empties it (its scores came
from them), until the next refresh.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from touchpoints.analytics import prepared
from touchpoints.analytics.columns import TABLE
from touchpoints.predictive.common import PredictiveError, check_history, check_value_options, unstable
from touchpoints.privacy.gate import Gate
from touchpoints.store.backend import Backend

MODELS = ("pareto_nbd", "bgnbd")
MIN_AUC = 0.6  # a churn classifier that ranks no better than this on its holdout is not used
MIN_TRAINING = 100
MIN_CLASS = 20

_KEY = "coalesce(properties ->> '$.store_id', '') || '|' || coalesce(properties ->> '$.order_id', message_id)"
_AMOUNT = "TRY_CAST(coalesce(properties ->> '$.total', properties ->> '$.revenue') AS DOUBLE)"

# One row per purchase: the customer, the UTC day, the net amount and currency of each order, as the store
# stood at the end of the as-of day (both ``?``): an order's latest version up to then, less every refund
# up to then (a refund without an amount refunds the whole order; together they never exceed it).
ORDERS_SQL = f"""
WITH orders AS (
    SELECT customer_id, timestamp, {_KEY} AS order_key, {_AMOUNT} AS amount,
           upper(properties ->> '$.currency') AS currency
    FROM {TABLE}
    WHERE type = 'track' AND event = 'Order Completed' AND customer_id IS NOT NULL AND timestamp::DATE <= ?::DATE
    QUALIFY row_number() OVER (PARTITION BY order_key ORDER BY timestamp DESC, message_id DESC) = 1
),
refunds AS (
    SELECT {_KEY} AS order_key, sum(abs({_AMOUNT})) AS amount, bool_or({_AMOUNT} IS NULL) AS whole
    FROM {TABLE} WHERE type = 'track' AND event = 'Order Refunded' AND timestamp::DATE <= ?::DATE
    GROUP BY order_key
)
SELECT o.customer_id, o.timestamp::DATE AS day,
       o.amount - CASE WHEN r.order_key IS NULL THEN 0 WHEN r.whole THEN o.amount
                       ELSE least(r.amount, o.amount) END AS amount,
       coalesce(o.currency, '') AS currency
FROM orders o LEFT JOIN refunds r USING (order_key)
WHERE o.amount IS NOT NULL
"""


def refresh(
    db: Backend,
    gate: Gate,
    *,
    as_of: date | None = None,
    model: str = "pareto_nbd",
    churn_days: int = 90,
    horizon_weeks: float = 52.0,
    months: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
) -> dict[str, Any]:
    """Scores every customer with purchases up to ``as_of`` (default: today, UTC) and replaces
    ``customer_values``; returns the report (also kept in ``value_models``): customers scored, orders
    used and left out, the models' parameters (or why they were not fitted) and the segments' sizes."""
    from touchpoints.predictive.bgnbd import BetaGeo
    from touchpoints.predictive.clv import score_customers
    from touchpoints.predictive.gammagamma import GammaGamma
    from touchpoints.predictive.paretonbd import ParetoNBD
    from touchpoints.predictive.segments import rfm_scores, spender_segments
    from touchpoints.predictive.summary import summarise_transactions

    _check(model, churn_days, horizon_weeks, months, discount_rate, margin)
    today = datetime.now(UTC).date()
    as_of = as_of or today
    if as_of > today:
        raise PredictiveError(f"--as-of {as_of}: a day in the future; score as of today ({today}) or earlier")
    prepared.ensure(db, gate)
    orders = db.arrow(ORDERS_SQL, [as_of, as_of])
    report: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "model": model,
        "churn_days": churn_days,
        "horizon_weeks": horizon_weeks,
        "months": months,
        "discount_rate": discount_rate,
        "margin": margin,
    }
    currencies = _currencies(orders)
    currency = currencies[0][0] if currencies else None
    report["currency"] = currency or None
    report["orders_left_out"] = {
        "other_currencies": {c or "(none)": n for c, n in currencies[1:]},
        "fully_refunded": 0,
    }
    if currency is not None:
        orders = orders.filter(pa.compute.equal(orders["currency"], currency))
    paid = pa.compute.greater(orders["amount"], 0.0)
    report["orders_left_out"]["fully_refunded"] = len(orders) - int(pa.compute.sum(paid).as_py() or 0)
    orders = orders.filter(paid).select(["customer_id", "day", "amount"])
    report["orders"] = len(orders)
    now = datetime.now(UTC)
    if len(orders) == 0:
        with db.transaction():
            db.execute("DELETE FROM customer_values")
            _keep_report(db, now, as_of, report | {"customers": 0, "models": None})
        return report | {"customers": 0, "models": None, "reason": "no purchases with an amount to score"}

    summary = summarise_transactions(
        orders, customer_col="customer_id", date_col="day", amount_col="amount", observation_end=as_of
    )
    customers = len(summary)
    repeaters = int(pa.compute.sum(pa.compute.greater(summary["frequency"], 0)).as_py() or 0)
    scores: pa.Table | None = None
    models: dict[str, Any] | None = None
    reason = None
    warnings: list[str] = []
    too_few = check_history(customers, repeaters)
    if too_few:
        reason = f"{too_few}; RFM segments are scored, CLV and P(alive) are not"
    else:
        x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
        purchases = (ParetoNBD if model == "pareto_nbd" else BetaGeo).fit(x, t_x, age)
        spend = GammaGamma.fit(x, summary["monetary_value"])  # repeaters exist: checked above
        models = {model: purchases.to_dict(), "gamma_gamma": spend.to_dict()}
        warnings += [w for m in models.values() for w in unstable(m)]
        scores = score_customers(
            summary,
            purchases,
            spend,
            horizon=horizon_weeks,
            periods=months,
            discount_rate=discount_rate,
            margin=margin,
        )
        scores, dropped = _finite(scores)
        if dropped:
            warnings.append(f"{dropped} customers' predictions were not finite numbers and are left empty")
    rfm = rfm_scores(orders, customer_col="customer_id", date_col="day", amount_col="amount", as_of=as_of)
    spenders = spender_segments(rfm, scores.select(["customer_id", "clv"]) if scores is not None else None)
    churn, churn_report = _churn(db, orders, currency, as_of, churn_days)
    rows = _rows(summary, scores, rfm, spenders, orders, churn)
    rows = rows.append_column("as_of", pa.array([as_of] * len(rows), pa.date32()))
    rows = rows.append_column("currency", pa.array([currency or None] * len(rows), pa.string()))
    report |= {
        "customers": customers,
        "repeat_customers": repeaters,
        "models": models,
        "segments": {k: int(v) for k, v in rfm["segment"].value_counts().sort_index().items()},
        "spenders": {k: int(spenders[k].sum()) for k in ("big_spender", "loyal_spender", "future_spender")},
        "churn": churn_report,
        "churn_by_cohort": _churn_by_cohort(rows),
        "warnings": warnings,
    }
    if reason:
        report["reason"] = reason
    db.register("_tp_values", rows)
    try:
        with db.transaction():
            db.execute("DELETE FROM customer_values")
            db.execute(
                "INSERT INTO customer_values BY NAME SELECT *, ?::TIMESTAMPTZ AS refreshed_at FROM _tp_values",
                [now],
            )
            _keep_report(db, now, as_of, report)
    finally:  # after the transaction: a failed insert's own error is the one the user sees
        db.unregister("_tp_values")
    return report


def _churn_by_cohort(rows: pa.Table) -> list[dict[str, Any]]:
    """Non-contractual churn per cohort (the month of the first purchase): the expected share of its
    customers who have stopped buying for good, the mean of 1 - P(alive) (``churn_rates.expected_churn_by_cohort``)."""
    import pandas as pd

    from touchpoints.predictive.churn_rates import expected_churn_by_cohort

    frame = rows.select(["customer_id", "first_purchase", "p_alive"]).to_pandas()
    frame = frame[frame["p_alive"].notna()]
    if frame.empty:
        return []
    frame["cohort"] = pd.to_datetime(frame["first_purchase"]).dt.strftime("%Y-%m")
    table = expected_churn_by_cohort(frame)
    return [
        {
            "cohort": r["cohort"],
            "customers": int(r["customers"]),
            "churned_share": round(float(r["churned_share"]), 4),
        }
        for r in table.to_dict(orient="records")
    ]


def _finite(scores: pa.Table) -> tuple[pa.Table, int]:
    """The scores with every non-finite prediction as null, and how many customers had one."""
    import numpy as np

    bad = np.zeros(len(scores), dtype=bool)
    columns = {}
    for name in scores.column_names:
        column = scores[name]
        if pa.types.is_floating(column.type):
            values = column.to_numpy(zero_copy_only=False).astype(float)
            wrong = ~np.isfinite(values)
            bad |= wrong
            column = pa.array(values, mask=wrong)
        columns[name] = column
    return pa.table(columns), int(bad.sum())


def _purchases(db: Backend, day: date, currency: str | None) -> pa.Table:
    """The purchases (customer_id, day, amount) in ``currency`` as the store stood at the end of ``day``."""
    orders = db.arrow(ORDERS_SQL, [day, day])
    if currency is not None:
        orders = orders.filter(pa.compute.equal(orders["currency"], currency))
    return orders.filter(pa.compute.greater(orders["amount"], 0.0)).select(["customer_id", "day", "amount"])


def _churn(
    db: Backend, orders: pa.Table, currency: str | None, as_of: date, churn_days: int
) -> tuple[Any, dict[str, Any]]:
    """The churn classifier trained on the store and its scores as of ``as_of`` (``customer_id``,
    ``churn_risk``, ``churn_drivers``), or None and why not. It learns from the customers' features as
    the store stood ``churn_days`` before (their purchases then, refunds then) and from ``orders`` (the
    purchases as of ``as_of``) whether they bought in the days after."""
    import pandas as pd

    from touchpoints.predictive.churn import train_churn_model
    from touchpoints.predictive.features import customer_features, training_table

    cutoff = as_of - timedelta(days=churn_days)
    db.register("purchases", _purchases(db, cutoff, currency))
    try:
        training = training_table(db, cutoff, orders)
        churned = int(training["churned"].sum())
        counts = {"customers": len(training), "churned": churned, "bought_again": len(training) - churned}
        if len(training) < MIN_TRAINING or min(churned, len(training) - churned) < MIN_CLASS:
            return None, {
                "basis": "p_alive",
                "training": counts,
                "reason": f"{counts['customers']} customers bought before {as_of - timedelta(days=churn_days)}, "
                f"{churned} of them did not buy again: the classifier needs at least {MIN_TRAINING}, and "
                f"{MIN_CLASS} who did and {MIN_CLASS} who did not; churn risk is 1 - P(alive)",
            }
        fitted = train_churn_model(training, id_col="customer_id", label="churned", model="logistic")
        auc = fitted.to_dict()["metrics"]["auc"]
        if not auc >= MIN_AUC:
            return None, {
                "basis": "p_alive",
                "training": counts,
                "metrics": fitted.to_dict()["metrics"],
                "reason": f"the churn classifier ranked customers no better than AUC {auc:.2f} on customers it "
                f"did not train on (at least {MIN_AUC} is needed); churn risk is 1 - P(alive)",
            }
        db.unregister("purchases")
        db.register("purchases", orders)
        scored = fitted.score(customer_features(db, as_of), top=3)
    finally:
        db.unregister("purchases")
    drivers = [
        json.dumps([
            {"feature": scored[f"driver_{k}"].iat[i], "value": scored[f"driver_{k}_value"].iat[i],
             "contribution": round(float(scored[f"driver_{k}_contribution"].iat[i]), 3)}
            for k in (1, 2, 3) if f"driver_{k}" in scored
        ])
        for i in range(len(scored))
    ]  # fmt: skip
    out = pd.DataFrame({"customer_id": scored["customer_id"], "churn_risk": scored["churn_risk"],
                        "churn_drivers": drivers})  # fmt: skip
    summary = fitted.to_dict()
    return out, {
        "basis": "classifier",
        "model": "logistic",
        "training": counts,
        "metrics": summary["metrics"],
        "drivers": summary.get("drivers", [])[:5],
    }


def _rows(
    summary: pa.Table, scores: pa.Table | None, rfm: Any, spenders: Any, orders: pa.Table, churn: Any
) -> pa.Table:
    """One row per customer with every column of ``customer_values`` but ``refreshed_at``."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("summary", summary)
        con.register("orders", orders)
        con.register("rfm", rfm)
        con.register("spenders", spenders)
        score_cols = ", ".join(
            f"NULL::DOUBLE AS {c}" for c in ("p_alive", "expected_purchases", "expected_spend", "clv")
        )
        join = ""
        if scores is not None:
            con.register("scores", scores)
            score_cols = "c.p_alive, c.expected_purchases, c.expected_spend, c.clv"
            join = "LEFT JOIN scores c USING (customer_id)"
        risk = (
            "1 - p_alive AS churn_risk, CASE WHEN p_alive IS NOT NULL THEN 'p_alive' END AS churn_basis, "
            "NULL::VARCHAR AS churn_drivers"
        )
        if churn is not None:
            con.register("churn", churn)
            risk = "k.churn_risk, 'classifier' AS churn_basis, k.churn_drivers"
            join += " LEFT JOIN churn k USING (customer_id)"
        return con.sql(f"""
            WITH bought AS (
                SELECT customer_id, count(DISTINCT day) AS orders, sum(amount) AS spend,
                       min(day) AS first_purchase, max(day) AS last_purchase
                FROM orders GROUP BY customer_id
            )
            SELECT s.customer_id, b.orders, round(b.spend, 2) AS spend, b.first_purchase, b.last_purchase,
                   s.frequency, s.recency, s."T" AS age, {score_cols}, {risk},
                   r.r_score, r.f_score, r.m_score, r.segment AS rfm_segment,
                   p.big_spender, p.loyal_spender, p.future_spender
            FROM summary s JOIN bought b USING (customer_id) JOIN rfm r USING (customer_id)
            JOIN spenders p USING (customer_id) {join}
            ORDER BY s.customer_id
        """).to_arrow_table()  # fmt: skip
    finally:
        con.close()


def _currencies(orders: pa.Table) -> list[tuple[str, int]]:
    if len(orders) == 0:
        return []
    counts = orders.group_by("currency").aggregate([("currency", "count")]).to_pylist()
    return sorted(((r["currency"], r["currency_count"]) for r in counts), key=lambda cn: (-cn[1], cn[0]))


def _keep_report(db: Backend, now: datetime, as_of: date, report: dict[str, Any]) -> None:
    db.execute("DELETE FROM value_models")
    db.execute("INSERT INTO value_models VALUES (?, ?, ?)", [now, as_of, json.dumps(report)])


def _check(
    model: str, churn_days: int, horizon_weeks: float, months: int, discount_rate: float, margin: float
) -> None:
    if model not in MODELS:
        raise PredictiveError(f"--model {model!r}: use {' or '.join(MODELS)}")
    if isinstance(churn_days, bool) or not isinstance(churn_days, int) or not 7 <= churn_days <= 730:
        raise PredictiveError(
            f"--churn-days {churn_days}: give a whole number of days from 7 to 730, e.g. 90"
        )
    try:
        check_value_options(horizon_weeks, "weeks", months, discount_rate, margin)
    except PredictiveError as exc:
        raise PredictiveError(str(exc).replace("--horizon ", "--horizon-weeks ", 1)) from None


def last_report(db: Backend) -> dict[str, Any] | None:
    """The last refresh's report, with when it ran."""
    rows = db.execute("SELECT refreshed_at, report FROM value_models ORDER BY refreshed_at DESC LIMIT 1")
    if not rows:
        return None
    return {"refreshed_at": rows[0][0].isoformat(), **json.loads(rows[0][1])}


def read_value(db: Backend, customer_id: str, gate: Gate | None = None) -> dict[str, Any] | None:
    """The customer's scores from the last refresh, or None (never scored, or no analytics consent now)."""
    gate = gate or Gate.for_store(db)
    if not gate.allows(db, customer_id, "analytics"):
        return None
    cols = [
        "refreshed_at", "as_of", "currency", "orders", "spend", "first_purchase", "last_purchase", "p_alive",
        "expected_purchases", "expected_spend", "clv", "churn_risk", "churn_basis", "churn_drivers", "r_score",
        "f_score", "m_score", "rfm_segment", "big_spender", "loyal_spender", "future_spender",
    ]  # fmt: skip
    rows = db.execute(f"SELECT {', '.join(cols)} FROM customer_values WHERE customer_id = ?", [customer_id])
    if not rows:
        return None
    value = dict(zip(cols, rows[0], strict=True))
    for k in ("refreshed_at", "as_of", "first_purchase", "last_purchase"):
        value[k] = value[k].isoformat()
    for k in ("p_alive", "expected_purchases", "expected_spend", "clv", "churn_risk"):
        value[k] = None if value[k] is None else round(float(value[k]), 4)
    value["rfm"] = f"{value['r_score']}{value['f_score']}{value['m_score']}"
    value["churn_drivers"] = json.loads(value["churn_drivers"]) if value["churn_drivers"] else []
    return value


def forget_all(db: Backend) -> None:
    """Empties the scores and the last refresh's report (their events were deleted: a retention run); the
    next refresh makes them again."""
    db.execute("DELETE FROM customer_values")
    db.execute("DELETE FROM value_models")
