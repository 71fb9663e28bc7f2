"""``GET /v1/personalise/{ref}/categories``: the categories to feature for a customer (read keys; call it
from your server, never with a key in a web page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query
from starlette.responses import JSONResponse, Response

from touchpoints.config import Settings
from touchpoints.identity.lookup import find_customer
from touchpoints.personalise.categories import featured
from touchpoints.privacy.access import ERROR_RESPONSE, ReaderKey, auth_responses
from touchpoints.privacy.gate import Gate
from touchpoints.store.backend import StoreBusy
from touchpoints.store.duckdb import open_store

_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["personal", "categories"],
    "properties": {
        "personal": {"type": "boolean"},
        "reason": {"type": ["string", "null"]},
        "categories": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"category": {"type": "string"}, "score": {"type": "number"}},
            },
        },
    },
}


def add_personalise_routes(app: FastAPI, settings: Settings) -> None:
    gate = Gate.for_settings(settings)

    @app.get(
        "/v1/personalise/{ref:path}/categories",
        tags=["personalise"],
        summary="Product categories to feature: the customer's own with personalisation consent, else popular ones",
        response_class=Response,
        responses={
            200: {"description": "The categories, and whether they are personal", "content": {"application/json": {"schema": _ANSWER}}},
            503: {"description": "The store is busy; retry", **ERROR_RESPONSE},
            **auth_responses("read", "admin"),
        },
    )  # fmt: skip
    def categories(ref: str, key: ReaderKey, limit: Annotated[int, Query(ge=1, le=50)] = 5) -> Response:
        try:
            with open_store(settings.store_path, wait_seconds=10.0) as db:
                answer = featured(db, gate, find_customer(db, ref, settings.identity), limit)
        except StoreBusy as exc:
            return JSONResponse({"success": False, "code": "store_busy", "message": str(exc)}, 503,
                                headers={"retry-after": "1"})  # fmt: skip
        return JSONResponse(answer, headers={"cache-control": "no-store"})
