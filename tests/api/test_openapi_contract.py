"""What /api/openapi.json promises for /api/v1: problem details on every refusal, strict dates, the
partner-visible statuses, Idempotency-Key on every POST, the national status table."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from portal.api import national
from portal.api.idempotency import _lock_id
from portal.dossiers.models import DossierStatus
from portal.kernel.db import writer
from tests.api.helpers import committed_dossier
from tests.api.test_token_and_api import bearer, get_token, make_dossier, new_client

pytestmark = pytest.mark.db
PROBLEM = "application/problem+json"


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in item.items()
    ]


def test_every_operation_documents_its_refusals_as_problems(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    operations = _operations(spec)
    assert len(operations) >= 19
    for method, path, op in operations:
        wanted = {"401", "403", "422", "429"}
        if "{code}" in path:
            wanted |= {"404"}
        if method == "POST":  # 409: a request with the same Idempotency-Key still running
            wanted |= {"404", "409"}
        missing = wanted - set(op["responses"])
        assert not missing, f"{method} {path} lacks {missing}"
        for status, response in op["responses"].items():
            if status.startswith("4"):
                content = response["content"]
                assert list(content) == [PROBLEM], f"{method} {path} {status}: {list(content)}"
                schema = content[PROBLEM]["schema"]
                assert schema["title"] == "ProblemDetails" and {"title", "status"} <= set(schema["required"])
        if method == "POST":
            names = [(p["in"], p["name"]) for p in op.get("parameters", [])]
            assert ("header", "Idempotency-Key") in names, f"{method} {path}"


def test_dates_statuses_and_the_national_table_in_the_schema(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    listing = spec["paths"]["/api/v1/backoffice/dossiers"]["get"]
    status = next(p for p in listing["parameters"] if p["name"] == "status")
    enum_ref = next(s for s in status["schema"]["anyOf"] if "$ref" in s)["$ref"].rsplit("/", 1)[-1]
    assert "draft" not in spec["components"]["schemas"][enum_ref]["enum"]
    # A back-office never sees a draft, nor a linked application's member still waiting for another's result.
    assert set(spec["components"]["schemas"][enum_ref]["enum"]) == {s.value for s in DossierStatus} - {
        "draft",
        "waiting",
    }
    report = spec["paths"]["/api/v1/backoffice/payments/report"]["get"]
    day = next(p for p in report["parameters"] if p["name"] == "day")
    assert day["schema"]["format"] == "date"
    # Every status an agency may see has its national code.
    for s in DossierStatus:
        if s not in (DossierStatus.DRAFT, DossierStatus.WAITING):
            assert national.national_status(s, received=True).code
    with pytest.raises(ValueError):
        national.national_status(DossierStatus.DRAFT, received=False)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/backoffice/payments/report", {"day": "0"}),
        ("/api/v1/backoffice/payments/report", {"day": "2026-1-5"}),
        ("/api/v1/backoffice/payments/report", {"day": "20260105"}),
        ("/api/v1/backoffice/payments/report", {"day": "2026-01-05T00:00:00Z"}),
        ("/api/v1/backoffice/payments/report", {"day": "9999-12-31"}),  # the next day would overflow
        ("/api/v1/backoffice/payments/report", {"day": "0001-01-01"}),
        ("/api/v1/backoffice/dossiers", {"since": "9999-12-31T23:59:59Z"}),
        ("/api/v1/backoffice/dossiers", {"since": "0.5"}),
        ("/api/v1/backoffice/dossiers", {"since": "0"}),
        ("/api/v1/backoffice/dossiers", {"since": "2026-01-05"}),
        ("/api/v1/backoffice/dossiers", {"since": "2026-01-05T00:00:00"}),
        ("/api/v1/backoffice/dossiers", {"status": "draft"}),
    ],
)
def test_lax_dates_and_drafts_are_422(client: TestClient, app, path: str, params: dict[str, str]) -> None:
    client_id, secret = new_client(app)
    r = client.get(path, params=params, headers=bearer(get_token(client, client_id, secret)))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM) and r.json()["errors"]


@pytest.mark.parametrize(
    "since", ["2026-01-05T00:00:00Z", "2026-01-05T07:00:00+07:00", "2026-01-05T00:00:00.123456789z"]
)
def test_rfc3339_instants_are_accepted(client: TestClient, app, since: str) -> None:
    client_id, secret = new_client(app)
    r = client.get(
        "/api/v1/backoffice/dossiers", params={"since": since}, headers=bearer(get_token(client, client_id, secret))
    )
    assert r.status_code == 200, r.text
    r = client.get(
        "/api/v1/backoffice/payments/report",
        params={"day": "2026-01-05"},
        headers=bearer(get_token(client, client_id, secret)),
    )
    assert r.status_code == 200, r.text


def test_a_key_in_use_by_a_running_request_is_409(client: TestClient, app) -> None:
    """On PostgreSQL a second request with a key still being processed is refused at once (not queued)."""
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: the second request waits and gets the replay")
    client_id, secret = new_client(app)
    headers = {**bearer(get_token(client, client_id, secret)), "Idempotency-Key": "busy-key"}
    dossier = committed_dossier(app)
    holding, release = threading.Event(), threading.Event()

    def first_request_in_progress() -> None:
        with Session(writer(app.state.engine)) as s:
            s.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _lock_id(client_id, "busy-key")})
            holding.set()
            release.wait(10)
            s.rollback()

    thread = threading.Thread(target=first_request_in_progress)
    thread.start()
    try:
        assert holding.wait(10)
        r = client.post(f"/api/v1/backoffice/dossiers/{dossier.code}/receive", json={"officer": "A"}, headers=headers)
        assert r.status_code == 409 and "being processed" in r.json()["detail"]
    finally:
        release.set()
        thread.join()
    r = client.post(f"/api/v1/backoffice/dossiers/{dossier.code}/receive", json={"officer": "A"}, headers=headers)
    assert r.status_code == 200, r.text


def test_status_filter_offers_every_visible_status(client: TestClient, app) -> None:
    client_id, secret = new_client(app)
    h = bearer(get_token(client, client_id, secret))
    received = make_dossier(app, status=DossierStatus.RECEIVED)
    r = client.get("/api/v1/backoffice/dossiers", params={"status": "received", "page_size": 100}, headers=h)
    assert r.status_code == 200 and received.code in [d["code"] for d in r.json()["items"]]


def test_a_body_that_cannot_be_parsed_is_a_400_problem(client: TestClient, app) -> None:
    client_id, secret = new_client(app)
    dossier = committed_dossier(app)
    r = client.post(
        f"/api/v1/backoffice/dossiers/{dossier.code}/receive",
        content=b"\xff\xfe{not json",
        headers={**bearer(get_token(client, client_id, secret)), "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith(PROBLEM) and r.json()["status"] == r.status_code
    assert r.json()["title"] in ("Bad Request", "Invalid request")
