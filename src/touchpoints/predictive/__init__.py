"""Predictive customer value: who will buy again, how much, what a customer is worth, who is leaving.

This package owns the models of customer value, fitted by maximum likelihood on scipy, and churn risk
on scikit-learn:

- ``summary``: the RFM summary of the buy-till-you-die literature (frequency, recency, T and mean repeat
  spend per customer, with optional holdout columns), computed in DuckDB from transactions;
- ``bgnbd``, ``paretonbd``: BG/NBD and Pareto/NBD, repeat purchases and the probability a customer is
  still alive; ``gammagamma``: spend per transaction;
- ``clv``: customer lifetime value, every customer's scores and the holdout diagnostics, on those models;
- ``sbg``: the shifted-beta-geometric model of contractual retention (survivors per period);
- ``churn``: calibrated churn-risk classifiers on a customer table and their drivers; ``churn_rates``:
  contractual churn per period and cohort, and the expected churn of a cohort from P(alive);
- ``segments``: RFM scores, the named RFM segments, big, loyal and future spenders;
- ``retail``: the documented cleaning of UCI's Online Retail table into purchases;
- ``features`` and ``value``: the store's side, ``touchpoints value refresh``: every customer's value
  scores from their orders in the prepared events, kept in ``customer_values`` for their profile.

It may import ``touchpoints.store``, ``touchpoints.analytics`` (the prepared events), ``touchpoints.config``
and ``touchpoints.privacy``. Nothing is imported here, so importing the package does not load scipy.
"""
