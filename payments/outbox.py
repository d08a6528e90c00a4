"""The payments package's outbox messages: the JSON each topic stores, as a typed model."""

from __future__ import annotations

from typing import ClassVar

from portal.kernel.outbox import OutboxPayload


class IssueEReceipt(OutboxPayload):
    """Build, seal and store the e-receipt of a succeeded payment."""

    topic: ClassVar[str] = "payment.receipt"

    payment_id: str


class ExecuteRefund(OutboxPayload):
    """Ask the gateway to pay back one refund."""

    topic: ClassVar[str] = "payment.refund"

    refund_id: str
