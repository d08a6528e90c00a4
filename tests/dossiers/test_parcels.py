"""The dossier's reactions to the postal service (portal/dossiers/parcels.py): the orders made at submission and
when the result is ready, and what each parcel event does (timeline, notifications, pushes, completion, the
COD payment). The tests play the operator with `postal.service` itself; each runs in a rolled-back transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from payments import service as payments
from payments.gateways.base import GatewayResult, Outcome
from payments.gateways.cod import CodGateway
from payments.models import PaymentStatus
from payments.outbox import IssueEReceipt
from payments.service import Reconciled
from payments.tasks import e_receipt_data, ensure_e_receipt
from portal.catalog.models import Agency, Procedure
from portal.dossiers import billing, delivery, intake, lifecycle, parcel_reads, parcels, service
from portal.dossiers.models import Dossier, DossierEvent, DossierResult, DossierStatus
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.errors import Invalid
from portal.kernel.outbox import OutboxMessage
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from postal import service as postal
from postal.addresses import PostalAddress
from postal.models import ParcelKind, ParcelStatus, PostalOrder, RecipientRelation
from signing.pki import DevPKI, Issued
from signing.verify_service import TrustSetup
from tests import factories
from tests import lifecycle_factories as lf
from tests.factories import jpeg_bytes, pdf_bytes

pytestmark = pytest.mark.db

LICENCE = "3.000347"  # Đổi giấy phép lái xe (Công an tỉnh): originals picked up, result by post, COD allowed
HOME = {
    "name": "Nguyễn Văn Bình",
    "phone": "0912345678",
    "province": "37",
    "ward": "14329",
    "street": "5 Trần Hưng Đạo",
}


storage, pki, trust = lf.storage, lf.pki, lf.trust


@pytest.fixture(scope="module")
def agency_cert(pki: DevPKI) -> Issued:
    return pki.issue_agency("Công an tỉnh Ninh Bình", "CAT")


def licence_answers() -> dict[str, Any]:
    return {
        "full_name": "Nguyễn Văn Bình",
        "birth_date": "1985-03-02",
        "nationality": "Việt Nam",
        "cccd": "037085001234",
        "address": {"province": "37", "ward": "14329", "street": "5 Trần Hưng Đạo"},
        "phone": "0912345678",
        "licence_number": "370123456789",
        "licence_classes": ["b"],
        "issue_date": "2015-06-01",
        "issuing_authority": "Sở Giao thông vận tải Ninh Bình",
        "reason": "expired",
        "delivery_method": "post",
        "delivery_address": {"province": "37", "ward": "14329", "street": "5 Trần Hưng Đạo"},
        "no_pending_fines": True,
        "declaration": True,
    }


def licence_dossier(session: Session, *, pickup: bool = True, cod: bool = True, **over: Any) -> Dossier:
    """A complete draft of the licence exchange, by post to HOME, paid on delivery, its originals picked up."""
    values: dict[str, Any] = {
        "procedure_code": LICENCE,
        "data": licence_answers(),
        "delivery_method": "post",
        "delivery_address": dict(HOME),
        "pickup_address": dict(HOME) if pickup else None,
        "pay_on_delivery": cod,
        "files": ("don_de_nghi", "giay_phep_lai_xe"),
    }
    values.update(over)
    return factories.dossier(session, **values)


def licence(session: Session) -> Procedure:
    procedure = session.get(Procedure, LICENCE)
    assert procedure is not None
    return procedure


def submit(session: Session, settings: Settings, dossier: Dossier) -> Dossier:
    defn = service.get_definition(session, dossier.form_id, dossier.form_version)
    return service.submit(
        session=session,
        dossier=dossier,
        procedure=lf.procedure_of(session, dossier),
        defn=defn,
        by=lf.applicant_of(session, dossier),
        settings=settings,
    )


def issue(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    trust: TrustSetup,
    cert: Issued,
    dossier: Dossier,
    *,
    filename: str = "kq.pdf",
    text: str = "Ket qua",
) -> list[DossierResult]:
    """The agency issues the dossier's result: one PDF that says `text`, signed with `cert`."""
    return lifecycle.issue_result(
        session=session,
        storage=storage,
        settings=settings,
        dossier=dossier,
        files=[(filename, lf.sign(cert, pdf_bytes(text)))],
        by=lf.BACKOFFICE,
        trust=trust,
    )


def result_ready(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, cert: Issued, dossier: Dossier
) -> list[DossierResult]:
    """The dossier received by the agency and its signed result issued."""
    if dossier.status == DossierStatus.DRAFT:
        submit(session, settings, dossier)
    lifecycle.receive(session=session, dossier=dossier, officer=lf.OFFICER, by=lf.BACKOFFICE)
    return issue(
        session, settings, storage, trust, cert, dossier, filename="giay-phep-lai-xe.pdf", text="Giay phep lai xe"
    )


def order_of(session: Session, dossier: Dossier, kind: ParcelKind) -> PostalOrder:
    found = [o for o in postal.orders_of(session, dossier.id) if o.kind == kind]
    assert len(found) == 1, found
    return found[0]


def signed_for(when: datetime) -> postal.Proof:
    """The courier's proof of delivery: a relative of the applicant signed for the parcel."""
    return postal.Proof(
        recipient_name="Nguyễn Thị Lan",
        relation=RecipientRelation.FAMILY,
        delivered_at=when,
        content=jpeg_bytes((120, 80)),
        filename="ky-nhan.jpg",
    )


class Operator:
    """The postal operator of one order, reporting through `postal.service`."""

    def __init__(self, session: Session, settings: Settings, storage: LocalStorage, order: PostalOrder) -> None:
        self.session, self.settings, self.storage, self.order = session, settings, storage, order
        self.clock = utcnow()
        self.n = 0

    def claim(self) -> None:
        postal.claim(session=self.session, order=self.order, operator=self.order.operator, tracking_number=None)

    def at(self, seconds: int) -> datetime:
        return as_utc(self.clock) + timedelta(seconds=seconds)

    def report(self, status: str, *, at: datetime | None = None, proof: bool = False, **extra: Any) -> postal.Recorded:
        self.n += 1
        when = at or self.at(self.n)
        return postal.record_event(
            session=self.session,
            settings=self.settings,
            storage=self.storage,
            operator=self.order.operator,
            order=self.order,
            report=postal.TrackingReport(
                event_id=f"ev-{self.order.number}-{self.n}", status=status, occurred_at=when, **extra
            ),
            proof=signed_for(when) if proof else None,
        )


def claimed_delivery(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, cert: Issued
) -> tuple[Dossier, PostalOrder, Operator]:
    """A licence dossier by post, paid on delivery, its result ready and its delivery order claimed by `Operator`."""
    dossier = licence_dossier(session, pickup=False)
    result_ready(session, settings, storage, trust, cert, dossier)
    order = order_of(session, dossier, ParcelKind.DELIVERY)
    op = Operator(session, settings, storage, order)
    op.claim()
    return dossier, order, op


def postal_events(session: Session, dossier: Dossier) -> list[DossierEvent]:
    return [e for e in lf.events(session, dossier) if e.kind.startswith("postal_") or e.kind == "originals_arrived"]


# -- orders


def test_submission_orders_the_pickup_of_the_originals(session: Session, settings: Settings) -> None:
    dossier = licence_dossier(session)
    submit(session, settings, dossier)
    order = order_of(session, dossier, ParcelKind.PICKUP)
    agency = session.get(Agency, "CAT")
    assert agency is not None
    assert order.reference == dossier.code and order.owner_id == dossier.id
    assert order.sender == {**HOME, "notes": ""}
    assert order.recipient["name"] == agency.name_vi and order.recipient["province"] == agency.province_code
    assert order.recipient["street"] and order.recipient["phone"].startswith("0229")
    assert [c["id"] for c in order.contents] == ["giay_phep_lai_xe"]
    assert order.weight_class == "document" and order.cod_amount == 0
    assert order.fee == billing.pickup_quote(settings, HOME, to_province=agency.province_code).amount > 0
    assert order.province_code == "37" and order.status == ParcelStatus.CREATED
    # On the timeline (with the parcel and its number) and pushed to the back-office, after the submission.
    created = postal_events(session, dossier)
    assert [(e.kind, e.details["parcel"], e.details["number"]) for e in created] == [
        ("postal_created", "pickup", order.number)
    ]
    assert lf.push_types(session, dossier)[-2:] == ["dossier.submitted", "dossier.parcel_updated"]
    # No delivery yet: it is ordered with the result. A second submit orders nothing more.
    submit(session, settings, dossier)
    assert len(postal.orders_of(session, dossier.id)) == 1


def test_no_pickup_chosen_no_order(session: Session, settings: Settings) -> None:
    dossier = licence_dossier(session, pickup=False)
    submit(session, settings, dossier)
    assert dossier.code and postal.orders_of(session, dossier.id) == []


def test_the_result_ready_orders_its_delivery_with_the_amount_to_collect(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = licence_dossier(session, pickup=False)
    results = result_ready(session, settings, storage, trust, agency_cert, dossier)
    procedure = session.get(Procedure, LICENCE)
    assert procedure is not None
    order = order_of(session, dossier, ParcelKind.DELIVERY)
    assert order.recipient == {**HOME, "notes": ""} and order.sender["name"] == "Công an tỉnh Ninh Bình"
    assert order.contents == [{"id": results[0].id, "name_vi": results[0].filename, "name_en": results[0].filename}]
    assert order.weight_class == procedure.result_weight_class
    assert order.fee == billing.delivery_quote(settings, procedure, HOME, from_province="37").amount > 0
    # What is left to pay is collected by the courier: the bill's total (fee and postage), as a pending payment.
    bill = billing.bill_for(procedure, dossier, settings)
    assert order.cod_amount == bill.total > procedure.fee_total
    [payment] = payments.payments_of(session, dossier.id)
    assert (payment.gateway, payment.status, payment.amount) == ("cod", PaymentStatus.PENDING, order.cod_amount)
    assert payment.redirect_url == ""  # nobody is sent anywhere
    assert "dossier.parcel_updated" in lf.push_types(session, dossier)


def test_a_result_not_sent_by_post_orders_nothing(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = lf.received(session, delivery_method="online")
    issue(session, settings, storage, trust, agency_cert, dossier)
    assert postal.orders_of(session, dossier.id) == []


# -- events


def test_a_pickup_s_journey_ends_with_the_originals_at_the_agency(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    dossier = licence_dossier(session)
    submit(session, settings, dossier)
    order = order_of(session, dossier, ParcelKind.PICKUP)
    op = Operator(session, settings, storage, order)
    op.claim()
    op.report(ParcelStatus.PICKED_UP)
    op.report(ParcelStatus.IN_TRANSIT, location="Bưu cục Hoa Lư")
    op.report(ParcelStatus.DELIVERED, proof=True)
    kinds = [e.kind for e in postal_events(session, dossier)]
    assert kinds == [
        "postal_created",
        "postal_claimed",
        "postal_picked_up",
        "postal_in_transit",
        "postal_delivered",
        "originals_arrived",
    ]
    tracking = order.tracking_number
    assert tracking and all(e.details.get("tracking_number") == tracking for e in postal_events(session, dossier)[1:])
    arrived = postal_events(session, dossier)[-1]
    assert arrived.actor == f"postal:{order.operator}" and arrived.details["originals"][0]["id"] == "giay_phep_lai_xe"
    assert as_utc(arrived.at) == op.at(3)  # the operator's time
    pushes = lf.pushes(session, dossier)
    assert [t for t, _ in pushes].count("dossier.parcel_updated") == 5
    originals = [d for t, d in pushes if t == "dossier.originals_arrived"]
    assert len(originals) == 1 and originals[0]["tracking_number"] == tracking
    assert originals[0]["originals"][0]["id"] == "giay_phep_lai_xe"
    assert lf.notification_kinds(session, dossier)[-2:] == ["postal.picked_up", "postal.delivered"]
    assert dossier.status == DossierStatus.SUBMITTED  # the originals do not move the dossier
    [parcel] = parcel_reads.parcels_of(session, dossier.id)
    assert parcel.originals_arrived_at is not None


def test_the_result_delivered_settles_the_cod_payment_once_and_completes_the_dossier(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier, order, op = claimed_delivery(session, settings, storage, trust, agency_cert)
    op.report(ParcelStatus.PICKED_UP)
    op.report(ParcelStatus.DELIVERY_ATTEMPTED, reason="Không có người nhận")
    recorded = op.report(ParcelStatus.DELIVERED, proof=True, cod_collected=order.cod_amount)
    assert recorded.changed
    session.refresh(dossier)
    assert dossier.status == DossierStatus.COMPLETED and dossier.handover == "post"
    completed = [e for e in lf.events(session, dossier) if e.kind == "completed"]
    assert completed[0].actor == f"postal:{order.operator}"
    [payment] = payments.payments_of(session, dossier.id)
    assert (payment.status, payment.amount, payment.gateway) == (PaymentStatus.SUCCEEDED, order.cod_amount, "cod")
    assert payment.receipt_number  # numbered at once, as for any payment
    receipts = session.exec(select(OutboxMessage).where(OutboxMessage.topic == IssueEReceipt.topic)).all()
    assert [m.payload["payment_id"] for m in receipts].count(payment.id) == 1
    assert ensure_e_receipt(session, payment, storage=storage, settings=settings).startswith(b"%PDF")
    assert e_receipt_data(session, payment, settings).gateway_name.startswith("Thu hộ")
    assert billing.amount_left(session, licence(session), dossier, settings) == 0
    kinds = lf.notification_kinds(session, dossier)
    assert {"postal.picked_up", "postal.delivery_attempted", "postal.delivered", "payment.succeeded"} <= set(kinds)
    attempted = next(n for n in lf.notifications(session, dossier) if n.kind == "postal.delivery_attempted")
    assert attempted.params["reason"] == "Không có người nhận"
    types = lf.push_types(session, dossier)
    assert types.index("dossier.paid") < types.index("dossier.completed")
    # The same report again is a replay: nothing more is paid, nothing more happens.
    again = postal.record_event(
        session=session,
        settings=settings,
        storage=storage,
        operator=order.operator,
        order=order,
        report=postal.TrackingReport(
            event_id=recorded.event.event_id,
            status=ParcelStatus.DELIVERED,
            occurred_at=recorded.event.occurred_at,
            cod_collected=order.cod_amount,
        ),
        proof=signed_for(recorded.event.occurred_at),
    )
    assert again.replayed
    assert [p.status for p in payments.payments_of(session, dossier.id)] == [PaymentStatus.SUCCEEDED]
    # And the gateway's own dedupe: the courier's statement applied twice settles once.
    from payments.gateways import cod

    twice = payments.apply_result(
        session=session,
        gateway_id="cod",
        result=cod.collected(
            payment.reference,
            amount=payment.amount,
            operator=order.operator,
            event_id=recorded.event.event_id,
            tracking_number=order.tracking_number,
        ),
        source=cod.SOURCE,
    )
    assert not twice.changed


def test_a_cod_amount_other_than_the_order_s_is_refused_by_postal(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier, order, op = claimed_delivery(session, settings, storage, trust, agency_cert)
    with pytest.raises(Invalid):
        op.report(ParcelStatus.DELIVERED, proof=True, cod_collected=order.cod_amount - 1000)
    session.refresh(dossier)
    assert dossier.status == DossierStatus.RESULT_READY
    assert [p.status for p in payments.payments_of(session, dossier.id)] == [PaymentStatus.PENDING]


def test_a_late_event_that_moves_nothing_is_still_on_the_timeline(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = licence_dossier(session, pickup=False, cod=False)
    factories.payment(session, dossier=dossier, amount=billing.bill_for(licence(session), dossier, settings).total)
    result_ready(session, settings, storage, trust, agency_cert, dossier)
    order = order_of(session, dossier, ParcelKind.DELIVERY)
    assert order.cod_amount == 0  # paid already: nothing to collect
    op = Operator(session, settings, storage, order)
    op.claim()
    op.report(ParcelStatus.PICKED_UP, at=op.at(1))
    op.report(ParcelStatus.DELIVERED, at=op.at(30), proof=True)
    late = op.report(ParcelStatus.IN_TRANSIT, at=op.at(10), location="Trung tâm khai thác Nam Định")
    assert not late.changed
    session.refresh(order)
    assert order.status == ParcelStatus.DELIVERED
    entry = [e for e in postal_events(session, dossier) if e.kind == "postal_in_transit"]
    assert len(entry) == 1 and entry[0].details["changed"] is False and as_utc(entry[0].at) == op.at(10)
    # The timeline reads in the order things happened.
    ordered = [e.kind for e in sorted(postal_events(session, dossier), key=lambda e: (as_utc(e.at), e.id or 0))]
    assert ordered.index("postal_in_transit") < ordered.index("postal_delivered")
    pushed = [d for t, d in lf.pushes(session, dossier) if t == "dossier.parcel_updated"]
    assert pushed[-1]["event_status"] == "in_transit" and pushed[-1]["changed"] is False
    assert "postal.in_transit" not in lf.notification_kinds(session, dossier)


def test_a_result_returned_after_the_last_attempt_waits_at_the_centre(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier, order, op = claimed_delivery(session, settings, storage, trust, agency_cert)
    op.report(ParcelStatus.PICKED_UP)
    for _ in range(settings.postal_max_attempts):
        op.report(ParcelStatus.DELIVERY_ATTEMPTED, reason="Sai địa chỉ")
    session.refresh(order)
    assert order.status == ParcelStatus.RETURNED
    kinds = [e.kind for e in postal_events(session, dossier)]
    assert kinds.count("postal_attempted") == settings.postal_max_attempts and kinds[-1] == "postal_returned"
    notes = lf.notification_kinds(session, dossier)
    assert notes.count("postal.delivery_attempted") == settings.postal_max_attempts
    assert "postal.returned" in notes
    session.refresh(dossier)
    assert dossier.status == DossierStatus.RESULT_READY  # handed over at the counter later
    # Nothing will be collected: the COD payment is cancelled.
    assert [p.status for p in payments.payments_of(session, dossier.id)] == [PaymentStatus.CANCELLED]


# -- the cod gateway


def test_the_cod_gateway_leaves_its_payment_pending_until_the_courier_reports(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = licence_dossier(session, pickup=False)
    result_ready(session, settings, storage, trust, agency_cert, dossier)
    [payment] = payments.payments_of(session, dossier.id)
    gateway = parcels.cod_gateway()
    assert isinstance(gateway, CodGateway)
    assert gateway.query_status(payments.order_for(payment)).outcome == Outcome.PENDING
    outcome = payments.reconcile_payment(session=session, gateways={"cod": gateway}, payment_id=payment.id)
    assert outcome == Reconciled.UNCHANGED
    session.refresh(payment)
    assert payment.status == PaymentStatus.PENDING


def test_cod_is_built_always_and_offered_to_no_payer(app: object) -> None:
    from payments.deps import app_gateways

    assert "cod" in app.state.gateways  # type: ignore[attr-defined]
    assert "cod" not in app_gateways(app) and list(app_gateways(app))


# -- counter intake


def counter(session: Session, storage: LocalStorage, settings: Settings, **over: Any) -> Dossier:
    procedure = session.get(Procedure, factories.MARITAL)
    assert procedure is not None
    values: dict[str, Any] = {
        "applicant": intake.CounterApplicant(cccd="001190088888", full_name="Phạm Thị Quầy", phone="0912 000 111"),
        "delivery_method": "post",
    }
    values.update(over)
    return intake.register_at_counter(
        session=session,
        storage=storage,
        settings=settings,
        procedure=procedure,
        answers=factories.marital_answers(),
        files=[("to_khai", "to-khai.jpg", jpeg_bytes())],
        officer=lf.OFFICER,
        by=lf.BACKOFFICE,
        **values,
    )


def test_a_counter_dossier_by_post_is_delivered_to_the_address_given(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = counter(session, storage, settings, delivery_address=PostalAddress(**HOME))
    assert dossier.delivery_address == {**HOME, "notes": ""}
    issue(session, settings, storage, trust, agency_cert, dossier)
    assert order_of(session, dossier, ParcelKind.DELIVERY).recipient == {**HOME, "notes": ""}


def test_a_counter_dossier_by_post_needs_an_address(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    with pytest.raises(Invalid):
        counter(session, storage, settings)  # no address given, and the applicant's is not known
    with pytest.raises(Invalid):
        counter(session, storage, settings, delivery_method="centre", delivery_address=PostalAddress(**HOME))
    own = intake.CounterApplicant(
        cccd="001190077777",
        full_name="Phạm Thị Quầy",
        phone="0912 000 111",
        address="5 Trần Hưng Đạo, phường Hoa Lư, tỉnh Ninh Bình",
    )
    dossier = counter(session, storage, settings, applicant=own)
    assert dossier.delivery_address is not None
    assert (dossier.delivery_address["ward"], dossier.delivery_address["name"]) == ("14329", "Phạm Thị Quầy")


# -- choices changed after submission (portal/dossiers/delivery.py publishes DeliveryChanged)

FAR = {"name": "Nguyễn Văn Bình", "phone": "0912345678", "province": "01", "ward": "00004", "street": "12 Lý Thái Tổ"}


def change(session: Session, settings: Settings, dossier: Dossier, **over: Any) -> None:
    values: dict[str, Any] = {
        "method": dossier.delivery_method,
        "delivery_address": PostalAddress(**dossier.delivery_address) if dossier.delivery_address else None,
        "pickup_address": PostalAddress(**dossier.pickup_address) if dossier.pickup_address else None,
        "pay_on_delivery": dossier.pay_on_delivery,
    }
    values.update(over)
    delivery.change(
        session=session,
        settings=settings,
        procedure=licence(session),
        dossier=dossier,
        choices=delivery.Choices(**values),
        by=lf.applicant_of(session, dossier),
    )


def test_a_pickup_chosen_after_submission_is_ordered_and_a_new_address_followed(
    session: Session, settings: Settings
) -> None:
    dossier = licence_dossier(session, pickup=False)
    submit(session, settings, dossier)
    assert postal.orders_of(session, dossier.id) == []
    change(session, settings, dossier, pickup_address=PostalAddress(**HOME))
    first = order_of(session, dossier, ParcelKind.PICKUP)
    assert first.sender["province"] == "37" and first.status == ParcelStatus.CREATED
    # Unclaimed, the order itself takes the new address (delivery.change); nothing more is ordered.
    change(session, settings, dossier, pickup_address=PostalAddress(**FAR))
    again = order_of(session, dossier, ParcelKind.PICKUP)
    assert again.id == first.id and again.sender["province"] == "01"


def test_a_new_address_for_a_cod_delivery_makes_the_order_and_its_payment_again(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = licence_dossier(session, pickup=False)
    result_ready(session, settings, storage, trust, agency_cert, dossier)
    before = order_of(session, dossier, ParcelKind.DELIVERY)
    fee, cod_amount = before.fee, before.cod_amount
    change(session, settings, dossier, delivery_address=PostalAddress(**FAR))
    orders = [o for o in postal.orders_of(session, dossier.id) if o.kind == ParcelKind.DELIVERY]
    assert [o.status for o in orders] == [ParcelStatus.CANCELLED, ParcelStatus.CREATED]
    after = orders[1]
    assert after.recipient["province"] == "01" and after.fee > fee  # farther: dearer
    assert after.cod_amount == billing.bill_for(licence(session), dossier, settings).total != cod_amount
    statuses = sorted((p.status, p.amount) for p in payments.payments_of(session, dossier.id))
    assert statuses == sorted([(PaymentStatus.CANCELLED, cod_amount), (PaymentStatus.PENDING, after.cod_amount)])


def test_a_result_moved_to_the_counter_cancels_its_delivery_and_cod(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = licence_dossier(session, pickup=False)
    result_ready(session, settings, storage, trust, agency_cert, dossier)
    change(session, settings, dossier, method="centre", delivery_address=None, pay_on_delivery=False)
    [order] = postal.orders_of(session, dossier.id)
    assert order.status == ParcelStatus.CANCELLED
    assert [p.status for p in payments.payments_of(session, dossier.id)] == [PaymentStatus.CANCELLED]
    assert "postal_cancelled" in lf.kinds(session, dossier)


def test_paid_online_before_the_courier_came_the_delivery_collects_nothing(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier = licence_dossier(session, pickup=False)
    result_ready(session, settings, storage, trust, agency_cert, dossier)
    first = order_of(session, dossier, ParcelKind.DELIVERY)
    amount = first.cod_amount
    online = factories.payment(session, dossier=dossier, amount=amount, status=PaymentStatus.PENDING)
    payments.apply_result(
        session=session,
        gateway_id="sandbox",
        result=GatewayResult(reference=online.reference, outcome=Outcome.SUCCEEDED, amount=amount, currency="VND"),
        source="notification",
    )
    orders = [o for o in postal.orders_of(session, dossier.id) if o.kind == ParcelKind.DELIVERY]
    assert [(o.status, o.cod_amount) for o in orders] == [(ParcelStatus.CANCELLED, amount), (ParcelStatus.CREATED, 0)]
    by_gateway = {p.gateway: p.status for p in payments.payments_of(session, dossier.id)}
    assert by_gateway == {"cod": PaymentStatus.CANCELLED, "sandbox": PaymentStatus.SUCCEEDED}
