"""The dossier's bill: what it owes, what may change it, and refunds on its side exits.

The payments package knows orders, not dossiers: this module registers dossiers as an order kind.
What a payment means for a dossier (its events) is in `payment_events.py`.
"""

from __future__ import annotations

from sqlmodel import Session

from auth.models import Account
from forms.address import format_address
from payments import service as payments
from payments.fees import FeeBreakdown, Reduction, compute_fees
from payments.models import Refund
from portal.catalog.loader import REDUCTION_PROOF
from portal.catalog.models import Agency, Procedure
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings


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
    previous, dossier.fee_reduction = dossier.fee_reduction, category or None
    try:
        check_bill_change(session, procedure, dossier, settings)
    except Conflict:
        dossier.fee_reduction = previous  # the refusing request still commits: nothing of the change may stick
        raise
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


def refund_on_exit(session: Session, dossier: Dossier, *, reason: str) -> list[Refund]:
    """On rejection or withdrawal: give back what was paid, where the procedure allows it."""
    procedure = session.get(Procedure, dossier.procedure_code)
    if procedure is None or not procedure.refundable:
        return []
    if not payments.paid_amount(payments.payments_of(session, dossier.id)):
        return []
    return payments.refund_order(session=session, order_id=dossier.id, reason=reason)
