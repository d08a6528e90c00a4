"""`/api/v1/backoffice/visits`: the day's visits, calling the next visitor to a counter, served and missed; the
client's own agency only, problem details for every refusal, Idempotency-Key on the POSTs."""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.visits.models import Visit, VisitPurpose, VisitStatus
from tests import factories
from tests.api.test_token_and_api import bearer, get_token, new_client

pytestmark = pytest.mark.db
BASE = "/api/v1/backoffice/visits"


def headers(client: TestClient, app: Any, agency: str) -> dict[str, str]:
    client_id, secret = new_client(app, agency=agency)
    return bearer(get_token(client, client_id, secret))


def visit(app: Any, agency: str, *, day: date | None = None, **over: Any) -> Visit:
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        values: dict[str, Any] = {
            "agency_code": agency,
            "account_id": factories.account(s).id,
            "owner_id": secrets.token_hex(16),
            "reference": "SXD-260601-0001",
            "purpose": VisitPurpose.COLLECT_RESULT,
            "day": day or local_date(utcnow()),
            "slot": "07:30",
            "queue_number": secrets.randbelow(10**6) + 1000,
            "token": secrets.token_urlsafe(24),
        }
        values.update(over)
        row = Visit(**values)
        s.add(row)
        s.commit()
        return row


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return dict(r.json())


def test_a_counter_calls_serves_and_misses(client: TestClient, app: Any) -> None:
    h = headers(client, app, "SXD")
    first = visit(app, "SXD", status=VisitStatus.CHECKED_IN, slot="07:30", queue_number=1)
    second = visit(app, "SXD", status=VisitStatus.CHECKED_IN, slot="08:00", queue_number=2)
    later_day = visit(app, "SXD", day=date(2031, 3, 3), queue_number=1)

    r = client.get(BASE, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["day"] == local_date(utcnow()).isoformat()
    ids = [v["id"] for v in body["items"]]
    assert ids.index(first.id) < ids.index(second.id) and later_day.id not in ids
    one = next(v for v in body["items"] if v["id"] == first.id)
    assert one["number"] == "SXD-001" and one["status"] == "checked_in" and one["dossier_code"] == "SXD-260601-0001"
    assert "token" not in one and "account_id" not in one
    assert [v["id"] for v in client.get(BASE, params={"day": "2031-03-03"}, headers=h).json()["items"]] == [
        later_day.id
    ]

    key = {"Idempotency-Key": secrets.token_hex(16)}
    r = client.post(f"{BASE}/call-next", json={"counter": "3"}, headers={**h, **key})
    assert r.status_code == 200, r.text
    called = r.json()["called"]
    assert called["id"] == first.id and called["status"] == "called" and called["counter"] == "3"
    replay = client.post(f"{BASE}/call-next", json={"counter": "3"}, headers={**h, **key})
    assert replay.json()["called"]["id"] == first.id and replay.headers.get("Idempotent-Replayed") == "true"
    assert "SXD-001</td><td>3</td>" in client.get("/kiosk", params={"agency": "SXD"}).text

    r = client.post(f"{BASE}/call-next", json={"counter": "4"}, headers=h)
    assert r.json()["called"]["id"] == second.id

    r = client.post(f"{BASE}/{first.id}/served", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "served" and r.json()["served_at"]
    assert client.post(f"{BASE}/{first.id}/served", json={}, headers=h).json()["status"] == "served"  # a repeat
    problem(client.post(f"{BASE}/{first.id}/missed", headers=h), 409)
    r = client.post(f"{BASE}/{second.id}/missed", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "missed"
    problem(client.post(f"{BASE}/{second.id}/served", headers=h), 409)
    cancelled = visit(app, "SXD", status=VisitStatus.CANCELLED, queue_number=3)
    problem(client.post(f"{BASE}/{cancelled.id}/served", headers=h), 409)


def test_nobody_waiting(client: TestClient, app: Any) -> None:
    h = headers(client, app, "STC")
    r = client.post(f"{BASE}/call-next", json={"counter": "1"}, headers=h)
    assert r.status_code == 200 and r.json() == {"called": None}


def test_another_agencys_visits_are_not_found(client: TestClient, app: Any) -> None:
    theirs = visit(app, "CAT", status=VisitStatus.CHECKED_IN)
    h = headers(client, app, "SNV")
    assert theirs.id not in [v["id"] for v in client.get(BASE, headers=h).json()["items"]]
    problem(client.post(f"{BASE}/{theirs.id}/served", headers=h), 404)
    problem(client.post(f"{BASE}/{theirs.id}/missed", headers=h), 404)
    problem(client.post(f"{BASE}/{'x' * 40}/missed", headers=h), 404)
    with Session(app.state.engine) as s:
        row = s.get(Visit, theirs.id)
        assert row is not None and row.status == VisitStatus.CHECKED_IN


def test_bad_input_and_no_token(client: TestClient, app: Any) -> None:
    h = headers(client, app, "SNV")
    bodies: list[Any] = [
        {},
        {"counter": ""},
        {"counter": "x" * 21},
        {"counter": "<b>"},
        {"counter": "1", "extra": 1},
        [],
    ]
    for body in bodies:
        problem(client.post(f"{BASE}/call-next", json=body, headers=h), 422)
    problem(
        client.post(f"{BASE}/call-next", content=b"{not json", headers={**h, "Content-Type": "application/json"}), 422
    )
    problem(client.get(BASE, params={"day": "2026-02-30"}, headers=h), 422)
    problem(client.get(BASE, params={"day": "tomorrow"}, headers=h), 422)
    problem(client.post(f"{BASE}/abc/served", json={"x": 1}, headers=h), 422)
    problem(client.get(BASE), 401)
    postal_id, postal_secret = new_client(app, "postal")
    problem(client.get(BASE, headers=bearer(get_token(client, postal_id, postal_secret))), 403)


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"get"} <= set(paths[BASE]) and "post" in paths[f"{BASE}/call-next"]
    for path in (f"{BASE}/{{visit_id}}/served", f"{BASE}/{{visit_id}}/missed"):
        responses = paths[path]["post"]["responses"]
        assert {"200", "401", "403", "404", "409", "422"} <= set(responses)
        assert "application/problem+json" in responses["409"]["content"]
