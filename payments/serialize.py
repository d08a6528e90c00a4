"""A payment as others see it: the one shape of a payment and its refunds outside the payments package.

The partner API answers with these models (so `/api/openapi.json` documents them), and pages and file
names use `Payment.receipt_label` for the e-receipt's symbol and number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from payments.fees import agency_shares, line_from_record
from payments.models import Payment, Refund
from payments.queries import AgencyReceipt


class RefundInfo(BaseModel):
    id: str
    amount: int = Field(description="Đồng.")
    agency_code: str = Field(description="The agency whose fees are given back.")
    member: str | None = Field(
        default=None,
        description="The member procedure (code) whose fees are given back, for a linked application's payment; "
        "null when the refund is not for one member (a single procedure's, or a whole payment's share of an agency).",
    )
    reason: str = Field(description="rejected, withdrawn, duplicate, agency or delivery_changed")
    status: str = Field(description="pending, succeeded or failed")
    created_at: datetime
    settled_at: datetime | None


class PaymentLineInfo(BaseModel):
    """One line of what a payment collected."""

    code: str
    name_vi: str
    name_en: str
    amount: int = Field(description="Đồng.")
    agency_code: str = Field(
        description="The agency that collects this line: a linked application's one payment collects for each "
        "member's agency."
    )
    member: str | None = Field(default=None, description="The member procedure's code (linked applications).")


class EReceiptInfo(BaseModel):
    """One e-receipt (biên lai) issued for a payment: by the agency that collected its part, in its own series."""

    agency_code: str = Field(description="The collecting agency that issued it.")
    symbol: str = Field(description="Ký hiệu: `<AGENCY>-<yy>E`.")
    number: str = Field(description="Số: seven digits, per symbol.")
    amount: int = Field(description="Đồng: what this agency collected on the payment.")


class PaymentInfo(BaseModel):
    """One payment of a dossier (one attempt through one gateway).

    For a member of a linked application (a dossier with `linked`), the payment is the application's one
    payment and this is the member's share of it (`member` set): its lines, amount, refunds and its agency's
    e-receipt only.
    """

    reference: str = Field(description="The portal's reference, as sent to the gateway.")
    gateway: str
    amount: int = Field(description="Đồng.")
    currency: str
    status: str = Field(description="pending, succeeded, failed or cancelled")
    gateway_ref: str | None = Field(description="The gateway's or bank's transaction number.")
    created_at: datetime
    settled_at: datetime | None
    refunded_amount: int
    lines: list[PaymentLineInfo]
    receipt: str | None = Field(
        description="The e-receipt's symbol and number (ký hiệu/số); for a payment collected by several agencies, "
        "the first agency's (every one is in `receipts`)."
    )
    receipts: list[EReceiptInfo] = Field(
        default_factory=list,
        description="Every e-receipt issued for this payment, one per agency that collected an amount on it (a "
        "linked application's one payment: one per collecting member agency, each numbered in its own series); "
        "empty until the payment succeeded.",
    )
    refunds: list[RefundInfo]
    member: str | None = Field(
        default=None,
        description="Set when this is a linked application member's share of the application's payment: the "
        "member procedure's code. `amount`, `lines`, `refunded_amount`, `refunds` and `receipts` are then that "
        "member's (and its agency's) only.",
    )


def e_receipt_filename(payment: Payment) -> str:
    """The name the e-receipt PDF is downloaded as."""
    return f"bien-lai-{payment.receipt_number or payment.reference}.pdf"


def payment_info(
    payment: Payment, refunds: Sequence[Refund], receipts: Sequence[AgencyReceipt] | None = None
) -> PaymentInfo:
    """A payment with its refunds (those given: any others are left out) and its e-receipts (`receipts`, as
    `queries.agency_receipts` reads them; None: the one on the payment's row)."""
    return PaymentInfo(
        reference=payment.reference,
        gateway=payment.gateway,
        amount=payment.amount,
        currency=payment.currency,
        status=payment.status,
        gateway_ref=payment.gateway_ref,
        created_at=payment.created_at,
        settled_at=payment.settled_at,
        refunded_amount=payment.refunded_amount,
        lines=payment_lines(payment),
        receipt=payment.receipt_label,
        receipts=_receipts(payment, receipts),
        refunds=[_refund(payment, r) for r in refunds if r.payment_id == payment.id],
    )


def member_payment_info(
    payment: Payment, refunds: Sequence[Refund], receipts: Sequence[AgencyReceipt], *, member: str, agency_code: str
) -> PaymentInfo:
    """One member's share of a linked application's payment, as its agency sees it: the member's lines, the
    refunds of its fees (and of its agency's share of the whole payment), its agency's e-receipt."""
    info = payment_info(payment, refunds, receipts)
    lines = [line for line in info.lines if line.member == member and line.agency_code == agency_code]
    mine = [
        r
        for r in info.refunds
        if r.agency_code == agency_code and (r.member == member or r.member is None)  # an agency's share: its own
    ]
    amount = sum(line.amount for line in lines)
    own = [r for r in info.receipts if r.agency_code == agency_code]
    return info.model_copy(
        update={
            "amount": amount,
            "lines": lines,
            "refunds": mine,
            "refunded_amount": min(sum(r.amount for r in mine if r.status == "succeeded"), amount),
            "receipts": own,
            "receipt": f"{own[0].symbol}/{own[0].number}" if own else None,
            "member": member,
        }
    )


def _refund(payment: Payment, refund: Refund) -> RefundInfo:
    return RefundInfo.model_validate({**refund.model_dump(), "agency_code": refund.agency_code or payment.agency_code})


def _receipts(payment: Payment, receipts: Sequence[AgencyReceipt] | None) -> list[EReceiptInfo]:
    if receipts is None:
        if not payment.receipt_number:
            return []
        shares = agency_shares(payment.lines, amount=payment.amount, agency_code=payment.agency_code)
        return [
            EReceiptInfo(
                agency_code=next(iter(shares)),
                symbol=payment.receipt_symbol or "",
                number=payment.receipt_number,
                amount=payment.amount,
            )
        ]
    return [
        EReceiptInfo(agency_code=r.agency_code, symbol=r.symbol, number=r.number, amount=r.amount) for r in receipts
    ]


def payment_lines(payment: Payment) -> list[PaymentLineInfo]:
    """A payment's stored lines, each with the agency collecting it (a line without one: the payment's agency)."""
    out = []
    for record in payment.lines:
        line = line_from_record(record)
        out.append(
            PaymentLineInfo(
                code=line.code,
                name_vi=line.name_vi,
                name_en=line.name_en,
                amount=line.amount,
                agency_code=line.agency_code or payment.agency_code,
                member=line.member,
            )
        )
    return out


def payments_info(
    payments: Sequence[Payment],
    refunds: Sequence[Refund],
    receipts: Mapping[str, Sequence[AgencyReceipt]] | None = None,
) -> list[PaymentInfo]:
    """Each payment with its own refunds and (by payment id, when given) its e-receipts."""
    return [payment_info(p, refunds, receipts.get(p.id, []) if receipts is not None else None) for p in payments]
