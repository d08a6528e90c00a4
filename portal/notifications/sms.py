"""The sms channel's plugins and its provider's delivery-status callback (docs/NOTIFICATIONS_SMS.md).

Plugins in ``sms_registry`` (chosen by ``PORTAL_SMS_PROVIDER``, options from ``PORTAL_SMS_OPTIONS``):

* ``log``: the embedded default; writes the SMS to the ``portal.notifications`` log and answers a local id.
  The delivery's ``content`` is the record of what would have gone out (the development page shows it).
* ``http``: a generic SMS gateway: one JSON or form POST per SMS, with the field names, the authentication,
  the brandname and where the answer keeps the message id all configured; its signed delivery receipts
  arrive at ``POST /api/notifications/sms/http/receipts``.

Errors of ``send``: a refusal of the number or the text (HTTP 4xx other than 401/403/408/425/429, or a 2xx
whose result code is a refusal) raises NotifierRejected: the delivery fails at once. A timeout, a refused
connection, a 5xx, 401/403 (the credentials concern every SMS, not this one), 408, 425 and 429 raise
NotifierError: the outbox tries again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import httpx
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.concurrency import run_in_threadpool

from auth.bearer import problem_response
from portal.kernel.clock import LOCAL_TZ, as_utc, utcnow
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep
from portal.kernel.settings import Settings
from portal.notifications import deliveries
from portal.notifications.callback_input import MAX_CALLBACK_BYTES, capped_body, parse_json
from portal.notifications.channels import (
    NotifierConfigError,
    NotifierError,
    NotifierRejected,
    SmsMessage,
    SmsSender,
    sms_registry,
)
from portal.notifications.models import DeliveryStatus

log = logging.getLogger("portal.notifications")

USER_AGENT = "dichvucong-sms/1"
RETRY_STATUSES = frozenset({401, 403, 408, 425, 429})
# A Vietnamese mobile number in international form without "+": 84 then 9 digits starting 3, 5, 7, 8 or 9.
VN_MOBILE = re.compile(r"84[35789][0-9]{8}")  # ASCII digits only (\d takes any script's digits)
MAX_RECEIPTS = 500  # receipts in one callback
ERROR_TEXT_MAX = 300


# --- the log: the embedded default ------------------------------------------------------------------------


class LogSmsOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    level: int = logging.INFO


@sms_registry.register("log")
class LogSms:
    """Writes each SMS to the log; answers ``log-<delivery id>`` as the provider's message id."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = LogSmsOptions

    def __init__(self, options: LogSmsOptions) -> None:
        self.options = options

    def send(self, message: SmsMessage) -> str:
        log.log(
            self.options.level,
            "sms %s to %s (%s, %d characters): %s",
            message.delivery_id,
            message.phone,
            message.encoding,
            len(message.text),
            message.text,
        )
        return f"log-{message.delivery_id}"

    def check_config(self) -> None:
        return None


# --- a generic HTTP gateway ---------------------------------------------------------------------------------


class HttpSmsOptions(BaseModel):
    """What a province writes in PORTAL_SMS_OPTIONS for its SMS gateway (every key is documented in
    docs/NOTIFICATIONS_SMS.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    """The gateway's send URL (https in production)."""
    body_format: Literal["json", "form"] = "json"
    to_field: str = "to"
    text_field: str = "text"
    sender_field: str = "sender"
    """The brandname's field; not sent when `sender` is empty."""
    reference_field: str = "reference"
    """Our delivery id, so the gateway can drop a retried copy; "" to leave it out."""
    encoding_field: str = ""
    """A field saying whether the text is Unicode (e.g. IsUnicode); "" to leave it out."""
    encoding_values: dict[str, str | int] = {"gsm7": 0, "ucs2": 1}
    phone_format: Literal["84", "+84", "0"] = "84"
    """84912345678, +84912345678 or 0912345678, as the gateway wants the number."""
    sender: str = Field(default="", max_length=11)
    """The registered brandname (at most 11 characters)."""
    extra_fields: dict[str, str | int | bool] = {}
    """Constant fields added to every request (a service type, a campaign)."""
    auth: Literal["none", "bearer", "basic", "header", "body"] = "none"
    token: SecretStr = SecretStr("")
    """bearer: the token; header: the API key."""
    api_key_header: str = "X-API-Key"
    username: str = ""
    password: SecretStr = SecretStr("")
    username_field: str = "username"
    password_field: str = "password"
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    message_id_path: str = "message_id"
    """Where the answer keeps the gateway's message id: dotted, list indexes as numbers (data.messages.0.id)."""
    result_path: str = ""
    """Where a gateway that answers 200 for everything keeps its result code; "" when HTTP statuses say it."""
    success_values: list[str] = []
    retry_values: list[str] = []
    """Result codes that mean "try again later" (any other code not in success_values is a refusal)."""
    error_path: str = "error"
    """Where a refusal's reason is, for the delivery's last error."""
    # Delivery receipts (the callback).
    callback_secret: SecretStr = SecretStr("")
    """The shared secret of the receipts' HMAC-SHA256; empty: receipts are not accepted (404)."""
    signature_header: str = "X-Signature"
    signature_encoding: Literal["hex", "base64"] = "hex"
    signature_prefix: str = ""
    """Text before the signature in its header (e.g. "sha256=")."""
    timestamp_header: str = "X-Timestamp"
    """Unix seconds, signed with the body as "<timestamp>.<body>"; "" when the gateway signs the body alone."""
    timestamp_tolerance_seconds: int = Field(default=300, ge=1, le=86400)
    receipt_message_id_path: str = "message_id"
    receipt_status_path: str = "status"
    receipt_event_id_path: str = "event_id"
    """The gateway's id of this callback; when missing, the SHA-256 of the body is the replay guard's key."""
    receipt_time_path: str = "time"
    """ISO 8601 or Unix seconds; a time without offset is Vietnam time. Missing: when it arrives."""
    receipt_error_path: str = "error"
    delivered_values: list[str] = ["delivered", "DELIVRD", "success"]
    failed_values: list[str] = ["failed", "undelivered", "UNDELIV", "EXPIRED", "REJECTD", "rejected"]


@dataclass(frozen=True)
class Receipt:
    """One delivery-status report of the gateway, already authenticated."""

    callback_id: str
    provider_message_id: str
    status: str | None  # DeliveryStatus.DELIVERED or FAILED; None for an intermediate status (ignored)
    at: datetime
    detail: str


class CallbackRefused(Exception):
    """A receipt callback that is not accepted; `status` is the HTTP answer (401 forged, 400/422 malformed)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@runtime_checkable
class ReceiptReader(Protocol):
    """A provider whose delivery receipts the portal accepts."""

    def accepts_receipts(self) -> bool: ...

    def read_receipts(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> list[Receipt]: ...


@sms_registry.register("http")
class HttpSms:
    """A generic HTTP SMS gateway: one POST per SMS, signed delivery receipts."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = HttpSmsOptions

    def __init__(self, options: HttpSmsOptions) -> None:
        self.options = options

    def check_config(self) -> None:
        o = self.options
        url = urlsplit(o.url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise NotifierConfigError("sms http: url must be an http(s) URL")
        for name in ("to_field", "text_field"):
            if not getattr(o, name).strip():
                raise NotifierConfigError(f"sms http: {name} is empty")
        if o.auth in ("bearer", "header") and not o.token.get_secret_value():
            raise NotifierConfigError(f"sms http: auth {o.auth!r} needs a token")
        if o.auth in ("basic", "body") and not (o.username and o.password.get_secret_value()):
            raise NotifierConfigError(f"sms http: auth {o.auth!r} needs a username and a password")
        if o.encoding_field and not {"gsm7", "ucs2"} <= set(o.encoding_values):
            raise NotifierConfigError("sms http: encoding_values needs a value for gsm7 and for ucs2")
        if o.result_path and not o.success_values:
            raise NotifierConfigError("sms http: result_path needs the success_values")
        if not o.message_id_path.strip():
            raise NotifierConfigError("sms http: message_id_path is empty")
        if url.scheme == "http":
            log.warning("sms http: messages and credentials go to %s unencrypted", url.netloc)

    # -- sending

    def request_fields(self, message: SmsMessage) -> dict[str, Any]:
        """The body of one send request (without the credentials of `auth: body`)."""
        o = self.options
        fields: dict[str, Any] = dict(o.extra_fields)
        fields[o.to_field] = self.phone(message.phone)
        fields[o.text_field] = message.text
        if o.sender:
            fields[o.sender_field] = o.sender
        if o.reference_field:
            fields[o.reference_field] = message.delivery_id
        if o.encoding_field:
            fields[o.encoding_field] = o.encoding_values[message.encoding]
        return fields

    def phone(self, phone: str) -> str:
        """The number as the gateway wants it."""
        fmt = self.options.phone_format
        return "+" + phone if fmt == "+84" else "0" + phone[2:] if fmt == "0" else phone

    def send(self, message: SmsMessage) -> str:
        o = self.options
        if not VN_MOBILE.fullmatch(message.phone):
            raise NotifierRejected(f"sms {message.delivery_id}: {message.phone!r} is not a Vietnamese mobile number")
        fields = self.request_fields(message)
        headers = {"user-agent": USER_AGENT, "accept": "application/json"}
        auth: httpx.Auth | None = None
        if o.auth == "bearer":
            headers["authorization"] = f"Bearer {o.token.get_secret_value()}"
        elif o.auth == "header":
            headers[o.api_key_header] = o.token.get_secret_value()
        elif o.auth == "basic":
            auth = httpx.BasicAuth(o.username, o.password.get_secret_value())
        elif o.auth == "body":
            fields[o.username_field] = o.username
            fields[o.password_field] = o.password.get_secret_value()
        what = f"sms {message.delivery_id} to {urlsplit(o.url).netloc}"
        try:
            with httpx.Client(timeout=o.timeout_seconds, follow_redirects=False, auth=auth) as client:
                if o.body_format == "json":
                    response = client.post(o.url, json=fields, headers=headers)
                else:
                    form = {k: _form_value(v) for k, v in fields.items()}
                    response = client.post(o.url, data=form, headers=headers)
        except httpx.TimeoutException:
            raise NotifierError(f"{what}: no answer within {o.timeout_seconds:g} s") from None
        except httpx.HTTPError as exc:
            raise NotifierError(f"{what}: {type(exc).__name__}: {exc}") from None
        return self._message_id(what, response)

    def _message_id(self, what: str, response: httpx.Response) -> str:
        o = self.options
        status = response.status_code
        body = _json_or_none(response)
        if not 200 <= status < 300:
            reason = f"{what}: HTTP {status}{self._reason(body, response)}"
            if status >= 500 or status < 400 or status in RETRY_STATUSES:
                raise NotifierError(reason)
            raise NotifierRejected(reason)
        if o.result_path:
            code = _at(body, o.result_path)
            code_text = "" if code is None else str(code)
            if code_text not in o.success_values:
                reason = f"{what}: result {code_text or '(none)'}{self._reason(body, response)}"
                if code_text in o.retry_values or code is None:
                    raise NotifierError(reason)
                raise NotifierRejected(reason)
        message_id = _at(body, o.message_id_path)
        if isinstance(message_id, bool) or not isinstance(message_id, str | int) or not str(message_id).strip():
            raise NotifierError(f"{what}: the answer has no message id at {o.message_id_path!r}")
        text = str(message_id).strip()
        if len(text) > 100:
            raise NotifierError(f"{what}: the message id at {o.message_id_path!r} is longer than 100 characters")
        return text

    def _reason(self, body: Any, response: httpx.Response) -> str:
        reason = _at(body, self.options.error_path) if self.options.error_path else None
        if reason is None and body is None:
            reason = response.text.strip()
        if reason in (None, ""):
            return ""
        text = reason if isinstance(reason, str) else json.dumps(reason, ensure_ascii=False)
        return f": {text[:ERROR_TEXT_MAX]}"

    # -- receipts

    def accepts_receipts(self) -> bool:
        return bool(self.options.callback_secret.get_secret_value())

    def read_receipts(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> list[Receipt]:
        """The receipts of one callback; CallbackRefused when its signature, time or body is wrong.

        `headers` have lower-case names.
        """
        self._verify(headers, body, now=now)
        documents = self._documents(headers.get("content-type", ""), body)
        many = len(documents) > 1
        digest = hashlib.sha256(body).hexdigest()
        return [self._receipt(doc, f"{digest}:{i}" if many else digest, now=now) for i, doc in enumerate(documents)]

    def _verify(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> None:
        o = self.options
        sent = headers.get(o.signature_header.lower(), "").strip()
        if not sent:
            raise CallbackRefused(401, f"no {o.signature_header} header")
        signed = body
        if o.timestamp_header:
            raw = headers.get(o.timestamp_header.lower(), "").strip()
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
                raise CallbackRefused(401, f"no {o.timestamp_header} header of Unix seconds")
            age = abs(now.timestamp() - int(raw))
            if age > o.timestamp_tolerance_seconds:
                raise CallbackRefused(401, f"{o.timestamp_header} is {age:.0f} s away from the portal's clock")
            signed = raw.encode() + b"." + body
        if o.signature_prefix:
            if not sent.startswith(o.signature_prefix):
                raise CallbackRefused(401, f"{o.signature_header} does not start with {o.signature_prefix!r}")
            sent = sent[len(o.signature_prefix) :]
        try:
            given = bytes.fromhex(sent) if o.signature_encoding == "hex" else base64.b64decode(sent, validate=True)
        except (ValueError, binascii.Error):
            raise CallbackRefused(401, f"{o.signature_header} is not {o.signature_encoding}") from None
        expected = hmac.new(o.callback_secret.get_secret_value().encode(), signed, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, given):
            raise CallbackRefused(401, "the signature does not match")

    def _documents(self, content_type: str, body: bytes) -> list[Mapping[str, Any]]:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackRefused(400, "the body is not UTF-8") from None
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            return [dict(parse_qsl(text, keep_blank_values=True))]
        try:
            doc = parse_json(text)
        except ValueError as exc:
            raise CallbackRefused(400, f"the body is not JSON (nor a form): {exc}") from None
        docs = doc if isinstance(doc, list) else [doc]
        if not docs or not all(isinstance(d, dict) for d in docs):
            raise CallbackRefused(422, "the body is not a receipt object or a list of them")
        if len(docs) > MAX_RECEIPTS:
            raise CallbackRefused(422, f"more than {MAX_RECEIPTS} receipts in one callback")
        return docs

    def _receipt(self, doc: Mapping[str, Any], fallback_id: str, *, now: datetime) -> Receipt:
        o = self.options
        message_id = _at(doc, o.receipt_message_id_path)
        if isinstance(message_id, bool) or not isinstance(message_id, str | int) or not str(message_id).strip():
            raise CallbackRefused(422, f"a receipt has no message id at {o.receipt_message_id_path!r}")
        word = _at(doc, o.receipt_status_path)
        if not isinstance(word, str | int) or isinstance(word, bool) or not str(word).strip():
            raise CallbackRefused(422, f"a receipt has no status at {o.receipt_status_path!r}")
        event_id = _at(doc, o.receipt_event_id_path) if o.receipt_event_id_path else None
        callback_id = str(event_id).strip() if isinstance(event_id, str | int) and str(event_id).strip() else ""
        if len(callback_id) > 128:
            callback_id = hashlib.sha256(callback_id.encode()).hexdigest()
        error = _at(doc, o.receipt_error_path) if o.receipt_error_path else None
        return Receipt(
            callback_id=callback_id or fallback_id,
            provider_message_id=str(message_id).strip()[:100],
            status=self._status(str(word).strip()),
            at=self._time(doc, now=now),
            detail=str(error)[:ERROR_TEXT_MAX] if error not in (None, "") else "",
        )

    def _status(self, word: str) -> str | None:
        folded = word.casefold()
        if folded in {v.casefold() for v in self.options.delivered_values}:
            return DeliveryStatus.DELIVERED
        if folded in {v.casefold() for v in self.options.failed_values}:
            return DeliveryStatus.FAILED
        return None

    def _time(self, doc: Mapping[str, Any], *, now: datetime) -> datetime:
        path = self.options.receipt_time_path
        raw = _at(doc, path) if path else None
        if raw in (None, ""):
            return now
        try:
            if (isinstance(raw, int | float) and not isinstance(raw, bool)) or (isinstance(raw, str) and raw.isdigit()):
                at = datetime.fromtimestamp(float(raw), tz=LOCAL_TZ)
            elif isinstance(raw, str):
                at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
                if at.tzinfo is None:
                    at = at.replace(tzinfo=LOCAL_TZ)
            else:
                raise ValueError(raw)
        except (ValueError, OverflowError, OSError):
            raise CallbackRefused(422, f"a receipt's time at {path!r} is not ISO 8601 nor Unix seconds") from None
        at = as_utc(at)
        if at > now + timedelta(days=1):
            raise CallbackRefused(422, f"a receipt's time at {path!r} is in the future")
        return at


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _at(doc: Any, path: str) -> Any:
    """The value at a dotted path ("data.messages.0.id"), or None."""
    node = doc
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


# --- from the settings ----------------------------------------------------------------------------------------


def sender_from_settings(settings: Settings) -> SmsSender:
    """The SMS plugin PORTAL_SMS_PROVIDER names, with PORTAL_SMS_OPTIONS (ValueError when they are wrong)."""
    return sms_registry.create(settings.sms_provider, settings.sms_options)


def check_config(settings: Settings) -> None:
    """Raise NotifierConfigError if the configured SMS provider cannot work (start-up and `portal check`)."""
    try:
        sender = sender_from_settings(settings)
    except ValueError as exc:
        raise NotifierConfigError(f"sms: PORTAL_SMS_PROVIDER / PORTAL_SMS_OPTIONS: {exc}") from None
    sender.check_config()


# --- the delivery-status callback ----------------------------------------------------------------------------

router = APIRouter()


class ReceiptsAnswer(BaseModel):
    """What the portal did with a callback's receipts."""

    received: int = Field(description="Receipts in the callback.")
    applied: int = Field(
        description="Receipts recorded against a delivery (which moves on to delivered or failed unless it is "
        "already past that: a receipt never moves a delivery backwards)."
    )
    ignored: int = Field(
        description="Receipts acknowledged without effect: an intermediate status, an unknown message id, or a "
        "callback already applied (a replay)."
    )


_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ProblemDetails",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}


def _problem_doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM_SCHEMA}}}


_RECEIPT_SCHEMA: dict[str, Any] = {
    "title": "SmsReceipt",
    "type": "object",
    "description": "One receipt, with the default field names (each is configurable in PORTAL_SMS_OPTIONS).",
    "required": ["message_id", "status"],
    "properties": {
        "message_id": {"type": "string", "description": "The gateway's id of the SMS, as its send answer gave it."},
        "status": {"type": "string", "description": "delivered/DELIVRD/success, failed/UNDELIV/EXPIRED/…"},
        "event_id": {"type": "string", "description": "The gateway's id of this receipt (the replay guard)."},
        "time": {"type": "string", "description": "ISO 8601 or Unix seconds; without offset: Vietnam time."},
        "error": {"type": "string"},
    },
    "additionalProperties": True,
}

_OPENAPI_EXTRA: dict[str, Any] = {
    "parameters": [
        {
            "name": "X-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": 'Hex HMAC-SHA256 of "<X-Timestamp>.<raw body>" with the shared secret (header name, '
            "encoding, prefix and signed content configurable).",
        },
        {
            "name": "X-Timestamp",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
            "description": "Unix seconds; refused beyond the tolerance (300 s by default).",
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [_RECEIPT_SCHEMA, {"type": "array", "items": _RECEIPT_SCHEMA, "maxItems": 500}]}
            },
            "application/x-www-form-urlencoded": {"schema": _RECEIPT_SCHEMA},
        },
    },
}


@router.post(
    "/api/notifications/sms/{provider}/receipts",
    name="sms_receipts",
    tags=["notifications"],
    summary="An SMS gateway's delivery receipts",
    response_model=ReceiptsAnswer,
    responses={
        400: _problem_doc("A body that is not UTF-8, JSON or a form"),
        401: _problem_doc("No signature, a forged one, or a timestamp outside the tolerance (a replay)"),
        404: _problem_doc("Not the configured SMS provider, or one that takes no receipts (no callback_secret)"),
        413: _problem_doc(f"A body longer than {MAX_CALLBACK_BYTES} bytes"),
        422: _problem_doc("A receipt without message id or status, an unreadable time, too many receipts"),
        503: _problem_doc("The SMS provider's options cannot be read: the portal's configuration"),
    },
    openapi_extra=_OPENAPI_EXTRA,
)
async def sms_receipts(
    request: Request,
    provider: Annotated[str, Path(max_length=20, description="The plugin id of PORTAL_SMS_PROVIDER: http")],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Delivery receipts of the configured SMS gateway, signed with its shared secret.

    Each receipt moves its delivery to delivered or failed (never backwards); an unknown message id, an
    intermediate status and a receipt already applied are acknowledged with 200 and change nothing, so the
    gateway stops sending them.
    """
    if provider != settings.sms_provider:
        return problem_response(404, "Not Found", f"{provider!r} is not the portal's SMS provider")
    try:
        sender = sender_from_settings(settings)
    except ValueError:
        log.exception("sms receipts: the options of %s cannot be read", provider)
        return problem_response(503, "Service Unavailable", "the SMS provider is not configured correctly")
    if not isinstance(sender, ReceiptReader) or not sender.accepts_receipts():
        return problem_response(404, "Not Found", f"the SMS provider {provider!r} takes no delivery receipts")
    body = await capped_body(request)
    if body is None:
        return problem_response(413, "Content Too Large", f"a callback body is at most {MAX_CALLBACK_BYTES} bytes")
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        receipts = sender.read_receipts(headers, body, now=utcnow())
    except CallbackRefused as exc:
        if exc.status == 401:
            log.warning("sms receipts from %s refused: %s", request.client.host if request.client else "?", exc)
        title = {400: "Bad Request", 401: "Unauthorized"}.get(exc.status, "Unprocessable Content")
        return problem_response(exc.status, title, exc.reason)

    def apply() -> ReceiptsAnswer:
        applied = 0
        for receipt in receipts:
            if receipt.status is None:
                continue
            if deliveries.record_receipt(
                session,
                provider=provider,
                callback_id=receipt.callback_id,
                provider_message_id=receipt.provider_message_id,
                status=receipt.status,
                at=receipt.at,
                detail=receipt.detail,
            ):
                applied += 1
        return ReceiptsAnswer(received=len(receipts), applied=applied, ignored=len(receipts) - applied)

    answer = await run_in_threadpool(apply)
    return JSONResponse(answer.model_dump(), headers={"Cache-Control": "no-store"})
