"""Validation and normalisation of one inbound Segment-spec event into a ``StoredEvent``.

Every way into the store (HTTP collector, quarantine replay, later the importers) calls
``normalize_event``; an event that breaks the spec raises ``InvalidEvent`` with a reason a person can act
on, and the caller quarantines it with that reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from touchpoints.config import Settings
from touchpoints.events.channel import infer_channel
from touchpoints.events.clock import correct_timestamp
from touchpoints.events.model import EMPTY_OBJECT, EVENT_TYPES, StoredEvent

MAX_ID_LENGTH = 512

# Top-level fields with a column of their own, or that are server-owned or secret and never stored.
_CONSUMED = frozenset(
    {
        "type", "messageId", "userId", "anonymousId", "groupId", "previousId", "event", "name",
        "category", "timestamp", "sentAt", "context", "properties", "traits", "integrations",
        "writeKey", "channel", "receivedAt",
    }
)  # fmt: skip

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class InvalidEvent(ValueError):
    """The event breaks the Segment spec; ``reason`` says how and what to do about it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EventLimits:
    max_event_bytes: int = 32 * 1024
    future_tolerance: timedelta = timedelta(hours=23)

    @classmethod
    def from_settings(cls, settings: Settings) -> EventLimits:
        return cls(settings.max_event_bytes, timedelta(hours=settings.future_tolerance_hours))


@dataclass(frozen=True)
class Envelope:
    """What an event inherits from the request that carried it."""

    sent_at: Any = None
    context: dict[str, Any] = field(default_factory=dict)
    integrations: dict[str, Any] = field(default_factory=dict)
    forced_type: str | None = None

    def to_json(self) -> msgspec.Raw:
        data: dict[str, Any] = {}
        if self.sent_at is not None:
            data["sentAt"] = self.sent_at
        if self.context:
            data["context"] = self.context
        if self.integrations:
            data["integrations"] = self.integrations
        if self.forced_type:
            data["type"] = self.forced_type
        return msgspec.Raw(_encode(data)) if data else EMPTY_OBJECT

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        data = _decode(raw) if raw else {}
        return cls(
            sent_at=data.get("sentAt"),
            context=data.get("context") or {},
            integrations=data.get("integrations") or {},
            forced_type=data.get("type"),
        )


def _id(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidEvent(f"{key} must be a string, got {type(value).__name__}: {_short(value)}")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise InvalidEvent(f"{key} is {len(text)} characters long; at most {MAX_ID_LENGTH} are allowed")
    return text


def _text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{key} must be a string, got {type(value).__name__}: {_short(value)}")
    return value


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent(f"{key} must be a JSON object, got {type(value).__name__}: {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _raw(value: dict[str, Any]) -> msgspec.Raw:
    return msgspec.Raw(_encode(value)) if value else EMPTY_OBJECT


def normalize_event(
    raw: bytes,
    *,
    source: str,
    received_at: datetime,
    envelope: Envelope | None = None,
    source_channel: str | None = None,
    limits: EventLimits = EventLimits(),
) -> StoredEvent:
    """Validates one event (its JSON bytes) and returns it normalised; raises ``InvalidEvent``."""
    env = envelope or Envelope()
    if len(raw) > limits.max_event_bytes:
        raise InvalidEvent(
            f"event is {len(raw)} bytes; at most {limits.max_event_bytes} are allowed per event "
            "(move large data out of properties)"
        )
    try:
        payload = _decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"event is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidEvent(f"event must be a JSON object, got {type(payload).__name__}")

    call = env.forced_type or payload.get("type")
    if not isinstance(call, str) or call.lower() not in EVENT_TYPES:
        raise InvalidEvent(f"type must be one of {', '.join(EVENT_TYPES)}; got {_short(call)}")
    call = call.lower()

    user_id = _id(payload, "userId")
    anonymous_id = _id(payload, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise InvalidEvent(f"{call} call has neither userId nor anonymousId; every call needs one of them")
    group_id = _id(payload, "groupId")
    previous_id = _id(payload, "previousId")
    event_name = _text(payload, "event")
    if call == "track" and not (event_name and event_name.strip()):
        raise InvalidEvent('track call has no event name; set `event`, e.g. "Order Completed"')
    if call == "group" and group_id is None:
        raise InvalidEvent("group call has no groupId")
    if call == "alias" and (previous_id is None or user_id is None):
        raise InvalidEvent("alias call needs both previousId and userId")
    name = _text(payload, "name")
    category = _text(payload, "category")

    context = _object(payload, "context")
    if env.context:
        context = {**env.context, **context}
    integrations = _object(payload, "integrations")
    if env.integrations:
        integrations = {**env.integrations, **integrations}
    properties = _object(payload, "properties")
    traits = _object(payload, "traits")

    message_id = _id(payload, "messageId")
    flags: list[str] = []
    if message_id is None:
        message_id = "tp-" + hashlib.sha256(source.encode() + b"\0" + raw).hexdigest()[:32]
        flags.append("message_id_generated")

    timestamp = payload.get("timestamp")
    sent_at = payload.get("sentAt", env.sent_at)
    event_time, time_flags = correct_timestamp(timestamp, sent_at, received_at, limits.future_tolerance)
    flags.extend(time_flags)
    if "receivedAt" in payload:
        flags.append("client_received_at_ignored")

    extra = {k: v for k, v in payload.items() if k not in _CONSUMED}
    return StoredEvent(
        message_id=message_id,
        type=call,
        source=source,
        channel=infer_channel(context, payload.get("channel"), source_channel),
        timestamp=event_time,
        received_at=received_at,
        user_id=user_id,
        anonymous_id=anonymous_id,
        group_id=group_id,
        previous_id=previous_id,
        event=event_name,
        name=name,
        category=category,
        original_timestamp=timestamp if isinstance(timestamp, str) else _none_or_json(timestamp),
        sent_at=sent_at if isinstance(sent_at, str) else _none_or_json(sent_at),
        flags=flags,
        context=_raw(context),
        properties=_raw(properties),
        traits=_raw(traits),
        integrations=_raw(integrations),
        extra=_raw(extra),
    )


def _none_or_json(value: Any) -> str | None:
    return None if value is None else _encode(value).decode()
