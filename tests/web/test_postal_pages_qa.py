"""QA of the citizen's postal pages over HTTP (as a browser without JavaScript): what the citizen is told after
a change of delivery, an error summary that says which address is wrong, other citizens' ids."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from auth.models import Account
from portal.kernel.clock import utcnow
from postal import service as postal
from postal.models import ParcelKind, ParcelStatus
from tests import factories
from tests.conftest import csrf
from tests.payments.helpers import pay
from tests.web import test_lifecycle_pages as lifecycle_pages
from tests.web.flow import fill_marital, submit

pytestmark = pytest.mark.db
LICENCE = "3.000347"  # originals needed: the page has a delivery address and a pickup address
MARRIAGE = "1.000894"  # the result at the centre only, no originals: nothing to choose
HOME = {
    "name": "Nguyễn Văn Bình",
    "phone": "0912345678",
    "province": "37",
    "ward": "14329",
    "street": "5 Trần Hưng Đạo",
}


person, other = lifecycle_pages.person, lifecycle_pages.other


def test_a_saved_change_after_submission_is_confirmed_on_the_dossier_page(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    client.cookies.set("lang", "en")
    dossier = factories.dossier(db, applicant=account, submitted=True, delivery_method="post", delivery_address=HOME)
    db.commit()
    url = f"/dossiers/{dossier.id}/delivery"
    r = client.post(url, data={"csrf_token": csrf(client, url), "method": "centre", "_action": "save"})
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier.id}?delivery_changed=1"
    page = client.get(r.headers["location"])
    assert 'id="delivery-changed"' in page.text
    assert "Your new choices for receiving the result have been saved." in page.text
    assert 'id="delivery-changed"' not in client.get(f"/dossiers/{dossier.id}").text


def test_the_error_summary_says_which_address_is_wrong(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    client.cookies.set("lang", "en")
    draft = factories.dossier(db, applicant=account, procedure_code=LICENCE)
    db.commit()
    url = f"/dossiers/{draft.id}/delivery"
    data = {"csrf_token": csrf(client, url), "method": "post", "pickup": "yes", "_action": "save"}
    r = client.post(url, data=data)
    assert r.status_code == 422
    summary = r.text.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert "Postal address for the result: Enter the name" in summary
    assert "Pickup of the paper originals: Enter the name" in summary


def test_another_citizens_parcel_proof_and_visit_are_404(
    person: tuple[TestClient, Account], other: TestClient, db: Session
) -> None:
    client, account = person
    mine = factories.dossier(db, applicant=account, submitted=True, delivery_method="post", delivery_address=HOME)
    db.commit()
    for path in (
        f"/dossiers/{mine.id}/delivery",
        f"/dossiers/{mine.id}/visit",
        f"/dossiers/{mine.id}/visits/{'0' * 32}",
        f"/dossiers/{mine.id}/parcels/BC260000001/proof",
    ):
        assert other.get(path).status_code == 404, path
    assert client.get(f"/dossiers/{mine.id}/parcels/BC260000001/proof").status_code == 404  # no such parcel
    assert client.get(f"/dossiers/{mine.id}/visits/{'0' * 40}").status_code == 404


def test_the_portals_own_parcel_events_are_told_in_the_readers_language(
    app: Any, person: tuple[TestClient, Account], db: Session
) -> None:
    """The automatic return after the last failed attempt and a pickup cancelled by a change of choices: the
    English page shows neither the portal's Vietnamese note nor its code (pickup_changed)."""
    client, account = person
    client.cookies.set("lang", "en")
    settings, storage = app.state.settings, app.state.storage
    home = {**HOME, "notes": ""}
    dossier = factories.dossier(
        db, applicant=account, procedure_code=LICENCE, submitted=True, delivery_method="centre", pickup_address=home
    )
    orders = {}
    for kind in (ParcelKind.PICKUP, ParcelKind.DELIVERY):
        orders[kind] = postal.create_order(
            session=db,
            settings=settings,
            kind=kind,
            owner_id=dossier.id,
            reference=dossier.code or "",
            sender=home,
            recipient=home,
            province_code="37",
            contents=[],
            weight_class="document",
            fee=16000,
        )
    delivery = orders[ParcelKind.DELIVERY]
    postal.claim(session=db, order=delivery, operator=delivery.operator, tracking_number=None)
    for n in range(settings.postal_max_attempts):
        report = postal.TrackingReport(
            event_id=f"qa-{delivery.number}-{n}",
            status=ParcelStatus.DELIVERY_ATTEMPTED,
            occurred_at=utcnow() + timedelta(seconds=n - 10),
            reason="Không liên lạc được",
        )
        postal.record_event(
            session=db, settings=settings, storage=storage, operator=delivery.operator, order=delivery, report=report
        )
    db.commit()
    url = f"/dossiers/{dossier.id}/delivery"
    r = client.post(url, data={"csrf_token": csrf(client, url), "method": "centre", "_action": "save"})
    assert r.status_code == 303, r.text  # no pickup any more: its unclaimed order is cancelled
    page = client.get(f"/dossiers/{dossier.id}").text
    assert "Returned to the agency after the last failed delivery attempt." in page
    assert "Cancelled: you changed the pickup of the originals." in page
    assert "pickup_changed" not in page and "chuyển hoàn" not in page
    assert "Không liên lạc được" in page  # the operator's own words are shown as they came


def test_saving_the_same_change_twice_still_leads_to_the_top_up(citizen: TestClient, app: Any, db: Session) -> None:
    """A double submit without JavaScript: the browser shows the second answer, which must still lead to paying
    the difference (the first one's payment page is never seen)."""
    dossier_id = fill_marital(citizen)
    assert submit(citizen, dossier_id, "online").status_code == 303
    pay(citizen, app, dossier_id)
    url = f"/dossiers/{dossier_id}/delivery"
    data = {"method": "post", "_action": "save", **{f"delivery.{k}": v for k, v in HOME.items()}}
    first = client_post(citizen, url, data)
    assert first.status_code == 303 and first.headers["location"] == f"/dossiers/{dossier_id}/payment"
    second = client_post(citizen, url, data)
    assert second.status_code == 303 and second.headers["location"] == f"/dossiers/{dossier_id}/payment"


def client_post(client: TestClient, url: str, data: dict[str, str]) -> Any:
    return client.post(url, data={**data, "csrf_token": csrf(client, url)})


def test_no_change_link_when_there_is_nothing_to_choose(person: tuple[TestClient, Account], db: Session) -> None:
    """Marriage registration: the result only at the centre and no originals to pick up."""
    client, account = person
    only_centre = factories.dossier(db, applicant=account, procedure_code=MARRIAGE, submitted=True)
    by_post = factories.dossier(db, applicant=account, submitted=True, delivery_method="post", delivery_address=HOME)
    db.commit()
    assert 'id="change-delivery"' not in client.get(f"/dossiers/{only_centre.id}").text
    assert 'id="change-delivery"' in client.get(f"/dossiers/{by_post.id}").text


def test_the_change_page_says_which_parcel_was_accepted_already(
    app: Any, person: tuple[TestClient, Account], db: Session
) -> None:
    """Before the citizen types anything: the parcel the operator claimed cannot change (saving it gets a 409)."""
    client, account = person
    client.cookies.set("lang", "en")
    home = {**HOME, "notes": ""}
    dossier = factories.dossier(
        db, applicant=account, procedure_code=LICENCE, submitted=True, delivery_method="post", delivery_address=home
    )
    order = postal.create_order(
        session=db,
        settings=app.state.settings,
        kind=ParcelKind.DELIVERY,
        owner_id=dossier.id,
        reference=dossier.code or "",
        sender=home,
        recipient=home,
        province_code="37",
        contents=[],
        weight_class="document",
        fee=16000,
    )
    url = f"/dossiers/{dossier.id}/delivery"
    db.commit()
    assert 'id="delivery-claimed"' not in client.get(url).text  # not accepted yet: it can change
    postal.claim(session=db, order=order, operator=order.operator, tracking_number=None)
    db.commit()
    page = client.get(url).text
    assert 'id="delivery-claimed"' in page and order.number in page
    assert 'id="pickup-claimed"' not in page


def test_the_timeline_names_the_visits_ticket_and_time(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    client.cookies.set("lang", "en")
    dossier = factories.dossier(db, applicant=account, procedure_code=MARRIAGE, submitted=True)
    db.commit()
    url = f"/dossiers/{dossier.id}/visit"
    day = re.findall(r"\?day=(\d{4}-\d{2}-\d{2})#slots", client.get(url).text)[0]
    slot = re.findall(r'name="slot" value="(\d{2}:\d{2})"', client.get(f"{url}?day={day}").text)[0]
    booked = client.post(url, data={"csrf_token": csrf(client, url), "day": day, "slot": slot})
    assert booked.status_code == 303
    timeline = client.get(f"/dossiers/{dossier.id}").text.split('id="timeline-heading"', 1)[1]
    assert re.search(r"Ticket [A-Z]+-\d{3} · ", timeline), timeline
    assert f"{day[8:10]}/{day[5:7]}/{day[0:4]} {slot}" in timeline
