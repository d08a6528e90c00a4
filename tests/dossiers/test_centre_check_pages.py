"""The centre's check as the applicant sees it over HTTP (the demo catalogue's construction permit, 1.013225,
is checked by the centre): while the result waits, the page says it is being checked and offers nothing to
download; a result sent back is never shown nor downloadable, nor recognised by /verify; once the centre
confirms, the result is the applicant's."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from portal.dossiers import centre_check, lifecycle
from portal.dossiers.models import Dossier, DossierResult, DossierStatus
from signing.pki import get_pki
from signing.verify_service import trust_setup
from tests import factories
from tests.conftest import csrf, signup
from tests.signing.helpers import make_test_pdf, sign_with
from tests.web.test_lifecycle_pages import BY, fresh, received

pytestmark = pytest.mark.db
PERMIT = "1.013225"  # Cấp giấy phép xây dựng nhà ở riêng lẻ: centre_check: true in the demo catalogue


@pytest.fixture()
def person(client: TestClient, db: Session) -> tuple[TestClient, Account]:
    login = signup(client)
    account = db.exec(select(Account).where(Account.email == login)).one()
    db.rollback()
    return client, account


def permit_dossier(db: Session, account: Account) -> Dossier:
    db.rollback()
    dossier = factories.dossier(db, applicant=account, submitted=True, procedure_code=PERMIT, delivery_method="centre")
    db.commit()
    return received(db, dossier)


def issue(app: Any, db: Session, dossier: Dossier, title: str) -> DossierResult:
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
    return result


def results_section(html: str) -> str:
    return html.split('id="results"', 1)[1].split("</section>", 1)[0] if 'id="results"' in html else ""


def verify(client: TestClient, data: bytes) -> str:
    token = csrf(client, "/verify")
    page = client.post("/verify", data={"csrf_token": token}, files=[("file", ("kq.pdf", data, "application/pdf"))])
    assert page.status_code == 200, page.text
    return page.text


def test_the_applicant_sees_a_checked_result_only_once_the_centre_confirms_it(
    app: Any, person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    dossier = permit_dossier(db, account)
    code = dossier.code
    assert code
    first = issue(app, db, dossier, "giay-phep-ban-dau")
    assert fresh(db, dossier).status == DossierStatus.RESULT_CHECK

    page = client.get(f"/dossiers/{dossier.id}", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "Kết quả đang được Trung tâm kiểm tra" in page.text  # "Result being checked by the centre": status, timeline
    assert "giay-phep-ban-dau.pdf" not in page.text
    link = f"/dossiers/{dossier.id}/results/{first.id}"
    assert client.get(link).status_code == 404
    sealed = app.state.storage.get(first.sealed_key)
    assert code not in verify(client, sealed)

    # The centre sends it back: still nothing to see or download, and /verify does not vouch for it.
    db.rollback()
    row = db.get(Dossier, dossier.id)
    assert row is not None
    centre_check.send_back(db, row, reason="Sai số thửa đất.", staff_name="Giám sát", staff_id="s1")
    db.commit()
    page = client.get(f"/dossiers/{dossier.id}")
    assert "giay-phep-ban-dau.pdf" not in page.text and "Sai số thửa đất" not in page.text
    assert client.get(link).status_code == 404
    assert code not in verify(client, sealed)

    # The corrected permit, confirmed, is the applicant's.
    second = issue(app, db, fresh(db, dossier), "giay-phep-da-sua")
    row = fresh(db, dossier)
    centre_check.confirm(db, row, staff_name="Giám sát", staff_id="s1")
    db.commit()
    page = client.get(f"/dossiers/{dossier.id}")
    shown = results_section(page.text)
    assert "giay-phep-da-sua.pdf" in shown and "giay-phep-ban-dau.pdf" not in page.text
    download = client.get(f"/dossiers/{dossier.id}/results/{second.id}")
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    assert client.get(link).status_code == 404
    assert code in verify(client, download.content)
