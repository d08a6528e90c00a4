"""What payments mean for a dossier: the subscribers of the payment events.

The payments package publishes `PaymentSucceeded` and the rest without knowing dossiers; these
subscribers run in the transaction that recorded the payment, so a succeeded payment advances the
dossier (timeline, notification, submission of a draft waiting for it) once, or not at all.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from auth.models import Account
from payments import service as payments
from payments.events import PaymentDuplicate, PaymentFailed, PaymentRefunded, PaymentRefundFailed, PaymentSucceeded
from payments.models import Payment
from portal.catalog.models import Procedure
from portal.dossiers import service as dossiers
from portal.dossiers.models import Dossier, DossierStatus
from portal.dossiers.pushes import push
from portal.dossiers.recipients import tell
from portal.kernel.db import settings_of
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.events import subscribe
from portal.kernel.money import group_thousands

log = logging.getLogger("portal.dossiers")


def _dossier_of(session: Session, payment: Payment) -> Dossier | None:
    return session.get(Dossier, payment.order_id) if payment.order_kind == "dossier" else None


@subscribe(PaymentSucceeded)
def on_payment_succeeded(session: Session, event: PaymentSucceeded) -> None:
    """Record the payment on the timeline, notify the applicant, and submit a draft that was waiting for it."""
    payment = event.payment
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
    amount = group_thousands(payment.amount)
    tell(
        session,
        dossier,
        account_id=payment.account_id,
        kind="payment.succeeded",
        dedupe_key=f"payment.succeeded:{payment.id}",
        params={"amount": amount, "reference": payment.reference},
    )
    if dossier.status == DossierStatus.DRAFT:
        _submit_paid_draft(session, dossier)
    elif dossier.status in (DossierStatus.WITHDRAWN, DossierStatus.REJECTED):
        # Paid after the dossier ended (a payment page left open): given back whatever the procedure says.
        payments.refund_payment(session=session, payment=payment, reason=str(dossier.status))  # per agency
    if dossier.status != DossierStatus.DRAFT:  # a draft is the applicant's own: its back-office hears of it later
        push(
            session,
            dossier,
            "dossier.paid",
            amount=payment.amount,
            payment_reference=payment.reference,
            gateway=payment.gateway,
        )


def _submit_paid_draft(session: Session, dossier: Dossier) -> None:
    procedure = session.get(Procedure, dossier.procedure_code)
    applicant = session.get(Account, dossier.applicant_id)
    assert procedure is not None and applicant is not None
    if procedure.payment_timing != "before":
        return
    defn = dossiers.get_definition(session, dossier.form_id, dossier.form_version)
    try:
        with session.begin_nested():
            # Subscribers get a session and no request: the settings come with the session (settings_of).
            dossiers.submit(
                session=session,
                dossier=dossier,
                procedure=procedure,
                defn=defn,
                by=applicant,
                settings=settings_of(session),
            )
    except (Invalid, Conflict) as exc:
        # Changed since the payment started (a file removed...): the applicant submits from the review page.
        log.info("paid draft %s not submitted automatically: %s", dossier.id, exc.msgid)
        session.refresh(dossier)


@subscribe(PaymentFailed)
def on_payment_failed(session: Session, event: PaymentFailed) -> None:
    payment = event.payment
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


@subscribe(PaymentDuplicate)
def on_payment_duplicate(session: Session, event: PaymentDuplicate) -> None:
    payment = event.payment
    dossier = _dossier_of(session, payment)
    if dossier is not None:
        dossiers.add_event(
            session, dossier, "payment_duplicate", actor="system", amount=payment.amount, gateway=payment.gateway
        )


@subscribe(PaymentRefunded)
def on_refunded(session: Session, event: PaymentRefunded) -> None:
    refund, payment = event.refund, event.payment
    dossier = _dossier_of(session, payment)
    if dossier is None:
        return
    dossiers.add_event(session, dossier, "payment_refunded", actor="system", amount=refund.amount, reason=refund.reason)
    if dossier.status != DossierStatus.DRAFT:
        push(session, dossier, "dossier.refunded", amount=refund.amount, reason=refund.reason)
    amount = group_thousands(refund.amount)
    tell(
        session,
        dossier,
        account_id=payment.account_id,
        kind="payment.refunded",
        dedupe_key=f"payment.refunded:{refund.id}",
        params={"amount": amount, "reference": payment.reference},
    )


@subscribe(PaymentRefundFailed)
def on_refund_failed(session: Session, event: PaymentRefundFailed) -> None:
    """A refund the gateway refused: on the timeline, and in the log for the agency's accountant."""
    refund, payment = event.refund, event.payment
    dossier = _dossier_of(session, payment)
    log.error("refund %s of payment %s failed: %s", refund.id, refund.payment_id, refund.message)
    if dossier is not None:
        dossiers.add_event(session, dossier, "payment_refund_failed", actor="system", amount=refund.amount)
        tell(
            session,
            dossier,
            account_id=payment.account_id,
            kind="payment.refund_failed",
            dedupe_key=f"payment.refund_failed:{refund.id}",
            params={"amount": group_thousands(refund.amount), "reference": payment.reference},
        )
