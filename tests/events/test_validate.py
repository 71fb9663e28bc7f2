"""Validation of one event: what is accepted, what is refused and with which reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from touchpoints.events.validate import Envelope, EventLimits, InvalidEvent, normalize_event

RECEIVED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def norm(payload: Any, **kwargs: Any) -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return normalize_event(raw, source="web-shop", received_at=RECEIVED, **kwargs)


def test_a_track_call_keeps_every_field() -> None:
    event = norm(
        {
            "type": "track",
            "messageId": "m-1",
            "userId": "u-1",
            "anonymousId": "a-1",
            "event": "Order Completed",
            "timestamp": "2026-11-23T11:59:00Z",
            "properties": {"total": 99.5, "products": [{"sku": "x"}]},
            "context": {"library": {"name": "analytics.js"}, "ip": "203.0.113.9"},
            "integrations": {"All": True},
            "version": 2,
        }
    )
    assert (event.message_id, event.type, event.user_id, event.anonymous_id) == ("m-1", "track", "u-1", "a-1")
    assert event.event == "Order Completed"
    assert event.channel == "web"
    assert event.source == "web-shop"
    assert msgspec.json.decode(event.properties) == {"total": 99.5, "products": [{"sku": "x"}]}
    assert msgspec.json.decode(event.context) == {"library": {"name": "analytics.js"}, "ip": "203.0.113.0"}
    assert event.ip == "203.0.113.0", "the address is truncated at the door by default"
    assert msgspec.json.decode(event.integrations) == {"All": True}
    assert msgspec.json.decode(event.extra) == {"version": 2}, "unknown top-level fields are kept"
    assert event.received_at == RECEIVED


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"type": "track", "userId": "u"}, "track call has no event name"),
        ({"type": "track", "event": "  ", "userId": "u"}, "track call has no event name"),
        ({"type": "track", "event": "A"}, "neither userId nor anonymousId"),
        ({"type": "group", "userId": "u"}, "group call has no groupId"),
        ({"type": "alias", "previousId": "a"}, "neither userId nor anonymousId"),
        ({"type": "alias", "anonymousId": "a", "previousId": "p"}, "alias call needs both"),
        ({"type": "shout", "userId": "u"}, "type must be one of"),
        ({"userId": "u"}, "type must be one of"),
        ({"type": "track", "event": "A", "userId": True}, "userId must be a string"),
        (
            {"type": "track", "event": "A", "userId": "u", "properties": [1]},
            "properties must be a JSON object",
        ),
        ({"type": "identify", "userId": "u", "traits": "vip"}, "traits must be a JSON object"),
        ({"type": "page", "userId": "u", "name": 5}, "name must be a string"),
        ({"type": "track", "event": "A", "userId": "u" * 600}, "at most 512"),
        ([1, 2], "must be a JSON object"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_invalid_events_are_refused_with_a_reason(payload: Any, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        norm(payload)
    assert reason in caught.value.reason


def test_an_oversized_event_is_refused_naming_the_limit() -> None:
    payload = {"type": "track", "event": "A", "userId": "u", "properties": {"blob": "x" * 40_000}}
    with pytest.raises(InvalidEvent, match="at most 32768 are allowed"):
        norm(payload, limits=EventLimits())


def test_numeric_ids_become_strings() -> None:
    event = norm({"type": "identify", "userId": 42, "messageId": 7})
    assert (event.user_id, event.message_id) == ("42", "7")


def test_the_path_sets_the_type_and_the_write_key_is_never_stored() -> None:
    event = norm(
        {"type": "identify", "event": "A", "userId": "u", "writeKey": "secret"},
        envelope=Envelope(forced_type="track"),
    )
    assert event.type == "track"
    assert b"secret" not in msgspec.json.encode(event)


def test_batch_context_is_merged_under_the_event_context() -> None:
    envelope = Envelope(context={"ip": "1.1.1.1", "locale": "en"}, sent_at="2026-11-23T12:00:00Z")
    event = norm(
        {"type": "track", "event": "A", "userId": "u", "context": {"ip": "2.2.2.2"},
         "timestamp": "2026-11-23T11:00:00Z"},
        envelope=envelope,
    )  # fmt: skip
    assert msgspec.json.decode(event.context) == {"ip": "2.2.2.0", "locale": "en"}
    assert event.timestamp == datetime(2026, 11, 23, 11, tzinfo=UTC)


def test_a_missing_message_id_is_generated_fresh_for_each_event_and_flagged() -> None:
    payload = {"type": "track", "event": "Coffee Purchased", "userId": "u"}
    first, again = norm(payload), norm(payload)
    assert first.message_id != again.message_id, "two identical purchases without ids are two purchases"
    assert "message_id_generated" in first.flags


def test_server_owned_received_at_cannot_be_set_by_the_client() -> None:
    event = norm({"type": "track", "event": "A", "userId": "u", "receivedAt": "2020-01-01T00:00:00Z"})
    assert event.received_at == RECEIVED
    assert "client_received_at_ignored" in event.flags
    assert b"2020-01-01" not in bytes(event.extra)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
events = st.dictionaries(
    st.sampled_from(
        ["type", "userId", "anonymousId", "event", "name", "groupId", "previousId", "messageId", "timestamp",
         "sentAt", "context", "properties", "traits", "integrations", "channel", "extra_field"]
    ),
    json_values | st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]),
)  # fmt: skip


@given(events)
def test_any_json_object_is_either_normalised_or_refused_with_a_reason(payload: dict[str, Any]) -> None:
    """No input crashes validation: it is accepted with the spec's guarantees, or refused with a reason."""
    try:
        event = norm(payload)
    except InvalidEvent as exc:
        assert exc.reason
        return
    assert event.type in {"track", "identify", "page", "screen", "group", "alias"}
    assert event.user_id or event.anonymous_id
    assert event.message_id
    assert event.timestamp.tzinfo is not None
    for part in (event.context, event.properties, event.traits, event.integrations, event.extra):
        assert isinstance(msgspec.json.decode(part), dict)


def test_identify_traits_sent_in_the_context_become_the_traits() -> None:
    event = norm({"type": "identify", "userId": "u", "context": {"traits": {"plan": "pro"}}})
    assert msgspec.json.decode(event.traits) == {"plan": "pro"}
    own = norm(
        {"type": "identify", "userId": "u", "traits": {"plan": "a"}, "context": {"traits": {"plan": "b"}}}
    )
    assert msgspec.json.decode(own.traits) == {"plan": "a"}, "traits sent as traits win"
    track = norm({"type": "track", "event": "A", "userId": "u", "context": {"traits": {"plan": "pro"}}})
    assert msgspec.json.decode(track.traits) == {}, "a track call's context traits stay context"


def test_an_out_of_range_time_falls_back_instead_of_failing() -> None:
    event = norm(
        {
            "type": "track",
            "event": "A",
            "userId": "u",
            "messageId": "m",
            "timestamp": "0001-01-01T00:00:00+01:00",
        },
        envelope=Envelope(sent_at="0001-01-01T00:00:00+01:00"),
    )
    assert event.timestamp == RECEIVED
    assert event.flags == ["timestamp_unparseable"]
    skewed = norm({"type": "track", "event": "A", "userId": "u", "messageId": "m", "timestamp": "2026-11-23T11:00:00Z",
                   "sentAt": "0001-01-01T00:00:00+01:00"})  # fmt: skip
    assert skewed.flags == ["sent_at_unparseable"]


def test_deep_nesting_is_refused_with_a_reason() -> None:
    deep = b'{"type":"track","event":"A","userId":"u","properties":{"a":' + b"[" * 5000 + b"]" * 5000 + b"}}"
    with pytest.raises(InvalidEvent, match=r"nested too deeply|not valid JSON"):
        norm(deep)


@pytest.mark.parametrize(
    ("address", "truncated"),
    [
        ("203.0.113.9", "203.0.113.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("::ffff:198.51.100.77", "198.51.100.0"),
        ("not an address", ""),
    ],
)
def test_ip_addresses_keep_only_their_network_part(address: str, truncated: str) -> None:
    event = normalize_event(
        msgspec.json.encode({"type": "track", "userId": "u", "event": "E", "context": {"ip": address}}),
        source="s",
        received_at=RECEIVED,
    )
    assert event.ip == truncated
    assert msgspec.json.decode(event.context)["ip"] == truncated


def test_whole_addresses_are_kept_when_truncation_is_off_and_the_peer_fills_a_missing_one() -> None:
    limits = EventLimits(truncate_ip=False)
    raw = msgspec.json.encode(
        {"type": "track", "userId": "u", "event": "E", "context": {"ip": "203.0.113.9"}}
    )
    event = normalize_event(raw, source="s", received_at=RECEIVED, limits=limits, client_ip="198.51.100.4")
    assert event.ip == "203.0.113.9", "context.ip wins over the connection's address"
    bare = msgspec.json.encode({"type": "track", "userId": "u", "event": "E"})
    assert normalize_event(
        bare, source="s", received_at=RECEIVED, limits=limits, client_ip="198.51.100.4"
    ).ip == ("198.51.100.4")
    assert (
        normalize_event(bare, source="s", received_at=RECEIVED, client_ip="198.51.100.4").ip == "198.51.100.0"
    )


def test_a_non_string_ip_is_not_kept_and_a_quarantined_payload_keeps_only_the_network() -> None:
    from touchpoints.events.validate import truncate_ips_in_text

    raw = msgspec.json.encode(
        {"type": "track", "userId": "u", "event": "E", "context": {"ip": ["81.2.69.145"]}}
    )
    event = normalize_event(raw, source="s", received_at=RECEIVED)
    assert msgspec.json.decode(event.context)["ip"] == ""
    payload = '{"type":"track","context":{"ip": "81.2.69.144"},"event":'
    assert truncate_ips_in_text(payload) == '{"type":"track","context":{"ip": "81.2.69.0"},"event":'
