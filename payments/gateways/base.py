"""The payment gateway contract: a Protocol, the values that cross it, and the registry of plugins.

A gateway knows nothing of dossiers or of the database. The payments service hands it a
:class:`PaymentOrder` (what to collect, under which reference) and gets back frozen results; the
service decides what a result means for the stored payment (exactly once, amounts checked, audit).

Every callback (browser return or server-to-server notification) is verified by the gateway:
a forged, malformed or foreign message raises :class:`CallbackRefused`, never returns a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from portal.kernel.plugins import Registry


class Outcome(StrEnum):
    """What the gateway says about one payment attempt."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # declined by the bank, insufficient funds, expired at the gateway
    CANCELLED = "cancelled"  # the payer gave up on the gateway's page
    PENDING = "pending"  # not finished yet (still on the gateway's page, or no answer)


class GatewayError(Exception):
    """The gateway could not be reached or answered nonsense (timeout, 5xx, bad JSON): try again later."""


class GatewayConfigError(Exception):
    """The gateway's options cannot work (missing key, bad URL): raised by ``check_config``."""


class CallbackRefused(Exception):
    """A callback that must not be believed: bad or missing signature, another merchant, malformed.

    ``reason`` is a short English text for the audit trail (never shown to a payer as is).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PaymentOrder:
    """What the service asks a gateway to collect."""

    reference: str  # ours, unique, [A-Za-z0-9] only, at most 32 characters (VNPay's vnp_TxnRef rules)
    amount: int  # whole đồng, > 0
    currency: str  # always "VND" today
    description: str  # Vietnamese, with diacritics; a gateway that cannot take them strips them
    created_at: datetime  # aware, UTC
    expires_at: datetime  # aware, UTC: the payer must finish before this
    idempotency_key: str  # the same for every retry of one start (Stripe's Idempotency-Key)
    locale: str = "vi"  # "vi" or "en"
    payer_ip: str = "127.0.0.1"
    gateway_ref: str | None = None  # the gateway's own id once known (a PaymentIntent id, ...)


@dataclass(frozen=True)
class PaymentStart:
    """Where to send the payer, and the gateway's id for the attempt when it gives one at once."""

    redirect_url: str
    gateway_ref: str | None = None


@dataclass(frozen=True)
class GatewayResult:
    """A verified statement of the gateway about one payment (from a return, a notification or a query)."""

    reference: str  # our PaymentOrder.reference
    outcome: Outcome
    amount: int  # whole đồng, as the gateway states it
    currency: str
    gateway_ref: str | None = None  # the gateway's transaction id
    event_id: str | None = None  # the gateway's id of this message, when it has one (for deduplication)
    message: str = ""  # the gateway's code or text, for the record
    raw: Mapping[str, Any] = field(default_factory=dict)  # what was received, for the record (no secrets)


@dataclass(frozen=True)
class RefundResult:
    """The gateway's answer to a refund request."""

    outcome: Outcome  # SUCCEEDED, PENDING (the gateway will settle it later) or FAILED
    gateway_ref: str | None = None
    message: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundRequest:
    """An HTTP request from the gateway or the payer's browser, as the web layer received it."""

    method: str
    query: Mapping[str, str]  # every parameter, blank ones included (gateways sign them all)
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""


@dataclass(frozen=True)
class NotificationReply:
    """What the service answers a notification with, in the gateway's expected format."""

    status_code: int
    body: bytes
    media_type: str


class Acknowledgement(StrEnum):
    """How the service took a notification; each gateway turns it into its own reply format."""

    ACCEPTED = "accepted"  # recorded (or changed nothing because it was already known)
    ALREADY_DONE = "already_done"  # the payment was settled before
    UNKNOWN_ORDER = "unknown_order"
    BAD_AMOUNT = "bad_amount"
    BAD_SIGNATURE = "bad_signature"
    ERROR = "error"  # we could not record it now: the gateway should retry


class PaymentGateway(Protocol):
    """One way to collect money; the id is stored on every payment (``Payment.gateway``).

    Instances are built once at startup from validated options and kept: they may hold HTTP clients.
    Methods are synchronous; they are called from worker threads, never on the event loop.
    """

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]]
    # Shown to the payer on the choice of gateway ({"vi": ..., "en": ...}).
    label: ClassVar[Mapping[str, str]]

    def __init__(self, options: Any) -> None: ...

    def check_config(self) -> None:
        """Raise GatewayConfigError if the options cannot work (run at startup)."""
        ...

    def start_payment(self, order: PaymentOrder, *, return_url: str, notify_url: str) -> PaymentStart:
        """Register the payment with the gateway and say where the payer goes; GatewayError if unreachable."""
        ...

    def handle_return(self, request: InboundRequest) -> GatewayResult:
        """Read the payer's browser coming back; CallbackRefused if it is not genuine.

        Some gateways put no signed result on the return (Stripe): they query the gateway instead.
        """
        ...

    def handle_notification(self, request: InboundRequest) -> GatewayResult:
        """Verify and read a server-to-server notification; CallbackRefused if it is not genuine."""
        ...

    def notification_reply(self, ack: Acknowledgement) -> NotificationReply:
        """The answer the gateway expects to a notification (VNPay's RspCode JSON, a 2xx for Stripe, ...)."""
        ...

    def query_status(self, order: PaymentOrder) -> GatewayResult:
        """Ask the gateway what became of a payment; GatewayError if it cannot answer now."""
        ...

    def refund(self, order: PaymentOrder, *, amount: int, refund_id: str, reason: str) -> RefundResult:
        """Give back ``amount`` đồng of a succeeded payment; ``refund_id`` is ours, unique, for idempotency."""
        ...


registry: Registry[PaymentGateway] = Registry("payment gateway")
register = registry.register
