"""The citizen books a visit to the centre from the dossier page, over HTTP as a browser without JavaScript:
a day, a time, the ticket with its queue number and QR code, cancelling; nobody else sees any of it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.models import Account
from portal.dossiers.models import Dossier, DossierEvent, DossierStatus
from portal.visits.models import Visit, VisitStatus
from tests import factories
from tests.conftest import csrf
from tests.web import test_lifecycle_pages as lifecycle_pages

pytestmark = pytest.mark.db
DAY_LINK = re.compile(r'href="(/dossiers/[0-9a-f]{32}/visit\?day=(\d{4}-\d{2}-\d{2})#slots)"')
SLOT = re.compile(r'name="slot" value="(\d{2}:\d{2})"')


# A signed-in citizen and their account; another citizen in a browser of their own.
person, other = lifecycle_pages.person, lifecycle_pages.other


def dossier_of(db: Session, account: Account, **over: Any) -> Dossier:
    db.rollback()
    values: dict[str, Any] = {"submitted": True, "status": DossierStatus.RESULT_READY, "delivery_method": "centre"}
    values.update(over)
    row = factories.dossier(db, applicant=account, **values)
    db.commit()
    return row


def book(client: TestClient, dossier: Dossier) -> tuple[str, str, Any]:
    """Choose the first day offered and its first time; returns (day, slot, the answer to the booking)."""
    page = client.get(f"/dossiers/{dossier.id}/visit")
    assert page.status_code == 200, page.text
    link, day = DAY_LINK.findall(page.text)[0]
    slots = client.get(link)
    assert slots.status_code == 200 and 'id="slots"' in slots.text
    slot = SLOT.findall(slots.text)[0]
    token = csrf(client, link)
    answer = client.post(f"/dossiers/{dossier.id}/visit", data={"csrf_token": token, "day": day, "slot": slot})
    return day, slot, answer


def test_book_a_time_get_a_ticket_and_cancel(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = dossier_of(db, account)
    page = client.get(f"/dossiers/{dossier.id}")
    assert 'id="visit"' in page.text and f"/dossiers/{dossier.id}/visit" in page.text

    day, slot, answer = book(client, dossier)
    assert answer.status_code == 303, answer.text
    ticket_url = answer.headers["location"]
    db.rollback()
    visit = db.exec(select(Visit).where(Visit.owner_id == dossier.id)).one()
    assert ticket_url == f"/dossiers/{dossier.id}/visits/{visit.id}"
    assert (visit.day.isoformat(), visit.slot, visit.purpose, visit.reference) == (
        day,
        slot,
        "collect_result",
        dossier.code,
    )

    ticket = client.get(ticket_url)
    assert ticket.status_code == 200
    number = f"UBXA-{visit.queue_number:03d}"
    assert f'id="queue-number">{number}<' in ticket.text
    assert "Ủy ban nhân dân phường Hoa Lư" in ticket.text
    assert visit.day.strftime("%d/%m/%Y") in ticket.text and slot in ticket.text
    assert re.search(r'<div class="ticket-qr" role="img" aria-label="[^"]+"><svg', ticket.text)
    assert visit.token in ticket.text and "@media print" not in ticket.text  # printable through visits.css
    events = db.exec(
        select(DossierEvent).where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "visit_booked")
    ).all()
    assert len(events) == 1 and events[0].details["number"] == number

    # A second booking for the same dossier is refused on the page, with the reason.
    _, _, again = book(client, dossier)
    assert again.status_code == 409 and 'class="error-summary"' in again.text
    assert 'id="booked-visits"' in client.get(f"/dossiers/{dossier.id}/visit").text

    cancelled = client.post(f"{ticket_url}/cancel", data={"csrf_token": csrf(client, ticket_url)})
    assert cancelled.status_code == 303 and cancelled.headers["location"].endswith("?cancelled=1")
    db.rollback()
    assert db.get(Visit, visit.id).status == VisitStatus.CANCELLED  # type: ignore[union-attr]
    kinds = db.exec(select(col(DossierEvent.kind)).where(DossierEvent.dossier_id == dossier.id)).all()
    assert "visit_cancelled" in kinds
    assert 'id="visit-cancelled"' in client.get(cancelled.headers["location"]).text
    timeline = client.get(f"/dossiers/{dossier.id}").text.split('class="timeline"', 1)[1]
    assert "event-visit_booked" in timeline and "event-visit_cancelled" in timeline
    # The ticket stays readable, without its QR code and without a cancel button.
    closed = client.get(ticket_url).text
    assert 'class="ticket-qr"' not in closed and "/cancel" not in closed

    # Cancelled: another time can be booked.
    _, _, rebooked = book(client, dossier)
    assert rebooked.status_code == 303


def test_bad_choices_are_explained(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = dossier_of(db, account)
    url = f"/dossiers/{dossier.id}/visit"
    token = csrf(client, url)
    for data, status in (
        ({"day": "2026-13-40", "slot": "08:00"}, 422),
        ({"day": "", "slot": "08:00"}, 422),
        ({"day": "2020-01-06", "slot": "08:00"}, 422),
        ({"day": DAY_LINK.findall(client.get(url).text)[0][1], "slot": ""}, 422),
        ({"day": DAY_LINK.findall(client.get(url).text)[0][1], "slot": "03:00"}, 422),
        ({"day": DAY_LINK.findall(client.get(url).text)[0][1], "slot": "08:00", "purpose": "in_person"}, 422),
    ):
        r = client.post(url, data={"csrf_token": token, **data})
        assert r.status_code == status, (data, r.text)
        assert 'class="error-summary"' in r.text
    assert client.get(url, params={"day": "nope"}).status_code == 422
    assert client.post(url, data={"day": "2026-06-01", "slot": "08:00"}).status_code == 403  # no CSRF token


def test_in_person_procedures_and_dossiers_that_need_no_visit(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    marriage = dossier_of(db, account, procedure_code="1.000894", status=DossierStatus.RECEIVED)  # in_person
    page = client.get(f"/dossiers/{marriage.id}/visit")
    assert 'name="purpose" value="in_person"' in client.get(DAY_LINK.findall(page.text)[0][0]).text
    _, _, answer = book(client, marriage)
    assert answer.status_code == 303
    db.rollback()
    assert db.exec(select(Visit).where(Visit.owner_id == marriage.id)).one().purpose == "in_person"

    online = dossier_of(db, account, delivery_method="online")
    assert 'id="visit"' not in client.get(f"/dossiers/{online.id}").text
    page = client.get(f"/dossiers/{online.id}/visit")
    assert page.status_code == 200 and 'id="no-visit"' in page.text
    r = client.post(
        f"/dossiers/{online.id}/visit",
        data={"csrf_token": csrf(client, f"/dossiers/{online.id}/visit"), "day": "2026-06-01", "slot": "08:00"},
    )
    assert r.status_code == 409
    processing = dossier_of(db, account, status=DossierStatus.IN_PROCESS)  # at the centre, not ready yet
    assert 'id="no-visit"' in client.get(f"/dossiers/{processing.id}/visit").text
    draft = dossier_of(db, account, submitted=False, status=DossierStatus.DRAFT)
    assert client.get(f"/dossiers/{draft.id}/visit").status_code == 404


def test_another_citizen_gets_404(person: tuple[TestClient, Account], other: TestClient, db: Session) -> None:
    client, account = person
    dossier = dossier_of(db, account)
    _, _, answer = book(client, dossier)
    ticket_url = answer.headers["location"]
    token = csrf(other, "/dossiers")
    assert other.get(f"/dossiers/{dossier.id}/visit").status_code == 404
    assert other.get(ticket_url).status_code == 404
    assert other.post(f"{ticket_url}/cancel", data={"csrf_token": token}).status_code == 404
    r = other.post(f"/dossiers/{dossier.id}/visit", data={"csrf_token": token, "day": "2026-06-01", "slot": "08:00"})
    assert r.status_code == 404
    # A visit id of another dossier of the same citizen is no ticket of this one.
    second = dossier_of(db, account)
    assert client.get(ticket_url.replace(dossier.id, second.id)).status_code == 404
    db.rollback()
    assert db.exec(select(Visit).where(Visit.owner_id == dossier.id)).one().status == VisitStatus.BOOKED
