"""Privacy and security: keys and roles now; consent, export, erasure, suppression, retention and audit next.

Owns who may do what (``keys``: write keys ingest, read keys read, admin keys administer). May import
``config`` and ``events``; the collector and CLI call into it, never the other way round.
"""

from touchpoints.privacy.keys import ROLES, KeyError_, KeyRecord, KeyRing

__all__ = ["ROLES", "KeyError_", "KeyRecord", "KeyRing"]
