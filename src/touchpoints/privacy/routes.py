"""The privacy admin API (admin keys only): a person's bundle, erasure, rectification and consent.

Each is the same function as its command (``touchpoints privacy export|erase|rectify|consent``), and each
call is in the audit log under the key that made it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Body, FastAPI
from starlette.responses import JSONResponse, Response

from touchpoints.collector.loader import Loader
from touchpoints.config import Settings
from touchpoints.privacy.access import ERROR_RESPONSE, AdminKey, actor, auth_responses
from touchpoints.privacy.audit import AuditLog
from touchpoints.privacy.consent import ConsentError, by_purpose, customer_consent, history, record
from touchpoints.privacy.erasure import NotFound, erase
from touchpoints.privacy.portability import bundle
from touchpoints.privacy.rectify import RectifyError, rectify
from touchpoints.privacy.subject import find
from touchpoints.store.backend import StoreBusy
from touchpoints.store.duckdb import open_store

_OBJECT: dict[str, Any] = {"application/json": {"schema": {"type": "object", "additionalProperties": True}}}
_NO_STORE = {"cache-control": "no-store"}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"success": False, "code": code, "message": message}, status, headers=headers)


def _not_found(ref: str) -> Response:
    return _error(404, "no_customer", f"no customer has the identifier {ref[:200]!r}")


def add_privacy_routes(app: FastAPI, settings: Settings, loader: Loader) -> None:
    """``loader``: the server's own (one per process: two would share its staging file)."""
    log = AuditLog(settings.audit_path)
    common: dict[int | str, dict[str, Any]] = {
        404: {"description": "No customer has this identifier", **ERROR_RESPONSE},
        503: {"description": "The store is busy; retry", **ERROR_RESPONSE},
        **auth_responses("admin"),
    }

    @app.get("/v1/privacy/export/{ref:path}", tags=["privacy"], response_class=Response,
             summary="Everything held about a person (access and portability), found by any identifier",
             responses={200: {"description": "The bundle", "content": _OBJECT}, **common})  # fmt: skip
    def export_route(ref: str, key: AdminKey) -> Response:
        try:
            with open_store(settings.store_path, wait_seconds=10.0) as db:
                loader.load_pending(db, deadline=time.monotonic() + 10.0)
                subject = find(db, ref, settings.identity)
                if subject is None:
                    return _not_found(ref)
                data = bundle(db, settings, subject, ref)
        except StoreBusy as exc:
            return _error(503, "store_busy", str(exc), {"retry-after": "1"})
        log.append(actor(key), "privacy.export", subject.customer_id, via="api", counts=data["counts"])
        return Response(_dumps(data), media_type="application/json", headers=_NO_STORE)

    @app.post("/v1/privacy/erase", tags=["privacy"], response_class=Response,
              summary="Erase a person, found by any identifier; their identifiers are suppressed",
              responses={200: {"description": "What was erased (counts)", "content": _OBJECT}, **common})  # fmt: skip
    def erase_route(
        key: AdminKey,
        identifier: Annotated[str, Body(embed=True, min_length=1, max_length=512)],
        dry_run: Annotated[bool, Body(embed=True)] = False,
    ) -> Response:
        try:
            result = erase(settings, identifier, actor=actor(key), dry_run=dry_run, loader=loader)
        except NotFound:
            return _not_found(identifier)
        except StoreBusy as exc:
            return _error(503, "store_busy", str(exc), {"retry-after": "1"})
        return JSONResponse(result, headers=_NO_STORE)

    @app.post("/v1/privacy/rectify", tags=["privacy"], response_class=Response,
              summary="Correct a person's traits; the correction wins over every source",
              responses={200: {"description": "The correction", "content": _OBJECT},
                         400: {"description": "Nothing to correct, or no reason", **ERROR_RESPONSE}, **common})  # fmt: skip
    def rectify_route(
        key: AdminKey,
        identifier: Annotated[str, Body(embed=True, min_length=1, max_length=512)],
        traits: Annotated[dict[str, Any], Body(embed=True)],
        reason: Annotated[str, Body(embed=True, max_length=2000)],
    ) -> Response:
        try:
            result = rectify(settings, identifier, traits, reason=reason, actor=actor(key))
        except NotFound:
            return _not_found(identifier)
        except RectifyError as exc:
            return _error(400, "bad_rectification", str(exc))
        except StoreBusy as exc:
            return _error(503, "store_busy", str(exc), {"retry-after": "1"})
        return JSONResponse(result, headers=_NO_STORE)

    @app.get("/v1/privacy/consent/{ref:path}", tags=["privacy"], response_class=Response,
             summary="A person's consent per purpose, and every recorded change",
             responses={200: {"description": "Consent now and its history", "content": _OBJECT}, **common})  # fmt: skip
    def consent_read(ref: str, key: AdminKey) -> Response:
        try:
            with open_store(settings.store_path, wait_seconds=10.0) as db:
                subject = find(db, ref, settings.identity)
                if subject is None:
                    return _not_found(ref)
                current, past = customer_consent(db, subject.nodes), history(db, subject.nodes)
        except StoreBusy as exc:
            return _error(503, "store_busy", str(exc), {"retry-after": "1"})
        log.append(actor(key), "consent.read", subject.customer_id, via="api")
        return Response(_dumps(_state(settings, subject.customer_id, current, past)),
                        media_type="application/json", headers=_NO_STORE)  # fmt: skip

    @app.post("/v1/privacy/consent", tags=["privacy"], response_class=Response,
              summary="Record a person's consent statement (per purpose: granted, denied or withdrawn)",
              responses={200: {"description": "Consent after the change", "content": _OBJECT},
                         400: {"description": "An unknown purpose or status", **ERROR_RESPONSE}, **common})  # fmt: skip
    def consent_write(
        key: AdminKey,
        identifier: Annotated[str, Body(embed=True, min_length=1, max_length=512)],
        purposes: Annotated[dict[str, str], Body(embed=True)],
        evidence: Annotated[dict[str, Any], Body(embed=True)],
    ) -> Response:
        if not purposes:
            return _error(400, "bad_consent", 'name at least one purpose, e.g. {"marketing": "granted"}')
        try:
            with open_store(settings.store_path, wait_seconds=10.0) as db:
                subject = find(db, identifier, settings.identity)
                if subject is None:
                    return _not_found(identifier)
                with db.transaction():
                    written = record(db, subject.nodes, purposes, policy=settings.privacy, source=actor(key),
                                     via="api", evidence=evidence)  # fmt: skip
                current, past = customer_consent(db, subject.nodes), history(db, subject.nodes)
        except (ConsentError, ValueError) as exc:
            return _error(400, "bad_consent", str(exc))
        except StoreBusy as exc:
            return _error(503, "store_busy", str(exc), {"retry-after": "1"})
        log.append(actor(key), "consent.change", subject.customer_id, via="api", changes=written)
        return Response(_dumps(_state(settings, subject.customer_id, current, past)),
                        media_type="application/json", headers=_NO_STORE)  # fmt: skip


def _state(settings: Settings, customer_id: str, current: dict[str, Any], past: list[Any]) -> dict[str, Any]:
    return {"customer_id": customer_id, "purposes": by_purpose(settings.privacy, current), "history": past}


def _dumps(data: Any) -> bytes:
    import json

    return json.dumps(data, default=str, ensure_ascii=False).encode("utf-8")
