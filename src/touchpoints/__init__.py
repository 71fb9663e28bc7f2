"""Touchpoints: open-source customer tracking.

Collect customer events from every channel, match them to one customer, analyse and protect them.
Packages, each owning one capability:

- ``events``: the event model (Segment spec), validation and normalisation, clock-skew correction.
- ``collector``: the HTTP collector (ASGI app, auth, limits), the durable spool and the loader.
- ``store``: the Backend seam and the embedded DuckDB store (schema, connections).
- ``privacy``: keys and roles (later: consent, erasure, suppression, retention, audit).
- ``cli``: the ``touchpoints`` command, one module per command group.
- ``demo``: the seeded demo world.

``config`` holds the settings, built once and passed in (never read from the environment at import).
"""

__version__ = "0.1.0"
