"""What payment pages and the partner API read about payments: reads only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from payments.models import Payment, PaymentEvent, Refund


def refunds_of(session: Session, items: Sequence[Payment]) -> list[Refund]:
    """The refunds of these payments, oldest first."""
    ids = [p.id for p in items]
    if not ids:
        return []
    return list(session.exec(select(Refund).where(col(Refund.payment_id).in_(ids)).order_by(col(Refund.created_at))))


@dataclass(frozen=True)
class AgencyReceipt:
    """The e-receipt one agency issued for a payment: its symbol and number, and the stored PDF once made."""

    agency_code: str
    symbol: str
    number: str
    key: str | None
    sha256: str | None

    @property
    def label(self) -> str:
        return f"{self.symbol}/{self.number}"


def agency_receipts(session: Session, payment: Payment) -> list[AgencyReceipt]:
    """The e-receipts of a numbered payment, one per agency that collected on it, the payment's own first.

    A payment for one agency has its one receipt on its row; one for several (a linked application) has
    the others' numbers on its `receipt_numbered` events and their PDFs on `receipt_issued` events.
    """
    if not payment.receipt_number:
        return []
    events = list(
        session.exec(
            select(PaymentEvent)
            .where(
                PaymentEvent.payment_id == payment.id,
                col(PaymentEvent.kind).in_(["receipt_numbered", "receipt_issued"]),
            )
            .order_by(col(PaymentEvent.id))
        )
    )
    numbered = [e.detail for e in events if e.kind == "receipt_numbered" and e.detail.get("agency_code")]
    issued = {
        e.detail["agency_code"]: e.detail for e in events if e.kind == "receipt_issued" and e.detail.get("agency_code")
    }
    first = AgencyReceipt(
        agency_code=str(numbered[0]["agency_code"]) if numbered else payment.agency_code,
        symbol=payment.receipt_symbol or "",
        number=payment.receipt_number,
        key=payment.receipt_key,
        sha256=payment.receipt_sha256,
    )
    others = [
        AgencyReceipt(
            agency_code=str(d["agency_code"]),
            symbol=str(d["symbol"]),
            number=str(d["number"]),
            key=issued.get(d["agency_code"], {}).get("key"),
            sha256=issued.get(d["agency_code"], {}).get("sha256"),
        )
        for d in numbered[1:]
    ]
    return [first, *others]
