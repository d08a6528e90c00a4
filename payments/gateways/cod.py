"""Cash on delivery (thu hộ): the courier collects the fees in cash when the result is delivered by post.

The payer is never sent anywhere: the portal starts a pending payment for the amount to collect when the
delivery order is made, and the postal operator's "delivered" report, which states the cash collected,
settles it (`collected` builds the statement that `payments.service.apply_result` takes, once, amount
checked). Until then the gateway's answer to any query is "pending", so reconciliation leaves the payment
waiting for the courier. It is built whatever PORTAL_PAYMENT_GATEWAYS says and is offered to no payer
(`payments.setup.INTERNAL`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from payments.gateways.base import (
    Acknowledgement,
    CallbackRefused,
    GatewayResult,
    InboundRequest,
    NotificationReply,
    Outcome,
    PaymentOrder,
    PaymentStart,
    RefundResult,
    register,
)

GATEWAY_ID = "cod"
# `PaymentEvent.source` of the courier's report (what `apply_result` records).
SOURCE = "courier"


class CodOptions(BaseModel):
    """No options: the postal operators' own settings say who collects."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@register(GATEWAY_ID)
class CodGateway:
    """The courier collects the amount at delivery; the operator's delivered report settles the payment."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = CodOptions
    label: ClassVar[Mapping[str, str]] = {
        "vi": "Thu hộ khi giao kết quả qua bưu chính (COD)",
        "en": "Cash on delivery of the result by post (COD)",
    }

    def __init__(self, options: CodOptions) -> None:
        self.options = options

    def check_config(self) -> None:
        return None

    def start_payment(self, order: PaymentOrder, *, return_url: str, notify_url: str) -> PaymentStart:
        # Nobody is redirected: the courier collects the amount printed on the shipping label.
        return PaymentStart(redirect_url="")

    def handle_return(self, request: InboundRequest) -> GatewayResult:
        raise CallbackRefused("cash on delivery has no payer return")

    def handle_notification(self, request: InboundRequest) -> GatewayResult:
        raise CallbackRefused("cash on delivery is settled by the postal operator's delivery report")

    def notification_reply(self, ack: Acknowledgement) -> NotificationReply:
        return NotificationReply(status_code=404, body=b"", media_type="text/plain")

    def query_status(self, order: PaymentOrder) -> GatewayResult:
        """Still pending: only the courier's delivery report settles a COD payment."""
        return GatewayResult(
            reference=order.reference,
            outcome=Outcome.PENDING,
            amount=order.amount,
            currency=order.currency,
            message="waiting for the delivery",
        )

    def refund(self, order: PaymentOrder, *, amount: int, refund_id: str, reason: str) -> RefundResult:
        # Cash handed to a courier cannot be sent back through the portal: the agency refunds it by hand, and
        # the refused refund stays on record for its accountant.
        return RefundResult(outcome=Outcome.FAILED, message="cash collected on delivery: the agency refunds it by hand")


def collected(
    reference: str, *, amount: int, operator: str, event_id: str, tracking_number: str | None
) -> GatewayResult:
    """The courier's statement that `amount` đồng was collected for the payment `reference` (one per event)."""
    return GatewayResult(
        reference=reference,
        outcome=Outcome.SUCCEEDED,
        amount=amount,
        currency="VND",
        gateway_ref=f"{operator}:{tracking_number}" if tracking_number else operator,
        event_id=f"{operator}:{event_id}",
        message="collected on delivery",
        raw={"operator": operator, "event_id": event_id, "tracking_number": tracking_number, "amount": amount},
    )


def cancelled(reference: str, *, amount: int, why: str) -> GatewayResult:
    """Nothing will be collected for `reference` (the parcel came back, or its order was cancelled)."""
    return GatewayResult(
        reference=reference, outcome=Outcome.CANCELLED, amount=amount, currency="VND", message=why[:200]
    )
