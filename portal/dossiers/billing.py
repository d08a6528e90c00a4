"""The dossier's bill: what it owes, what may change it, and refunds on its side exits.

The payments package knows orders, not dossiers: this module registers dossiers as an order kind.
What a payment means for a dossier (its events) is in `payment_events.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy.orm import Session as SASession
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, or_, select

from auth.models import Account
from forms.address import format_address
from forms.definition import FormDefinition
from forms.models import FormVersion
from forms.validation import visible_fields
from payments import service as payments
from payments.fees import POSTAL_LINE_CODE, FeeBreakdown, FeeLine, Reduction, agency_shares, compute_fees
from payments.models import Payment, PaymentReceipt, PaymentStatus, Refund
from payments.queries import agency_receipts, refunds_of
from payments.serialize import PaymentInfo, member_payment_info, payments_info
from portal.catalog import linked as catalog_linked
from portal.catalog.loader import REDUCTION_PROOF
from portal.catalog.models import Agency, Procedure
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.documents import IssuedDocument, register_document_lookup
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.i18n import N_
from portal.kernel.money import format_vnd
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


# Parsed form definitions by (form, version, content hash), as the dossier service keeps them.
_definitions: dict[tuple[str, int, str], FormDefinition] = {}


def _definition(session: SASession, form_id: str, version: int) -> FormDefinition | None:
    row = session.get(FormVersion, (form_id, version))
    if row is None:
        return None
    key = (form_id, version, row.sha256)
    defn = _definitions.get(key)
    if defn is None:
        defn = _definitions[key] = FormDefinition.model_validate(row.body)
    return defn


def fee_answers(items: list[dict[str, Any]], dossier: Dossier) -> dict[str, Any]:
    """The answers the per-unit fee items (`per`) count: the dossier's, None for a field its form hides now."""
    wanted = {str(item["per"]) for item in items if item.get("per")}
    if not wanted:
        return {}
    session = object_session(dossier)
    defn = _definition(session, dossier.form_id, dossier.form_version) if session is not None else None
    data = dossier.data or {}
    if defn is None:
        return {name: data.get(name) for name in wanted}
    shown, _ = visible_fields(defn.all_fields(), data)
    return {name: data.get(name) if name in shown else None for name in wanted}


def fees_for(procedure: Procedure, dossier: Dossier) -> FeeBreakdown:
    """The procedure's fees for this dossier (no postal service): per-unit items counted from its answers,
    a declared reduction taken off; a linked application's applying members' items only, and a member of one
    (a child) its own items of the application as its parent's answers make them."""
    declared = procedure.reduction(dossier.fee_reduction)
    reduction = (
        Reduction(declared["category"], declared["name"]["vi"], declared["name"]["en"], declared["percent"])
        if declared
        else None
    )
    items, answering = procedure.fees, dossier
    if procedure.is_linked:
        applying = applying_members(procedure, dossier)
        items = [item for item in items if item.get("member") in applying]
    elif (found := _member_items(dossier)) is not None:
        items, answering = found
    return compute_fees(fee_items=items, postal_fee=None, reduction=reduction, answers=fee_answers(items, answering))


def _member_items(child: Dossier) -> tuple[list[dict[str, Any]], Dossier] | None:
    """A child's share of its application's fee items (its member's, reduced and counted as the application
    charged them) and the parent whose answers count them; None for any other dossier."""
    session = object_session(child)
    if child.linked_role != "child" or not child.parent_id or session is None:
        return None
    parent = session.get(Dossier, child.parent_id)
    linked = session.get(Procedure, parent.procedure_code) if parent is not None else None
    if parent is None or linked is None or not linked.is_linked:
        return None
    return [item for item in linked.fees if item.get("member") == child.procedure_code], parent


def bill_for(
    procedure: Procedure, dossier: Dossier, settings: Settings, *, province: str | None = None
) -> FeeBreakdown:
    """What the dossier owes: the procedure's fees (`fees_for`: per-unit items counted from its answers, a
    declared reduction taken off) and the postal services chosen.

    `province` is the agency's province (looked up through the dossier's session when not given).
    """
    fees = fees_for(procedure, dossier)
    postal = [c.line for c in postal_charges(procedure, dossier, settings, province=province)]
    if not postal:
        return fees
    return FeeBreakdown(
        lines=(*fees.lines, *postal),
        reductions=fees.reductions,
        total=fees.total + sum(line.amount for line in postal),
    )


def applying_members(procedure: Procedure, dossier: Dossier) -> set[str]:
    """The member procedures of a linked application that apply to this dossier (whose fees it pays).

    Once submitted, its children say it (one per applying member); before, every member applies but an
    optional one the applicant did not tick (`portal.catalog.linked.applies`).
    """
    session = object_session(dossier)
    if session is not None and dossier.status != DossierStatus.DRAFT:
        children = session.scalars(sa_select(col(Dossier.procedure_code)).where(col(Dossier.parent_id) == dossier.id))
        codes = set(children)
        if codes:
            return codes
    return {
        m.procedure for m in catalog_linked.members_of(procedure) if catalog_linked.applies(procedure, m, dossier.data)
    }


@dataclass(frozen=True)
class AgencyBill:
    """The lines of a bill one agency collects (a linked application's payment is split per agency)."""

    agency_code: str
    agency: Agency | None
    lines: tuple[FeeLine, ...]

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)


def bill_by_agency(session: Session, bill: FeeBreakdown, agency_code: str) -> list[AgencyBill]:
    """A bill's lines grouped by the agency collecting them (a line without one: `agency_code`'s), in order."""
    groups: dict[str, list[FeeLine]] = {}
    for line in bill.lines:
        groups.setdefault(line.agency_code or agency_code, []).append(line)
    return [AgencyBill(code, session.get(Agency, code), tuple(lines)) for code, lines in groups.items()]


def paid_towards(session: Session, dossier: Dossier, own: list[Payment] | None = None) -> int:
    """What was paid and kept for this dossier: its own payments' (`own`, read when not given); for a member of
    a linked application (a child, which has none), its member's lines of the parent's succeeded payments
    less what was given back for that member."""
    if dossier.linked_role != "child" or not dossier.parent_id:
        return payments.paid_amount(own if own is not None else payments.payments_of(session, dossier.id))
    kept = 0
    for payment in payments.payments_of(session, dossier.parent_id):
        if payment.status != PaymentStatus.SUCCEEDED:
            continue
        mine = [line for line in payment.lines if line.get("member") == dossier.procedure_code]
        kept += sum(int(line.get("amount") or 0) for line in mine)
        kept -= sum(r.amount for r in payments.member_refunds(session, payment, dossier.procedure_code))
    return max(kept, 0)


def amount_left(session: Session, procedure: Procedure, dossier: Dossier, settings: Settings) -> int:
    """What is still to pay (0 when paid, exempt or free; a linked application's member: its share unpaid)."""
    kept = paid_towards(session, dossier)
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
    """Refuse a change (delivery, reduction, an answer a fee counts such as the copies requested, the linked
    procedures ticked) that would alter a bill already paid; call after the change."""
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
        parts=_linked_parts(session, procedure, dossier) if procedure.is_linked else {},
    )


def _linked_parts(session: Session, linked: Procedure, parent: Dossier) -> dict[str, payments.OrderPart]:
    """Each member agency's part of a linked application's payment: who collects, for which procedures, and
    the code of that agency's child dossier once there is one (the parent's code before)."""
    children = {c.procedure_code: c for c in session.exec(select(Dossier).where(Dossier.parent_id == parent.id))}
    by_agency: dict[str, list[str]] = {}
    for item in linked.fees:
        if item.get("agency") and item.get("member"):
            members = by_agency.setdefault(str(item["agency"]), [])
            if item["member"] not in members:
                members.append(str(item["member"]))
    parts = {}
    for agency_code, members in by_agency.items():
        agency = session.get(Agency, agency_code)
        if agency is None:
            continue
        procedures = [p for code in members if (p := session.get(Procedure, code)) is not None]
        names = "; ".join(p.name_vi for p in procedures) or linked.name_vi
        codes = [c.code for code in members if (c := children.get(code)) is not None and c.code]
        parts[agency_code] = payments.OrderPart(
            collector_name=agency.name_vi,
            collector_address=agency.address,
            title=f"{names} (liên thông: {linked.name_vi})",
            code=", ".join(codes) if codes else parent.code,
        )
    return parts


payments.register_order_kind("dossier", describe)


def refund_on_exit(session: Session, dossier: Dossier, *, reason: str) -> list[Refund]:
    """On rejection or withdrawal: give back what was paid, where the procedure allows it.

    A child of a linked application has no payment of its own: its fee was paid with its parent's, and
    `refund_member` gives back that share only. A parent's procedure is never refundable itself (each
    child is refunded by its own procedure's rule as it ends).
    """
    if dossier.linked_role == "child":
        return refund_member(session, dossier, reason)
    procedure = session.get(Procedure, dossier.procedure_code)
    if procedure is None or not procedure.refundable:
        return []
    if not payments.paid_amount(payments.payments_of(session, dossier.id)):
        return []
    return payments.refund_order(session=session, order_id=dossier.id, reason=reason)


def refund_member(session: Session, child: Dossier, reason: str) -> list[Refund]:
    """Give back one member's fee of a linked application: the lines of the parent's succeeded payments for
    the child's procedure, collected by the child's agency; the other members' money stays.

    Only when the member's own procedure is refundable. Each payment gives back the member's share it
    actually collected, less what was already given back for that member (or of the payment at all), so a
    second call refunds nothing more. Each refund carries the child's agency (`Refund.agency_code`) and its
    member procedure (`Refund.member`).
    """
    if child.linked_role != "child" or not child.parent_id:
        return []
    procedure = session.get(Procedure, child.procedure_code)
    if procedure is None or not procedure.refundable:
        return []
    return _give_back_member(session, child, member_left(session, child), reason)


def member_left(session: Session, child: Dossier) -> list[tuple[Payment, int]]:
    """What each of the parent's succeeded payments can still give back for a member of a linked application
    (a child): its member's lines collected by its agency, less what was given back (or is being given back)
    for that member, and never more than its agency's share still kept nor what the payment still keeps."""
    if child.linked_role != "child" or not child.parent_id:
        return []
    found = []
    for payment in payments.payments_of(session, child.parent_id):
        if payment.status != PaymentStatus.SUCCEEDED:
            continue
        share = sum(
            int(line.get("amount") or 0)
            for line in payment.lines
            if line.get("member") == child.procedure_code
            and (line.get("agency_code") or payment.agency_code) == child.agency_code
        )
        if share <= 0:
            continue
        given = sum(r.amount for r in payments.member_refunds(session, payment, child.procedure_code))
        agency_share = agency_shares(payment.lines, amount=payment.amount, agency_code=payment.agency_code)
        agency_left = agency_share.get(child.agency_code, 0) - payments.agency_refunded(session, payment).get(
            child.agency_code, 0
        )
        left = payments.refundable(payment) - payments.pending_refunds(session, payment)
        found.append((payment, max(min(share - given, agency_left, left), 0)))
    return found


def _give_back_member(
    session: Session, child: Dossier, left: list[tuple[Payment, int]], reason: str, amount: int | None = None
) -> list[Refund]:
    """Request the refunds of up to `amount` (None: all that is left) of a member's share, payment by payment."""
    wanted = sum(share for _, share in left) if amount is None else amount
    refunds = []
    for payment, share in left:
        part = min(share, wanted)
        if part <= 0:
            continue
        refunds.append(
            payments.request_refund(
                session=session,
                payment=payment,
                amount=part,
                reason=reason,
                agency_code=child.agency_code,
                member=child.procedure_code,
            )
        )
        wanted -= part
    return refunds


def refund_member_by_agency(session: Session, child: Dossier, *, amount: int | None = None) -> list[Refund]:
    """The member's agency gives back its fee of a linked application (reason `agency`, whatever its procedure
    says): `amount` đồng of what the member paid and still keeps (None: all of it), from the parent's payment.

    Conflict when nothing is left to give back, or when `amount` is more than what is left.
    """
    left = member_left(session, child)
    total = sum(share for _, share in left)
    if total <= 0:
        raise Conflict(N_("Nothing paid for this procedure is left to refund."))
    if amount is not None and amount > total:
        raise Conflict(
            N_("At most {left} paid for this procedure can still be refunded: {amount} is more than that."),
            {"left": format_vnd(total), "amount": format_vnd(amount)},
        )
    return _give_back_member(session, child, left, "agency", amount)


def partner_payments(session: Session, dossier: Dossier) -> list[PaymentInfo]:
    """A dossier's payments as its agency reads them through the partner API, with refunds and e-receipts.

    A member of a linked application (a child) has no payment of its own: its agency sees its member's share of
    each succeeded payment of the application (`serialize.member_payment_info`)."""
    if dossier.linked_role == "child" and dossier.parent_id:
        items = [
            p
            for p in payments.payments_of(session, dossier.parent_id)
            if p.status == PaymentStatus.SUCCEEDED
            and any(line.get("member") == dossier.procedure_code for line in p.lines)
        ]
        refunds = refunds_of(session, items)
        return [
            member_payment_info(
                p,
                refunds,
                agency_receipts(session, p),
                member=dossier.procedure_code,
                agency_code=dossier.agency_code,
            )
            for p in items
        ]
    items = payments.payments_of(session, dossier.id)
    return payments_info(items, refunds_of(session, items), {p.id: agency_receipts(session, p) for p in items})


@register_document_lookup
def agency_e_receipts(session: Session, sha256: str, limit: int) -> Iterator[IssuedDocument]:
    """The e-receipts of the agencies of a multi-agency payment (a linked application): its `PaymentReceipt`
    rows, by SHA-256. The first one is mirrored on the payment's row, which `issued.e_receipts` finds: left out
    here so that it is listed once."""
    rows = session.execute(
        sa_select(
            col(Dossier.code),
            col(PaymentReceipt.issued_at),
            col(Procedure.name_vi),
            col(Procedure.name_en),
        )
        .join(Payment, col(Payment.id) == col(PaymentReceipt.payment_id))
        .join(Dossier, col(Dossier.id) == col(Payment.order_id))
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .where(
            col(PaymentReceipt.sha256) == sha256,
            or_(col(Payment.receipt_sha256).is_(None), col(Payment.receipt_sha256) != sha256),
            col(Payment.order_kind) == "dossier",
            col(Dossier.code).is_not(None),
        )
        .limit(limit)
    ).all()
    for code, at, name_vi, name_en in rows:
        yield IssuedDocument(str(code), "e_receipt", at, {"vi": name_vi, "en": name_en})
