"""What the postal service means for a dossier: the orders the dossier makes, and what their events do.

The postal package knows parcels, not dossiers. This module subscribes, in the transaction of the change:

* to the dossier's own steps (`portal.dossiers.events`): a submission with a pickup address orders the
  PICKUP of the paper originals (from the applicant to the agency); a result issued for a dossier that goes
  by post orders its DELIVERY (from the agency to the delivery address), with the amount the courier
  collects when the applicant pays on delivery, for which a pending `cod` payment is started;
* to `postal.events.ParcelEvent` (orders owned by a dossier): every event goes on the dossier's timeline at
  the time the operator gave it (an event that arrived late and did not move the status too) and is pushed
  to the agency's back-office; a change of status tells the applicant (picked up, delivery attempted with
  the reason, delivered, returned); the originals delivered to the centre are ORIGINALS_ARRIVED; the result
  delivered settles the COD payment (once, amount checked: its e-receipt is issued as for any payment) and
  completes the dossier (handover "post"); a result returned waits at the centre.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from forms.address import parse_address
from payments import service as payments
from payments.events import PaymentSucceeded
from payments.gateways import cod
from payments.gateways.base import PaymentGateway, registry
from payments.models import Payment, PaymentStatus
from portal.catalog.models import Agency, Procedure
from portal.dossiers import billing, lifecycle
from portal.dossiers.delivery import DeliveryChanged
from portal.dossiers.events import ResultIssued, Submitted
from portal.dossiers.models import Dossier, DossierEventKind, DossierResult, DossierStatus
from portal.dossiers.pushes import push
from portal.dossiers.recipients import tell
from portal.dossiers.service import OPEN_STATES, add_event
from portal.kernel.clock import local
from portal.kernel.db import settings_of
from portal.kernel.errors import DomainError
from portal.kernel.events import subscribe
from portal.kernel.settings import Settings
from postal import service as postal
from postal.events import ParcelEvent
from postal.models import ParcelKind, ParcelStatus, PostalOrder, WeightClass

log = logging.getLogger("portal.dossiers.parcels")

# The timeline entry of each parcel status (the event's details say which parcel and its tracking number).
TIMELINE_KINDS: dict[str, DossierEventKind] = {
    ParcelStatus.CREATED: DossierEventKind.POSTAL_CREATED,
    ParcelStatus.CLAIMED: DossierEventKind.POSTAL_CLAIMED,
    ParcelStatus.PICKED_UP: DossierEventKind.POSTAL_PICKED_UP,
    ParcelStatus.IN_TRANSIT: DossierEventKind.POSTAL_IN_TRANSIT,
    ParcelStatus.DELIVERY_ATTEMPTED: DossierEventKind.POSTAL_ATTEMPTED,
    ParcelStatus.DELIVERED: DossierEventKind.POSTAL_DELIVERED,
    ParcelStatus.RETURNED: DossierEventKind.POSTAL_RETURNED,
    ParcelStatus.CANCELLED: DossierEventKind.POSTAL_CANCELLED,
}
# A COD payment waits for the courier this long before reconciliation may give up on it (a parcel is
# delivered or returned well within it).
COD_EXPIRY_MINUTES = 90 * 24 * 60


def actor(operator: str) -> str:
    """Who acted, as the timeline and the completion record it."""
    return f"postal:{operator}"


def agency_address(agency: Agency) -> dict[str, str]:
    """The agency as a parcel's sender or recipient: its name, phone and address, in its province.

    The catalogue writes an agency's address as text ("street, ward, province"): its ward is read from it.
    An address that cannot be read keeps the whole text as the street (the order is then refused as invalid,
    which names the ward).
    """
    place = parse_address(agency.address) or {}
    return {
        "name": agency.name_vi,
        "phone": agency.phone,
        "province": place.get("province") or agency.province_code,
        "ward": place.get("ward", ""),
        "street": place.get("street") or agency.address,
        "notes": "",
    }


def _order_of_kind(session: Session, dossier: Dossier, kind: ParcelKind) -> PostalOrder | None:
    """The dossier's order of this kind that still stands (not cancelled nor returned), if any."""
    for order in postal.orders_of(session, dossier.id):
        if order.kind == kind and order.status not in (ParcelStatus.CANCELLED, ParcelStatus.RETURNED):
            return order
    return None


def _context(session: Session, dossier: Dossier) -> tuple[Procedure, Agency, Settings]:
    procedure = session.get(Procedure, dossier.procedure_code)
    agency = session.get(Agency, dossier.agency_code)
    assert procedure is not None and agency is not None, dossier.id  # foreign keys
    return procedure, agency, settings_of(session)


# -- orders


def order_pickup(session: Session, dossier: Dossier) -> PostalOrder | None:
    """The PICKUP of the paper originals the procedure needs, from the applicant's pickup address to the
    agency (once; None when no pickup was chosen)."""
    if not dossier.pickup_address:
        return None
    procedure, agency, settings = _context(session, dossier)
    if not procedure.originals:
        return None
    existing = _order_of_kind(session, dossier, ParcelKind.PICKUP)
    if existing is not None:
        return existing
    quote = billing.pickup_quote(settings, dossier.pickup_address, to_province=agency.province_code)
    contents = [
        {"id": c.id, "name_vi": c.name.vi, "name_en": c.name.en}
        for c in procedure.component_list
        if c.id in procedure.originals
    ]
    order = postal.create_order(
        session=session,
        settings=settings,
        kind=ParcelKind.PICKUP,
        owner_id=dossier.id,
        reference=dossier.code or "",
        sender=dossier.pickup_address,
        recipient=agency_address(agency),
        province_code=str(dossier.pickup_address["province"]),
        contents=contents,
        weight_class=WeightClass.DOCUMENT,
        fee=quote.amount,
    )
    tell(
        session,
        dossier,
        kind="postal.pickup_ordered",
        dedupe_key=f"postal.pickup_ordered:{order.id}",
        params={"code": dossier.code or "", "number": order.number},
    )
    return order


def order_delivery(session: Session, dossier: Dossier, results: list[DossierResult]) -> PostalOrder | None:
    """The DELIVERY of the result to the applicant's address (once; None unless the result goes by post).

    When the applicant pays on delivery, what is left to pay is the amount the courier collects: a pending
    payment through the `cod` gateway is started for it, and the order carries that amount.
    """
    if dossier.delivery_method != "post":
        return None
    if not dossier.delivery_address:
        # A dossier filed before addresses were asked, or at the counter without one: the agency hands it over.
        log.warning("dossier %s goes by post but has no delivery address: no postal order made", dossier.id)
        return None
    existing = _order_of_kind(session, dossier, ParcelKind.DELIVERY)
    if existing is not None:
        return existing
    procedure, agency, settings = _context(session, dossier)
    quote = billing.delivery_quote(settings, procedure, dossier.delivery_address, from_province=agency.province_code)
    cod_amount = 0
    if billing.pays_on_delivery(procedure, dossier):
        payment = start_cod_payment(session, dossier, procedure, settings)
        cod_amount = payment.amount if payment is not None else 0
    return postal.create_order(
        session=session,
        settings=settings,
        kind=ParcelKind.DELIVERY,
        owner_id=dossier.id,
        reference=dossier.code or "",
        sender=agency_address(agency),
        recipient=dossier.delivery_address,
        province_code=str(dossier.delivery_address["province"]),
        contents=[{"id": r.id, "name_vi": r.filename, "name_en": r.filename} for r in results],
        weight_class=procedure.result_weight_class,
        fee=quote.amount,
        cod_amount=cod_amount,
    )


@subscribe(Submitted)
def on_submitted(session: Session, event: Submitted) -> None:
    order_pickup(session, event.dossier)


@subscribe(ResultIssued)
def on_result_issued(session: Session, event: ResultIssued) -> None:
    order_delivery(session, event.dossier, list(event.results))


@subscribe(DeliveryChanged)
def on_delivery_changed(session: Session, event: DeliveryChanged) -> None:
    """The applicant changed their postal choices after submission (`delivery.change` already updated or
    cancelled the unclaimed orders concerned): order what the new choices need."""
    dossier = session.get(Dossier, event.dossier_id)
    if dossier is None:
        return
    if event.pickup_changed and dossier.status in OPEN_STATES:
        order_pickup(session, dossier)  # a new pickup address: a new order (the old one was cancelled)
    if event.delivery_changed and dossier.status == DossierStatus.RESULT_READY:
        _follow_delivery(session, dossier)


def _follow_delivery(session: Session, dossier: Dossier) -> None:
    """The delivery order of a result ready matches the choices: made when the result now goes by post, and made
    again when the amount the courier collects is no longer right (the order's COD amount cannot change)."""
    if dossier.delivery_method != "post":
        return  # its order, if any, was cancelled: the COD payment with it
    order = _order_of_kind(session, dossier, ParcelKind.DELIVERY)
    if order is not None:
        procedure, _, settings = _context(session, dossier)
        wanted = (
            billing.amount_left(session, procedure, dossier, settings)
            if billing.pays_on_delivery(procedure, dossier)
            else 0
        )
        if order.cod_amount == wanted or order.status != ParcelStatus.CREATED:
            return
        postal.cancel(session=session, order=order, reason="cod_changed", by="portal")  # its COD payment too
    order_delivery(session, dossier, lifecycle.results_of(session, dossier))


# -- cash on delivery


def cod_gateway() -> PaymentGateway:
    """The `cod` gateway (it has no options: one built here is the same as the app's)."""
    return registry.create(cod.GATEWAY_ID)


def start_cod_payment(session: Session, dossier: Dossier, procedure: Procedure, settings: Settings) -> Payment | None:
    """A pending payment of what is left to pay, which the courier collects (None when nothing is left)."""
    if billing.amount_left(session, procedure, dossier, settings) <= 0:
        return None
    try:
        started = payments.start_payment(
            session=session,
            gateway=cod_gateway(),
            order_id=dossier.id,
            account_id=dossier.applicant_id,
            agency_code=dossier.agency_code,
            bill=billing.bill_for(procedure, dossier, settings),
            description=f"Thu hộ phí, lệ phí hồ sơ {dossier.code or ''} khi giao kết quả qua bưu chính",
            base_url=settings.base_url,
            expiry_minutes=COD_EXPIRY_MINUTES,
        )
    except DomainError as exc:  # nothing to pay after all (paid meanwhile)
        log.info("dossier %s: no COD payment: %s", dossier.id, exc.msgid)
        return None
    return started.payment


def pending_cod_payment(session: Session, dossier: Dossier) -> Payment | None:
    """The dossier's COD payment still waiting for the courier, if any (the latest)."""
    return next(
        (
            p
            for p in payments.payments_of(session, dossier.id)
            if p.gateway == cod.GATEWAY_ID and p.status == PaymentStatus.PENDING
        ),
        None,
    )


@subscribe(PaymentSucceeded)
def on_paid_otherwise(session: Session, event: PaymentSucceeded) -> None:
    """Paid online while the courier was to collect: an unclaimed delivery is made again without an amount to
    collect (and its COD payment cancelled); a claimed one keeps it (the agency refunds the cash by hand)."""
    payment = event.payment
    if payment.order_kind != "dossier" or payment.gateway == cod.GATEWAY_ID:
        return
    dossier = session.get(Dossier, payment.order_id)
    if dossier is not None and dossier.status == DossierStatus.RESULT_READY and pending_cod_payment(session, dossier):
        _follow_delivery(session, dossier)


def _settle_cod(session: Session, dossier: Dossier, event: ParcelEvent) -> None:
    """The courier collected the COD amount: the pending payment succeeds, once (its e-receipt follows)."""
    if not event.cod_collected:
        return
    payment = pending_cod_payment(session, dossier)
    if payment is None:
        log.error(
            "dossier %s: %s collected %s on delivery, no COD payment waits",
            dossier.id,
            event.operator,
            event.cod_collected,
        )
        return
    result = cod.collected(
        payment.reference,
        amount=event.cod_collected,
        operator=event.operator,
        event_id=event.event_id,
        tracking_number=event.tracking_number,
    )
    applied = payments.apply_result(session=session, gateway_id=cod.GATEWAY_ID, result=result, source=cod.SOURCE)
    if not applied.changed:
        log.error("dossier %s: COD payment %s not settled (%s)", dossier.id, payment.reference, applied.ack)


def _cancel_cod(session: Session, dossier: Dossier, why: str) -> None:
    """Nothing will be collected (the parcel came back or its order was cancelled): the payment is cancelled."""
    payment = pending_cod_payment(session, dossier)
    if payment is not None:
        result = cod.cancelled(payment.reference, amount=payment.amount, why=why)
        payments.apply_result(session=session, gateway_id=cod.GATEWAY_ID, result=result, source=cod.SOURCE)


# -- what a parcel event does


def _when(event: ParcelEvent) -> str:
    return local(event.occurred_at).strftime("%H:%M %d/%m/%Y")


def _tell(session: Session, dossier: Dossier, event: ParcelEvent, key: str, **params: str) -> None:
    """The applicant's notification of a parcel's step (once per `key`), from the template file of
    ``postal.<status>``: its variant for the parcel's kind (the pickup of the originals, the delivery of the result).
    """
    kind = f"postal.{event.status}"[:40]
    tell(
        session,
        dossier,
        kind=kind,
        dedupe_key=f"{kind}:{event.order_id}:{key}"[:120],
        params={
            "code": dossier.code or "",
            "parcel": str(event.kind),
            "tracking": event.tracking_number or event.number,
            **params,
        },
    )


def _timeline(session: Session, dossier: Dossier, event: ParcelEvent) -> None:
    kind = TIMELINE_KINDS.get(event.status)
    if kind is None:
        log.error("parcel %s: no timeline entry for the status %r", event.number, event.status)
        return
    details: dict[str, Any] = {
        "parcel": event.kind,
        "number": event.number,
        "tracking_number": event.tracking_number,
        "operator": event.operator,
        "status": event.status,
        "changed": event.changed,
        "event_id": event.event_id,
    }
    if event.reason:
        details["reason"] = event.reason
    if event.cod_collected is not None:
        details["cod_collected"] = event.cod_collected
    if event.recipient_name:
        details["recipient_name"] = event.recipient_name
        details["relation"] = event.relation
    entry = add_event(session, dossier, kind, actor=actor(event.operator), **details)
    entry.at = event.occurred_at  # placed by the operator's time: a late event goes where it happened


def _push(session: Session, dossier: Dossier, event: ParcelEvent) -> None:
    push(
        session,
        dossier,
        "dossier.parcel_updated",
        parcel=event.kind,
        number=event.number,
        operator=event.operator,
        tracking_number=event.tracking_number,
        event_status=event.status,
        changed=event.changed,
        event_at=event.occurred_at,
        event_id=event.event_id,
        reason=event.reason or None,
        attempts=event.attempts,
        cod_collected=event.cod_collected,
    )


def _originals_arrived(session: Session, dossier: Dossier, event: ParcelEvent) -> None:
    order = session.get(PostalOrder, event.order_id)
    originals = list(order.contents) if order is not None else []
    entry = add_event(
        session,
        dossier,
        DossierEventKind.ORIGINALS_ARRIVED,
        actor=actor(event.operator),
        parcel=event.kind,
        number=event.number,
        tracking_number=event.tracking_number,
        originals=originals,
        received_by=event.recipient_name,
    )
    entry.at = event.occurred_at
    push(
        session,
        dossier,
        "dossier.originals_arrived",
        number=event.number,
        operator=event.operator,
        tracking_number=event.tracking_number,
        arrived_at=event.occurred_at,
        received_by=event.recipient_name,
        originals=originals,
    )
    _tell(session, dossier, event, "arrived", time=_when(event))


def _result_delivered(session: Session, dossier: Dossier, event: ParcelEvent) -> None:
    _settle_cod(session, dossier, event)
    _tell(session, dossier, event, "delivered", time=_when(event), recipient=event.recipient_name or "")
    session.refresh(dossier)
    if dossier.status == DossierStatus.RESULT_READY:
        lifecycle.complete(session=session, dossier=dossier, handover="post", by=actor(event.operator))


def _changed(session: Session, dossier: Dossier, event: ParcelEvent) -> None:
    """What a move of the parcel's status does for the dossier and its applicant."""
    pickup = event.kind == ParcelKind.PICKUP
    if event.status == ParcelStatus.PICKED_UP:
        _tell(session, dossier, event, "picked_up", time=_when(event))
    elif event.status == ParcelStatus.DELIVERY_ATTEMPTED:
        _tell(session, dossier, event, f"attempt-{event.attempts}", time=_when(event), reason=event.reason or "")
    elif event.status == ParcelStatus.DELIVERED:
        if pickup:
            _originals_arrived(session, dossier, event)
        else:
            _result_delivered(session, dossier, event)
    elif event.status == ParcelStatus.RETURNED:
        if not pickup:
            _cancel_cod(session, dossier, "parcel returned to the agency")
        _tell(session, dossier, event, "returned")
    elif event.status == ParcelStatus.CANCELLED and not pickup:
        _cancel_cod(session, dossier, "postal order cancelled")


@subscribe(ParcelEvent)
def on_parcel_event(session: Session, event: ParcelEvent) -> None:
    """A parcel of a dossier moved (or an event about it arrived): timeline, push, and what the move means."""
    if event.owner_kind != "dossier":
        return
    dossier = session.get(Dossier, event.owner_id)
    if dossier is None:
        log.error("parcel %s belongs to no dossier (%s)", event.number, event.owner_id)
        return
    _timeline(session, dossier, event)
    _push(session, dossier, event)
    if event.changed:
        _changed(session, dossier, event)
    session.flush()
