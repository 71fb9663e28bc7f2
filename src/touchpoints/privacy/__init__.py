"""Privacy and security: every right of the people in the store, and who may do what.

- ``consent``: the consent ledger, per identifier and purpose, and the home's consent policy.
- ``gate``: the one mechanism that applies consent and suppression to everything coming in and going out.
- ``suppression``: hashed identifiers of erased people, refused at every door.
- ``subject``: everything held about one person, found by any identifier (for export and erasure).
- ``inventory``: every table and file under the home, what personal data it holds and how a person's
  rows are found; export, erasure and retention go by it.
- ``access_export``, ``erasure``, ``rectify``: the rights of access and portability, erasure (and the
  physical purge), rectification. ``retention``: time-to-live per event type or source.
- ``keys``, ``access``, ``ratelimit``: keys and roles (write keys ingest, read keys read, admin keys
  administer), the one check every API route makes, and per-key rate limits.
- ``audit``: the hash-chained record of every read and change of personal data.
- ``hashing``: identifiers normalised and hashed as ad platforms expect.

May import ``config``, ``events``, ``store`` and ``identity``; the collector, profiles and CLI call into it,
never the other way round (the store's writers reach the gate through a late import).
"""
