"""Validation and normalisation of one inbound Segment-spec event into a ``StoredEvent``.

Every way into the store (HTTP collector, quarantine replay, later the importers) calls
``normalize_event``; an event that breaks the spec raises ``InvalidEvent`` with a reason a person can act
on, and the caller quarantines it with that reason.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec

from touchpoints.config import Settings
from touchpoints.events.channel import ContextSignals, infer_channel, is_object
from touchpoints.events.clock import correct_timestamp
from touchpoints.events.model import EMPTY_OBJECT, EVENT_TYPES, StoredEvent

MAX_ID_LENGTH = 512

# Fields only the server sets; a client's value is dropped and the event flagged "server_field_ignored"
# (receivedAt keeps its own flag, "client_received_at_ignored"). When the server received an event, which
# customer it belongs to (identity resolution decides), and the store's own columns are not a client's to
# claim; a top-level ip would also be kept whole, untruncated, were it not dropped (context.ip is the place).
SERVER_OWNED = frozenset(
    {"received_at", "customerId", "customer_id", "source", "flags", "ip", "originalTimestamp",
     "original_timestamp"}
)  # fmt: skip
CONTEXT_SERVER_OWNED = frozenset({"customerId", "customer_id"})
# A cheap look for them in the raw context (no parse unless it matches).
_CONTEXT_OWNED_MARK = re.compile(rb'"customer_?[iI]d"')


_encode = msgspec.json.Encoder().encode
_UNSET: Any = msgspec.UNSET
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
    truncate_ip: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> EventLimits:
        return cls(
            settings.max_event_bytes, timedelta(hours=settings.future_tolerance_hours), settings.truncate_ip
        )


@dataclass(frozen=True)
class Envelope:
    """What an event inherits from the request that carried it."""

    sent_at: Any = None
    context: dict[str, Any] = field(default_factory=dict)
    integrations: dict[str, Any] = field(default_factory=dict)
    forced_type: str | None = None
    # ``sent_at`` parsed once for the whole request, as ``parse_time`` returns it.
    sent_time: tuple[datetime | None, bool] | None = None

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


class _Inbound(msgspec.Struct):
    """The Segment-spec top-level fields; nested objects stay raw bytes, never parsed here."""

    type: Any = None
    messageId: Any = None  # the spec's field names, camelCase
    userId: Any = None
    anonymousId: Any = None
    groupId: Any = None
    previousId: Any = None
    event: Any = None
    name: Any = None
    category: Any = None
    timestamp: Any = None
    sentAt: Any = _UNSET
    channel: Any = None
    receivedAt: Any = _UNSET
    writeKey: Any = None
    context: msgspec.Raw = EMPTY_OBJECT
    properties: msgspec.Raw = EMPTY_OBJECT
    traits: msgspec.Raw = EMPTY_OBJECT
    integrations: msgspec.Raw = EMPTY_OBJECT


# The strict decoder refuses unknown top-level fields, so the common case needs one pass in C; an event
# with fields of its own takes the second path, which keeps them in ``extra``.
class _InboundStrict(_Inbound, forbid_unknown_fields=True):
    pass


_strict_decoder = msgspec.json.Decoder(_InboundStrict)
_lenient_decoder = msgspec.json.Decoder(_Inbound)
_top_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_signals_decoder = msgspec.json.Decoder(ContextSignals)
_CONSUMED = frozenset(f for f in _Inbound.__struct_fields__)
_JSON_KINDS = {ord("{"): "object", ord("["): "array", ord('"'): "string", ord("t"): "boolean",
               ord("f"): "boolean"}  # fmt: skip


def _kind(raw: msgspec.Raw) -> str:
    first = memoryview(raw)[:1].tobytes()
    return _JSON_KINDS.get(first[0], "number") if first else "nothing"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _id(value: Any, key: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        raise InvalidEvent(f"{key} must be a string, got {type(value).__name__}: {_short(value)}")
    if len(text) > MAX_ID_LENGTH:
        raise InvalidEvent(f"{key} is {len(text)} characters long; at most {MAX_ID_LENGTH} are allowed")
    return text


def _text(value: Any, key: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise InvalidEvent(f"{key} must be a string, got {type(value).__name__}: {_short(value)}")


def _object(raw: msgspec.Raw, key: str) -> msgspec.Raw:
    """The field's JSON object as sent (``{}`` when absent or null)."""
    if raw is EMPTY_OBJECT:
        return raw
    view = memoryview(raw)
    if view[:1].tobytes() == b"{":
        return raw
    if view.nbytes == 4 and view.tobytes() == b"null":
        return EMPTY_OBJECT
    raise InvalidEvent(f"{key} must be a JSON object, got {_kind(raw)}: {_short(_decode(raw))}")


def _merge(defaults: dict[str, Any], own: msgspec.Raw) -> msgspec.Raw:
    return msgspec.Raw(_encode({**defaults, **_decode(own)}))


def normalize_event(
    raw: bytes,
    *,
    source: str,
    received_at: datetime,
    envelope: Envelope | None = None,
    source_channel: str | None = None,
    limits: EventLimits = EventLimits(),
    client_ip: str | None = None,
) -> StoredEvent:
    """Validates one event (its JSON bytes) and returns it normalised; raises ``InvalidEvent``.

    Nested objects (context, properties, traits, integrations) are checked to be objects and kept as the
    client sent them, never parsed and re-encoded: that is what makes ingestion fast.
    """
    env = envelope or Envelope()
    if len(raw) > limits.max_event_bytes:
        raise InvalidEvent(
            f"event is {len(raw)} bytes; at most {limits.max_event_bytes} are allowed per event "
            "(move large data out of properties)"
        )
    if b"\n" in raw or b"\r" in raw:
        # Pretty-printed JSON: compact it, since nested parts are kept verbatim in a line-based spool.
        try:
            raw = _encode(_decode(raw))
        except msgspec.DecodeError as exc:
            raise InvalidEvent(f"event is not valid JSON: {exc}") from exc
    extra = EMPTY_OBJECT
    ignored = False  # the client sent server-owned fields, dropped
    msg: _Inbound
    try:
        msg = _strict_decoder.decode(raw)
    except RecursionError:
        raise InvalidEvent("event is nested too deeply to read") from None
    except msgspec.DecodeError as exc:  # ValidationError included
        try:
            fields = _top_decoder.decode(raw)
        except msgspec.ValidationError:
            try:
                got = type(_decode(raw)).__name__
            except msgspec.DecodeError as inner:
                raise InvalidEvent(f"event is not valid JSON: {inner}") from None
            raise InvalidEvent(f"event must be a JSON object, got {got}") from None
        except msgspec.DecodeError:
            raise InvalidEvent(f"event is not valid JSON: {exc}") from exc
        msg = _lenient_decoder.decode(raw)
        own = {k: v for k, v in fields.items() if k not in _CONSUMED}
        if own.keys() & SERVER_OWNED:
            own = {k: v for k, v in own.items() if k not in SERVER_OWNED}
            ignored = True
        extra = msgspec.Raw(_encode(own)) if own else EMPTY_OBJECT

    call = env.forced_type or msg.type
    if type(call) is not str or call.lower() not in EVENT_TYPES:
        raise InvalidEvent(f"type must be one of {', '.join(EVENT_TYPES)}; got {_short(call)}")
    call = call.lower()

    user_id = _id(msg.userId, "userId")
    anonymous_id = _id(msg.anonymousId, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise InvalidEvent(f"{call} call has neither userId nor anonymousId; every call needs one of them")
    group_id = _id(msg.groupId, "groupId")
    previous_id = _id(msg.previousId, "previousId")
    event_name = _text(msg.event, "event")
    if call == "track" and not (event_name and event_name.strip()):
        raise InvalidEvent('track call has no event name; set `event`, e.g. "Order Completed"')
    if call == "group" and group_id is None:
        raise InvalidEvent("group call has no groupId")
    if call == "alias" and (previous_id is None or user_id is None):
        raise InvalidEvent("alias call needs both previousId and userId")
    name = _text(msg.name, "name")
    category = _text(msg.category, "category")

    context = _object(msg.context, "context")
    if env.context:
        context = _merge(env.context, context)
    if context is not EMPTY_OBJECT and _CONTEXT_OWNED_MARK.search(context):
        context, dropped = _without_server_owned(context)
        ignored = ignored or dropped
    integrations = _object(msg.integrations, "integrations")
    if env.integrations:
        integrations = _merge(env.integrations, integrations)
    properties = _object(msg.properties, "properties")
    traits = _object(msg.traits, "traits")

    message_id = _id(msg.messageId, "messageId")
    flags: list[str] = []
    if message_id is None:
        # Random, as Segment does: two identical events without ids are two events (an SDK's retry
        # always carries its messageId).
        message_id = "tp-" + uuid.uuid4().hex
        flags.append("message_id_generated")

    timestamp = msg.timestamp
    if msg.sentAt is _UNSET:
        sent_at, sent_time = env.sent_at, env.sent_time
    else:
        sent_at, sent_time = msg.sentAt, None
    event_time, time_flags = correct_timestamp(
        timestamp, sent_at, received_at, limits.future_tolerance, sent_time=sent_time
    )
    if time_flags:
        flags.extend(time_flags)
    if msg.receivedAt is not _UNSET:
        flags.append("client_received_at_ignored")
    if ignored:
        flags.append("server_field_ignored")

    signals = _signals_decoder.decode(context) if context is not EMPTY_OBJECT else _NO_SIGNALS
    ip = signals.ip if isinstance(signals.ip, str) and signals.ip else client_ip
    if limits.truncate_ip:
        ip = truncate_ip(ip) if ip is not None else None
        if signals.ip is not None and signals.ip != ip:
            context = _with_ip(context, ip or "")  # a list or an object in context.ip is not kept either
    if traits is EMPTY_OBJECT and call in ("identify", "group") and is_object(signals.traits):
        traits = signals.traits  # RudderStack's SDKs send identify traits only as context.traits
    return StoredEvent(
        message_id=message_id,
        type=call,
        source=source,
        channel=infer_channel(signals, msg.channel, source_channel),
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
        context=context,
        properties=properties,
        traits=traits,
        integrations=integrations,
        extra=extra,
        ip=ip,
    )


@lru_cache(maxsize=65536)  # one client sends many events; parsing an address costs microseconds
def truncate_ip(address: str) -> str:
    """The network part of an address: IPv4 to /24, IPv6 to /48; what is not an address is dropped."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False).network_address)


_IP_FIELD = re.compile(r'("ip"\s*:\s*")([^"\\]{1,64})(")')


def truncate_ips_in_text(text: str) -> str:
    """Every ``"ip": "..."`` in a raw payload (kept in quarantine for replay) truncated as stored IPs are."""
    return _IP_FIELD.sub(lambda m: m.group(1) + truncate_ip(m.group(2)) + m.group(3), text)


def _with_ip(context: msgspec.Raw, ip: str) -> msgspec.Raw:
    fields = _decode(context)
    fields["ip"] = ip
    return msgspec.Raw(_encode(fields))


def _without_server_owned(context: msgspec.Raw) -> tuple[msgspec.Raw, bool]:
    """The context without the customer ids a client put there; whether there were any."""
    fields = _decode(context)
    if not isinstance(fields, dict) or not fields.keys() & CONTEXT_SERVER_OWNED:
        return context, False
    return msgspec.Raw(_encode({k: v for k, v in fields.items() if k not in CONTEXT_SERVER_OWNED})), True


def _none_or_json(value: Any) -> str | None:
    return None if value is None else _encode(value).decode()


_NO_SIGNALS = ContextSignals()
