"""VNPay (PAY 2.1.0): the payer is redirected to VNPay; the result comes back signed on the return URL and the IPN.

The wire protocol lives in :mod:`payments.gateways.vnpay_protocol`; this module maps it onto the gateway
contract. VNPay is told where to send the payer back (``vnp_ReturnUrl``) but not where to notify: the IPN URL
is registered once on VNPay's merchant site, so ``notify_url`` is not sent.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, NoReturn
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from payments.gateways import vnpay_protocol as vp
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
from portal.kernel.clock import utcnow

CURRENCY = "VND"
LOCALES = {"vi": "vn", "en": "en"}
IPN_CODES = {
    Acknowledgement.ACCEPTED: vp.IPN_CONFIRM_SUCCESS,
    Acknowledgement.ALREADY_DONE: vp.IPN_ALREADY_CONFIRMED,
    Acknowledgement.UNKNOWN_ORDER: vp.IPN_ORDER_NOT_FOUND,
    Acknowledgement.BAD_AMOUNT: vp.IPN_INVALID_AMOUNT,
    Acknowledgement.BAD_SIGNATURE: vp.IPN_INVALID_SIGNATURE,
    Acknowledgement.ERROR: vp.IPN_UNKNOWN_ERROR,
}
_REQUEST_ID = re.compile(r"[A-Za-z0-9]{1,32}")


class VnpayOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tmn_code: str
    """The merchant's terminal code (vnp_TmnCode), given by VNPay."""
    hash_secret: SecretStr
    """The merchant's hash secret (vnp_HashSecret), given by VNPay."""
    pay_url: str = "https://sandbox.vnpayment.vn"
    """Where payers are sent (production: https://pay.vnpay.vn)."""
    api_url: str = "https://sandbox.vnpayment.vn"
    """The merchant web API, for querydr and refund."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    order_type: str = "billpayment"
    create_by: str = "dichvucong"
    """Who asks for refunds (vnp_CreateBy)."""
    server_ip: str = "127.0.0.1"
    """The portal's address as VNPay sees it (vnp_IpAddr of querydr and refund requests)."""


@register("vnpay")
class VnpayGateway:
    """VNPay's redirect gateway: domestic ATM cards, banking QR, international cards."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = VnpayOptions
    label: ClassVar[Mapping[str, str]] = {"vi": "VNPAY (thẻ ATM, QR ngân hàng)", "en": "VNPAY (bank card, banking QR)"}

    def __init__(self, options: VnpayOptions) -> None:
        self.options = options
        self._secret = options.hash_secret.get_secret_value()
        self.http = httpx.Client(timeout=options.timeout_seconds)

    def close(self) -> None:
        self.http.close()

    def check_config(self) -> None:
        if not self.options.tmn_code.strip():
            raise GatewayConfigError("vnpay: tmn_code is empty")
        if not self._secret.strip():
            raise GatewayConfigError("vnpay: hash_secret is empty")
        for name in ("pay_url", "api_url"):
            url = urlsplit(getattr(self.options, name))
            if url.scheme not in ("http", "https") or not url.netloc:
                raise GatewayConfigError(f"vnpay: {name} must be an http(s) URL")

    # -- paying

    def start_payment(self, order: PaymentOrder, *, return_url: str, notify_url: str) -> PaymentStart:
        """The signed VNPay URL; nothing is sent to VNPay before the payer arrives.

        ``notify_url`` is ignored: VNPay calls the IPN URL registered on its merchant site.
        """
        if order.currency != CURRENCY:
            raise ValueError(f"VNPay collects VND only, not {order.currency}")
        url = vp.build_payment_url(
            base_url=self.options.pay_url,
            tmn_code=self.options.tmn_code,
            secret=self._secret,
            amount_vnd=order.amount,
            txn_ref=order.reference,
            order_info=vp.plain_order_info(order.description) or f"Thanh toan {order.reference}",
            return_url=return_url,
            ip_addr=order.payer_ip,
            locale=LOCALES.get(order.locale, "vn"),
            created_at=order.created_at,
            expires_at=order.expires_at,
            order_type=self.options.order_type,
        )
        return PaymentStart(redirect_url=url, gateway_ref=None)

    def handle_return(self, request: InboundRequest) -> GatewayResult:
        return self._callback(request)

    def handle_notification(self, request: InboundRequest) -> GatewayResult:
        return self._callback(request)

    def _callback(self, request: InboundRequest) -> GatewayResult:
        try:
            result = vp.parse_callback(request.query, secret=self._secret, tmn_code=self.options.tmn_code)
        except vp.VnpayError as exc:  # BadSignature, ProtocolError
            raise CallbackRefused(str(exc)) from exc
        return GatewayResult(
            reference=result.txn_ref,
            outcome=_outcome(result),
            amount=result.amount_vnd,
            currency=CURRENCY,
            gateway_ref=_transaction_no(result.transaction_no),
            # vnp_TransactionNo is 0 on every cancelled payment: the reference keeps the id unique.
            event_id=f"{result.txn_ref}:{result.transaction_no}:{result.response_code}",
            message=f"vnp_ResponseCode {result.response_code}, vnp_TransactionStatus {result.transaction_status}",
            raw={k: v for k, v in request.query.items() if k not in ("vnp_SecureHash", "vnp_SecureHashType")},
        )

    def notification_reply(self, ack: Acknowledgement) -> NotificationReply:
        body = json.dumps(vp.ipn_reply(IPN_CODES[ack])).encode()
        return NotificationReply(status_code=200, body=body, media_type="application/json")

    # -- the merchant web API

    def query_status(self, order: PaymentOrder) -> GatewayResult:
        """querydr; a payment VNPay never heard of (91: the payer did not reach VNPay) is still pending."""
        body = vp.querydr_request(
            tmn_code=self.options.tmn_code,
            secret=self._secret,
            txn_ref=order.reference,
            order_info=f"Kiem tra giao dich {order.reference}",
            transaction_date=order.created_at,
            ip_addr=self.options.server_ip,
            created_at=utcnow(),
        )
        answer = self._post(body, "querydr")
        try:
            result = vp.parse_querydr_response(answer, secret=self._secret, tmn_code=self.options.tmn_code)
        except vp.QueryFailed as exc:
            if exc.code != vp.API_NOT_FOUND:
                raise GatewayError(f"VNPay querydr: {exc.code} {exc.message}") from exc
            return GatewayResult(
                reference=order.reference,
                outcome=Outcome.PENDING,
                amount=order.amount,
                currency=CURRENCY,
                message=f"querydr {exc.code} {exc.message}",
                raw=_unsigned(answer),
            )
        except vp.VnpayError as exc:
            raise GatewayError(f"VNPay querydr answer refused: {exc}") from exc
        return GatewayResult(
            reference=result.txn_ref,
            outcome=_outcome(result),
            amount=result.amount_vnd,
            currency=CURRENCY,
            gateway_ref=_transaction_no(result.transaction_no),
            message=f"querydr vnp_TransactionStatus {result.transaction_status}",
            raw=_unsigned(answer),
        )

    def refund(self, order: PaymentOrder, *, amount: int, refund_id: str, reason: str) -> RefundResult:
        """A full (02) or partial (03) refund.

        The request id is derived from ``refund_id``, so a retry of the same refund is answered 94 (asked before,
        VNPay is processing it: PENDING) instead of paying back twice.
        """
        body = vp.refund_request(
            tmn_code=self.options.tmn_code,
            secret=self._secret,
            txn_ref=order.reference,
            amount_vnd=amount,
            transaction_type=vp.REFUND_FULL if amount == order.amount else vp.REFUND_PARTIAL,
            transaction_no=order.gateway_ref,
            transaction_date=order.created_at,
            create_by=self.options.create_by,
            ip_addr=self.options.server_ip,
            order_info=vp.plain_order_info(f"Hoan tien {order.reference} {reason}"),
            created_at=utcnow(),
            request_id=refund_request_id(refund_id),
        )
        answer = self._post(body, "refund")
        try:
            refund = vp.parse_refund_response(answer, secret=self._secret, tmn_code=self.options.tmn_code)
        except vp.RefundFailed as exc:
            outcome = Outcome.PENDING if exc.code == vp.API_DUPLICATE else Outcome.FAILED
            return RefundResult(outcome=outcome, message=f"{exc.code} {exc.message}", raw=_unsigned(answer))
        except vp.VnpayError as exc:
            raise GatewayError(f"VNPay refund answer refused: {exc}") from exc
        return RefundResult(
            outcome=Outcome.FAILED if refund.rejected else Outcome.SUCCEEDED,
            gateway_ref=_transaction_no(refund.transaction_no),
            message=f"{vp.API_SUCCESS} {refund.message}".strip(),
            raw=_unsigned(answer),
        )

    def _post(self, body: Mapping[str, str], what: str) -> dict[str, Any]:
        """POST to the merchant web API; GatewayError unless VNPay answers a JSON object."""
        url = self.options.api_url.rstrip("/") + vp.QUERYDR_PATH
        try:
            response = self.http.post(url, json=dict(body))
        except httpx.HTTPError as exc:
            _unreachable(what, exc)
        if response.status_code != 200:
            raise GatewayError(f"VNPay {what}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise GatewayError(f"VNPay {what}: the answer is not JSON") from exc
        if not isinstance(answer, dict):
            raise GatewayError(f"VNPay {what}: the answer is not a JSON object")
        return answer


def refund_request_id(refund_id: str) -> str:
    """The vnp_RequestId of a refund (alphanumeric, at most 32): the refund id itself, or a digest of it."""
    if _REQUEST_ID.fullmatch(refund_id):
        return refund_id
    return hashlib.sha256(refund_id.encode()).hexdigest()[:32]


def _outcome(result: vp.VnpayResult) -> Outcome:
    if result.ok:
        return Outcome.SUCCEEDED
    if result.cancelled:
        return Outcome.CANCELLED
    if result.pending:
        return Outcome.PENDING
    return Outcome.FAILED


def _transaction_no(value: str) -> str | None:
    return None if value in ("", "0") else value


def _unsigned(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "vnp_SecureHash"}


def _unreachable(what: str, exc: httpx.HTTPError) -> NoReturn:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "unreachable"
    raise GatewayError(f"VNPay {what} {kind}: {exc!r}") from exc
