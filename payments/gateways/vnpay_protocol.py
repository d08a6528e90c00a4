"""The VNPay PAY redirect protocol (version 2.1.0) as pure functions: no database, no web framework.

Wire format, as VNPay documents it:

* Payment URL: ``{base}/paymentv2/vpcpay.html?`` + the ``vnp_*`` request parameters + ``vnp_SecureHash``.
* Signature: the ``vnp_*`` parameters except ``vnp_SecureHash``/``vnp_SecureHashType``, sorted by name,
  ``quote_plus``-encoded as ``k=v&k=v``, HMAC-SHA512 with the merchant's hash secret, hex. VNPay may send
  the hex in either case; it is compared case-insensitively and in constant time. VNPay's own samples
  disagree on empty parameters (the Java and .NET ones leave them out of the signed string, the PHP and
  Python ones keep them as ``k=``), so a callback is accepted when it matches either form.
* Return URL (browser) and IPN (server-to-server GET) carry the signed result; the merchant answers the IPN
  with ``{"RspCode": .., "Message": ..}`` (:func:`ipn_reply`). VNPay retries until it gets ``00`` or ``02``.
* querydr: a signed JSON POST to ``{base}/merchant_webapi/api/transaction`` whose hash joins fixed fields
  with ``|``; the answer is signed the same way (:func:`querydr_request`, :func:`parse_querydr_response`).
* refund: the same endpoint and signing, ``vnp_Command=refund``, full (02) or partial (03)
  (:func:`refund_request`, :func:`parse_refund_response`).

Times: VNPay speaks ``yyyyMMddHHmmss`` in GMT+7. Aware datetimes are converted; naive ones are taken as UTC
(the portal's storage convention, see ``portal.kernel.clock``). Parsed times come back aware, in GMT+7.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote_plus

VERSION = "2.1.0"
PAY_PATH = "/paymentv2/vpcpay.html"
QUERYDR_PATH = "/merchant_webapi/api/transaction"
REFUND_PATH = QUERYDR_PATH  # one endpoint, told apart by vnp_Command
VN_TZ = timezone(timedelta(hours=7), "GMT+7")
DATE_FORMAT = "%Y%m%d%H%M%S"
LOCALES = ("vn", "en")

# vnp_ResponseCode of a payment (return URL / IPN)
RESPONSE_SUCCESS = "00"
RESPONSE_SUSPICIOUS = "07"
RESPONSE_EXPIRED = "11"
RESPONSE_CANCELLED = "24"
RESPONSE_INSUFFICIENT_FUNDS = "51"

# vnp_TransactionStatus
STATUS_SUCCESS = "00"
STATUS_PENDING = "01"
STATUS_FAILED = "02"

# vnp_TransactionType of a refund request
REFUND_FULL = "02"
REFUND_PARTIAL = "03"

# vnp_ResponseCode of the merchant web API (querydr and refund)
API_SUCCESS = "00"
API_INVALID_MERCHANT = "02"
API_INVALID_FORMAT = "03"
API_NOT_FOUND = "91"
API_DUPLICATE = "94"  # refund: a refund of this transaction was asked before and VNPay is processing it
API_NOT_REFUNDABLE = "95"  # refund: the payment did not succeed at VNPay
API_INVALID_CHECKSUM = "97"
API_OTHER_ERROR = "99"

# vnp_TransactionStatus of a refund
STATUS_REFUND_PROCESSING = "05"
STATUS_REFUND_SENT_TO_BANK = "06"
STATUS_REFUND_REJECTED = "09"

# The merchant's IPN answer codes
IPN_CONFIRM_SUCCESS = "00"
IPN_ORDER_NOT_FOUND = "01"
IPN_ALREADY_CONFIRMED = "02"
IPN_INVALID_AMOUNT = "04"
IPN_INVALID_SIGNATURE = "97"
IPN_UNKNOWN_ERROR = "99"

IPN_MESSAGES: dict[str, str] = {
    IPN_CONFIRM_SUCCESS: "Confirm Success",
    IPN_ORDER_NOT_FOUND: "Order not found",
    IPN_ALREADY_CONFIRMED: "Order already confirmed",
    IPN_INVALID_AMOUNT: "Invalid amount",
    IPN_INVALID_SIGNATURE: "Invalid Checksum",
    IPN_UNKNOWN_ERROR: "Unknown error",
}

# The fields, in order, that the querydr request and response hashes cover
QUERYDR_REQUEST_FIELDS = (
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_TransactionDate",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
)
QUERYDR_RESPONSE_FIELDS = (
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
    "vnp_PromotionCode",
    "vnp_PromotionAmount",
)

# The fields, in order, that the refund request and response hashes cover
REFUND_REQUEST_FIELDS = (
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TransactionType",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_TransactionNo",
    "vnp_TransactionDate",
    "vnp_CreateBy",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
)
REFUND_RESPONSE_FIELDS = (
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
)

_UNSIGNED = ("vnp_SecureHash", "vnp_SecureHashType")
_CALLBACK_REQUIRED = ("vnp_TmnCode", "vnp_Amount", "vnp_ResponseCode", "vnp_TransactionStatus", "vnp_TxnRef")


class VnpayError(Exception):
    """Anything wrong with what VNPay (or someone pretending to be VNPay) sent."""


class BadSignature(VnpayError):
    """The secure hash is missing or does not match: answer an IPN with 97."""


class ProtocolError(VnpayError):
    """Signed correctly, but not a message we can accept (missing field, other merchant, odd amount)."""


class QueryFailed(VnpayError):
    """A correctly signed querydr answer whose vnp_ResponseCode is not 00 (e.g. 91: transaction not found)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"querydr failed: {code} {message}")
        self.code, self.message = code, message


class RefundFailed(VnpayError):
    """A correctly signed refund answer whose vnp_ResponseCode is not 00 (94: asked before, 95: not paid, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"refund failed: {code} {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class VnpayResult:
    """The outcome of one payment attempt, from a return URL, an IPN or a querydr answer."""

    txn_ref: str
    amount_vnd: int
    response_code: str
    transaction_status: str
    transaction_no: str
    bank_code: str | None
    pay_date: datetime | None
    ok: bool

    @property
    def cancelled(self) -> bool:
        return self.response_code == RESPONSE_CANCELLED

    @property
    def expired(self) -> bool:
        return self.response_code == RESPONSE_EXPIRED

    @property
    def pending(self) -> bool:
        """Only from querydr: the customer has not finished at VNPay yet."""
        return self.transaction_status == STATUS_PENDING


@dataclass(frozen=True)
class VnpayRefund:
    """VNPay's acceptance of a refund request."""

    txn_ref: str
    amount_vnd: int  # what this request gives back
    transaction_no: str  # VNPay's number for the refund transaction
    transaction_type: str  # REFUND_FULL or REFUND_PARTIAL
    transaction_status: str  # of the refund: 05 processing, 06 sent to the bank, 09 rejected, ...
    bank_code: str | None
    pay_date: datetime | None
    message: str

    @property
    def rejected(self) -> bool:
        return self.transaction_status == STATUS_REFUND_REJECTED


# -- hashing


def _hmac512(data: str, secret: str) -> str:
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def hash_data(params: Mapping[str, str], *, skip_empty: bool = False) -> str:
    """The string VNPay signs: sorted ``vnp_*`` parameters (hash fields excluded), quote_plus-encoded.

    ``skip_empty`` leaves out parameters whose value is empty, as VNPay's Java and .NET samples do; the PHP
    and Python samples (and the default here) keep them as ``k=``.
    """
    items = sorted(
        (k, v)
        for k, v in params.items()
        if k.startswith("vnp_") and k not in _UNSIGNED and not (skip_empty and str(v) == "")
    )
    return "&".join(f"{quote_plus(k)}={quote_plus(str(v))}" for k, v in items)


def secure_hash(params: Mapping[str, str], secret: str, *, skip_empty: bool = False) -> str:
    """HMAC-SHA512 (lowercase hex) of :func:`hash_data`."""
    return _hmac512(hash_data(params, skip_empty=skip_empty), secret)


def _same_hash(received: str, expected: str) -> bool:
    return hmac.compare_digest(received.strip().lower().encode(), expected.lower().encode())


def verify(params: Mapping[str, str], secret: str) -> bool:
    """Whether ``params`` carries a ``vnp_SecureHash`` that matches the rest of them, empty ones signed or not."""
    received = params.get("vnp_SecureHash")
    if not received:
        return False
    # Both comparisons always run (no short-circuit), so timing says nothing about which form matched.
    kept = _same_hash(str(received), secure_hash(params, secret))
    skipped = _same_hash(str(received), secure_hash(params, secret, skip_empty=True))
    return kept | skipped


def querydr_hash(values: Mapping[str, object], fields: tuple[str, ...], secret: str) -> str:
    """The merchant web API hash (querydr, refund): the fields' values in order, joined with ``|``, missing → empty."""
    return _hmac512("|".join(_text(values.get(f)) for f in fields), secret)


def _text(value: object) -> str:
    return "" if value is None else str(value)


# -- dates


def format_date(dt: datetime) -> str:
    """``yyyyMMddHHmmss`` in GMT+7 (a naive datetime is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(VN_TZ).strftime(DATE_FORMAT)


def parse_date(text: str) -> datetime:
    """A VNPay ``yyyyMMddHHmmss`` (GMT+7) as an aware datetime; ProtocolError when malformed."""
    try:
        if len(text) != 14 or not text.isdigit():
            raise ValueError(text)
        return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=VN_TZ)
    except ValueError as exc:
        raise ProtocolError(f"bad VNPay date {text!r}") from exc


def plain_order_info(text: str, limit: int = 255) -> str:
    """VNPay asks for vnp_OrderInfo in Vietnamese without diacritics: strip them (đ → d), squash spaces."""
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(text.split())[:limit]


# -- the payment URL


def build_payment_url(
    *,
    base_url: str,
    tmn_code: str,
    secret: str,
    amount_vnd: int,
    txn_ref: str,
    order_info: str,
    return_url: str,
    ip_addr: str,
    locale: str,
    created_at: datetime,
    expires_at: datetime,
    bank_code: str | None = None,
    order_type: str = "other",
) -> str:
    """The signed URL the browser is sent to. ``amount_vnd`` is in đồng; VNPay wants it ×100."""
    if isinstance(amount_vnd, bool) or not isinstance(amount_vnd, int) or amount_vnd <= 0:
        raise ValueError(f"amount_vnd must be a positive int, not {amount_vnd!r}")
    if locale not in LOCALES:
        raise ValueError(f"locale must be one of {LOCALES}, not {locale!r}")
    if expires_at <= created_at:
        raise ValueError("expires_at must be after created_at")
    if not txn_ref or not order_info:
        raise ValueError("txn_ref and order_info are required")
    params: dict[str, str] = {
        "vnp_Version": VERSION,
        "vnp_Command": "pay",
        "vnp_TmnCode": tmn_code,
        "vnp_Amount": str(amount_vnd * 100),
        "vnp_CurrCode": "VND",
        "vnp_TxnRef": txn_ref,
        "vnp_OrderInfo": order_info,
        "vnp_OrderType": order_type,
        "vnp_Locale": locale,
        "vnp_ReturnUrl": return_url,
        "vnp_IpAddr": ip_addr,
        "vnp_CreateDate": format_date(created_at),
        "vnp_ExpireDate": format_date(expires_at),
    }
    if bank_code:
        params["vnp_BankCode"] = bank_code
    query = hash_data(params)  # the signed string is the query string itself
    return f"{base_url.rstrip('/')}{PAY_PATH}?{query}&vnp_SecureHash={_hmac512(query, secret)}"


# -- return URL and IPN


def _amount(text: object) -> int:
    raw = _text(text).strip()
    if not raw.isdigit():
        raise ProtocolError(f"vnp_Amount is not a whole number: {raw!r}")
    value = int(raw)
    if value % 100:
        raise ProtocolError(f"vnp_Amount {value} is not a multiple of 100")
    return value // 100


def parse_callback(query: Mapping[str, str], *, secret: str, tmn_code: str) -> VnpayResult:
    """Verify and read the parameters of a return URL or an IPN.

    Pass every query parameter, blank ones included (Starlette's ``request.query_params`` keeps them):
    a message signed with its blank parameters is believed as well as one signed without them. Raises
    :class:`BadSignature` (missing or wrong hash — IPN answer 97) before looking at anything else, then
    :class:`ProtocolError` (missing field, other merchant, odd amount).
    """
    if not verify(query, secret):
        raise BadSignature("vnp_SecureHash is missing" if not query.get("vnp_SecureHash") else "bad vnp_SecureHash")
    missing = [f for f in _CALLBACK_REQUIRED if not query.get(f)]
    if missing:
        raise ProtocolError(f"missing {', '.join(missing)}")
    if query["vnp_TmnCode"] != tmn_code:
        raise ProtocolError(f"vnp_TmnCode {query['vnp_TmnCode']!r} is not ours")
    pay_date = query.get("vnp_PayDate")
    response_code, status = query["vnp_ResponseCode"], query["vnp_TransactionStatus"]
    return VnpayResult(
        txn_ref=query["vnp_TxnRef"],
        amount_vnd=_amount(query["vnp_Amount"]),
        response_code=response_code,
        transaction_status=status,
        transaction_no=query.get("vnp_TransactionNo") or "",
        bank_code=query.get("vnp_BankCode") or None,
        pay_date=parse_date(pay_date) if pay_date else None,
        ok=response_code == RESPONSE_SUCCESS and status == STATUS_SUCCESS,
    )


def ipn_reply(code: str) -> dict[str, str]:
    """The JSON body answering an IPN: ``{"RspCode": code, "Message": ...}``."""
    try:
        return {"RspCode": code, "Message": IPN_MESSAGES[code]}
    except KeyError:
        raise ValueError(f"unknown IPN reply code {code!r}") from None


# -- querydr


def querydr_request(
    *,
    tmn_code: str,
    secret: str,
    txn_ref: str,
    order_info: str,
    transaction_date: datetime,
    ip_addr: str,
    created_at: datetime,
    request_id: str | None = None,
) -> dict[str, str]:
    """The signed JSON body to POST to ``{base}/merchant_webapi/api/transaction``.

    ``transaction_date`` is the payment's vnp_CreateDate; ``created_at`` is now; ``request_id`` must be
    unique per request within a day (default: a random 32-hex id).
    """
    body = {
        "vnp_RequestId": request_id or uuid.uuid4().hex,
        "vnp_Version": VERSION,
        "vnp_Command": "querydr",
        "vnp_TmnCode": tmn_code,
        "vnp_TxnRef": txn_ref,
        "vnp_OrderInfo": order_info,
        "vnp_TransactionDate": format_date(transaction_date),
        "vnp_CreateDate": format_date(created_at),
        "vnp_IpAddr": ip_addr,
    }
    body["vnp_SecureHash"] = querydr_hash(body, QUERYDR_REQUEST_FIELDS, secret)
    return body


def parse_querydr_response(body: Mapping[str, object], *, secret: str, tmn_code: str | None = None) -> VnpayResult:
    """Verify and read a querydr answer.

    :class:`BadSignature` when its hash does not match; :class:`QueryFailed` when VNPay could not answer the
    query (``vnp_ResponseCode`` ≠ 00, e.g. 91 = no such transaction); :class:`ProtocolError` for missing
    fields or another merchant. ``response_code`` of the result is the query's (00); whether the payment
    went through is in ``transaction_status`` and ``ok``.
    """
    received = _text(body.get("vnp_SecureHash"))
    if not received or not _same_hash(received, querydr_hash(body, QUERYDR_RESPONSE_FIELDS, secret)):
        raise BadSignature("bad or missing vnp_SecureHash on the querydr response")
    code = _text(body.get("vnp_ResponseCode"))
    if code != RESPONSE_SUCCESS:
        raise QueryFailed(code, _text(body.get("vnp_Message")))
    missing = [f for f in ("vnp_TxnRef", "vnp_Amount", "vnp_TransactionStatus") if not _text(body.get(f))]
    if missing:
        raise ProtocolError(f"missing {', '.join(missing)}")
    if tmn_code is not None and _text(body.get("vnp_TmnCode")) != tmn_code:
        raise ProtocolError("querydr answer for another merchant")
    status = _text(body.get("vnp_TransactionStatus"))
    pay_date = _text(body.get("vnp_PayDate"))
    return VnpayResult(
        txn_ref=_text(body.get("vnp_TxnRef")),
        amount_vnd=_amount(body.get("vnp_Amount")),
        response_code=code,
        transaction_status=status,
        transaction_no=_text(body.get("vnp_TransactionNo")),
        bank_code=_text(body.get("vnp_BankCode")) or None,
        pay_date=parse_date(pay_date) if pay_date else None,
        ok=status == STATUS_SUCCESS,
    )


# -- refund


def refund_request(
    *,
    tmn_code: str,
    secret: str,
    txn_ref: str,
    amount_vnd: int,
    transaction_type: str,
    transaction_no: str | None,
    transaction_date: datetime,
    create_by: str,
    ip_addr: str,
    order_info: str,
    created_at: datetime,
    request_id: str | None = None,
) -> dict[str, str]:
    """The signed JSON body of a refund, to POST to ``{base}/merchant_webapi/api/transaction``.

    ``amount_vnd`` is in đồng (sent ×100); ``transaction_type`` is :data:`REFUND_FULL` or :data:`REFUND_PARTIAL`;
    ``transaction_no`` is VNPay's number for the payment (optional for VNPay, sent as ``0`` when unknown);
    ``transaction_date`` is the payment's vnp_CreateDate; ``created_at`` is now; ``create_by`` names who
    refunds. ``request_id`` must be unique within a day: reusing it is how a retry avoids a second refund.
    """
    if isinstance(amount_vnd, bool) or not isinstance(amount_vnd, int) or amount_vnd <= 0:
        raise ValueError(f"amount_vnd must be a positive int, not {amount_vnd!r}")
    if transaction_type not in (REFUND_FULL, REFUND_PARTIAL):
        raise ValueError(f"transaction_type must be {REFUND_FULL} or {REFUND_PARTIAL}, not {transaction_type!r}")
    if not txn_ref or not create_by:
        raise ValueError("txn_ref and create_by are required")
    body = {
        "vnp_RequestId": request_id or uuid.uuid4().hex,
        "vnp_Version": VERSION,
        "vnp_Command": "refund",
        "vnp_TmnCode": tmn_code,
        "vnp_TransactionType": transaction_type,
        "vnp_TxnRef": txn_ref,
        "vnp_Amount": str(amount_vnd * 100),
        "vnp_TransactionNo": transaction_no or "0",
        "vnp_TransactionDate": format_date(transaction_date),
        "vnp_CreateBy": create_by,
        "vnp_CreateDate": format_date(created_at),
        "vnp_IpAddr": ip_addr,
        "vnp_OrderInfo": order_info,
    }
    body["vnp_SecureHash"] = querydr_hash(body, REFUND_REQUEST_FIELDS, secret)
    return body


def parse_refund_response(body: Mapping[str, object], *, secret: str, tmn_code: str | None = None) -> VnpayRefund:
    """Verify and read a refund answer.

    :class:`BadSignature` when its hash does not match (checked first, error answers included);
    :class:`RefundFailed` when VNPay refused the request (``vnp_ResponseCode`` ≠ 00: 02 merchant, 91 not found,
    94 asked before, 95 payment not successful, 97 checksum, 99 other); :class:`ProtocolError` for missing
    fields, another command or another merchant.
    """
    received = _text(body.get("vnp_SecureHash"))
    if not received or not _same_hash(received, querydr_hash(body, REFUND_RESPONSE_FIELDS, secret)):
        raise BadSignature("bad or missing vnp_SecureHash on the refund response")
    code = _text(body.get("vnp_ResponseCode"))
    if code != API_SUCCESS:
        raise RefundFailed(code, _text(body.get("vnp_Message")))
    if _text(body.get("vnp_Command")) != "refund":
        raise ProtocolError(f"not a refund answer (vnp_Command {_text(body.get('vnp_Command'))!r})")
    missing = [f for f in ("vnp_TxnRef", "vnp_Amount", "vnp_TransactionType") if not _text(body.get(f))]
    if missing:
        raise ProtocolError(f"missing {', '.join(missing)}")
    if tmn_code is not None and _text(body.get("vnp_TmnCode")) != tmn_code:
        raise ProtocolError("refund answer for another merchant")
    pay_date = _text(body.get("vnp_PayDate"))
    return VnpayRefund(
        txn_ref=_text(body.get("vnp_TxnRef")),
        amount_vnd=_amount(body.get("vnp_Amount")),
        transaction_no=_text(body.get("vnp_TransactionNo")),
        transaction_type=_text(body.get("vnp_TransactionType")),
        transaction_status=_text(body.get("vnp_TransactionStatus")),
        bank_code=_text(body.get("vnp_BankCode")) or None,
        pay_date=parse_date(pay_date) if pay_date else None,
        message=_text(body.get("vnp_Message")),
    )
