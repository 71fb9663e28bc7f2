"""Enrichment on the way in: what an event says about its visit beyond what the client sent.

``useragent`` parses each distinct User-Agent once (browser, OS, device type) as the loader stores
events; ``referrer`` classifies where a visit came from (search, social, email, paid, direct, internal,
referral) and reads the UTM campaign fields; ``views`` puts it together, with 30-minute sessions, in the
``events_enriched`` view. IP truncation happens earlier, at the door (``events.validate.truncate_ip``);
tables bought or partnered are imported by ``sources.enrichment`` and joined to traits by key.
"""
