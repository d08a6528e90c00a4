"""The dossier's side of payments: its bill, what a payment means for it, refunds on its side exits.

The payments package knows orders, not dossiers. This module registers dossiers as an order kind and
subscribes to the payment events, so a succeeded payment advances the dossier in the transaction that
recorded it: both happen once, or neither.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from auth.models import Account
from forms.address import format_address
from payments import service as payments
from payments.fees import FeeBreakdown, Reduction, compute_fees
from payments.models import Payment, Refund
from portal.catalog.loader import REDUCTION_PROOF
from portal.catalog.models import Agency, Procedure
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.events import subscribe
from portal.kernel.money import format_vnd
from portal.kernel.settings import Settings

log = logging.getLogger("portal.dossiers")


def N_(s: str) -> str:
    return s


def bill_for(procedure: Procedure, dossier: Dossier, settings: Settings) -> FeeBreakdown:
    """What the dossier owes: the procedure's fees, the postal fee if sent by post, less a declared reduction."""
    declared = procedure.reduction(dossier.fee_reduction)
    reduction = (
        Reduction(declared["category"], declared["name"]["vi"], declared["name"]["en"], declared["percent"])
        if declared
        else None
    )
    postal = settings.payment_postal_fee if dossier.delivery_method == "post" and procedure.fee_total > 0 else None
    return compute_fees(fee_items=procedure.fees, postal_fee=postal, reduction=reduction)


def amount_left(session: Session, procedure: Procedure, dossier: Dossier, settings: Settings) -> int:
    """What is still to pay (0 when paid, exempt or free)."""
    kept = payments.paid_amount(payments.payments_of(session, dossier.id))
    return max(bill_for(procedure, dossier, settings).total - kept, 0)


def payment_blocks_submission(session: Session, procedure: Procedure, dossier: Dossier, settings: Settings) -> int:
    """The amount that must be paid before this dossier can be submitted (0: nothing stops it)."""
    if procedure.payment_timing != "before":
        return 0
    return amount_left(session, procedure, dossier, settings)


def check_bill_change(session: Session, procedure: Procedure, dossier: Dossier, settings: Settings) -> None:
    """Refuse a change (delivery, reduction) that would alter a bill already paid; call after the change."""
    kept = payments.paid_amount(payments.payments_of(session, dossier.id))
    if kept and bill_for(procedure, dossier, settings).total != kept:
        raise Conflict(
            N_("The fee has already been paid for the current choices, so they can no longer change the amount.")
        )


def declare_reduction(
    *, session: Session, procedure: Procedure, dossier: Dossier, settings: Settings, category: str
) -> None:
    """Declare (or, with "", withdraw) a reduction category; its proof is uploaded as a document."""
    if dossier.status != DossierStatus.DRAFT:
        raise Conflict(N_("This dossier has already been submitted and can no longer be changed."))
    if category and procedure.reduction(category) is None:
        raise Invalid(N_("Choose one of the categories listed."))
    dossier.fee_reduction = category or None
    check_bill_change(session, procedure, dossier, settings)
    dossier.answers_checked = False
    session.add(dossier)
    session.flush()


def reduction_proof_missing(procedure: Procedure, dossier: Dossier, components_with_files: set[str]) -> bool:
    return bool(procedure.reduction(dossier.fee_reduction)) and REDUCTION_PROOF not in components_with_files


# -- the dossier as an order


def describe(session: Session, dossier_id: str) -> payments.OrderInfo:
    dossier = session.get(Dossier, dossier_id)
    assert dossier is not None, dossier_id
    procedure = session.get(Procedure, dossier.procedure_code)
    agency = session.get(Agency, dossier.agency_code)
    applicant = session.get(Account, dossier.applicant_id)
    assert procedure and agency and applicant
    from portal.businesses.models import Business

    business = session.get(Business, dossier.business_id) if dossier.business_id else None
    address = next(
        (format_address(v) for v in dossier.data.values() if isinstance(v, dict) and {"province", "ward"} <= v.keys()),
        None,
    )
    return payments.OrderInfo(
        code=dossier.code,
        title=procedure.name_vi,
        payer_name=business.name if business else str(dossier.data.get("full_name") or applicant.full_name),
        payer_id_number=business.tax_code if business else (dossier.data.get("cccd") or applicant.cccd),
        payer_address=address,
        page=f"/dossiers/{dossier.id}/payment",
        collector_name=agency.name_vi,
        collector_address=agency.address,
    )


payments.register_order_kind("dossier", describe)


# -- what payments mean for the dossier


def _dossier_of(session: Session, payment: Payment) -> Dossier | None:
    return session.get(Dossier, payment.order_id) if payment.order_kind == "dossier" else None


@subscribe("payment.succeeded")
def on_payment_succeeded(session: Session, payment: Payment) -> None:
    """Record the payment on the timeline, notify the applicant, and submit a draft that was waiting for it."""
    from portal.dossiers import service as dossiers
    from portal.notifications.service import notify

    dossier = _dossier_of(session, payment)
    if dossier is None:
        return
    dossiers.add_event(
        session,
        dossier,
        "payment_succeeded",
        actor="system",
        amount=payment.amount,
        gateway=payment.gateway,
        reference=payment.reference,
    )
    amount = format_vnd(payment.amount).removesuffix(" đồng")
    notify(
        session,
        account_id=payment.account_id,
        kind="payment.succeeded",
        dedupe_key=f"payment.succeeded:{payment.id}",
        subject={"vi": f"Đã thanh toán {amount} đồng", "en": f"Payment of {amount} VND received"},
        body={
            "vi": f"Cổng Dịch vụ công đã nhận khoản thanh toán {amount} đồng (mã giao dịch {payment.reference}). "
            "Biên lai điện tử có trên trang hồ sơ.",
            "en": f"The portal received your payment of {amount} VND (reference {payment.reference}). "
            "The e-receipt is on the dossier's page.",
        },
        link=f"/dossiers/{dossier.id}",
    )
    if dossier.status == DossierStatus.DRAFT:
        _submit_paid_draft(session, dossier)
    elif dossier.status in (DossierStatus.WITHDRAWN, DossierStatus.REJECTED):
        # Paid after the dossier ended (a payment page left open): given back whatever the procedure says.
        payments.request_refund(session=session, payment=payment, amount=payment.amount, reason=str(dossier.status))


def _submit_paid_draft(session: Session, dossier: Dossier) -> None:
    from portal.dossiers import service as dossiers

    procedure = session.get(Procedure, dossier.procedure_code)
    applicant = session.get(Account, dossier.applicant_id)
    assert procedure is not None and applicant is not None
    if procedure.payment_timing != "before":
        return
    defn = dossiers.get_definition(session, dossier.form_id, dossier.form_version)
    try:
        with session.begin_nested():
            dossiers.submit(session=session, dossier=dossier, procedure=procedure, defn=defn, by=applicant)
    except (Invalid, Conflict) as exc:
        # Changed since the payment started (a file removed...): the applicant submits from the review page.
        log.info("paid draft %s not submitted automatically: %s", dossier.id, exc.msgid)
        session.refresh(dossier)


@subscribe("payment.failed")
def on_payment_failed(session: Session, payment: Payment) -> None:
    from portal.dossiers import service as dossiers

    dossier = _dossier_of(session, payment)
    if dossier is not None:
        dossiers.add_event(
            session,
            dossier,
            f"payment_{payment.status}",
            actor="system",
            amount=payment.amount,
            gateway=payment.gateway,
        )


@subscribe("payment.duplicate")
def on_payment_duplicate(session: Session, payment: Payment) -> None:
    from portal.dossiers import service as dossiers

    dossier = _dossier_of(session, payment)
    if dossier is not None:
        dossiers.add_event(
            session, dossier, "payment_duplicate", actor="system", amount=payment.amount, gateway=payment.gateway
        )


@subscribe("payment.refunded")
def on_refunded(session: Session, refund: Refund) -> None:
    from portal.dossiers import service as dossiers
    from portal.notifications.service import notify

    payment = session.get(Payment, refund.payment_id)
    dossier = _dossier_of(session, payment) if payment else None
    if payment is None or dossier is None:
        return
    dossiers.add_event(session, dossier, "payment_refunded", actor="system", amount=refund.amount, reason=refund.reason)
    amount = format_vnd(refund.amount).removesuffix(" đồng")
    notify(
        session,
        account_id=payment.account_id,
        kind="payment.refunded",
        dedupe_key=f"payment.refunded:{refund.id}",
        subject={"vi": f"Đã hoàn trả {amount} đồng", "en": f"{amount} VND refunded"},
        body={
            "vi": f"Khoản phí {amount} đồng của giao dịch {payment.reference} đã được hoàn trả qua cổng thanh toán.",
            "en": f"{amount} VND of payment {payment.reference} was refunded through the payment gateway.",
        },
        link=f"/dossiers/{dossier.id}",
    )


@subscribe("payment.refund_failed")
def on_refund_failed(session: Session, refund: Refund) -> None:
    """A refund the gateway refused: on the timeline, and in the log for the agency's accountant."""
    from portal.dossiers import service as dossiers

    payment = session.get(Payment, refund.payment_id)
    dossier = _dossier_of(session, payment) if payment else None
    log.error("refund %s of payment %s failed: %s", refund.id, refund.payment_id, refund.message)
    if dossier is not None:
        dossiers.add_event(session, dossier, "payment_refund_failed", actor="system", amount=refund.amount)


def refund_on_exit(session: Session, dossier: Dossier, *, reason: str) -> list[Refund]:
    """On rejection or withdrawal: give back what was paid, where the procedure allows it."""
    procedure = session.get(Procedure, dossier.procedure_code)
    if procedure is None or not procedure.refundable:
        return []
    if not payments.paid_amount(payments.payments_of(session, dossier.id)):
        return []
    return payments.refund_order(session=session, order_id=dossier.id, reason=reason)
