"""What payment pages and the partner API read about payments: reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from payments.fees import agency_shares
from payments.models import Payment, PaymentReceipt, Refund


def refunds_of(session: Session, items: Sequence[Payment]) -> list[Refund]:
    """The refunds of these payments, oldest first."""
    ids = [p.id for p in items]
    if not ids:
        return []
    return list(session.exec(select(Refund).where(col(Refund.payment_id).in_(ids)).order_by(col(Refund.created_at))))


@dataclass(frozen=True)
class AgencyReceipt:
    """The e-receipt one agency issued for a payment: its symbol and number, the amount it collected, and the
    stored PDF once made."""

    agency_code: str
    symbol: str
    number: str
    key: str | None
    sha256: str | None
    amount: int = 0
    row_id: int | None = None  # its `PaymentReceipt` row (a payment for several agencies), None: the payment's own

    @property
    def label(self) -> str:
        return f"{self.symbol}/{self.number}"


def agency_receipts(session: Session, payment: Payment) -> list[AgencyReceipt]:
    """The e-receipts of a numbered payment, one per agency that collected on it, the first (the payment's
    own agency's when it collects any) first.

    A payment for one agency has its one receipt on its row (`Payment.receipt_*`). One for several (a linked
    application) has one `PaymentReceipt` row per agency, in the order they were numbered; the payment's
    `receipt_*` mirror the first.
    """
    if not payment.receipt_number:
        return []
    rows = list(
        session.exec(
            select(PaymentReceipt).where(PaymentReceipt.payment_id == payment.id).order_by(col(PaymentReceipt.id))
        )
    )
    if rows:
        return [
            AgencyReceipt(
                agency_code=row.agency_code,
                symbol=row.symbol,
                number=row.number,
                key=row.storage_key,
                sha256=row.sha256,
                amount=row.amount,
                row_id=row.id,
            )
            for row in rows
        ]
    shares = agency_shares(payment.lines, amount=payment.amount, agency_code=payment.agency_code)
    return [
        AgencyReceipt(
            agency_code=next(iter(shares)),  # the one collecting agency (the payment's, unless its lines name another)
            symbol=payment.receipt_symbol or "",
            number=payment.receipt_number,
            key=payment.receipt_key,
            sha256=payment.receipt_sha256,
            amount=payment.amount,
        )
    ]
