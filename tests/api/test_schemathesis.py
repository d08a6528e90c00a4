"""The OpenAPI document of /api/v1 against the running API (schemathesis): with real bearer tokens, no
generated request gets a 5xx, and every answer matches the schema of its operation (status, media type, body).

Each operation gets a few derandomised valid and invalid examples (about 30 s in all); half of the requests that name a
dossier name a real one of the client's agency, so that success answers are checked too, not only 404s. The postal
operators' paths are a test of their own, with a token of an operator and orders of that operator.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.helpers import committed_dossier
from tests.api.postal_helpers import claimed_order, committed_order, deliver, operator_headers
from tests.api.test_token_and_api import bearer, get_token, new_client

pytestmark = pytest.mark.db
EXAMPLES = 10
# Valid requests (answers as documented, success included), and invalid ones (each refused with a documented
# problem, never a 5xx).
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
# No 5xx; the status, the media type and the body each as documented for the operation.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _conform(operations: list[Any], prepare: Callable[[schemathesis.Case], dict[str, str]]) -> list[str]:
    """Run each operation's valid and invalid examples; `prepare` may point a case at real data and gives its
    headers. Returns the failures, each operation tried."""
    failures: list[str] = []
    for operation, mode in itertools.product(operations, MODES):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            headers = prepare(case)
            # A generous read timeout (the client's default is 10 s): a receipt is sealed when asked for, which
            # takes seconds on a loaded machine; a hang would still fail, and a 5xx is checked as before.
            response = case.call(headers={**dict(case.headers or {}), **headers}, timeout=120)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            assert mode == schemathesis.GenerationMode.NEGATIVE  # only a string in the path: nothing invalid to send
        except Exception as exc:  # every operation is tried; the failures are reported together
            # a flaky failure hides what failed in its sub-exceptions: report them
            failures.append(f"{operation.label} ({mode.value}): {exc} {getattr(exc, 'exceptions', '')!r}")
    return failures


def _real_half(case: schemathesis.Case, name: str, values: list[str]) -> None:
    """Half of the cases name a real object, chosen from the generated value itself, so that Hypothesis replaying
    a failing case sends the same request (and reports its error)."""
    if case.path_parameters and name in case.path_parameters:
        digest = zlib.crc32(str(case.path_parameters[name]).encode())
        if digest % 2 == 0:
            case.path_parameters[name] = values[digest // 2 % len(values)]


def test_api_v1_conforms_to_its_schema(app) -> None:
    client = TestClient(app)
    bo_id, bo_secret = new_client(app)
    token = bearer(get_token(client, bo_id, bo_secret))
    codes = [committed_dossier(app).code or "" for _ in range(4)]
    # The postal operators' paths have their own test (below), with orders of their own.
    schema = (
        schemathesis.openapi.from_asgi("/api/openapi.json", app)
        .include(path_regex=r"^/api/v1/")
        .exclude(path_regex=r"^/api/v1/postal/")
    )
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15, [op.label for op in operations]

    def prepare(case: schemathesis.Case) -> dict[str, str]:
        _real_half(case, "code", codes)
        return token

    failures = _conform(operations, prepare)
    assert not failures, "\n\n".join(failures)


def test_postal_api_conforms_to_its_schema(app, settings) -> None:
    """The operators' API, with a token of an operator that has orders: new, claimed, delivered with proof."""
    client = TestClient(app)
    token = operator_headers(client, app)
    fresh = [committed_order(app, settings, cod_amount=50_000) for _ in range(2)]
    claimed = [claimed_order(client, app, settings, token, cod_amount=50_000) for _ in range(2)]
    done = claimed_order(client, app, settings, token)
    assert deliver(client, token, done).status_code == 200
    numbers = [o.number for o in [*fresh, *claimed, done]]
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).include(path_regex=r"^/api/v1/postal/")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 9, [op.label for op in operations]

    def prepare(case: schemathesis.Case) -> dict[str, str]:
        _real_half(case, "number", numbers)
        return token

    failures = _conform(operations, prepare)
    assert not failures, "\n\n".join(failures)
