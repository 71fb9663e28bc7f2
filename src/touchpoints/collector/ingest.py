"""Ingestion, independent of the web framework: headers and body chunks in, an answer out.

A request is authenticated, held to its write key's rate limit, read within the limits, and every event in
it validated; valid events and quarantined ones are written to the spool together, and the answer (exactly
``200``) is given only once that write is fsync'd. ``fastpath`` serves it as plain ASGI; the FastAPI routes
(for the OpenAPI description) call the same ``Collector.handle``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from touchpoints.collector.auth import basic_credentials
from touchpoints.collector.body import BodyError, read_body
from touchpoints.collector.spool import Spool, SpoolClosed
from touchpoints.config import Settings
from touchpoints.events.clock import parse_time
from touchpoints.events.model import QuarantinedItem, StoredEvent
from touchpoints.events.validate import (
    Envelope,
    EventLimits,
    InvalidEvent,
    normalize_event,
    truncate_ips_in_text,
)
from touchpoints.privacy.gate import Gate
from touchpoints.privacy.keys import KeyRecord, KeyRing
from touchpoints.privacy.ratelimit import RateLimiter, retry_after

log = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 20


class _BatchEnvelope(msgspec.Struct):
    batch: list[msgspec.Raw]
    sentAt: Any = None  # the spec's field names, camelCase
    writeKey: Any = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None


class _KeyProbe(msgspec.Struct):
    writeKey: Any = None


_batch_decoder = msgspec.json.Decoder(_BatchEnvelope)
_probe_decoder = msgspec.json.Decoder(_KeyProbe)
_encoder = msgspec.json.Encoder()


@dataclass
class Answer:
    """What to send back: a status, a JSON body, and extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    """An error answer: ``{"code", "message"}``, the shape Segment's SDKs read."""
    body = _encoder.encode({"success": False, "code": code, "message": message})
    return Answer(status, body, headers or {})


def stored_view(event: StoredEvent | QuarantinedItem) -> dict[str, Any]:
    """What the privacy gate reads of an event: its id columns and its nested parts as dicts (of a
    quarantined event, what its payload says, when that is a JSON object)."""
    if isinstance(event, QuarantinedItem):
        try:
            raw = msgspec.json.decode(event.payload)
        except msgspec.DecodeError:
            return {}
        if not isinstance(raw, dict):
            return {}
        return {
            "type": raw.get("type"),
            "user_id": raw.get("userId"),
            "anonymous_id": raw.get("anonymousId"),
            "previous_id": raw.get("previousId"),
            **{
                k: raw.get(k) if isinstance(raw.get(k), dict) else {}
                for k in ("traits", "context", "properties")
            },
        }
    return {
        "type": event.type,
        "user_id": event.user_id,
        "anonymous_id": event.anonymous_id,
        "previous_id": event.previous_id,
        "traits": msgspec.json.decode(event.traits),
        "context": msgspec.json.decode(event.context),
        "properties": msgspec.json.decode(event.properties),
    }


class Collector:
    """Turns ingest requests into spooled records."""

    def __init__(self, settings: Settings, keys: KeyRing, spool: Spool) -> None:
        self.settings = settings
        self.keys = keys
        self.spool = spool
        self.limits = EventLimits.from_settings(settings)
        self.gate = Gate.for_settings(settings)
        self.limiter = RateLimiter(settings.ingest_requests_per_second, settings.ingest_burst, what="ingest")

    def _kept(self, payload: str) -> str:
        """A refused event's payload as quarantine keeps it: with IP addresses truncated, as everywhere."""
        return truncate_ips_in_text(payload) if self.limits.truncate_ip else payload

    def _authorise(self, secret: str | None) -> KeyRecord | Answer:
        if not secret:
            return error(
                401,
                "missing_write_key",
                "no write key: send it as the HTTP Basic user name (password empty) or as writeKey in the body",
            )
        record = self.keys.verify(secret)
        if record is None:
            return error(401, "invalid_write_key", "the write key is not valid (unknown or revoked)")
        if record.role != "write":
            return error(
                403,
                "wrong_key_role",
                f"this is {'an' if record.role == 'admin' else 'a'} {record.role} key; ingestion needs a write key",
            )
        # Only a verified write key spends budget: a stranger guessing keys cannot use up a real one's.
        wait = self.limiter.take(record.id)
        if wait > 0:
            after = retry_after(wait)
            return error(
                429,
                "rate_limited",
                f"write key {record.name!r} ({record.id}) is over its limit of {self.limiter.describe()}; "
                f"nothing in this request was stored: retry after {after} s (the SDKs do; the limit is [api] "
                "ingest_requests_per_second and ingest_burst in config.toml)",
                headers={"retry-after": after},
            )
        return record

    async def handle(
        self,
        headers: Mapping[str, str],
        chunks: AsyncIterator[bytes],
        path: str,
        call: str | None,
        client_ip: str | None = None,
    ) -> Answer:
        """One ingest request. ``headers`` has lower-case names; ``call`` is the event type of a
        single-event path, None for ``/v1/batch``; ``client_ip`` is the peer's address (the server applies
        its trusted-proxy rules), used when an event has no ``context.ip``."""
        header_key = basic_credentials(headers.get("authorization"))
        record: KeyRecord | None = None
        if header_key is not None:
            verdict = self._authorise(header_key)
            if isinstance(verdict, Answer):
                return verdict
            record = verdict
        try:
            body = await read_body(headers, chunks, self.settings.max_request_bytes)
        except BodyError as exc:
            return error(exc.status, exc.code, exc.message)
        received_at = datetime.now(UTC)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return error(400, "invalid_json", f"the body is not UTF-8 (byte {exc.start}); JSON must be UTF-8")

        if call is None:
            try:
                envelope_msg = _batch_decoder.decode(body)
            except msgspec.ValidationError as exc:
                return error(
                    400, "not_a_batch", f'the body is not a batch: {exc}; expected {{"batch": [...]}}'
                )
            except msgspec.DecodeError as exc:
                return error(400, "invalid_json", f"the body is not valid JSON: {exc}")
            except RecursionError:
                return error(400, "invalid_json", "the body is nested too deeply to read")
            raw_events, body_key = envelope_msg.batch, envelope_msg.writeKey
            envelope = Envelope(
                sent_at=envelope_msg.sentAt,
                context=envelope_msg.context or {},
                integrations=envelope_msg.integrations or {},
                sent_time=parse_time(envelope_msg.sentAt),
            )
        else:
            try:
                body_key = _probe_decoder.decode(body).writeKey
            except msgspec.ValidationError:
                return error(400, "not_an_object", f"the body of a {call} call must be a JSON object")
            except msgspec.DecodeError as exc:
                return error(400, "invalid_json", f"the body is not valid JSON: {exc}")
            except RecursionError:
                return error(400, "invalid_json", "the body is nested too deeply to read")
            raw_events = [msgspec.Raw(body)]
            envelope = Envelope(forced_type=call)

        if record is None:
            verdict = self._authorise(body_key if isinstance(body_key, str) else None)
            if isinstance(verdict, Answer):
                return verdict
            record = verdict
        if len(raw_events) > self.settings.max_batch_events:
            return error(
                413,
                "batch_too_large",
                f"the batch has {len(raw_events)} events; at most {self.settings.max_batch_events} are allowed "
                "per request",
            )

        items: list[StoredEvent | QuarantinedItem] = []
        errors: list[dict[str, Any]] = []
        accepted = 0
        suppressed = 0
        refusing = bool(self.gate.hashes())  # anyone erased: then each event is checked at the door
        for index, raw in enumerate(raw_events):
            item: StoredEvent | QuarantinedItem
            try:
                item = normalize_event(
                    bytes(raw),
                    source=record.name,
                    received_at=received_at,
                    envelope=envelope,
                    source_channel=record.channel,
                    limits=self.limits,
                    client_ip=client_ip,
                )
                accepted += 1
            except Exception as exc:  # no event is lost to a bug: it is kept for replay
                if isinstance(exc, InvalidEvent):
                    reason = exc.reason
                else:
                    log.exception("validating event %d of a request failed unexpectedly; quarantined", index)
                    reason = f"could not be validated ({type(exc).__name__}: {exc}); kept for replay"
                item = QuarantinedItem(
                    quarantine_id="q_" + secrets.token_hex(6),
                    source=record.name,
                    origin=f"{path} event {index}",
                    received_at=received_at,
                    reason=reason,
                    payload=self._kept(bytes(raw).decode("utf-8", errors="replace")),
                    envelope=envelope.to_json(),
                )
                if len(errors) < MAX_ERRORS_SHOWN:
                    errors.append({"index": index, "reason": reason, "quarantine_id": item.quarantine_id})
            if refusing:
                refusal = (
                    self.gate.refuses_text(item.payload, bytes(item.envelope).decode("utf-8", "replace"))
                    if isinstance(item, QuarantinedItem)
                    else self.gate.refuses(stored_view(item), item.source)
                )
                if refusal == "strip" and isinstance(item, StoredEvent):
                    item.anonymous_id = (
                        None  # another person on an erased person's browser: theirs, cookie-less
                    )
                elif refusal:
                    # An erased person's identifier: acknowledged like any event (the answer must not tell a
                    # write key's holder who was erased), never written.
                    suppressed += 1
                    continue
            items.append(item)
        if items:
            try:
                await self.spool.append(_encoder.encode_lines(items))
            except (OSError, SpoolClosed) as exc:
                log.error("could not spool a request: %s", exc)
                return error(
                    503,
                    "spool_unavailable",
                    "the collector could not write these events durably; retry later (a retry never stores "
                    "an event twice)",
                    headers={"retry-after": "1"},
                )
        if suppressed:
            log.info("%d events not written: they carry identifiers of erased people", suppressed)
        answer: dict[str, Any] = {
            "success": True,
            "accepted": accepted,
            "quarantined": len(raw_events) - accepted,
            "errors": errors,
        }
        return Answer(200, _encoder.encode(answer))

    async def record(
        self, message: dict[str, Any], source: str, channel: str, client_ip: str | None = None
    ) -> bool:
        """Stores one event the collector makes itself (a link click, an email open), through the same
        validation and spool as a client's; False if it could not be stored (the caller still answers)."""
        received_at = datetime.now(UTC)
        try:
            event = normalize_event(
                _encoder.encode(message),
                source=source,
                received_at=received_at,
                source_channel=channel,
                limits=self.limits,
                client_ip=client_ip,
            )
            verdict = self.gate.hashes() and self.gate.refuses(stored_view(event), event.source)
            if verdict == "strip":
                event.anonymous_id = None
            elif verdict:
                return False
            await self.spool.append(_encoder.encode_lines([event]))
        except (InvalidEvent, OSError, SpoolClosed) as exc:
            log.error("could not record a %s event from %s: %s", message.get("event"), source, exc)
            return False
        return True
