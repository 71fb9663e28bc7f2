"""Who may call the read and admin APIs: one check for every route that is not ingest.

Every such route takes ``Authorization: Bearer KEY``. Read routes let read and admin keys in; admin routes
(keys, privacy actions) only admin keys; a write key is never let in, since write keys only send events
and never read personal data. The answers, all ``{"success": false, "code", "message"}``:

- ``401`` no key or an unknown or revoked one, with ``WWW-Authenticate: Bearer``
  (codes ``missing_read_key`` / ``invalid_read_key``, or ``..._admin_key`` on admin routes);
- ``403`` a valid key of the wrong role, naming the role needed (``read_key_required``,
  ``admin_key_required``);
- ``429`` the key is over its rate limit (``[api] read_requests_per_second``), with ``Retry-After``.

The key ring and the limiter live on ``app.state`` (``install`` puts them there). Adding an admin route::

    from touchpoints.privacy.access import AdminKey, actor, auth_responses

    @app.post("/v1/privacy/erase", responses={200: {...}, **auth_responses("admin")})
    def erase(key: AdminKey, ref: str) -> Response:
        AuditLog(settings.audit_path).append(actor(key), "privacy.erase", ref)
        ...

``AdminKey`` (admin keys) and ``ReaderKey`` (read and admin keys) are ``Depends(requires(...))``: they
declare the bearer scheme in the OpenAPI description and refuse before the route runs, and before its
parameters are validated (only a JSON body FastAPI cannot parse at all is answered first, 400 or 422).
Inside a handler that has the request, the same check is::

    key = authorise(request, allow=("admin",))
    if isinstance(key, Response):
        return key

Every route of the app is tested with no key, a write key, a read key and an admin key
(tests/privacy/test_roles.py): a route that should answer without a key must be listed there as public.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request
from starlette.responses import Response

from touchpoints.collector.openapi import ERROR_RESPONSE as ERROR_RESPONSE
from touchpoints.privacy.keys import KeyRecord, KeyRing
from touchpoints.privacy.ratelimit import RateLimiter, retry_after

READERS = ("read", "admin")
ADMINS = ("admin",)

_NO_STORE = {"cache-control": "no-store"}
# The body of every refusal is the collector's error body ({"success": false, "code", "message"}).
_SCHEMES = {
    "read": HTTPBearer(
        auto_error=False,
        scheme_name="readKey",
        description="A read or admin key: `Authorization: Bearer tpr_...` (or `tpa_...`).",
    ),
    "admin": HTTPBearer(
        auto_error=False, scheme_name="adminKey", description="An admin key: `Authorization: Bearer tpa_...`."
    ),
}

# What a route declares in OpenAPI (``security``), so /docs and schemathesis know to send the key.
_DECLARED = {need: Security(scheme) for need, scheme in _SCHEMES.items()}


class AccessRefused(Exception):
    """Raised by a ``requires`` dependency; the app answers with ``response`` (see ``install``)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def install(app: FastAPI, keys: KeyRing, limiter: RateLimiter) -> None:
    """Puts the key ring and the limiter of the read and admin APIs on ``app.state``, and answers the
    refusals of ``requires``."""
    app.state.keys = keys
    app.state.limiter = limiter

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AccessRefused)
        return exc.response

    app.add_exception_handler(AccessRefused, refused)


def _needed(allow: tuple[str, ...]) -> str:
    """The least role that ``allow`` lets in, as messages and codes name it."""
    if not allow or not set(allow) <= set(READERS):
        raise ValueError(f"allow={allow!r}: the read and admin APIs let in read and admin keys only")
    return "read" if "read" in allow else "admin"


def _refuse(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"success": False, "code": code, "message": message}, ensure_ascii=False)
    return Response(body, status, {**_NO_STORE, **(headers or {})}, media_type="application/json")


def bearer_token(header: str | None) -> str | None:
    """The key in ``Authorization: Bearer KEY``; None for no header, another scheme, or no key."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def authorise(request: Request, *, allow: tuple[str, ...]) -> KeyRecord | Response:
    """The record of the request's bearer key when its role is in ``allow`` and it is within its rate
    limit (which this spends); else the 401, 403 or 429 answer that says why not."""
    need = _needed(allow)
    keys: KeyRing = request.app.state.keys
    limiter: RateLimiter = request.app.state.limiter
    create = f"create one with `touchpoints keys create --role {need} --name NAME`"
    secret = bearer_token(request.headers.get("authorization"))
    if secret is None:
        return _refuse(
            401,
            f"missing_{need}_key",
            f"no key: send {'a read or admin' if need == 'read' else 'an admin'} key as "
            f"`Authorization: Bearer KEY` ({create})",
            {"www-authenticate": 'Bearer realm="touchpoints"'},
        )
    record = keys.verify(secret)
    if record is None:
        return _refuse(
            401,
            f"invalid_{need}_key",
            f"the key is unknown or revoked; {create}",
            {"www-authenticate": 'Bearer realm="touchpoints", error="invalid_token"'},
        )
    if record.role not in allow:
        needed = "a read or admin key" if need == "read" else "an admin key"
        why = (
            "write keys only send events and never read personal data"
            if record.role == "write"
            else f"{record.role} keys cannot do this"
        )
        return _refuse(
            403,
            f"{need}_key_required",
            f"key {record.name!r} is {'an' if record.role == 'admin' else 'a'} {record.role} key: {why}; "
            f"{request.method} {request.url.path} needs {needed} ({create})",
        )
    wait = limiter.take(record.id)
    if wait > 0:
        after = retry_after(wait)
        return _refuse(
            429,
            "rate_limited",
            f"key {record.name!r} ({record.id}) is over its limit of {limiter.describe()} on "
            f"{limiter.what}; retry after {after} s (the limit is [api] read_requests_per_second and "
            "read_burst in config.toml)",
            {"retry-after": after},
        )
    return record


def requires(*allow: str) -> Callable[..., Awaitable[KeyRecord]]:
    """A FastAPI dependency: the bearer key's record, or the refusal answered at once. Declares the bearer
    scheme (``readKey`` or ``adminKey``) in the OpenAPI description."""
    declared = _DECLARED[_needed(allow)]

    # The scheme is a default, not in Annotated: annotations are strings here, resolved in module globals.
    async def key_of_request(
        request: Request, _: HTTPAuthorizationCredentials | None = declared
    ) -> KeyRecord:
        verdict = authorise(request, allow=allow)
        if isinstance(verdict, Response):
            raise AccessRefused(verdict)
        return verdict

    return key_of_request


# The key of a route's request, as a parameter: ``def erase(key: AdminKey, ...)``.
ReaderKey = Annotated[KeyRecord, Depends(requires(*READERS))]
AdminKey = Annotated[KeyRecord, Depends(requires(*ADMINS))]


def auth_responses(*allow: str) -> dict[int | str, dict[str, Any]]:
    """The 401, 403 and 429 answers of a route, for its OpenAPI ``responses``."""
    needed = "a read or admin key" if _needed(allow) == "read" else "an admin key"
    return {
        401: {"description": "No key, or an unknown or revoked one", **ERROR_RESPONSE},
        403: {"description": f"A key of another role: this needs {needed}", **ERROR_RESPONSE},
        429: {
            "description": "The key is over its rate limit; retry after `Retry-After` seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            **ERROR_RESPONSE,
        },
    }


def actor(key: KeyRecord) -> str:
    """How the audit log names the holder of a key."""
    return f"key:{key.id}:{key.name}"
