"""The channel of an event, from the event, the source or the SDK."""

from __future__ import annotations

import msgspec
import pytest

from touchpoints.events.channel import ContextSignals, infer_channel


@pytest.mark.parametrize(
    ("context", "top_level", "source_channel", "expected"),
    [
        ({"channel": "pos"}, None, "web", "web"),  # a key bound to web cannot claim till receipts
        ({"channel": "pos"}, None, None, "pos"),
        ({"library": {"name": "analytics.js"}}, None, "email", "email"),
        ({"library": {"name": "analytics-python"}}, "server", None, "server"),
        ({}, "mobile", None, "app"),
        ({"library": {"name": "analytics.js"}}, None, None, "web"),
        ({"library": {"name": "analytics-ios"}}, None, None, "app"),
        ({"library": {"name": "analytics-python"}}, None, None, "server"),
        ({"device": {"type": "android"}}, None, None, "app"),
        ({"page": {"path": "/"}}, None, None, "web"),
        ({}, None, None, "other"),
        ({"channel": "carrier-pigeon"}, None, None, "other"),
    ],
)
def test_channel_precedence(context: dict[str, object], top_level: object, source_channel: str | None,
                            expected: str) -> None:  # fmt: skip
    signals = msgspec.json.decode(msgspec.json.encode(context), type=ContextSignals)
    assert infer_channel(signals, top_level, source_channel) == expected
