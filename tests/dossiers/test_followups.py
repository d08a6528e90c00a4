"""Follow-ups of issue 13: a dossier that closes another way than at the counter cancels its visits to the centre
(portal/dossiers/visit_links.py), and the fee of a delivery the operator claimed is collected by the courier, not
paid online (portal/dossiers/payment_views.py). Each test runs in a rolled-back transaction."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session

import portal.dossiers.visit_links  # noqa: F401  (subscribes to `Closed`, as portal.wiring imports it)
from portal.dossiers import lifecycle, service
from portal.dossiers.models import Dossier, DossierEvent, DossierStatus
from portal.dossiers.payment_views import courier_collects
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.visits import service as visits
from portal.visits.models import Visit, VisitPurpose, VisitStatus
from postal.models import ParcelKind, ParcelStatus
from signing.pki import DevPKI, Issued
from signing.verify_service import TrustSetup
from tests import factories
from tests import lifecycle_factories as lf
from tests.dossiers.test_parcels import claimed_delivery, licence_dossier, order_of, result_ready

pytestmark = pytest.mark.db
storage, pki, trust = lf.storage, lf.pki, lf.trust

# Friday 29/05/2026, 07:00 in Vietnam: the kiosk day of the tests.
NOW = datetime(2026, 5, 29, 0, 0, tzinfo=UTC)
TODAY = date(2026, 5, 29)


@pytest.fixture(scope="module")
def agency_cert(pki: DevPKI) -> Issued:
    return pki.issue_agency("Công an tỉnh Ninh Bình", "CAT")


def visits_of(session: Session, settings: Settings, dossier: Dossier) -> tuple[Visit, Visit]:
    """Two visits of the dossier today: one checked in at the kiosk (collect), one booked (in person)."""
    account = lf.applicant_of(session, dossier)
    times = [s.start for s in visits.day_slots(session, settings, dossier.agency_code, TODAY, now=NOW)]
    booked: list[Visit] = []
    for purpose, slot in ((VisitPurpose.COLLECT_RESULT, times[0]), (VisitPurpose.IN_PERSON, times[1])):
        booked.append(
            visits.book(
                session=session,
                settings=settings,
                agency_code=dossier.agency_code,
                account_id=account.id,
                owner_id=dossier.id,
                reference=dossier.code,
                purpose=purpose,
                day=TODAY,
                slot=slot,
                now=NOW,
            )
        )
    visits.check_in(session=session, token=booked[0].token, now=NOW)
    return booked[0], booked[1]


def cancelled_entries(session: Session, dossier: Dossier) -> list[DossierEvent]:
    return [e for e in lf.events(session, dossier) if e.kind == "visit_cancelled"]


def queue(session: Session, dossier: Dossier) -> list[str]:
    return [s.number for s in visits.next_numbers(session, day=TODAY, agency_code=dossier.agency_code)]


def assert_cancelled(session: Session, dossier: Dossier, checked_in: Visit, booked: Visit, reason: str) -> None:
    for visit in (checked_in, booked):
        session.refresh(visit)
        assert visit.status == VisitStatus.CANCELLED and visit.cancelled_at is not None
    entries = cancelled_entries(session, dossier)
    assert sorted(e.details["visit_id"] for e in entries) == sorted([checked_in.id, booked.id])
    assert {e.details["reason"] for e in entries} == {reason}
    assert {e.details["number"] for e in entries} == {
        visits.queue_label(v.agency_code, v.queue_number) for v in (checked_in, booked)
    }
    assert visits.active_visits(session, dossier.id) == []
    assert visits.queue_label(checked_in.agency_code, checked_in.queue_number) not in queue(session, dossier)
    # The timeline says it after the step that closed the dossier.
    kinds = lf.kinds(session, dossier)
    assert kinds.index("visit_cancelled") > kinds.index(str(dossier.status))


def test_a_withdrawn_dossier_cancels_its_visits_once(session: Session, settings: Settings) -> None:
    dossier = factories.dossier(session, submitted=True)
    checked_in, booked = visits_of(session, settings, dossier)
    assert visits.queue_label(checked_in.agency_code, checked_in.queue_number) in queue(session, dossier)

    service.withdraw(session=session, dossier=dossier, by=lf.applicant_of(session, dossier))
    assert dossier.status == DossierStatus.WITHDRAWN
    assert_cancelled(session, dossier, checked_in, booked, "dossier_withdrawn")

    service.withdraw(session=session, dossier=dossier, by=lf.applicant_of(session, dossier))  # a repeat
    assert len(cancelled_entries(session, dossier)) == 2


def test_a_rejected_dossier_cancels_its_visits(session: Session, settings: Settings) -> None:
    dossier = factories.dossier(session, submitted=True, status=DossierStatus.IN_PROCESS)
    checked_in, booked = visits_of(session, settings, dossier)
    service.reject(session=session, dossier=dossier, reason="Hồ sơ không đủ điều kiện.", by=lf.BACKOFFICE)
    assert_cancelled(session, dossier, checked_in, booked, "dossier_rejected")


@pytest.mark.parametrize("handover", ["online", "post"])
def test_a_result_handed_over_another_way_cancels_the_visits(
    session: Session, settings: Settings, handover: str
) -> None:
    dossier = factories.dossier(session, submitted=True, status=DossierStatus.RESULT_READY, delivery_method="centre")
    checked_in, booked = visits_of(session, settings, dossier)
    lifecycle.complete(session=session, dossier=dossier, handover=handover, by=lf.BACKOFFICE)
    assert_cancelled(session, dossier, checked_in, booked, f"handed_over_{handover}")


def test_a_result_handed_over_at_the_counter_leaves_the_visit(session: Session, settings: Settings) -> None:
    dossier = factories.dossier(session, submitted=True, status=DossierStatus.RESULT_READY, delivery_method="centre")
    checked_in, booked = visits_of(session, settings, dossier)
    lifecycle.complete(session=session, dossier=dossier, handover="centre", by=lf.BACKOFFICE)
    session.refresh(checked_in)
    session.refresh(booked)
    assert (checked_in.status, booked.status) == (VisitStatus.CHECKED_IN, VisitStatus.BOOKED)
    assert cancelled_entries(session, dossier) == []


def test_a_visitor_already_called_to_a_counter_is_left_to_it(session: Session, settings: Settings) -> None:
    dossier = factories.dossier(session, submitted=True)
    checked_in, booked = visits_of(session, settings, dossier)
    called = visits.call_next(session=session, settings=settings, agency_code=dossier.agency_code, counter="1", now=NOW)
    assert called is not None and called.id == checked_in.id
    service.withdraw(session=session, dossier=dossier, by=lf.applicant_of(session, dossier))
    session.refresh(checked_in)
    session.refresh(booked)
    assert (checked_in.status, booked.status) == (VisitStatus.CALLED, VisitStatus.CANCELLED)
    assert [e.details["visit_id"] for e in cancelled_entries(session, dossier)] == [booked.id]


# -- the fee of a claimed COD delivery


def test_the_courier_collects_once_the_operator_claimed_the_delivery(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = licence_dossier(session, pickup=False)
    result_ready(session, settings, storage, trust, agency_cert, dossier)
    order = order_of(session, dossier, ParcelKind.DELIVERY)
    assert order.cod_amount > 0 and order.status == ParcelStatus.CREATED
    assert courier_collects(session, dossier) is None  # not claimed yet: paying online is still possible

    dossier, order, op = claimed_delivery(session, settings, storage, trust, agency_cert)
    assert courier_collects(session, dossier) == order
    op.report(ParcelStatus.PICKED_UP)
    assert courier_collects(session, dossier) == order
    op.report(ParcelStatus.RETURNED, reason="Không liên lạc được người nhận")
    assert courier_collects(session, dossier) is None  # back at the agency: nothing will be collected
