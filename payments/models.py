"""Payments, what happened to them, refunds, and the numbering of e-receipts.

A payment belongs to an order (today always a dossier: ``order_kind="dossier"``, ``order_id`` its id);
the payments package never reads the order itself. Money is whole đồng.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.kernel.labels import LabelledEnum
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class PaymentStatus(LabelledEnum):
    PENDING = "pending", N_("Waiting for the bank")  # sent to the gateway, no final answer yet
    SUCCEEDED = "succeeded", N_("Paid")
    FAILED = "failed", N_("Not completed")
    CANCELLED = "cancelled", N_("Cancelled")


FINAL_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELLED})


class RefundStatus(LabelledEnum):
    PENDING = "pending", N_("Refund in progress")
    SUCCEEDED = "succeeded", N_("Refunded")
    FAILED = "failed", N_("Refund failed: the agency will contact you")


class Payment(SQLModel, table=True):
    """One attempt to collect the fees of an order through one gateway."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # Ours, sent to the gateway (vnp_TxnRef, metadata.reference): letters and digits only.
    reference: str = Field(unique=True, index=True, max_length=32)
    order_kind: str = Field(default="dossier", max_length=20)
    order_id: str = Field(index=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    agency_code: str = Field(index=True, max_length=10)
    gateway: str = Field(max_length=20)
    amount: int
    currency: str = Field(default="VND", max_length=3)
    description: str = Field(max_length=255)
    # The bill as computed at the start: [{"code", "name_vi", "name_en", "amount"}], and the reductions.
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reductions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=PaymentStatus.PENDING, index=True, max_length=12)
    gateway_ref: str | None = Field(default=None, max_length=100, index=True)
    redirect_url: str | None = Field(default=None, max_length=4000)
    idempotency_key: str = Field(max_length=64)
    message: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    refunded_amount: int = 0
    # The e-receipt (biên lai điện tử), issued once the payment succeeded.
    receipt_symbol: str | None = Field(default=None, max_length=20)
    receipt_number: str | None = Field(default=None, max_length=20)
    receipt_key: str | None = Field(default=None, max_length=200)
    receipt_sha256: str | None = Field(default=None, max_length=64, index=True)

    @property
    def receipt_label(self) -> str | None:
        """The e-receipt's symbol and number ("ký hiệu/số"), once it has been issued."""
        return f"{self.receipt_symbol}/{self.receipt_number}" if self.receipt_number else None


class PaymentEvent(SQLModel, table=True):
    """Something that happened to a payment: started, a callback, a query, a refusal, a refund."""

    id: int | None = Field(default=None, primary_key=True)
    payment_id: str = Field(foreign_key="payment.id", index=True, max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    kind: str = Field(max_length=30)
    source: str = Field(default="", max_length=20)  # payer | return | notification | query | reconcile | staff
    outcome: str = Field(default="", max_length=12)
    # The gateway's id of the message ("<gateway>:<event id>"): the same message is recorded once.
    dedupe_key: str | None = Field(default=None, unique=True, max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Refund(SQLModel, table=True):
    """Money given back on a succeeded payment."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    payment_id: str = Field(foreign_key="payment.id", index=True, max_length=32)
    amount: int
    reason: str = Field(max_length=40)  # rejected | withdrawn | duplicate | agency | delivery_changed
    # The agency whose fees are given back (a payment of a linked application collects for several
    # agencies: its lines carry each one's code); None: the payment's agency.
    agency_code: str | None = Field(default=None, max_length=10, index=True)
    # The member procedure (code) whose fees are given back, when the payment's lines name members.
    member: str | None = Field(default=None, max_length=20)
    status: str = Field(default=RefundStatus.PENDING, index=True, max_length=12)
    gateway_ref: str | None = Field(default=None, max_length=100)
    message: str = Field(default="", max_length=300)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PaymentReceipt(SQLModel, table=True):
    """The e-receipt (biên lai) one collecting agency issued for its part of a payment that collected for several
    agencies (a linked application): each agency numbers its receipts in its own series. A payment for one
    agency keeps its receipt on the payment row (`Payment.receipt_*`)."""

    id: int | None = Field(default=None, primary_key=True)
    payment_id: str = Field(foreign_key="payment.id", index=True, max_length=32)
    agency_code: str = Field(max_length=10, index=True)
    amount: int
    symbol: str = Field(max_length=20)
    number: str = Field(max_length=20)
    storage_key: str | None = Field(default=None, max_length=200)
    sha256: str | None = Field(default=None, max_length=64, index=True)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReceiptSequence(SQLModel, table=True):
    """The last e-receipt number used per symbol (ký hiệu: agency and year)."""

    symbol: str = Field(primary_key=True, max_length=20)
    last: int = 0
