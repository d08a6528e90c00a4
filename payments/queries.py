"""What payment pages and the partner API read about payments: reads only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from payments.models import Payment, Refund


def refunds_of(session: Session, items: Sequence[Payment]) -> list[Refund]:
    """The refunds of these payments, oldest first."""
    ids = [p.id for p in items]
    if not ids:
        return []
    return list(session.exec(select(Refund).where(col(Refund.payment_id).in_(ids)).order_by(col(Refund.created_at))))
