"""QA (issue 15): the back-office API and the statistics against their OpenAPI document (schemathesis), with a
linked application in the database: half of the generated requests that name a dossier name its parent, a member
waiting for another's result, or another agency's member. Never a 5xx; every answer as documented (a 404 problem
for all three, as for a code that does not exist)."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient

from tests.api.test_schemathesis import _conform, _real_half
from tests.qa.linked_scene import A, B, D, browser, partner, submitted_application

pytestmark = pytest.mark.db


def test_backoffice_api_with_linked_codes_conforms_to_its_schema(app: Any, settings: Any) -> None:
    _, account_id = browser(app)
    scene = submitted_application(app, settings, account_id)
    token = partner(app, "CAT")  # B (waiting) is CAT's; A is UBXA's; the parent is nobody's
    codes = [scene.parent_code, scene.codes[B], scene.codes[A], scene.codes[D]]
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).include(
        path_regex=r"^/api/v1/backoffice/dossiers/\{code\}"
    )
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 12, [op.label for op in operations]

    def prepare(case: schemathesis.Case) -> dict[str, str]:
        _real_half(case, "code", codes)
        return token

    failures = _conform(operations, prepare)
    assert not failures, "\n\n".join(failures)
    # Nothing was done to any of them.
    client = TestClient(app)
    for code in codes:
        assert client.get(f"/api/v1/backoffice/dossiers/{code}", headers=token).status_code == 404


def test_stats_api_with_a_linked_procedure_conforms_to_its_schema(app: Any, settings: Any) -> None:
    _, account_id = browser(app)
    scene = submitted_application(app, settings, account_id)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).include(path_regex=r"^/api/stats")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {op.label for op in operations} == {"GET /api/stats", "GET /api/stats.csv"}

    def prepare(case: schemathesis.Case) -> dict[str, str]:
        if case.query is not None and "procedure" in case.query and zlib.crc32(str(case.query).encode()) % 2 == 0:
            case.query["procedure"] = scene.procedure  # a linked entry: refused as a filter (422)
        return {}

    failures = _conform(operations, prepare)
    assert not failures, "\n\n".join(failures)
    r = TestClient(app).get("/api/stats", params={"procedure": scene.procedure})
    assert r.status_code == 422, r.text
