"""Which channel an event came through: web, app, server, or one of the offline channels.

Precedence, first match wins: the channel configured for the source (the write key: a key bound to a
channel cannot be used to claim another); ``context.channel`` set on the event; the top-level
``channel`` some SDKs send (RudderStack: ``server``, ``web``,
``mobile``); the SDK named in ``context.library``; signs in the context (a device or a page); else
``other``.
"""

from __future__ import annotations

from typing import Any

import msgspec

CHANNELS = frozenset(
    {
        "web", "app", "server", "email", "pos", "support", "survey", "review",
        "social", "loyalty", "qr", "ads", "partner", "other",
    }
)  # fmt: skip

_ALIASES = {"mobile": "app", "ios": "app", "android": "app", "browser": "web", "store": "pos"}

_LIBRARY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("analytics.js", "web"),
    ("analytics-next", "web"),
    ("@segment/analytics-next", "web"),
    ("touchpoints.js", "web"),
    ("rudderlabs javascript sdk", "web"),
    ("rudder-sdk-js", "web"),
    ("analytics-ios", "app"),
    ("analytics-android", "app"),
    ("analytics-swift", "app"),
    ("analytics-kotlin", "app"),
    ("analytics-react-native", "app"),
    ("analytics-flutter", "app"),
    ("com.rudderstack.android", "app"),
    ("rudder-ios", "app"),
    ("rudder-sdk-flutter", "app"),
    ("analytics-python", "server"),
    ("analytics-node", "server"),
    ("analytics-java", "server"),
    ("analytics-go", "server"),
    ("analytics-ruby", "server"),
    ("analytics-php", "server"),
    ("analytics-csharp", "server"),
    ("rudderanalytics-python", "server"),
    ("rudder-sdk-python", "server"),
    ("rudder-sdk-node", "server"),
    ("rudder-sdk-java", "server"),
    ("rudder-sdk-go", "server"),
    ("touchpoints-import", "server"),
)


def normalise_channel(value: Any) -> str | None:
    """A known channel name for ``value``, or None."""
    if not isinstance(value, str):
        return None
    name = value.strip().lower()
    name = _ALIASES.get(name, name)
    return name if name in CHANNELS else None


_ABSENT = msgspec.Raw(b"")


class ContextSignals(msgspec.Struct):
    """The few ``context`` fields normalisation looks at: what the channel depends on, and the traits some
    SDKs send there (decoded without parsing the rest)."""

    channel: Any = None
    library: Any = None
    device: Any = None
    page: msgspec.Raw = _ABSENT
    app: msgspec.Raw = _ABSENT
    os: msgspec.Raw = _ABSENT
    traits: msgspec.Raw = _ABSENT
    ip: Any = None


def infer_channel(context: ContextSignals, top_level: Any, source_channel: str | None) -> str:
    """The channel of one event; see the module docstring for the precedence."""
    if source_channel:
        # A key bound to a channel decides: a browser's public key cannot file events as till receipts.
        return source_channel
    explicit = normalise_channel(context.channel)
    if explicit:
        return explicit
    hinted = normalise_channel(top_level)
    if hinted:
        return hinted
    library = context.library
    if isinstance(library, dict):
        name = library.get("name")
        if isinstance(name, str):
            lowered = name.lower()
            for prefix, channel in _LIBRARY_PREFIXES:
                if lowered.startswith(prefix):
                    return channel
    device = context.device
    if isinstance(device, dict) and str(device.get("type", "")).lower() in {"ios", "android", "mobile"}:
        return "app"
    if is_object(context.app) or (is_object(context.os) and device):
        return "app"
    if is_object(context.page):
        return "web"
    return "other"


def is_object(raw: msgspec.Raw) -> bool:
    """Whether raw JSON is an object."""
    return memoryview(raw)[:1].tobytes() == b"{"
