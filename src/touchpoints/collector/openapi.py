"""OpenAPI descriptions of the ingest endpoints (the handlers read raw bodies, so these are declared)."""

from __future__ import annotations

from typing import Any

_ID: dict[str, Any] = {"oneOf": [{"type": "string", "maxLength": 512}, {"type": "integer"}]}
_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}

EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One Segment-spec call. Every call needs userId or anonymousId.",
    "properties": {
        "type": {"type": "string", "enum": ["identify", "track", "page", "screen", "group", "alias"]},
        "messageId": _ID,
        "userId": _ID,
        "anonymousId": _ID,
        "groupId": _ID,
        "previousId": _ID,
        "event": {"type": "string", "description": 'The action, for track calls: "Order Completed".'},
        "name": {"type": "string"},
        "category": {"type": "string"},
        "timestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": _OBJECT,
        "properties": _OBJECT,
        "traits": _OBJECT,
        "integrations": _OBJECT,
        "writeKey": {"type": "string"},
    },
    "additionalProperties": True,
}

BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": EVENT_SCHEMA, "maxItems": 2500},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": _OBJECT,
        "integrations": _OBJECT,
        "writeKey": {"type": "string"},
    },
}

_TEXT_PLAIN = (
    " The same JSON may be sent as `text/plain` with `writeKey` in the body (what analytics.js does, to "
    "avoid a CORS preflight)."
)
EVENT_BODY: dict[str, Any] = {
    "required": True,
    "description": "One call." + _TEXT_PLAIN,
    "content": {"application/json": {"schema": EVENT_SCHEMA}},
}
BATCH_BODY: dict[str, Any] = {
    "required": True,
    "description": "A batch of calls." + _TEXT_PLAIN,
    "content": {"application/json": {"schema": BATCH_SCHEMA}},
}

# The body of every error answer, for OpenAPI: the collector's routes and the read API share it.
ERROR_RESPONSE: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "success": {"type": "boolean"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            }
        }
    }
}

INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Stored durably. Invalid events, if any, are in quarantine; `errors` says why.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["success", "accepted", "quarantined"],
                    "properties": {
                        "success": {"type": "boolean"},
                        "accepted": {"type": "integer"},
                        "quarantined": {"type": "integer"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "index": {"type": "integer"},
                                    "reason": {"type": "string"},
                                    "quarantine_id": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            }
        },
    },
    400: {"description": "Malformed JSON, invalid gzip, or a body that is not a batch", **ERROR_RESPONSE},
    401: {"description": "Missing or wrong write key", **ERROR_RESPONSE},
    403: {"description": "The key is valid but is not a write key", **ERROR_RESPONSE},
    413: {"description": "More than 500 KB after decompression, or more than 2,500 events", **ERROR_RESPONSE},
    415: {"description": "A Content-Encoding other than gzip", **ERROR_RESPONSE},
    503: {"description": "Events could not be written durably; nothing was stored; retry", **ERROR_RESPONSE},
}
