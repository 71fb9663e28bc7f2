"""Which identifiers exist, how their values are normalised, and the rules a merge must obey.

An identifier is a (kind, value) pair; its node key in the graph is ``kind:value`` (a record's is
``record:source/value``, since two sources may number their records alike). The rules come from the
home's ``[identity]`` configuration:

- ``limits``: at most this many identifiers of a kind in one customer. By default one ``user_id``, so a
  shared device, a kiosk or a family browser never fuses two account holders.
- ``priority``: the order in which an event's identifiers are linked. The first one present is the
  anchor the others are linked to, and when a link is refused the higher-priority identifiers keep the
  event.
- ``blocked_values``: values that are never identifiers (placeholders such as ``null`` or
  ``test@test.com``, and known shared ids), compared case-insensitively after normalisation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

# The built-in kinds, in default priority order.
KINDS = ("user_id", "email", "phone", "loyalty_id", "record", "device_id", "social", "anonymous_id")

# Social handles are identifiers of kind "social", valued "platform:handle"; identify traits name them
# by platform.
SOCIAL_PLATFORMS = ("instagram", "x", "twitter", "tiktok", "facebook", "youtube", "linkedin")

DEFAULT_BLOCKED = (
    "", "null", "none", "nil", "undefined", "unknown", "n/a", "na", "-", "0", "-1", "anonymous", "guest",
    "test", "test@test.com", "test@example.com", "noemail@noemail.com", "no@email.com", "none@none.com",
    "email@email.com", "+10000000000", "00000000-0000-0000-0000-000000000000",
)  # fmt: skip

_SHAPED = frozenset({"email", "social", "phone"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class IdentityRules:
    """The merge rules of one home (``[identity]`` in config.toml)."""

    limits: dict[str, int] = field(default_factory=lambda: {"user_id": 1})
    priority: tuple[str, ...] = KINDS
    blocked_values: frozenset[str] = frozenset(DEFAULT_BLOCKED)
    # Extra identifier kinds, each read from the trait of the same name (e.g. "crm_id", "shopify_id").
    custom: tuple[str, ...] = ()
    # Phone numbers written without a country code are read as numbers of this region (ISO 3166 code).
    phone_region: str | None = None
    # Probabilistic matching: merge at or above match_threshold, queue for review at or above
    # review_threshold (match probabilities, 0-1).
    match_threshold: float = 0.99
    review_threshold: float = 0.80

    def rank(self, kind: str) -> int:
        """Position of ``kind`` in the priority order (custom kinds after the listed ones)."""
        try:
            return self.priority.index(kind)
        except ValueError:
            return len(self.priority)

    def is_blocked(self, value: str) -> bool:
        return value.lower() in self.blocked_values

    def normalise(self, kind: str, raw: object) -> str | None:
        """The identifier's normal form, or None when ``raw`` is not a usable identifier of ``kind``."""
        if raw is None:
            return None
        text = str(raw).strip()
        if kind not in _SHAPED:  # most identifiers: trimmed, not a placeholder
            if not text or len(text) > 512 or text.lower() in self.blocked_values:
                return None
            return text
        if kind == "email":
            text = text.lower()
            if not _EMAIL.match(text):
                return None
        elif kind == "social":
            platform, sep, handle = text.lower().partition(":")
            handle = handle.strip().lstrip("@")
            if not sep or not platform or not handle:
                return None
            text = f"{platform.strip()}:{handle}"
        elif kind == "phone":
            normal = normalise_phone(text, self.phone_region)
            if normal is None:
                return None
            text = normal
        if not text or len(text) > 512 or self.is_blocked(text):
            return None
        return text


@lru_cache(maxsize=65536)
def normalise_phone(text: str, region: str | None) -> str | None:
    """E.164 (``+447700900123``), or None when ``text`` is not a possible number. A number without a
    country code needs ``region``."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def node_key(kind: str, value: str, source: str | None = None) -> str:
    """The graph's key of an identifier; records are keyed by their source too."""
    if kind == "record":
        return f"record:{source}/{value}"  # "/" is never in a source name
    return f"{kind}:{value}"


def split_node(node: str) -> tuple[str, str, str | None]:
    """(kind, value, source) of a node key."""
    kind, _, rest = node.partition(":")
    if kind == "record":
        source, _, value = rest.partition("/")
        return kind, value, source
    return kind, rest, None
