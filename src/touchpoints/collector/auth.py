"""Finding the write key of an ingest request: HTTP Basic (the SDKs) or ``writeKey`` in the body
(``tp.js``, and analytics.js before 1.84, which post ``text/plain`` to avoid a CORS preflight)."""

from __future__ import annotations

import base64
import binascii


def basic_credentials(header: str | None) -> str | None:
    """The key in ``Authorization: Basic base64(key:)``; also accepts the key as the password.

    Returns None when there is no Basic header (another scheme, added by a proxy, does not count: the key
    may still be in the body), and ``""`` when there is a Basic header that carries no key.
    """
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    user, _, password = decoded.partition(":")
    return user or password
