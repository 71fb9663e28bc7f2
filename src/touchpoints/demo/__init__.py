"""The seeded demo world: a retailer's customers whose data reaches Touchpoints as real data would.

``world`` holds the model and ``plan`` builds it from a seed (pure: same seed, same world), drawing on
``catalog`` (products, stores, places, names, campaigns, wording) and ``people`` (identities and the
typos of a store sign-up). ``online`` renders the visits as Segment-spec events, ``files`` writes the
offline records (CSV, JSON Lines, Parquet), ``truth`` writes down the planted ground truth. ``stream``
sends over HTTP, ``client`` is the process that does so, and ``build`` puts it all into a home through
the real collector, link endpoints and importers (``touchpoints demo``).
"""
