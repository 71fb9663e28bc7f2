"""Identity resolution: which identifiers and records are one customer, and why.

Owns the identity graph (``identities``, ``identity_links``: every link with its cause, the merge
ledger), the merge rules (``rules``), stitching on ingest (``stitch``, ``evidence``: called by the store in
the transaction that stores events), explain and unmerge (``ledger``), probabilistic matching of contact
records with Splink (``matching``, ``resolve``) and its review queue, and lookups by any identifier
(``lookup``). Reads and writes the store through the ``Backend`` seam; imports nothing from the
collector or the CLI.
"""
