"""QA of `/api/v1/backoffice/visits` as an adversarial back-office integrator: what an earlier probe over real
HTTP broke.

- A counter of spaces only (or of punctuation only) called a visitor "to counter '   '": the kiosk showed a blank
  counter and the visitor was taken from the queue. It is 422 now and nobody is called; a counter with spaces
  around it is kept without them.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.visits.models import Visit, VisitStatus
from tests.api.test_visits_api import BASE, headers, problem, visit

pytestmark = pytest.mark.db


@pytest.mark.parametrize("counter", ["   ", " ", "-", ".", " . - "])
def test_a_counter_without_a_letter_or_digit_calls_nobody(client: TestClient, app: Any, counter: str) -> None:
    waiting = visit(app, "SXD", status=VisitStatus.CHECKED_IN, slot="07:30")
    h = headers(client, app, "SXD")
    body = problem(client.post(f"{BASE}/call-next", json={"counter": counter}, headers=h), 422)
    assert body["errors"][0]["loc"] == ["body", "counter"]
    with Session(app.state.engine) as s:
        row = s.get(Visit, waiting.id)
        assert row is not None and row.status == VisitStatus.CHECKED_IN and row.counter is None
    s_row = client.post(f"{BASE}/{waiting.id}/missed", headers=h)  # leave the queue as found for other tests
    assert s_row.status_code == 200, s_row.text


def test_a_counter_is_kept_without_spaces_around_it(client: TestClient, app: Any) -> None:
    waiting = visit(app, "STC", status=VisitStatus.CHECKED_IN, slot="07:30")
    h = headers(client, app, "STC")
    r = client.post(f"{BASE}/call-next", json={"counter": "  Quầy 3 "}, headers=h)
    assert r.status_code == 200, r.text
    called = r.json()["called"]
    assert called is not None and called["counter"] == "Quầy 3"
    client.post(f"{BASE}/{called['id']}/served", headers=h)
    if called["id"] != waiting.id:  # pragma: no cover - another test's visitor of the day came first
        client.post(f"{BASE}/{waiting.id}/missed", headers=h)
