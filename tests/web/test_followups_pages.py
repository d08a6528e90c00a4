"""Follow-ups of issue 13 over HTTP, as a browser without JavaScript: a hand-typed day the centre does not offer,
the visits of a withdrawn dossier on its timeline, and the fee page of a COD delivery before and after the
operator claims it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import portal.dossiers.visit_links  # noqa: F401  (subscribes to `Closed`, as portal.wiring imports it)
from auth.models import Account
from payments import service as payments
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.visits.models import Visit, VisitStatus
from postal import service as postal
from postal.models import ParcelKind, PostalOrder
from tests import factories
from tests.conftest import csrf
from tests.web import test_lifecycle_pages as lifecycle_pages
from tests.web.test_parcel_pages import AGENCY, HOME
from tests.web.test_visit_pages import book, dossier_of

pytestmark = pytest.mark.db
LICENCE = "3.000347"  # Đổi giấy phép lái xe: result by post, COD allowed
GATEWAY = re.compile(r'name="gateway" value="([^"]+)"')

person, other = lifecycle_pages.person, lifecycle_pages.other


def test_a_typed_day_not_offered_is_refused_not_full(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = dossier_of(db, account)
    url = f"/dossiers/{dossier.id}/visit"
    today = local_date(utcnow())
    sunday = today + timedelta(days=(6 - today.weekday()) or 7)  # the ward's office is closed on Sundays
    for day in ("2020-01-06", (today - timedelta(days=1)).isoformat(), (today + timedelta(days=90)).isoformat()):
        page = client.get(url, params={"day": day})
        assert page.status_code == 422, (day, page.text)
        assert 'class="error-summary"' in page.text and 'id="day-full"' not in page.text
    page = client.get(url, params={"day": sunday.isoformat()})
    assert page.status_code == 422 and 'id="day-full"' not in page.text
    assert client.get(url).status_code == 200


def test_a_withdrawn_dossier_s_visit_is_cancelled_on_its_timeline(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    marriage = dossier_of(db, account, procedure_code="1.000894", status=DossierStatus.SUBMITTED)  # in person
    _, _, answer = book(client, marriage)
    assert answer.status_code == 303, answer.text
    page = f"/dossiers/{marriage.id}"
    withdrawn = client.post(f"{page}/withdraw", data={"csrf_token": csrf(client, page)})
    assert withdrawn.status_code == 303
    db.rollback()
    visit = db.exec(select(Visit).where(Visit.owner_id == marriage.id)).one()
    assert visit.status == VisitStatus.CANCELLED
    timeline = client.get(page).text.split('class="timeline"', 1)[1]
    entry = timeline.split('class="event-visit_cancelled"', 1)[1].split("</li>", 1)[0]
    assert "Cancelled because the dossier was withdrawn." in entry or "Đã hủy vì hồ sơ đã được rút." in entry
    ticket = client.get(f"{page}/visits/{visit.id}").text
    assert 'class="ticket-qr"' not in ticket and "/cancel" not in ticket


def cod_delivery(app: Any, db: Session, account: Account, *, claimed: bool) -> tuple[Dossier, PostalOrder]:
    """A licence dossier whose result is ready and goes by post, paid on delivery: its delivery order collects
    the fee; `claimed`: the operator has accepted it."""
    db.rollback()
    dossier = factories.dossier(
        db,
        applicant=account,
        procedure_code=LICENCE,
        submitted=True,
        status=DossierStatus.RESULT_READY,
        delivery_method="post",
        delivery_address=dict(HOME),
        pay_on_delivery=True,
    )
    order = postal.create_order(
        session=db,
        settings=app.state.settings,
        kind=ParcelKind.DELIVERY,
        owner_id=dossier.id,
        reference=dossier.code or "",
        sender=AGENCY,
        recipient=HOME,
        province_code="37",
        contents=[{"id": "kq", "name_vi": "Giấy phép lái xe", "name_en": "Driving licence"}],
        weight_class="document",
        fee=15000,
        cod_amount=150000,
    )
    if claimed:
        postal.claim(session=db, order=order, operator=order.operator, tracking_number=None)
    db.commit()
    return dossier, order


def test_before_the_claim_the_fee_can_still_be_paid_online(
    app: Any, person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    dossier, _ = cod_delivery(app, db, account, claimed=False)
    page = client.get(f"/dossiers/{dossier.id}/payment")
    assert page.status_code == 200
    assert 'class="pay-form"' in page.text and 'id="collected-at-delivery"' not in page.text


def test_after_the_claim_the_postal_worker_collects_and_paying_online_is_refused(
    app: Any, person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    gateway = GATEWAY.findall(
        client.get(f"/dossiers/{cod_delivery(app, db, account, claimed=False)[0].id}/payment").text
    )
    assert gateway
    dossier, order = cod_delivery(app, db, account, claimed=True)
    url = f"/dossiers/{dossier.id}/payment"
    page = client.get(url)
    assert page.status_code == 200
    assert 'id="collected-at-delivery"' in page.text and 'class="pay-form"' not in page.text
    assert order.number in page.text and "150.000" in page.text

    token = csrf(client, url)
    refused = client.post(url, data={"csrf_token": token, "gateway": gateway[0]})
    assert refused.status_code == 409, refused.text
    assert 'class="error-summary"' in refused.text and order.number in refused.text
    db.rollback()
    assert [p.gateway for p in payments.payments_of(db, dossier.id)] == []  # nothing was started
