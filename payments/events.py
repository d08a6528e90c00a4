"""What the payments package announces, in the transaction that recorded it (`portal.kernel.events`).

Each event carries the rows it is about, already flushed: subscribers read them and may change other
rows (a dossier), or ask for a refund, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from payments.models import Payment, Refund


@dataclass(frozen=True)
class PaymentSucceeded:
    """A payment moved to succeeded, and it is the first one its order keeps."""

    payment: Payment


@dataclass(frozen=True)
class PaymentFailed:
    """A pending payment failed or was cancelled (`payment.status` says which)."""

    payment: Payment


@dataclass(frozen=True)
class PaymentDuplicate:
    """A payment succeeded on an order that was already paid; its refund is already requested."""

    payment: Payment


@dataclass(frozen=True)
class PaymentRefunded:
    """The gateway paid back a refund of `payment`."""

    refund: Refund
    payment: Payment


@dataclass(frozen=True)
class PaymentRefundFailed:
    """The gateway refused a refund of `payment`; it stays on record for the agency's accountant."""

    refund: Refund
    payment: Payment
