"""The seeded demo world: customers whose events flow through the real collector, as real data would.

``stream`` generates a deterministic stream (same seed, same events, same messageIds) and sends it over
HTTP. The next step grows this into the full multichannel world with planted ground truth.
"""
