"""Customer features computed from the store, for the churn-risk classifier of ``value refresh``.

One row per customer who bought on or before day ``D`` (in the prepared events, so after identity
resolution and only with analytics consent), from their events up to ``D`` only:

- purchases: ``days_since_last_purchase``, ``days_since_first_purchase``, ``purchase_days``, ``spend``,
  ``average_purchase``, ``refunds``;
- activity: ``events_30d``, ``events_90d``, ``sessions_90d`` (web and app visits), ``channels`` (how many
  channels the customer was ever seen on);
- e-mail: ``email_opens_90d``, ``email_clicks_90d``, ``unsubscribed``;
- service and voice: ``tickets_90d`` (Ticket Opened), ``last_nps`` (the latest survey answer's score);
- ``loyalty_member`` (joined the loyalty programme).

For training, ``D`` is ``horizon_days`` before the refresh's day and the label ``churned`` says whether the
customer made no purchase in the ``horizon_days`` after ``D``: the model learns from what happened next,
never from the future of its own features. Scoring takes the features as of the refresh's day: the
probability of no purchase in the next ``horizon_days``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from touchpoints.analytics.columns import TABLE
from touchpoints.store.backend import Backend

FEATURES_SQL = f"""
WITH ev AS (SELECT * FROM {TABLE} WHERE customer_id IS NOT NULL AND timestamp::DATE <= ?::DATE),
bought AS (
    SELECT customer_id, min(day) AS first_day, max(day) AS last_day, count(DISTINCT day) AS purchase_days,
           sum(amount) AS spend
    FROM purchases WHERE day <= ?::DATE GROUP BY customer_id
),
activity AS (
    SELECT customer_id,
        count(*) FILTER (WHERE timestamp::DATE > ?::DATE - 30) AS events_30d,
        count(*) FILTER (WHERE timestamp::DATE > ?::DATE - 90) AS events_90d,
        count(DISTINCT session_id) FILTER (WHERE timestamp::DATE > ?::DATE - 90) AS sessions_90d,
        count(DISTINCT channel) AS channels,
        count(*) FILTER (WHERE event = 'Email Opened' AND timestamp::DATE > ?::DATE - 90) AS email_opens_90d,
        count(*) FILTER (WHERE event = 'Email Link Clicked' AND timestamp::DATE > ?::DATE - 90)
            AS email_clicks_90d,
        bool_or(event = 'Unsubscribed') AS unsubscribed,
        count(*) FILTER (WHERE event = 'Ticket Opened' AND timestamp::DATE > ?::DATE - 90) AS tickets_90d,
        arg_max(TRY_CAST(properties ->> '$.nps' AS DOUBLE), timestamp)
            FILTER (WHERE event = 'Survey Responded' AND properties ->> '$.nps' IS NOT NULL) AS last_nps,
        bool_or(event = 'Loyalty Program Joined') AS loyalty_member,
        count(*) FILTER (WHERE event = 'Order Refunded') AS refunds
    FROM ev GROUP BY customer_id
)
SELECT b.customer_id,
    date_diff('day', b.last_day, ?::DATE) AS days_since_last_purchase,
    date_diff('day', b.first_day, ?::DATE) AS days_since_first_purchase,
    b.purchase_days, round(b.spend, 2) AS spend, round(b.spend / b.purchase_days, 2) AS average_purchase,
    coalesce(a.refunds, 0) AS refunds, coalesce(a.events_30d, 0) AS events_30d,
    coalesce(a.events_90d, 0) AS events_90d, coalesce(a.sessions_90d, 0) AS sessions_90d,
    coalesce(a.channels, 0) AS channels, coalesce(a.email_opens_90d, 0) AS email_opens_90d,
    coalesce(a.email_clicks_90d, 0) AS email_clicks_90d, coalesce(a.unsubscribed, false)::INTEGER AS unsubscribed,
    coalesce(a.tickets_90d, 0) AS tickets_90d, a.last_nps,
    coalesce(a.loyalty_member, false)::INTEGER AS loyalty_member
FROM bought b LEFT JOIN activity a USING (customer_id)
ORDER BY b.customer_id
"""


def customer_features(db: Backend, day: date) -> pd.DataFrame:
    """The features (module doc) of every customer who bought on or before ``day``; ``purchases`` (one row
    per purchase: customer_id, day, amount) must be registered on ``db``."""
    frame: pd.DataFrame = db.arrow(FEATURES_SQL, [day] * 10).to_pandas()
    return frame


def training_table(db: Backend, cutoff: date, later: pa.Table) -> pd.DataFrame:
    """Features as of ``cutoff`` (the ``purchases`` registered on ``db`` must be those of that day), and
    ``churned``: 1 when the customer has no purchase after ``cutoff`` in ``later`` (the purchases as of the
    refresh's day)."""
    frame = customer_features(db, cutoff)
    bought = later.filter(pc.greater(later["day"], pa.scalar(cutoff, pa.date32())))["customer_id"]
    frame["churned"] = (~frame["customer_id"].isin(pc.unique(bought).to_pylist())).astype(int)
    return frame
