"""Stripe: a hosted Checkout Session, or a PaymentIntent, through the official ``stripe`` library (HTTPX client).

What this plugin relies on:

* VND is a zero-decimal currency at Stripe: amounts travel in đồng as they are. Only VND is accepted.
* Every create carries an ``Idempotency-Key``: the order's ``idempotency_key`` (a refund: its ``refund_id``), so
  a retried start gets the same Session or PaymentIntent back instead of a second one.
* The payer's return carries nothing signed: its ``session_id`` / ``payment_intent`` is only a hint. The object
  is retrieved from Stripe and believed only when it carries ``metadata.reference``.
* Webhooks are verified with ``stripe.Webhook.construct_event`` (``Stripe-Signature: t=..,v1=..``, the hex
  HMAC-SHA256 of ``"{t}.{body}"``, 300 s tolerance). Stripe retries anything but a 2xx for three days, so a
  genuine event we do not act on (another type, or not one of our payments) is not refused: it comes back as a
  PENDING result with an empty reference, which the service acknowledges and ignores.
* Webhook endpoints are configured at Stripe, not per payment: ``notify_url`` is not sent.

``api_base`` points the client at a Stripe-compatible test server (stripe-mock, localstripe). In
``payment_intent`` mode ``payment_method`` (a server-side test method such as ``pm_card_visa``) is attached and
confirmed at once; without it the PaymentIntent waits for a payment method collected elsewhere (Stripe.js).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import stripe
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from stripe.params import PaymentIntentConfirmParams, PaymentIntentCreateParams, RefundCreateParams
from stripe.params.checkout import SessionCreateParams

from payments.gateways.base import (
    Acknowledgement,
    CallbackRefused,
    GatewayConfigError,
    GatewayError,
    GatewayResult,
    InboundRequest,
    NotificationReply,
    Outcome,
    PaymentOrder,
    PaymentStart,
    RefundResult,
    register,
)

SIGNATURE_HEADER = "stripe-signature"
WEBHOOK_TOLERANCE_SECONDS = 300
NETWORK_RETRIES = 2  # safe: every create is idempotent
# Stripe accepts a Checkout Session's expires_at between 30 minutes and 24 hours after its creation.
CHECKOUT_MIN_LIFETIME = timedelta(minutes=31)
CHECKOUT_MAX_LIFETIME = timedelta(hours=23, minutes=59)
CHECKOUT_LOCALES = ("vi", "en")

_STRIPE_ID = re.compile(r"^(cs|pi)_[A-Za-z0-9_]{1,250}$")
_INTENT_OUTCOMES = {
    "succeeded": Outcome.SUCCEEDED,
    "canceled": Outcome.CANCELLED,
    # processing, requires_action, requires_confirmation, requires_capture: not finished
}
_INTENT_EVENTS = {
    "payment_intent.succeeded": Outcome.SUCCEEDED,
    "payment_intent.payment_failed": Outcome.FAILED,
    "payment_intent.canceled": Outcome.CANCELLED,
}
_SESSION_EVENTS = {
    "checkout.session.completed": None,  # paid now, or later (a delayed method): see payment_status
    "checkout.session.async_payment_succeeded": Outcome.SUCCEEDED,
    "checkout.session.async_payment_failed": Outcome.FAILED,
    "checkout.session.expired": Outcome.CANCELLED,
}
_REFUND_OUTCOMES = {
    "succeeded": Outcome.SUCCEEDED,
    "pending": Outcome.PENDING,
    "requires_action": Outcome.PENDING,
    "failed": Outcome.FAILED,
    "canceled": Outcome.FAILED,
}


class StripeOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    """A secret (sk_…) or restricted (rk_…) key."""
    webhook_secret: SecretStr
    """The webhook endpoint's signing secret (whsec_…)."""
    api_base: str | None = None
    """Another API address, for a Stripe-compatible test server (stripe-mock, localstripe)."""
    mode: Literal["checkout", "payment_intent"] = "checkout"
    payment_method: str = ""
    """payment_intent mode, test servers only: a server-side test payment method (pm_card_visa) to confirm with."""
    timeout_seconds: float = Field(default=10, gt=0)


@register("stripe")
class StripeGateway:
    """International cards through Stripe Checkout (or a bare PaymentIntent on test servers)."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = StripeOptions
    label: ClassVar[Mapping[str, str]] = {"vi": "Thẻ quốc tế (Stripe)", "en": "International card (Stripe)"}

    def __init__(self, options: StripeOptions) -> None:
        self.options = options
        self._webhook_secret = options.webhook_secret.get_secret_value()
        self._client = stripe.StripeClient(
            options.api_key.get_secret_value(),
            http_client=stripe.HTTPXClient(timeout=options.timeout_seconds, allow_sync_methods=True),
            base_addresses={"api": options.api_base.rstrip("/")} if options.api_base else {},
            max_network_retries=NETWORK_RETRIES,
        )

    def check_config(self) -> None:
        key = self.options.api_key.get_secret_value()
        if not key.startswith(("sk_", "rk_")):
            raise GatewayConfigError("Stripe api_key must be a secret (sk_…) or restricted (rk_…) key")
        if not self._webhook_secret.startswith("whsec_"):
            raise GatewayConfigError("Stripe webhook_secret must be the endpoint's signing secret (whsec_…)")
        if self.options.api_base:
            parts = urlsplit(self.options.api_base)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise GatewayConfigError(f"Stripe api_base is not an http(s) URL: {self.options.api_base!r}")
        if self.options.payment_method:
            if self.options.mode != "payment_intent":
                raise GatewayConfigError("Stripe payment_method applies to payment_intent mode only")
            if "_live_" in key:
                raise GatewayConfigError("Stripe payment_method (a server-side test card) cannot run on a live key")

    # -- starting

    def start_payment(self, order: PaymentOrder, *, return_url: str, notify_url: str) -> PaymentStart:
        if order.currency != "VND":
            raise ValueError(f"the Stripe gateway collects VND (zero-decimal), not {order.currency}")
        if self.options.mode == "checkout":
            return self._start_checkout(order, return_url)
        return self._start_payment_intent(order, return_url)

    def _start_checkout(self, order: PaymentOrder, return_url: str) -> PaymentStart:
        now = datetime.now(UTC)
        # A session may outlive a shorter order deadline: a late success is still money taken, and the
        # service records it (or refunds a duplicate) like any other.
        expires_at = min(max(order.expires_at, now + CHECKOUT_MIN_LIFETIME), now + CHECKOUT_MAX_LIFETIME)
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "vnd",
                        "unit_amount": order.amount,
                        "product_data": {"name": order.description},
                    },
                }
            ],
            "client_reference_id": order.reference,
            "metadata": {"reference": order.reference},
            "payment_intent_data": {"description": order.description, "metadata": {"reference": order.reference}},
            "success_url": with_query(return_url, "session_id={CHECKOUT_SESSION_ID}"),
            "cancel_url": with_query(return_url, f"cancelled=1&reference={order.reference}"),
            "expires_at": int(expires_at.timestamp()),
            "locale": order.locale if order.locale in CHECKOUT_LOCALES else "auto",
        }
        try:
            session = self._client.v1.checkout.sessions.create(params, {"idempotency_key": order.idempotency_key})
        except stripe.StripeError as exc:
            raise _gateway_error("create a Checkout Session", exc) from exc
        data = session.to_dict()
        if not data.get("id") or not data.get("url"):
            raise GatewayError("Stripe answered a Checkout Session without an id or a url")
        return PaymentStart(redirect_url=str(data["url"]), gateway_ref=str(data["id"]))

    def _start_payment_intent(self, order: PaymentOrder, return_url: str) -> PaymentStart:
        params: PaymentIntentCreateParams = {
            "amount": order.amount,
            "currency": "vnd",
            "description": order.description,
            "metadata": {"reference": order.reference},
        }
        if self.options.payment_method:
            params["payment_method"] = self.options.payment_method
        try:
            intent = self._client.v1.payment_intents.create(params, {"idempotency_key": order.idempotency_key})
        except stripe.StripeError as exc:
            raise _gateway_error("create a PaymentIntent", exc) from exc
        data = intent.to_dict()
        intent_id = str(data.get("id") or "")
        if not intent_id:
            raise GatewayError("Stripe answered a PaymentIntent without an id")
        if data.get("status") == "requires_confirmation":
            # Confirmed in a second call rather than with confirm=true on the create: the PaymentIntent's id is
            # then known even when the card is declined, so query_status can tell FAILED afterwards.
            confirm: PaymentIntentConfirmParams = {"return_url": return_url}
            try:
                intent = self._client.v1.payment_intents.confirm(
                    intent_id, confirm, {"idempotency_key": f"{order.idempotency_key}-confirm"}
                )
            except stripe.CardError:
                # Declined: the PaymentIntent now says requires_payment_method with last_payment_error.
                return PaymentStart(
                    redirect_url=with_query(return_url, _param("payment_intent", intent_id)), gateway_ref=intent_id
                )
            except stripe.StripeError as exc:
                raise _gateway_error("confirm a PaymentIntent", exc) from exc
            data = intent.to_dict()
        redirect = ((data.get("next_action") or {}).get("redirect_to_url") or {}).get("url")
        if redirect:  # 3-D Secure: Stripe sends the payer back to return_url?payment_intent=…
            return PaymentStart(redirect_url=str(redirect), gateway_ref=intent_id)
        # Nothing to do at Stripe's: back to us with the same hint Stripe adds after a redirect.
        return PaymentStart(
            redirect_url=with_query(return_url, _param("payment_intent", intent_id)), gateway_ref=intent_id
        )

    # -- callbacks

    def handle_return(self, request: InboundRequest) -> GatewayResult:
        session_id = request.query.get("session_id", "").strip()
        intent_id = request.query.get("payment_intent", "").strip()
        if not session_id and not intent_id:
            reference = request.query.get("reference", "").strip()
            if request.query.get("cancelled") and reference.isalnum() and len(reference) <= 32:
                # The payer left Checkout. The link is not signed, so it only names the payment: the service
                # then asks Stripe, and the session stays payable until it expires.
                return GatewayResult(reference=reference, outcome=Outcome.PENDING, amount=0, currency="VND")
            raise CallbackRefused("return without a session_id or a payment_intent")
        stripe_id = session_id or intent_id
        if not _STRIPE_ID.fullmatch(stripe_id) or not stripe_id.startswith("cs_" if session_id else "pi_"):
            raise CallbackRefused(f"malformed Stripe id on the return: {stripe_id[:60]!r}")
        try:
            data = self._retrieve(stripe_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise CallbackRefused(f"Stripe does not know {stripe_id}") from None
            raise _gateway_error(f"retrieve {stripe_id}", exc) from exc
        except stripe.StripeError as exc:
            raise _gateway_error(f"retrieve {stripe_id}", exc) from exc
        reference = _reference(data)
        if not reference:
            raise CallbackRefused(f"{stripe_id} carries no metadata.reference: not one of our payments")
        return _result_of(data, reference=reference)

    def handle_notification(self, request: InboundRequest) -> GatewayResult:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            raise CallbackRefused("no Stripe-Signature header")
        try:
            event = stripe.Webhook.construct_event(
                request.body, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise CallbackRefused(f"bad Stripe-Signature: {exc.user_message or exc}") from None
        except ValueError as exc:  # not UTF-8, not JSON, or not a snapshot event
            raise CallbackRefused(f"malformed Stripe event: {exc}") from None
        data = event.to_dict()
        event_id, event_type = str(data.get("id") or ""), str(data.get("type") or "")
        obj = (data.get("data") or {}).get("object")
        if not event_id or not isinstance(obj, dict):
            raise CallbackRefused("Stripe event without an id or a data.object")
        raw = _record(data)
        reference = _reference(obj)
        if event_type in _INTENT_EVENTS and reference:
            outcome = _INTENT_EVENTS[event_type]
            amount = _amount(obj, "amount_received" if outcome == Outcome.SUCCEEDED else "amount")
            error_code = (obj.get("last_payment_error") or {}).get("code")
            message = f"{event_type}: {error_code}" if error_code else event_type
        elif event_type in _SESSION_EVENTS and reference:
            outcome = _SESSION_EVENTS[event_type] or _session_outcome(obj)
            amount, message = _int(obj.get("amount_total")), f"{event_type}: {obj.get('payment_status')}"
        else:
            # Genuine, but nothing to act on: acknowledged (2xx) so that Stripe stops sending it.
            return GatewayResult(
                reference="",
                outcome=Outcome.PENDING,
                amount=0,
                currency="",
                gateway_ref=_str(obj.get("id")),
                event_id=event_id,
                message=f"ignored {event_type or 'untyped event'}",
                raw=raw,
            )
        return GatewayResult(
            reference=reference,
            outcome=outcome,
            amount=amount,
            currency=str(obj.get("currency") or "").upper(),
            gateway_ref=_str(obj.get("id")),
            event_id=event_id,
            message=message,
            raw=raw,
        )

    def notification_reply(self, ack: Acknowledgement) -> NotificationReply:
        # A 2xx stops Stripe's retries: right for whatever we recorded, unknown orders and bad amounts included.
        status = {Acknowledgement.BAD_SIGNATURE: 400, Acknowledgement.ERROR: 500}.get(ack, 200)
        body = json.dumps({"received": status == 200}).encode()
        return NotificationReply(status_code=status, body=body, media_type="application/json")

    # -- asking

    def query_status(self, order: PaymentOrder) -> GatewayResult:
        stripe_id = order.gateway_ref or ""
        if not stripe_id:  # never registered at Stripe
            return GatewayResult(order.reference, Outcome.PENDING, 0, order.currency, message="not started at Stripe")
        if not _STRIPE_ID.fullmatch(stripe_id):
            raise GatewayError(f"{stripe_id!r} is neither a Checkout Session nor a PaymentIntent id")
        try:
            data = self._retrieve(stripe_id)
        except stripe.StripeError as exc:
            raise _gateway_error(f"retrieve {stripe_id}", exc) from exc
        return _result_of(data, reference=_reference(data) or order.reference)

    def refund(self, order: PaymentOrder, *, amount: int, refund_id: str, reason: str) -> RefundResult:
        stripe_id = order.gateway_ref or ""
        if not _STRIPE_ID.fullmatch(stripe_id):
            return RefundResult(Outcome.FAILED, message="no Stripe payment to refund")
        try:
            intent_id = stripe_id
            if stripe_id.startswith("cs_"):
                intent = self._retrieve(stripe_id).get("payment_intent")
                intent_id = str((intent.get("id") if isinstance(intent, dict) else intent) or "")
                if not intent_id:
                    return RefundResult(Outcome.FAILED, message="the Checkout Session has no payment to refund")
            params: RefundCreateParams = {
                "payment_intent": intent_id,
                "amount": amount,
                "metadata": {"refund_id": refund_id, "reference": order.reference, "reason": reason[:500]},
            }
            refund = self._client.v1.refunds.create(params, {"idempotency_key": refund_id})
        except (stripe.InvalidRequestError, stripe.IdempotencyError) as exc:
            # A definite no (already refunded, more than was paid, a failed payment): retrying will not help.
            return RefundResult(Outcome.FAILED, message=_describe(exc))
        except stripe.StripeError as exc:
            raise _gateway_error("create a Refund", exc) from exc
        data = refund.to_dict()
        status = str(data.get("status") or "")
        return RefundResult(
            _REFUND_OUTCOMES.get(status, Outcome.PENDING),
            gateway_ref=_str(data.get("id")),
            message=status,
            raw=_record(data),
        )

    def _retrieve(self, stripe_id: str) -> dict[str, Any]:
        """A Checkout Session (cs_…) or a PaymentIntent (pi_…) as Stripe has it now."""
        if stripe_id.startswith("cs_"):
            return self._client.v1.checkout.sessions.retrieve(stripe_id).to_dict()
        return self._client.v1.payment_intents.retrieve(stripe_id).to_dict()


# -- reading Stripe objects (as plain dicts: test servers leave out fields Stripe always sends)


def _result_of(data: Mapping[str, Any], *, reference: str) -> GatewayResult:
    """What a retrieved Checkout Session or PaymentIntent says about the payment."""
    currency = str(data.get("currency") or "").upper()
    status = str(data.get("status") or "")
    if data.get("object") == "checkout.session":
        return GatewayResult(
            reference=reference,
            outcome=_session_outcome(data),
            amount=_int(data.get("amount_total")),
            currency=currency,
            gateway_ref=_str(data.get("id")),
            message=f"{status}: {data.get('payment_status')}",
            raw=_record(data),
        )
    outcome = _INTENT_OUTCOMES.get(status, Outcome.PENDING)
    error = data.get("last_payment_error") or {}
    if status == "requires_payment_method" and error:
        outcome = Outcome.FAILED  # an attempt was declined
    return GatewayResult(
        reference=reference,
        outcome=outcome,
        amount=_amount(data, "amount_received" if outcome == Outcome.SUCCEEDED else "amount"),
        currency=currency,
        gateway_ref=_str(data.get("id")),
        message=f"{status}: {error.get('code')}" if error else status,
        raw=_record(data),
    )


def _session_outcome(session: Mapping[str, Any]) -> Outcome:
    status, paid = session.get("status"), session.get("payment_status") in ("paid", "no_payment_required")
    if status == "complete" and paid:
        return Outcome.SUCCEEDED
    if status == "expired":
        return Outcome.CANCELLED
    return Outcome.PENDING  # open, or complete with a delayed payment method still unpaid


def _reference(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("reference") or obj.get("client_reference_id") or "")


def _amount(obj: Mapping[str, Any], key: str) -> int:
    """``key``'s amount, or ``amount`` when a test server leaves ``key`` out (localstripe has no amount_received)."""
    return _int(obj.get(key) if obj.get(key) is not None else obj.get("amount"))


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: object) -> str | None:
    return str(value) if value else None


def _record(data: Mapping[str, Any]) -> dict[str, Any]:
    """What Stripe sent, for the record, without client secrets (they let a browser confirm the payment)."""

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items() if k != "client_secret"}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    cleaned: dict[str, Any] = clean(data)
    return cleaned


def with_query(url: str, query: str) -> str:
    """``url`` with ``query`` appended (``?`` or ``&``); ``query`` is used as is, so {CHECKOUT_SESSION_ID} stays."""
    base, hash_, fragment = url.partition("#")
    sep = "" if base.endswith(("?", "&")) else "&" if "?" in base else "?"
    return f"{base}{sep}{query}{hash_}{fragment}"


def _param(name: str, value: str) -> str:
    return f"{name}={quote(value, safe='')}"


def _describe(exc: stripe.StripeError) -> str:
    code = f" {exc.code}" if exc.code else ""
    return f"{type(exc).__name__} (HTTP {exc.http_status or '-'}{code}): {exc.user_message or exc}"


def _gateway_error(what: str, exc: stripe.StripeError) -> GatewayError:
    """Unreachable, timed out, 5xx, rate-limited, or refused our request: the service retries later."""
    return GatewayError(f"Stripe could not {what}: {_describe(exc)}")
