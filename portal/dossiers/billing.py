"""The dossier's bill: what it owes, what may change it, and refunds on its side exits.

The payments package knows orders, not dossiers: this module registers dossiers as an order kind.
What a payment means for a dossier (its events) is in `payment_events.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import object_session
from sqlmodel import Session

from auth.models import Account
from forms.address import format_address
from payments import service as payments
from payments.fees import POSTAL_LINE_CODE, FeeBreakdown, FeeLine, Reduction, compute_fees
from payments.models import Refund
from portal.catalog.loader import REDUCTION_PROOF
from portal.catalog.models import Agency, Procedure
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from postal import tariff
from postal.models import WeightClass
from postal.operators import choose_operator

# The bill's postal lines: the delivery of the result, and the pickup of the paper originals.
PICKUP_LINE_CODE = "postal-pickup"
# The originals travel as a document envelope.
PICKUP_WEIGHT_CLASS = WeightClass.DOCUMENT.value
# How the bill names a zone and a weight class (Vietnamese, English): lines carry both languages.
ZONE_NAMES: dict[str, tuple[str, str]] = {
    "intra_province": ("nội tỉnh", "within the province"),
    "intra_region": ("nội vùng", "within the region"),
    "inter_region": ("liên vùng", "between regions"),
}
WEIGHT_NAMES: dict[str, tuple[str, str]] = {
    "document": ("bì thư tài liệu, đến 100 g", "document envelope, up to 100 g"),
    "thick": ("bì thư dày, đến 500 g", "thick envelope, up to 500 g"),
    "parcel": ("bưu kiện, đến 2 kg", "parcel, up to 2 kg"),
}


@dataclass(frozen=True)
class PostalCharge:
    """One postal service on the bill: "delivery" (the result) or "pickup" (the originals), with its quote."""

    kind: str
    quote: tariff.Quote
    line: FeeLine


def agency_province(procedure: Procedure, dossier: Dossier) -> str:
    """The province of the dossier's agency (where pickups go and deliveries start)."""
    session = object_session(dossier) or object_session(procedure)
    agency = session.get(Agency, dossier.agency_code) if session is not None else None
    if agency is None or not agency.province_code:
        raise LookupError(f"the agency {dossier.agency_code!r} has no province: the postal tariff needs one")
    return agency.province_code


def _line(code: str, kind: str, quote: tariff.Quote) -> FeeLine:
    zone_vi, zone_en = ZONE_NAMES.get(quote.zone, (quote.zone, quote.zone))
    weight_vi, weight_en = WEIGHT_NAMES.get(quote.weight_class, (quote.weight_class, quote.weight_class))
    if kind == "pickup":
        name_vi, name_en = "Cước thu gom bản gốc giấy tờ qua bưu chính", "Postal pickup of the paper originals"
    else:
        name_vi, name_en = "Cước chuyển phát kết quả qua bưu chính", "Postal delivery of the result"
    return FeeLine(code, f"{name_vi} ({zone_vi}; {weight_vi})", f"{name_en} ({zone_en}; {weight_en})", quote.amount)


def delivery_quote(
    settings: Settings, procedure: Procedure, address: Mapping[str, Any], *, from_province: str
) -> tariff.Quote:
    """The tariff's price of sending this procedure's result from the agency's province to the address."""
    to = str(address["province"])
    return tariff.quote(
        settings=settings,
        operator=choose_operator(settings, to),
        from_province=from_province,
        to_province=to,
        weight_class=procedure.result_weight_class,
    )


def pickup_quote(settings: Settings, address: Mapping[str, Any], *, to_province: str) -> tariff.Quote:
    """The tariff's price of picking up the originals at the address and bringing them to the agency."""
    origin = str(address["province"])
    return tariff.pickup_quote(
        settings=settings,
        operator=choose_operator(settings, origin),
        from_province=origin,
        to_province=to_province,
        weight_class=PICKUP_WEIGHT_CLASS,
    )


def postal_charges(
    procedure: Procedure, dossier: Dossier, settings: Settings, *, province: str | None = None
) -> list[PostalCharge]:
    """The postal services the dossier's choices add to its bill, priced by the tariff.

    The result's delivery when it goes by post to an address; the pickup of the originals when one was
    chosen (and the procedure needs originals). A postal service is a carrier's charge, not a state fee:
    it is owed even for a free procedure, and no reduction touches it.
    """
    wants_delivery = dossier.delivery_method == "post" and bool(dossier.delivery_address)
    wants_pickup = bool(dossier.pickup_address) and bool(procedure.originals)
    if not (wants_delivery or wants_pickup):
        return []
    home = province or agency_province(procedure, dossier)
    charges = []
    if wants_delivery and dossier.delivery_address:
        quote = delivery_quote(settings, procedure, dossier.delivery_address, from_province=home)
        charges.append(PostalCharge("delivery", quote, _line(POSTAL_LINE_CODE, "delivery", quote)))
    if wants_pickup and dossier.pickup_address:
        quote = pickup_quote(settings, dossier.pickup_address, to_province=home)
        charges.append(PostalCharge("pickup", quote, _line(PICKUP_LINE_CODE, "pickup", quote)))
    return charges


def bill_for(
    procedure: Procedure, dossier: Dossier, settings: Settings, *, province: str | None = None
) -> FeeBreakdown:
    """What the dossier owes: the procedure's fees less a declared reduction, and the postal services chosen.

    `province` is the agency's province (looked up through the dossier's session when not given).
    """
    declared = procedure.reduction(dossier.fee_reduction)
    reduction = (
        Reduction(declared["category"], declared["name"]["vi"], declared["name"]["en"], declared["percent"])
        if declared
        else None
    )
    fees = compute_fees(fee_items=procedure.fees, postal_fee=None, reduction=reduction)
    postal = [c.line for c in postal_charges(procedure, dossier, settings, province=province)]
    if not postal:
        return fees
    return FeeBreakdown(
        lines=(*fees.lines, *postal),
        reductions=fees.reductions,
        total=fees.total + sum(line.amount for line in postal),
    )


def amount_left(session: Session, procedure: Procedure, dossier: Dossier, settings: Settings) -> int:
    """What is still to pay (0 when paid, exempt or free)."""
    kept = payments.paid_amount(payments.payments_of(session, dossier.id))
    return max(bill_for(procedure, dossier, settings).total - kept, 0)


def pays_on_delivery(procedure: Procedure, dossier: Dossier) -> bool:
    """Whether the fees are collected by the courier when the result is delivered (thu hộ, COD)."""
    return dossier.pay_on_delivery and procedure.cod_allowed and dossier.delivery_method == "post"


def payment_blocks_submission(session: Session, procedure: Procedure, dossier: Dossier, settings: Settings) -> int:
    """The amount that must be paid before this dossier can be submitted (0: nothing stops it)."""
    if procedure.payment_timing != "before" or pays_on_delivery(procedure, dossier):
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
