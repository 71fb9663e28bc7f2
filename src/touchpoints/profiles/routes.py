"""The profile read API on the collector: ``GET /v1/profiles/{id}`` and ``GET /v1/profiles?email=|phone=|name=``.

Both need a read key (an admin key reads too) as ``Authorization: Bearer KEY``, checked by ``privacy.access``
as on every read and admin route. The store is opened per request, as every reader does (DuckDB lets one
process write at a time; inside the server the loader thread shares it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query
from starlette.responses import JSONResponse, Response

from touchpoints.collector.ingest import error
from touchpoints.collector.openapi import ERROR_RESPONSE
from touchpoints.config import Settings
from touchpoints.privacy.access import READERS, ReaderKey, actor, auth_responses
from touchpoints.privacy.audit import AuditLog
from touchpoints.profiles.read import TraitPrecedence, profile, resolve
from touchpoints.profiles.search import MAX_RESULTS, search_page
from touchpoints.profiles.timeline import DEFAULT_LIMIT, MAX_LIMIT, BadCursor
from touchpoints.store.backend import StoreBusy
from touchpoints.store.duckdb import open_store

_NO_STORE = {"cache-control": "no-store"}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    answer = error(status, code, message, {**_NO_STORE, **(headers or {})})
    return Response(answer.body, answer.status, answer.headers, media_type="application/json")


def _ok(data: Any) -> Response:
    return JSONResponse(data, headers=_NO_STORE)


_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
_ERROR = ERROR_RESPONSE
_IDENTIFIER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "kind": {"type": "string"},
        "value": {"type": "string"},
        "source": {"type": "string"},
        "first_seen": {"type": "string", "format": "date-time"},
    },
}
PROFILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["customer_id", "identifiers", "traits", "computed", "consent", "timeline", "next_before"],
    "properties": {
        "customer_id": {"type": "string"},
        "identifiers": {"type": "array", "items": _IDENTIFIER},
        "traits": {
            "type": "object",
            "description": "Per trait: value, source, channel, at, message_id, and the other values seen.",
            "additionalProperties": _OBJECT,
        },
        "computed": _OBJECT,
        "consent": _OBJECT,
        "timeline": {"type": "array", "items": _OBJECT, "description": "Newest first."},
        "next_before": {
            "type": ["string", "null"],
            "description": "Pass as `before` for the next (older) page; null on the last page.",
        },
    },
}
SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["customers", "truncated", "limit"],
    "properties": {
        "truncated": {"type": "boolean", "description": "More customers matched than the limit: narrow it"},
        "limit": {"type": "integer"},
        "customers": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "customer_id": {"type": "string"},
                    "name": {"type": ["string", "null"]},
                    "emails": {"type": "array", "items": {"type": "string"}},
                    "phones": {"type": "array", "items": {"type": "string"}},
                    "user_ids": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    **auth_responses(*READERS),
    503: {"description": "The store stayed busy; retry", **_ERROR},
}


def add_profile_routes(app: FastAPI, settings: Settings) -> None:
    """Mounts the profile read API on ``app``. Every read and search is written to the audit log."""
    precedence = TraitPrecedence.from_settings(settings)
    audit = AuditLog(settings.audit_path)

    @app.get(
        "/v1/profiles/{ref:path}",
        tags=["profiles"],
        summary="One customer's unified profile: identifiers, traits, computed traits, consent, timeline",
        description=(
            "`ref` is a customer id (`cus_...`), `kind:value` (`email:jane@example.com`), or a bare identifier "
            "(a userId, an email, a phone number, a loyalty id, an anonymousId, a record id), URL-encoded."
        ),
        response_class=Response,
        responses={
            200: {"description": "The profile", "content": {"application/json": {"schema": PROFILE_SCHEMA}}},
            400: {"description": "A `before` that is not a cursor or a time", **_ERROR},
            404: {"description": "No customer has this identifier", **_ERROR},
            **_AUTH_RESPONSES,
        },
    )
    def read_profile(
        ref: str,
        key: ReaderKey,
        timeline: Annotated[
            int, Query(ge=0, le=MAX_LIMIT, description="Timeline entries per page")
        ] = DEFAULT_LIMIT,
        before: Annotated[
            str | None, Query(description="`next_before` of the previous page, or an ISO-8601 time")
        ] = None,
    ) -> Response:
        reader = actor(key)
        try:
            with open_store(settings.store_path, wait_seconds=10.0) as db:
                customer_id = resolve(db, ref, settings.identity)
                found = None
                if customer_id is not None:
                    found = profile(
                        db, customer_id, precedence=precedence, timeline_limit=timeline, before=before
                    )
        except StoreBusy as exc:
            return _error(503, "store_busy", str(exc), {"retry-after": "1"})
        except BadCursor as exc:
            return _error(400, "bad_cursor", str(exc))
        if found is None:
            return _error(
                404,
                "no_customer",
                f"no customer has the identifier {ref[:200]!r}; search with GET /v1/profiles?email=...|phone=..."
                "|name=..., or see how identifiers link with `touchpoints identity links`",
            )
        audit.append(reader, "profile.read", found["customer_id"], via="api", timeline=timeline)
        return _ok(found)

    @app.get(
        "/v1/profiles",
        tags=["profiles"],
        summary="Find customers by email, phone or name (every criterion given must match)",
        response_class=Response,
        responses={
            200: {
                "description": "The matching customers",
                "content": {"application/json": {"schema": SEARCH_SCHEMA}},
            },
            400: {"description": "No criterion given, or a name shorter than 3 letters", **_ERROR},
            **_AUTH_RESPONSES,
        },
    )
    def search_profiles(
        key: ReaderKey,
        email: Annotated[str | None, Query(description="An email address, in any case")] = None,
        phone: Annotated[str | None, Query(description="A phone number, in any format")] = None,
        name: Annotated[
            str | None, Query(description="Words of a name; each must appear, ignoring case")
        ] = None,
    ) -> Response:
        reader = actor(key)
        if not any(v and v.strip() for v in (email, phone, name)):
            return _error(
                400, "no_criterion", "give at least one of email, phone or name, e.g. ?email=a@b.example"
            )
        try:
            with open_store(settings.store_path, wait_seconds=10.0) as db:
                found, more = search_page(db, email=email, phone=phone, name=name, rules=settings.identity)
        except StoreBusy as exc:
            return _error(503, "store_busy", str(exc), {"retry-after": "1"})
        except ValueError as exc:
            return _error(400, "bad_criterion", str(exc))
        # What was searched for is personal data itself: the log keeps which criteria, and who was shown.
        criteria = [k for k, v in (("email", email), ("phone", phone), ("name", name)) if v and v.strip()]
        audit.append(reader, "profile.search", None, via="api", criteria=criteria,
                     customers=[c["customer_id"] for c in found])  # fmt: skip
        return _ok({"customers": found, "truncated": more, "limit": MAX_RESULTS})
