"""Schemathesis (valid and invalid bodies) against the collector's own OpenAPI schema, on a real server: no input makes it fail.

Generated requests (valid and invalid per the schema) go to every operation with the key it declares: a
write key (HTTP Basic) to the ingest endpoints, an admin key (Bearer) to the read and admin APIs, which
declare a bearer scheme. Every answer must be a documented status with a documented body; never a server
error. Schemathesis also checks that an operation declaring a scheme refuses a request without the key.
"""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.conftest import ServerProcess, make_home
from touchpoints.privacy.keys import KeyRing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    # Rate limits off, so every generated request reaches its handler (test_ratelimit.py tests the limits).
    home = make_home(
        Path(tmp_path_factory.mktemp("fuzz")) / "home",
        "[api]\nread_requests_per_second = 0\ningest_requests_per_second = 0\n",
    )
    # An admin key with a name no generated DELETE /v1/keys/{id_or_name} will guess.
    _, admin = KeyRing(home.settings.keys_path).create("admin", "fuzz-" + secrets.token_hex(8))
    server = ServerProcess(home.path).start()
    basic = "Basic " + base64.b64encode(f"{home.write_key}:".encode()).decode()
    try:
        yield server, {"basic": basic, "bearer": f"Bearer {admin}"}
    finally:
        server.kill()


def fuzz(
    operation: Any, mode: schemathesis.GenerationMode, key: str, excluded: list[Any], examples: int
) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": key}, excluded_checks=excluded)

    try:
        check()
    except Unsatisfiable:
        # Nothing to get wrong (/health, /tp.js, /v1/m take no input; a link's query is free text).
        assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label


def test_no_input_causes_a_server_error(live: tuple[ServerProcess, dict[str, str]]) -> None:
    server, auth = live
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14, "every ingest path and /health is in the schema"
    bearer = {op.label for op in operations if op.definition.raw.get("security")}
    assert bearer >= {
        "GET /v1/profiles/{ref}",
        "GET /v1/keys",
        "POST /v1/keys",
        "DELETE /v1/keys/{id_or_name}",
    }
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation, mode in itertools.product(operations, modes):
        # An event that breaks the schema inside a well-formed request is accepted into quarantine (200
        # with the reason), by design; so "schema-violating request accepted" is not a failure.
        excluded: list[Any] = [negative_data_rejection]
        if operation.label in bearer and "400" in operation.definition.raw["responses"]:
            # A read or admin route's documented 400 is a check the schema cannot state (a search with no
            # criterion, a `before` that is not a cursor), so a schema-valid request may get it.
            excluded.append(positive_data_acceptance)
        if operation.label in bearer:
            # Fewer examples: each request opens the store, and there are many such routes; the suite runs
            # on 2 cores.
            fuzz(operation, mode, auth["bearer"], excluded, examples=15)
        else:
            fuzz(operation, mode, auth["basic"], excluded, examples=25)
