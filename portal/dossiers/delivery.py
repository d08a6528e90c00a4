"""The applicant's postal choices: how the result comes back, a pickup of the originals, paying the courier.

Before submission the choices are the draft's (the bill follows them, `billing.bill_for`). After it, the
applicant may change them until the postal operator has claimed the order concerned: an order still
"created" is given the new address (or cancelled), and a bill already paid is topped up (the payment page
charges what is left) or partly refunded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from auth.models import Account
from forms.messages import Msg
from payments import service as payments
from payments.models import PaymentStatus, Refund
from portal.catalog.models import Component, Procedure
from portal.dossiers import billing
from portal.dossiers.models import Dossier, DossierEventKind, DossierStatus
from portal.dossiers.service import add_event, default_postal_address
from portal.kernel.errors import Conflict
from portal.kernel.events import publish
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from postal import service as postal
from postal.addresses import PostalAddress, clean_postal_address
from postal.models import ParcelKind, ParcelStatus, PostalOrder

ADDRESS_PARTS = ("name", "phone", "province", "ward", "street", "notes")
# After submission the choices may change while the dossier is with the agency and the result not handed over.
CHANGEABLE = frozenset(
    {
        DossierStatus.SUBMITTED,
        DossierStatus.RECEIVED,
        DossierStatus.IN_PROCESS,
        DossierStatus.SUPPLEMENT_REQUESTED,
        DossierStatus.RESULT_CHECK,
        DossierStatus.RESULT_READY,
    }
)
REFUND_REASON = "delivery_changed"

MSG_METHOD = Msg(N_("Choose how you want to receive the result."))
MSG_COD_NOT_OFFERED = Msg(N_("Paying at delivery is offered only for this procedure's results sent by post."))
MSG_NO_ORIGINALS = Msg(N_("This procedure does not need paper originals: there is nothing to pick up."))


@dataclass(frozen=True)
class Choices:
    """What the applicant chose: a method, the address when by post, a pickup address or none, paying the courier."""

    method: str
    delivery_address: PostalAddress | None
    pickup_address: PostalAddress | None
    pay_on_delivery: bool


def originals(procedure: Procedure) -> list[Component]:
    """The components whose paper originals the agency needs (a pickup is offered for them)."""
    return [c for c in procedure.component_list if c.id in procedure.originals]


def form_values(session: Session, dossier: Dossier) -> dict[str, Any]:
    """The delivery form as it starts: the dossier's choices, addresses prefilled from the applicant's."""
    default = default_postal_address(session, dossier)
    return {
        "method": dossier.delivery_method or "",
        "delivery": dict(dossier.delivery_address or default),
        "pickup_wanted": bool(dossier.pickup_address),
        "pickup": dict(dossier.pickup_address or dossier.delivery_address or default),
        "pay_on_delivery": dossier.pay_on_delivery,
    }


def posted_values(form: Mapping[str, str]) -> dict[str, Any]:
    """The delivery form as posted (field names `method`, `delivery.<part>`, `pickup`, `pickup.<part>`, …)."""

    def part(prefix: str) -> dict[str, str]:
        return {key: str(form.get(f"{prefix}.{key}", ""))[:400] for key in ADDRESS_PARTS}

    return {
        "method": str(form.get("method", ""))[:10],
        "delivery": part("delivery"),
        "pickup_wanted": form.get("pickup") == "yes",
        "pickup": part("pickup"),
        "pay_on_delivery": form.get("pay_on_delivery") == "yes",
    }


def clean_choices(procedure: Procedure, values: Mapping[str, Any]) -> tuple[Choices | None, dict[str, Msg]]:
    """Check the posted choices; errors keyed by field name (`method`, `delivery.ward`, `pickup.phone`, …)."""
    errors: dict[str, Msg] = {}
    method = str(values.get("method") or "")
    if method not in procedure.delivery:
        errors["method"] = MSG_METHOD
    delivery_address = None
    if method == "post":
        delivery_address, found = clean_postal_address(values.get("delivery") or {})
        errors.update({f"delivery.{k}": v for k, v in found.items()})
    pickup_address = None
    if values.get("pickup_wanted"):
        if not procedure.originals:
            errors["pickup"] = MSG_NO_ORIGINALS
        else:
            pickup_address, found = clean_postal_address(values.get("pickup") or {})
            errors.update({f"pickup.{k}": v for k, v in found.items()})
    cod = bool(values.get("pay_on_delivery"))
    if cod and not (procedure.cod_allowed and method == "post"):
        errors["pay_on_delivery"] = MSG_COD_NOT_OFFERED
    if errors:
        return None, errors
    return Choices(method, delivery_address, pickup_address, cod), {}


def _apply(dossier: Dossier, choices: Choices) -> None:
    dossier.delivery_method = choices.method
    dossier.delivery_address = choices.delivery_address.model_dump() if choices.delivery_address else None
    dossier.pickup_address = choices.pickup_address.model_dump() if choices.pickup_address else None
    dossier.pay_on_delivery = choices.pay_on_delivery


def _snapshot(dossier: Dossier) -> tuple[Any, ...]:
    return (dossier.delivery_method, dossier.delivery_address, dossier.pickup_address, dossier.pay_on_delivery)


def _restore(dossier: Dossier, saved: tuple[Any, ...]) -> None:
    dossier.delivery_method, dossier.delivery_address, dossier.pickup_address, dossier.pay_on_delivery = saved


def choose(*, session: Session, settings: Settings, procedure: Procedure, dossier: Dossier, choices: Choices) -> None:
    """Record a draft's choices; the bill follows them (refused, and nothing kept, if a payment already fixed it)."""
    if dossier.status != DossierStatus.DRAFT:
        raise Conflict(N_("This dossier has already been submitted and can no longer be changed."))
    saved = _snapshot(dossier)
    _apply(dossier, choices)
    try:
        billing.check_bill_change(session, procedure, dossier, settings)
    except Conflict:
        _restore(dossier, saved)  # the refusing request still commits: nothing of the change may stick
        raise
    session.add(dossier)
    session.flush()


# -- after submission


@dataclass(frozen=True)
class DeliveryChanged:
    """Published (in the transaction) when a submitted dossier's postal choices changed.

    Orders still "created" were already updated: they got the new address and fee, or were cancelled when
    the result no longer goes by post (`cancelled_delivery`) or no pickup is wanted any more
    (`cancelled_pickup`). A pickup chosen after submission has no order yet: ordering it is for the
    subscriber (the dossier's postal reactions), as at submission.
    """

    dossier_id: str
    delivery_changed: bool
    pickup_changed: bool
    cancelled_delivery: bool
    cancelled_pickup: bool


@dataclass(frozen=True)
class Change:
    """What a change after submission did to the money: the bill before and after, a top-up due, refunds."""

    total_before: int
    total_after: int
    top_up: int  # đồng left to pay now (the payment page charges it)
    refunds: list[Refund]


def open_order(session: Session, dossier: Dossier, kind: ParcelKind) -> PostalOrder | None:
    """The dossier's latest order of a kind that is not cancelled, if any."""
    stmt = (
        select(PostalOrder)
        .where(
            PostalOrder.owner_kind == "dossier",
            PostalOrder.owner_id == dossier.id,
            PostalOrder.kind == kind,
            PostalOrder.status != ParcelStatus.CANCELLED,
        )
        .order_by(col(PostalOrder.created_at).desc(), col(PostalOrder.id))
    )
    return session.exec(stmt).first()


def _check_unclaimed(order: PostalOrder | None) -> None:
    if order is not None and order.status != ParcelStatus.CREATED:
        if order.kind == ParcelKind.PICKUP:
            message = N_(
                "The postal service has already accepted the pickup of your originals (order {number}): "
                "it can no longer be changed here. Contact the centre."
            )
        else:
            message = N_(
                "The postal service has already accepted the parcel of your result (order {number}): "
                "its delivery can no longer be changed here. Contact the centre."
            )
        raise Conflict(message, {"number": order.number})


def _same(address: Mapping[str, Any] | None, other: PostalAddress | None) -> bool:
    return (dict(address) if address else None) == (other.model_dump() if other else None)


def change(
    *,
    session: Session,
    settings: Settings,
    procedure: Procedure,
    dossier: Dossier,
    choices: Choices,
    by: Account,
) -> Change:
    """Change a submitted dossier's choices: its postal orders follow while unclaimed, the money follows the bill.

    Conflict (409) when the dossier's life is over, or when the order the change touches was claimed
    already. A bill that grows after a payment leaves the difference to pay (a top-up on the payment page,
    or collected by the courier when paying at delivery); one that shrinks is refunded the difference.
    """
    if dossier.status not in CHANGEABLE:
        raise Conflict(N_("The result of this dossier can no longer be sent another way."))
    delivery_changed = (
        choices.method != dossier.delivery_method
        or not _same(dossier.delivery_address, choices.delivery_address)
        or choices.pay_on_delivery != dossier.pay_on_delivery
    )
    pickup_changed = not _same(dossier.pickup_address, choices.pickup_address)
    if not (delivery_changed or pickup_changed):
        total = billing.bill_for(procedure, dossier, settings).total
        return Change(total, total, 0, [])
    delivery_order = open_order(session, dossier, ParcelKind.DELIVERY) if delivery_changed else None
    pickup_order = open_order(session, dossier, ParcelKind.PICKUP) if pickup_changed else None
    _check_unclaimed(delivery_order)
    _check_unclaimed(pickup_order)
    before = billing.bill_for(procedure, dossier, settings).total
    previous = {
        "method": dossier.delivery_method,
        "pay_on_delivery": dossier.pay_on_delivery,
        "delivery_address": dossier.delivery_address,
        "pickup_address": dossier.pickup_address,
    }
    _apply(dossier, choices)
    home = billing.agency_province(procedure, dossier)
    charges = {c.kind: c for c in billing.postal_charges(procedure, dossier, settings, province=home)}
    if delivery_order is not None:
        if choices.method == "post" and choices.delivery_address is not None:
            postal.change_recipient(
                session=session,
                settings=settings,
                order=delivery_order,
                recipient=choices.delivery_address,
                province_code=choices.delivery_address.province,
                fee=charges["delivery"].line.amount,
            )
        else:
            postal.cancel(session=session, order=delivery_order, reason="delivery_changed", by=by.full_name)
    if pickup_order is not None:
        # The applicant's side of a pickup is its sender: `change_recipient` changes that side of any order.
        if choices.pickup_address is not None:
            postal.change_recipient(
                session=session,
                settings=settings,
                order=pickup_order,
                recipient=choices.pickup_address,
                province_code=choices.pickup_address.province,
                fee=charges["pickup"].line.amount,
            )
        else:
            postal.cancel(session=session, order=pickup_order, reason="pickup_changed", by=by.full_name)
    after = billing.bill_for(procedure, dossier, settings, province=home).total
    refunds = _settle(session, dossier, after)
    kept = payments.kept_amount(session, dossier.id)
    session.add(dossier)
    add_event(
        session,
        dossier,
        DossierEventKind.DELIVERY_CHANGED,
        actor=by.full_name,
        method=dossier.delivery_method,
        previous_method=previous["method"],
        pay_on_delivery=dossier.pay_on_delivery,
        delivery_changed=delivery_changed,
        pickup_changed=pickup_changed,
        pickup=bool(dossier.pickup_address),
        delivery_order=delivery_order.number if delivery_order is not None else None,
        pickup_order=pickup_order.number if pickup_order is not None else None,
        fee_before=before,
        fee_after=after,
        refunded=sum(r.amount for r in refunds),
    )
    session.flush()
    publish(
        session,
        DeliveryChanged(
            dossier_id=dossier.id,
            delivery_changed=delivery_changed,
            pickup_changed=pickup_changed,
            cancelled_delivery=delivery_order is not None and choices.method != "post",
            cancelled_pickup=pickup_order is not None and choices.pickup_address is None,
        ),
    )
    return Change(before, after, max(after - kept, 0) if kept else 0, refunds)


def _settle(session: Session, dossier: Dossier, total: int) -> list[Refund]:
    """Give back what was kept beyond the new bill, from the latest payments first."""
    excess = payments.kept_amount(session, dossier.id) - total
    refunds: list[Refund] = []
    for payment in payments.payments_of(session, dossier.id):  # newest first
        if excess <= 0:
            break
        if payment.status != PaymentStatus.SUCCEEDED:
            continue
        left = payments.refundable(payment) - payments.pending_refunds(session, payment)
        if left <= 0:
            continue
        amount = min(left, excess)
        refunds.append(payments.request_refund(session=session, payment=payment, amount=amount, reason=REFUND_REASON))
        excess -= amount
    return refunds
