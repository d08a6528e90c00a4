"""QA of the centre's check in the console (issue 16 F over HTTP): crossed decisions at the same moment, a dossier
that is not waiting, odd reasons, a result of another dossier. One decision, never a 500, never a lost reason."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from portal.dossiers.models import DossierResult, DossierStatus
from portal.kernel.audit import AuditEvent
from tests import factories
from tests.staff.test_console_checks import waiting_dossier
from tests.staff_factories import staff_client, staff_csrf
from tests.web.test_lifecycle_pages import fresh, received

pytestmark = pytest.mark.db


def test_confirm_and_send_back_at_the_same_moment_make_one_decision(app: Any, db: Session) -> None:
    dossier, result = waiting_dossier(app, db, "cung-luc")
    confirming = staff_client(app, role="supervisor", full_name="Giám Sát Một")
    returning = staff_client(app, role="supervisor", full_name="Giám Sát Hai")
    tokens = {id(c): staff_csrf(c) for c in (confirming, returning)}
    start = threading.Barrier(2)
    statuses: dict[str, int] = {}

    def decide(client: TestClient, action: str, data: dict[str, str]) -> None:
        start.wait(10)
        r = client.post(f"/staff/checks/{dossier.id}/{action}", data={"csrf_token": tokens[id(client)], **data})
        statuses[action] = r.status_code

    threads = [
        threading.Thread(target=decide, args=(confirming, "confirm", {})),
        threading.Thread(target=decide, args=(returning, "send-back", {"reason": "Sai số thửa đất trên giấy phép."})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses.values()) == [303, 409], statuses
    row = fresh(db, dossier)
    db.rollback()
    checked = db.get(DossierResult, result.id)
    assert checked is not None
    if statuses["confirm"] == 303:
        assert row.status == DossierStatus.RESULT_READY and checked.refused_reason is None
    else:
        assert row.status == DossierStatus.IN_PROCESS and checked.refused_reason
    decisions = db.exec(
        select(AuditEvent).where(
            col(AuditEvent.dossier_id) == dossier.id,
            col(AuditEvent.kind).in_(["dossier.result_confirmed", "dossier.result_returned"]),
        )
    ).all()
    assert len(decisions) == 1


def test_a_dossier_not_waiting_for_the_check_is_refused_not_decided(app: Any, db: Session) -> None:
    dossier = factories.dossier(db, submitted=True, procedure_code="1.013225", delivery_method="centre")
    db.commit()
    received(db, dossier)
    client = staff_client(app, role="supervisor")
    token = staff_csrf(client)
    assert client.get(f"/staff/checks/{dossier.id}").status_code == 200
    assert client.post(f"/staff/checks/{dossier.id}/confirm", data={"csrf_token": token}).status_code == 409
    for reason in ("Lý do hợp lệ đủ dài.", "", "   "):
        r = client.post(f"/staff/checks/{dossier.id}/send-back", data={"csrf_token": token, "reason": reason})
        assert r.status_code == 409, (reason, r.status_code)
    assert fresh(db, dossier).status == DossierStatus.RECEIVED
    draft = factories.dossier(db, procedure_code="1.013225")
    db.commit()
    assert client.get(f"/staff/checks/{draft.id}").status_code == 404
    assert client.post(f"/staff/checks/{draft.id}/confirm", data={"csrf_token": token}).status_code == 404


def test_reasons_at_the_edges(app: Any, db: Session) -> None:
    dossier, result = waiting_dossier(app, db, "ly-do")
    client = staff_client(app, role="supervisor")
    token = staff_csrf(client)
    url = f"/staff/checks/{dossier.id}/send-back"
    for reason in ("", " \t\r\n ", "\x00", "x" * 2001, "Sai. " * 5000):
        r = client.post(url, data={"csrf_token": token, "reason": reason})
        assert r.status_code == 422, (reason[:10], r.status_code)
        assert 'id="error-summary"' in r.text
        if reason.strip() and "\x00" not in reason:
            assert reason[:100] in r.text  # kept as typed
    assert fresh(db, dossier).status == DossierStatus.RESULT_CHECK
    # A reason with markup and a NUL pasted in is stored as text (the NUL dropped), shown escaped.
    r = client.post(url, data={"csrf_token": token, "reason": "<script>alert(1)</script>\x00 Sai dấu."})
    assert r.status_code == 303, r.text[:300]
    db.rollback()
    refused = db.get(DossierResult, result.id)
    assert refused is not None and refused.refused_reason is not None and "\x00" not in refused.refused_reason
    page = client.get(f"/staff/checks/{dossier.id}")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text


def test_a_result_of_another_dossier_is_404(app: Any, db: Session) -> None:
    first, first_result = waiting_dossier(app, db, "mot")
    db.rollback()
    _second, second_result = waiting_dossier(app, db, "hai")
    client = staff_client(app, role="supervisor")
    assert client.get(f"/staff/checks/{first.id}/results/{second_result.id}").status_code == 404
    assert client.get(f"/staff/checks/{first.id}/results/{first_result.id}").status_code == 200
    assert client.get(f"/staff/dossiers/{first.id}/files/{second_result.id}").status_code == 404
