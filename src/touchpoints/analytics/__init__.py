"""Customer analytics, written once on one portable query layer and run on DuckDB or Apache Spark.

``engine`` is the query layer (an Ibis connection to DuckDB or Spark, and the few engine-specific
builtins); ``prepared`` builds the prepared events every analysis reads (customers resolved, sessions,
pages, referrers, devices; consent applied); ``common`` the shared parameters (time range, channels,
durations, breakdowns), ``periods`` days, weeks and months in a time zone. The analyses: ``funnel``,
``trends``, ``retention``, ``paths``, ``web`` (sessions, bounce, landing and exit pages, referrers,
campaigns, devices) and ``heatmap`` (clicks and scroll depth per page). Each returns JSON-ready data or an Arrow table, has a
``touchpoints analytics`` command (``--json``) and a read-key HTTP endpoint (``routes``).

May import: store, privacy (the consent gate), config. Never imported by the collector's hot path.
"""
