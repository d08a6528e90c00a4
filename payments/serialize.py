"""A payment as others see it: the one shape of a payment and its refunds outside the payments package.

The partner API answers with these models (so `/api/openapi.json` documents them), and pages and file
names use `Payment.receipt_label` for the e-receipt's symbol and number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from payments.fees import line_from_record
from payments.models import Payment, Refund


class RefundInfo(BaseModel):
    id: str
    amount: int = Field(description="Đồng.")
    agency_code: str = Field(description="The agency whose fees are given back.")
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


class PaymentInfo(BaseModel):
    """One payment of a dossier (one attempt through one gateway)."""

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
    receipt: str | None = Field(description="The e-receipt's symbol and number (ký hiệu/số).")
    refunds: list[RefundInfo]


def e_receipt_filename(payment: Payment) -> str:
    """The name the e-receipt PDF is downloaded as."""
    return f"bien-lai-{payment.receipt_number or payment.reference}.pdf"


def payment_info(payment: Payment, refunds: Sequence[Refund]) -> PaymentInfo:
    """A payment with its refunds (those given: any others are left out)."""
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
        refunds=[
            RefundInfo.model_validate({**r.model_dump(), "agency_code": r.agency_code or payment.agency_code})
            for r in refunds
            if r.payment_id == payment.id
        ],
    )


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


def payments_info(payments: Sequence[Payment], refunds: Sequence[Refund]) -> list[PaymentInfo]:
    """Each payment with its own refunds."""
    return [payment_info(p, refunds) for p in payments]
