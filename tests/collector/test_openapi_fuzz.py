"""Schemathesis (valid and invalid bodies) against the collector's own OpenAPI schema, on a real server: no input makes it fail.

Generated bodies (valid and invalid per the schema) are sent with a valid write key, and every answer must
be a documented status with a documented body; never a server error.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import negative_data_rejection

from tests.conftest import ServerProcess, make_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    home = make_home(Path(tmp_path_factory.mktemp("fuzz")) / "home")
    server = ServerProcess(home.path).start()
    try:
        yield server, home.write_key
    finally:
        server.kill()


def test_no_input_causes_a_server_error(live: tuple[ServerProcess, str]) -> None:
    server, write_key = live
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14, "every ingest path and /health is in the schema"
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation, mode in itertools.product(operations, modes):

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            # An event that breaks the schema inside a well-formed request is accepted into quarantine
            # (200 with the reason), by design; so "schema-violating request accepted" is not a failure.
            case.call_and_validate(headers={"Authorization": auth}, excluded_checks=[negative_data_rejection])

        try:
            check()
        except Unsatisfiable:
            # Nothing to get wrong (/health, /tp.js, /v1/m take no input; a link's query is free text).
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
