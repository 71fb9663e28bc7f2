"""Identifiers normalised and SHA-256 hashed the way an ad platform expects them, so that an audience can
be matched without sending a plain e-mail address or phone number.

- **Meta** (Custom Audiences, Conversions API; "Customer information parameters"): an e-mail trimmed and
  lower-cased; a phone number as digits only, with its country code, without ``+`` or leading zeros
  (``16505551212``).
- **Google** (Customer Match, enhanced conversions; Data Manager API "Format user data"): an e-mail with
  all whitespace removed and lower-cased, and for ``gmail.com`` and ``googlemail.com`` addresses the dots
  and any ``+tag`` of the local part removed (``cloudysanfrancisco@gmail.com``); a phone number in E.164,
  with the ``+`` (``+18005550100``).

The hash is the lower-case hex SHA-256 of the normal form's UTF-8 bytes. A value that already is 64 hex
characters is taken as hashed and passed on (lower-cased), never hashed twice. A value that is not an
e-mail address, or not a possible phone number, gives None: it would match no one. A phone number written
without its country code needs ``region`` (ISO 3166 code: the home's ``identity.phone_region``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from touchpoints.identity.rules import normalise_phone

PLATFORMS = ("meta", "google")
KINDS = ("email", "phone")

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GOOGLE_MAIL = ("gmail.com", "googlemail.com")


def is_sha256_hex(value: str) -> bool:
    """Whether ``value`` (trimmed) already is a hex SHA-256 digest."""
    return bool(_HEX64.match(value.strip()))


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def meta_email(raw: str) -> str | None:
    """Trimmed and lower-cased."""
    text = raw.strip().lower()
    return text if _EMAIL.match(text) else None


def google_email(raw: str) -> str | None:
    """Without any whitespace, lower-cased; a Gmail address without the dots and ``+tag`` of its local
    part (Gmail ignores both, so Google's own hash of the account has neither)."""
    text = "".join(raw.split()).lower()
    if not _EMAIL.match(text):
        return None
    local, _, domain = text.rpartition("@")
    if domain in _GOOGLE_MAIL:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            return None
        text = f"{local}@{domain}"
    return text


def _e164(raw: str, region: str | None) -> str | None:
    text = raw.strip()
    if text.startswith("00"):  # the international call prefix most of the world dials
        text = "+" + text[2:]
    return normalise_phone(text, region)


def meta_phone(raw: str, region: str | None = None) -> str | None:
    """Digits only, country code first, no ``+`` and no leading zero: E.164 without its ``+``."""
    number = _e164(raw, region)
    return number[1:] if number else None


def google_phone(raw: str, region: str | None = None) -> str | None:
    """E.164, with the ``+``."""
    return _e164(raw, region)


_NORMALISERS: dict[tuple[str, str], Callable[[str, str | None], str | None]] = {
    ("meta", "email"): lambda raw, _region: meta_email(raw),
    ("meta", "phone"): meta_phone,
    ("google", "email"): lambda raw, _region: google_email(raw),
    ("google", "phone"): google_phone,
}


def _normaliser(platform: str, kind: str) -> Callable[[str, str | None], str | None]:
    try:
        return _NORMALISERS[(platform, kind)]
    except KeyError:
        raise ValueError(
            f"cannot normalise {kind!r} for {platform!r}: platforms are {', '.join(PLATFORMS)}, "
            f"kinds {', '.join(KINDS)}"
        ) from None


def normalise(platform: str, kind: str, raw: str, region: str | None = None) -> str | None:
    """The normal form ``platform`` hashes an identifier of ``kind`` (email, phone) in, or None."""
    return _normaliser(platform, kind)(raw, region)


def hashed(platform: str, kind: str, raw: str | None, region: str | None = None) -> str | None:
    """The hex SHA-256 of ``raw``'s normal form for ``platform``; ``raw`` itself (lower-cased) when it
    already is one; None when there is nothing to match on."""
    normaliser = _normaliser(platform, kind)
    if raw is None:
        return None
    if is_sha256_hex(raw):
        return raw.strip().lower()
    normal = normaliser(raw, region)
    return sha256_hex(normal) if normal is not None else None
