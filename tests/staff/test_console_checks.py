"""The centre's check in the console (portal/staff/check_views.py), over HTTP: the waiting list, one
dossier's result with its signature report, confirm, send back with a reason, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.models import Account
from portal.dossiers import lifecycle
from portal.dossiers.models import Dossier, DossierResult, DossierStatus
from portal.kernel.audit import AuditEvent
from signing.pki import get_pki
from signing.verify_service import trust_setup
from tests import factories
from tests.conftest import signup
from tests.signing.helpers import make_test_pdf, sign_with
from tests.staff_factories import staff_client, staff_csrf
from tests.web.test_lifecycle_pages import BY, fresh, received

pytestmark = pytest.mark.db
PERMIT = "1.013225"  # centre_check: true in the demo catalogue


def waiting_dossier(app: Any, db: Session, title: str = "giay-phep") -> tuple[Dossier, DossierResult]:
    """A citizen's permit dossier whose signed result waits for the centre's check."""
    citizen = TestClient(app, follow_redirects=False)
    login = signup(citizen)
    account = db.exec(select(Account).where(Account.email == login)).one()
    db.rollback()
    dossier = factories.dossier(db, applicant=account, submitted=True, procedure_code=PERMIT, delivery_method="centre")
    db.commit()
    received(db, dossier)
    cert = get_pki(app).issue_agency("UBND xã Thử Nghiệm", dossier.agency_code)
    [result] = lifecycle.issue_result(
        session=db,
        storage=app.state.storage,
        settings=app.state.settings,
        dossier=dossier,
        files=[(f"{title}.pdf", sign_with(cert, make_test_pdf(title)))],
        by=BY,
        trust=trust_setup(app),
    )
    db.commit()
    assert fresh(db, dossier).status == DossierStatus.RESULT_CHECK
    return dossier, result


def events(db: Session, dossier: Dossier) -> list[AuditEvent]:
    db.rollback()
    return list(
        db.exec(select(AuditEvent).where(AuditEvent.dossier_id == dossier.id).order_by(col(AuditEvent.id))).all()
    )


def test_the_list_and_the_page_show_the_waiting_result(app: Any, db: Session) -> None:
    dossier, result = waiting_dossier(app, db, "giay-phep-cho-kiem-tra")
    client = staff_client(app, role="supervisor", full_name="Phạm Giám Sát")

    listed = client.get("/staff/checks?page=1")
    pages = [listed]
    while f'id="check-{dossier.id}"' not in pages[-1].text and 'rel="next"' in pages[-1].text:
        pages.append(client.get(f"/staff/checks?page={len(pages) + 1}"))
    assert f'href="/staff/checks/{dossier.id}"' in pages[-1].text

    page = client.get(f"/staff/checks/{dossier.id}")
    assert page.status_code == 200
    assert dossier.code and dossier.code in page.text
    assert "giay-phep-cho-kiem-tra.pdf" in page.text
    assert "UBND xã Thử Nghiệm" in page.text  # the signer, from the signature report
    assert 'id="confirm-form"' in page.text and 'id="send-back-form"' in page.text
    link = f"/staff/checks/{dossier.id}/results/{result.id}"
    assert f'href="{link}"' in page.text

    pdf = client.get(link)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content == app.state.storage.get(result.sealed_key)

    reads = [(e.kind, e.actor_kind, e.actor, e.purpose) for e in events(db, dossier) if e.actor_kind == "staff"]
    assert ("dossier.read", "staff", "Phạm Giám Sát", "result_check") in reads
    assert ("dossier.file_downloaded", "staff", "Phạm Giám Sát", "result_check") in reads


def test_confirm_once_then_409(app: Any, db: Session) -> None:
    dossier, result = waiting_dossier(app, db)
    client = staff_client(app, role="supervisor", full_name="Phạm Xác Nhận")
    token = staff_csrf(client, f"/staff/checks/{dossier.id}")

    r = client.post(f"/staff/checks/{dossier.id}/confirm", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/staff/checks?done={dossier.id}"
    assert 'id="decided"' in client.get(r.headers["location"]).text
    row = fresh(db, dossier)
    assert row.status == DossierStatus.RESULT_READY and row.result_ready_at is not None
    checked = db.get(DossierResult, result.id)
    assert checked is not None and checked.checked_by == "Phạm Xác Nhận" and checked.refused_reason is None
    assert ("dossier.result_confirmed", "staff") in [(e.kind, e.actor_kind) for e in events(db, dossier)]

    again = client.post(f"/staff/checks/{dossier.id}/confirm", data={"csrf_token": token})
    assert again.status_code == 409
    assert "Không thể thực hiện quyết định" in again.text  # "Decision refused", in the page's language
    back = client.post(f"/staff/checks/{dossier.id}/send-back", data={"csrf_token": token, "reason": "Sai"})
    assert back.status_code == 409
    assert fresh(db, dossier).status == DossierStatus.RESULT_READY
    after = client.get(f"/staff/checks/{dossier.id}")
    assert 'id="nothing-waiting"' in after.text and 'id="confirm-form"' not in after.text


def test_send_back_needs_a_reason_and_keeps_what_was_typed(app: Any, db: Session) -> None:
    dossier, result = waiting_dossier(app, db)
    client = staff_client(app, role="supervisor")
    token = staff_csrf(client, f"/staff/checks/{dossier.id}")

    empty = client.post(f"/staff/checks/{dossier.id}/send-back", data={"csrf_token": token, "reason": "   "})
    assert empty.status_code == 422
    assert 'id="error-summary"' in empty.text and 'aria-invalid="true"' in empty.text
    too_long = "Sai số thửa đất. " * 200
    long = client.post(f"/staff/checks/{dossier.id}/send-back", data={"csrf_token": token, "reason": too_long})
    assert long.status_code == 422 and "Sai số thửa đất." in long.text
    assert fresh(db, dossier).status == DossierStatus.RESULT_CHECK

    r = client.post(
        f"/staff/checks/{dossier.id}/send-back", data={"csrf_token": token, "reason": "Sai số thửa đất trên giấy phép."}
    )
    assert r.status_code == 303
    assert fresh(db, dossier).status == DossierStatus.IN_PROCESS
    refused = db.get(DossierResult, result.id)
    assert refused is not None and refused.refused_reason == "Sai số thửa đất trên giấy phép."
    page = client.get(f"/staff/checks/{dossier.id}")
    assert "Sai số thửa đất trên giấy phép." in page.text and 'id="nothing-waiting"' in page.text
    assert client.post(f"/staff/checks/{dossier.id}/confirm", data={"csrf_token": token}).status_code == 409
    # An empty reason for a dossier decided already: the decision is refused, not the reason.
    assert client.post(f"/staff/checks/{dossier.id}/send-back", data={"csrf_token": token}).status_code == 409


def test_unknown_and_malformed_ids_are_404(app: Any, db: Session) -> None:
    dossier, _ = waiting_dossier(app, db)
    client = staff_client(app, role="supervisor")
    token = staff_csrf(client)
    assert client.get("/staff/checks/0123456789abcdef0123456789abcdef").status_code == 404
    assert client.get("/staff/checks/not-an-id!").status_code == 404
    assert client.get(f"/staff/checks/{dossier.id}/results/nope").status_code == 404
    assert (
        client.post("/staff/checks/0123456789abcdef0123456789abcdef/confirm", data={"csrf_token": token}).status_code
        == 404
    )
    assert client.get("/staff/checks?page=x").status_code == 422


def test_confirm_needs_the_csrf_token(app: Any, db: Session) -> None:
    dossier, _ = waiting_dossier(app, db)
    client = staff_client(app, role="supervisor")
    staff_csrf(client)
    assert client.post(f"/staff/checks/{dossier.id}/confirm", data={}).status_code == 403
    assert fresh(db, dossier).status == DossierStatus.RESULT_CHECK


@pytest.mark.parametrize("role", ["officer", "postal"])
def test_officers_and_postal_desks_are_refused(app: Any, db: Session, role: str) -> None:
    dossier, result = waiting_dossier(app, db)
    client = staff_client(app, role=role, agency_code=dossier.agency_code if role == "officer" else None)
    token = staff_csrf(client)
    assert client.get("/staff/checks").status_code == 403
    assert client.get(f"/staff/checks/{dossier.id}").status_code == 403
    assert client.get(f"/staff/checks/{dossier.id}/results/{result.id}").status_code == 403
    assert client.post(f"/staff/checks/{dossier.id}/confirm", data={"csrf_token": token}).status_code == 403
    assert fresh(db, dossier).status == DossierStatus.RESULT_CHECK


def test_citizen_and_signed_out_are_refused(app: Any, db: Session) -> None:
    dossier, _ = waiting_dossier(app, db)
    citizen = TestClient(app, follow_redirects=False)
    signup(citizen)
    assert citizen.get(f"/staff/checks/{dossier.id}").status_code == 403
    anonymous = TestClient(app, follow_redirects=False)
    r = anonymous.get("/staff/checks")
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next=")
