"""Privacy and security: keys and roles, and the audit log now; consent, export, erasure, suppression and
retention next.

Owns who may do what (``keys``: write keys ingest, read keys read, admin keys administer) and the record
of who did it (``audit``: every read and change of personal data, hash-chained). May import ``config`` and
``events``; the collector and CLI call into it, never the other way round.
"""

from touchpoints.privacy.keys import ROLES, KeyError_, KeyRecord, KeyRing

__all__ = ["ROLES", "KeyError_", "KeyRecord", "KeyRing"]
