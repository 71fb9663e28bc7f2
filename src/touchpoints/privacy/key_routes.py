"""The key API on the collector, for admin keys only: list, create and revoke API keys.

``GET /v1/keys`` lists keys (never their hashes); ``POST /v1/keys`` creates one and answers its secret, the
only time anyone sees it; ``DELETE /v1/keys/{id_or_name}`` revokes one, at once for every process using
the home. Creating and revoking are written to the audit log (``key.create``, ``key.revoke``) with the key's
id, name and role and the admin key that did it; never a secret. ``touchpoints keys`` does the same from
the command line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from touchpoints.events.channel import CHANNELS
from touchpoints.privacy.access import ADMINS, ERROR_RESPONSE, AdminKey, actor, auth_responses
from touchpoints.privacy.audit import AuditLog
from touchpoints.privacy.keys import MAX_NAME_LENGTH, KeyError_, KeyExists, KeyRing, NoSuchKey

_NO_STORE = {"cache-control": "no-store"}

_KEY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "role", "created_at"],
    "properties": {
        "id": {"type": "string", "description": "`key_...`: how the audit log names the key"},
        "name": {"type": "string", "description": "For write keys, the source name of their events"},
        "role": {"type": "string", "enum": ["write", "read", "admin"]},
        "created_at": {"type": "string", "format": "date-time"},
        "channel": {"type": ["string", "null"], "description": "Write keys: the channel of their events"},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
_NEW_KEY: dict[str, Any] = {
    **_KEY,
    "required": ["key", *_KEY["required"]],
    "properties": {
        "key": {"type": "string", "description": "The secret: shown this once, only its hash is kept"},
        **_KEY["properties"],
    },
}


class NewKey(BaseModel):
    """A key to create."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["write", "read", "admin"] = Field(
        description="write: sends events only; read: reads profiles and analytics; admin: manages keys "
        "and runs privacy actions"
    )
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="Unique among active keys; a write key's name is the source of its events",
    )
    channel: str | None = Field(
        default=None,
        description=f"Write keys only: the channel of every event sent with the key ({', '.join(sorted(CHANNELS))})",
    )


_EXAMPLE = '{"role": "read", "name": "analyst"}'


def _problems(exc: ValidationError) -> str:
    parts = []
    for problem in exc.errors()[:5]:
        where = ".".join(str(p) for p in problem["loc"]) or "the body"
        parts.append(f"{where}: {problem['msg']}")
    return "; ".join(parts)


def _answer(status: int, data: Any) -> Response:
    return JSONResponse(data, status, headers=_NO_STORE)


def _refuse(status: int, code: str, message: str) -> Response:
    return _answer(status, {"success": False, "code": code, "message": message})


def add_key_routes(app: FastAPI, keys: KeyRing, audit: AuditLog) -> None:
    """Mounts the key API on ``app`` (admin keys only; see ``privacy.access``)."""

    @app.get(
        "/v1/keys",
        tags=["keys"],
        summary="List API keys (never their secrets or hashes)",
        response_class=Response,
        responses={
            200: {
                "description": "The keys, oldest first",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["keys"],
                            "properties": {"keys": {"type": "array", "items": _KEY}},
                        }
                    }
                },
            },
            **auth_responses(*ADMINS),
        },
    )
    def list_keys(
        key: AdminKey,
        include_revoked: Annotated[bool, Query(alias="all", description="Include revoked keys")] = False,
    ) -> Response:
        records = [r.public() for r in keys.records() if include_revoked or r.active]
        return _answer(200, {"keys": records})

    @app.post(
        "/v1/keys",
        tags=["keys"],
        summary="Create an API key; the answer holds its secret, the only time it is shown",
        status_code=201,
        response_class=Response,
        responses={
            201: {
                "description": "The new key, with its secret in `key`",
                "content": {"application/json": {"schema": _NEW_KEY}},
            },
            400: {
                "description": "A channel on a key that is not a write key, or an unknown channel",
                **ERROR_RESPONSE,
            },
            409: {"description": "An active key already has this name", **ERROR_RESPONSE},
            422: {"description": "The body is not JSON like " + _EXAMPLE, **ERROR_RESPONSE},
            **auth_responses(*ADMINS),
        },
        # The body is read by the handler, after the key is checked: a caller without an admin key learns
        # nothing, not even what a valid body looks like.
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": NewKey.model_json_schema()}},
            }
        },
    )
    async def create_key(request: Request, key: AdminKey) -> Response:
        try:
            new = NewKey.model_validate_json(await request.body())
        except ValidationError as exc:
            return _refuse(
                422, "invalid_key_request", f"the body must be JSON like {_EXAMPLE}: {_problems(exc)}"
            )
        try:
            record, secret = await run_in_threadpool(keys.create, new.role, new.name, new.channel)
        except KeyExists as exc:
            return _refuse(409, "key_name_taken", str(exc))
        except KeyError_ as exc:
            return _refuse(400, "bad_key_request", str(exc))
        await run_in_threadpool(
            audit.append, actor(key), "key.create", record.id, via="api", name=record.name, role=record.role,
            channel=record.channel,
        )  # fmt: skip
        return _answer(201, {"key": secret, **record.public()})

    @app.delete(
        "/v1/keys/{id_or_name}",
        tags=["keys"],
        summary="Revoke an API key by id or name: every process refuses it at once",
        response_class=Response,
        responses={
            200: {"description": "The revoked key", "content": {"application/json": {"schema": _KEY}}},
            404: {"description": "No active key has this id or name", **ERROR_RESPONSE},
            **auth_responses(*ADMINS),
        },
    )
    def revoke_key(key: AdminKey, id_or_name: str) -> Response:
        try:
            record = keys.revoke(id_or_name)
        except NoSuchKey as exc:
            return _refuse(404, "no_key", str(exc))
        audit.append(actor(key), "key.revoke", record.id, via="api", name=record.name, role=record.role)
        return _answer(200, record.public())
