"""The centre's kiosk over HTTP, without signing in: the queue board, a dossier's public status by code or by
its receipt's QR code, checking in with a ticket's QR code, and the idle reset."""

from __future__ import annotations

import re
import secrets
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.dossiers.models import Dossier
from portal.kernel.calendar import local_date
from portal.kernel.clock import local, utcnow
from portal.kernel.db import writer
from portal.visits.models import Visit, VisitPurpose, VisitStatus
from tests import factories
from tests.conftest import csrf

pytestmark = pytest.mark.db


def committed_dossier(app: Any) -> Dossier:
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        row = factories.dossier(s, submitted=True, code=f"UBXA-{local(utcnow()):%y%m%d}-{secrets.randbelow(10**6):06d}")
        s.commit()
        return row


def committed_visit(app: Any, *, day: date | None = None, agency: str = "STP", **over: Any) -> Visit:
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        person = factories.account(s)
        values: dict[str, Any] = {
            "agency_code": agency,
            "account_id": person.id,
            "owner_id": secrets.token_hex(16),
            "purpose": VisitPurpose.COLLECT_RESULT,
            "day": day or local_date(utcnow()),
            "slot": "07:30",
            "queue_number": 500 + secrets.randbelow(400),
            "token": secrets.token_urlsafe(24),
        }
        values.update(over)
        row = Visit(**values)
        s.add(row)
        s.commit()
        return row


def test_the_start_page_needs_no_sign_in_and_resets_itself(client: TestClient) -> None:
    page = client.get("/kiosk")
    assert page.status_code == 200
    assert 'id="board"' in page.text and 'hx-trigger="every 15s"' in page.text
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+;url=/kiosk"></noscript>', page.text)
    assert 'name="csrf_token"' in page.text and 'action="/kiosk/check-in"' in page.text
    assert "/static/js/kiosk.js" in page.text and 'class="kiosk"' in page.text
    fragment = client.get("/kiosk", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<section class="kiosk-board" id="board"')


def test_lookup_by_code_or_by_the_receipts_qr_code(app: Any, client: TestClient, settings: Any) -> None:
    dossier = committed_dossier(app)
    assert dossier.code
    for typed in (dossier.code, dossier.code.lower(), f"{settings.base_url}/lookup?code={dossier.code}"):
        r = client.get("/kiosk/lookup", params={"q": typed})
        assert r.status_code == 200, r.text
        assert f"{dossier.code}" in r.text and 'id="lookup-result"' in r.text
        assert "status-submitted" in r.text
        assert "Nguyễn Thị Hường" not in r.text and "001190012345" not in r.text  # no personal data
        assert re.search(r'content="60;url=/kiosk"', r.text)  # back to the start after a minute
    assert client.get("/kiosk/lookup", params={"q": "<script>"}).status_code == 422
    r = client.get("/kiosk/lookup", params={"q": "http://x/lookup?nocode=1"})
    assert r.status_code == 422 and 'id="q-error"' in r.text
    assert client.get("/kiosk/lookup", params={"q": "STP-991231-9999"}).status_code == 404
    assert client.get("/kiosk/lookup", params={"q": "x" * 400}).status_code == 422
    assert client.get("/kiosk/lookup", params={"q": ""}).status_code == 200
    # A draft is not public.
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        draft = factories.dossier(s, code=f"UBXA-{local(utcnow()):%y%m%d}-{secrets.randbelow(10**6):06d}")
        s.commit()
    assert client.get("/kiosk/lookup", params={"q": draft.code}).status_code == 404


def test_check_in_with_the_tickets_qr_code(app: Any, client: TestClient) -> None:
    visit = committed_visit(app)
    token = csrf(client, "/kiosk")
    r = client.post("/kiosk/check-in", data={"csrf_token": token, "token": visit.token})
    assert r.status_code == 200, r.text
    number = f"STP-{visit.queue_number:03d}"
    assert f'id="checked-in-number">{number}<' in r.text
    with Session(app.state.engine) as s:
        row = s.get(Visit, visit.id)
        assert row is not None and row.status == VisitStatus.CHECKED_IN
    assert number in client.get("/kiosk").text.split('id="next-numbers"', 1)[1]  # waiting to be called
    again = client.post("/kiosk/check-in", data={"csrf_token": token, "token": visit.token})
    assert again.status_code == 200  # a second scan is harmless


def test_check_in_refusals_say_why(app: Any, client: TestClient) -> None:
    token = csrf(client, "/kiosk")
    for typed, status in (("not-a-ticket", 404), ("", 422), ("x" * 300, 404)):
        r = client.post("/kiosk/check-in", data={"csrf_token": token, "token": typed})
        assert r.status_code == status, r.text
        assert 'id="token-error"' in r.text and 'aria-invalid="true"' in r.text
    tomorrow = committed_visit(app, day=date(2031, 1, 2))
    r = client.post("/kiosk/check-in", data={"csrf_token": token, "token": tomorrow.token})
    assert r.status_code == 409 and "02/01/2031" in r.text
    cancelled = committed_visit(app, status=VisitStatus.CANCELLED)
    assert client.post("/kiosk/check-in", data={"csrf_token": token, "token": cancelled.token}).status_code == 409
    # Without the session's CSRF token: refused, nothing checked in.
    fresh = committed_visit(app)
    anonymous = TestClient(app, follow_redirects=False)
    assert anonymous.post("/kiosk/check-in", data={"token": fresh.token}).status_code == 403
    with Session(app.state.engine) as s:
        row = s.get(Visit, fresh.id)
        assert row is not None and row.status == VisitStatus.BOOKED


def test_the_board_shows_the_numbers_called_and_their_counters(app: Any, client: TestClient) -> None:
    called = committed_visit(app, agency="SNV", status=VisitStatus.CALLED, counter="7", called_at=utcnow())
    waiting = committed_visit(app, agency="SNV", status=VisitStatus.CHECKED_IN, slot="08:00")
    board = client.get("/kiosk", params={"agency": "SNV"}).text
    serving = board.split('id="now-serving"', 1)[1].split("</table>", 1)[0]
    assert f"SNV-{called.queue_number:03d}</td><td>7</td>" in serving
    assert f"SNV-{waiting.queue_number:03d}" in board.split('id="next-numbers"', 1)[1]
    assert "Sở Nội vụ" in board
    # An unknown agency shows the whole centre.
    assert client.get("/kiosk", params={"agency": "NOPE"}).status_code == 200
