"""Zalo: template messages through ZNS (Zalo Notification Service) and Zalo's delivery events (issue 14).

A ZNS message is a template the province registered with Zalo and Zalo approved, filled with parameters:
never free text. Both plugins refuse a message without a template id, with a value that is not a string, too
long, or (when the options declare the templates) with missing or extra parameters. See
docs/NOTIFICATIONS_ZALO.md.

- ``log``: the embedded default; sends nothing, returns ``log-<delivery id>`` (the delivery's content is the
  record of what would have gone out).
- ``zns``: ``POST {base_url}/message/template`` with the Official Account's access token; ZNS's error codes
  are sorted into "never" (:class:`NotifierRejected`: the number is not on Zalo, the template is not approved)
  and "later" (:class:`NotifierError`: quota, server, an expired token). With a refresh token and the app's
  secret the access token is renewed at Zalo's OAuth server, and the new pair kept in ``token_file``
  (a refresh token works once).

The route ``POST /api/notifications/zalo/events`` takes the Official Account's webhook: a
``user_received_message`` event marks the delivery delivered, after the ``X-ZEvent-Signature`` check.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from starlette.concurrency import run_in_threadpool

from portal.kernel.clock import utcnow
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep
from portal.kernel.errors import DomainError, Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.problems import inlined_schema
from portal.kernel.settings import Settings
from portal.notifications import deliveries
from portal.notifications.callback_input import MAX_CALLBACK_BYTES, capped_body, parse_json
from portal.notifications.channels import (
    NotifierConfigError,
    NotifierError,
    NotifierRejected,
    ZaloMessage,
    ZaloSender,
    zalo_registry,
)
from portal.notifications.models import DeliveryStatus

log = logging.getLogger("portal.notifications.zalo")

ZNS_BASE_URL = "https://business.openapi.zalo.me"
OAUTH_URL = "https://oauth.zaloapp.com/v4/oa/access_token"

# A Vietnamese mobile number in international form without "+": 84, then a mobile prefix 3/5/7/8/9, 8 digits.
PHONE_RE = re.compile(r"^84[35789][0-9]{8}$")
# ZNS template ids are numbers; parameter names are the template's keys (customer_name, order_code).
TEMPLATE_ID_RE = re.compile(r"^[0-9]{1,20}$")
PARAM_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")
# ZNS's longest parameter type (an address) takes 200 characters; the others less (a name 30, a code 30).
ZNS_MAX_VALUE_LENGTH = 200
ZNS_MAX_PARAMS = 30
# ZNS's tracking_id is at most 48 characters.
TRACKING_ID_MAX = 48


class TemplateRefused(NotifierRejected):
    """The message is not a template message ZNS can take (free text, a missing parameter, a bad number)."""


# --- what both plugins check: a template and its parameters, never free text --------------------------------


def check_message(
    message: ZaloMessage,
    *,
    declared: Mapping[str, Mapping[str, int]],
    max_value_length: int,
    numeric_template_ids: bool,
) -> None:
    """Raise TemplateRefused unless `message` is a well-formed ZNS template message.

    `declared` maps the template ids the province registered to their parameters and each one's maximum
    length; when it is not empty, a template it does not name, and a missing or extra parameter, are refused.
    """
    template_id = message.template_id.strip() if isinstance(message.template_id, str) else ""
    if not template_id:
        raise TemplateRefused("zalo: no template id (ZNS sends registered templates only, never free text)")
    if numeric_template_ids and not TEMPLATE_ID_RE.match(template_id):
        # The template file still holds a placeholder (or a text): the province's configuration, not this
        # message, is wrong. Retried, then dead-lettered: replayable once the file holds Zalo's id.
        raise NotifierError(
            f"zalo: template id {template_id!r} is not a ZNS template id (digits): put the id Zalo gave the"
            " approved template in the notification template file"
        )
    if not PHONE_RE.match(message.phone or ""):
        raise TemplateRefused(f"zalo: {message.phone!r} is not a Vietnamese mobile number in the form 84xxxxxxxxx")
    data = message.data
    if not isinstance(data, Mapping) or not data:
        raise TemplateRefused(f"zalo: template {template_id} has no parameters")
    if len(data) > ZNS_MAX_PARAMS:
        raise TemplateRefused(f"zalo: {len(data)} parameters, ZNS takes at most {ZNS_MAX_PARAMS}")
    limits: Mapping[str, int] | None = None
    if declared:
        limits = declared.get(template_id)
        if limits is None:
            raise TemplateRefused(f"zalo: template {template_id} is not one of the declared ZNS templates")
        missing = sorted(set(limits) - set(data))
        extra = sorted(set(data) - set(limits))
        if missing or extra:
            raise TemplateRefused(
                f"zalo: template {template_id} parameters do not match its declaration"
                f" (missing: {', '.join(missing) or '-'}; not declared: {', '.join(extra) or '-'})"
            )
    for name, value in data.items():
        if not isinstance(name, str) or not PARAM_NAME_RE.match(name):
            raise TemplateRefused(f"zalo: {name!r} is not a template parameter name")
        if not isinstance(value, str):
            raise TemplateRefused(f"zalo: parameter {name} is a {type(value).__name__}, ZNS takes strings")
        if not value.strip():
            raise TemplateRefused(f"zalo: parameter {name} is empty")
        if any(ch in value for ch in "\r\n\t") or any(ord(ch) < 32 for ch in value):
            raise TemplateRefused(f"zalo: parameter {name} holds line breaks or control characters")
        limit = min(max_value_length, (limits or {}).get(name, max_value_length))
        if len(value) > limit:
            raise TemplateRefused(f"zalo: parameter {name} has {len(value)} characters, at most {limit}")


class _Declared(BaseModel):
    """Options both plugins share: the declared templates and the value limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    templates: dict[str, dict[str, int]] = Field(default_factory=dict)
    """Template id → {parameter: maximum length}, as registered with Zalo. Empty: no declaration is checked."""
    max_value_length: int = Field(default=ZNS_MAX_VALUE_LENGTH, ge=1, le=ZNS_MAX_VALUE_LENGTH)


# --- the log: the embedded default -----------------------------------------------------------------------


class LogOptions(_Declared):
    level: int = logging.INFO


@zalo_registry.register("log")
class LogZaloSender:
    """Sends nothing: writes the template message to the log and answers ``log-<delivery id>``."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = LogOptions

    def __init__(self, options: LogOptions) -> None:
        self.options = options

    def send(self, message: ZaloMessage) -> str:
        check_message(
            message,
            declared=self.options.templates,
            max_value_length=self.options.max_value_length,
            numeric_template_ids=False,
        )
        log.log(
            self.options.level,
            "zalo %s to %s: template %s %s",
            message.delivery_id,
            message.phone,
            message.template_id,
            json.dumps(message.data, ensure_ascii=False, sort_keys=True),
        )
        return f"log-{message.delivery_id}"

    def check_config(self) -> None:
        return None


# --- ZNS ----------------------------------------------------------------------------------------------------

# ZNS's error codes (zalo.cloud, "Cách xử lý mã lỗi"): those that will fail the same way for this message
# whatever we do. Every other non-zero code is retried by the outbox (quota, server, token, configuration that
# an operator can fix) and, still failing, dead-lettered where operators see it.
REJECTED_CODES: dict[int, str] = {
    -108: "phone number invalid",
    -109: "template id invalid",
    -110: "the recipient's Zalo version does not support ZNS",
    -111: "template data empty",
    -112: "template data invalid",
    -113: "button invalid",
    -114: "the user is inactive or refuses this message",
    -116: "text invalid",
    -117: "the OA or app may not use this template",
    -118: "the number has no Zalo account",
    -119: "the account cannot receive ZNS",
    -130: "content longer than the template allows",
    -131: "template not approved",
    -132: "parameter invalid",
    -134: "the user has not accepted ZNS from this OA",
    -139: "the user refuses this type of ZNS",
    -140: "the OA may not send this user after-sales ZNS",
    -141: "the user refuses ZNS from this OA",
    -145: "the OA may not send this type of content",
    -146: "template disabled by Zalo (low quality)",
    -152: "phone hash invalid",
    -153: "data does not follow the rules",
}
RETRIED_CODES: dict[int, str] = {
    -100: "unknown error",
    -101: "application invalid",
    -102: "application does not exist",
    -103: "application not activated",
    -104: "application secret key invalid",
    -105: "application not linked to an OA",
    -115: "out of quota (ZNS balance)",
    -124: "access token invalid or expired",
    -133: "this template may not be sent at night",
    -135: "the OA may not send ZNS yet",
    -137: "payment for ZNS failed",
    -138: "the application may not use this feature",
    -144: "the OA's daily ZNS limit is reached",
    -147: "the template's daily limit is reached",
}
TOKEN_INVALID = -124


class ZnsOptions(_Declared):
    base_url: str = ZNS_BASE_URL
    access_token: SecretStr = SecretStr("")
    """The Official Account's access token (25 hours)."""
    refresh_token: SecretStr = SecretStr("")
    """With app_id and app_secret: renew the access token at Zalo's OAuth server (the refresh token works once)."""
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    """The application's secret key (Zalo for Developers): OAuth refresh."""
    oa_secret_key: SecretStr = SecretStr("")
    """The OA secret key of the webhook settings: signs the delivery events (X-ZEvent-Signature)."""
    template_ids: dict[str, str] = Field(default_factory=dict)
    """The name a template file gives (DVC_HOSO_CO_KET_QUA) → the id Zalo gave the province's approved template
    (501443). A name not listed is sent as it is: the file may hold Zalo's id itself."""
    oauth_url: str = OAUTH_URL
    token_file: str = ""
    """Where renewed tokens are kept (JSON, mode 600), shared by the web and worker processes."""
    timeout: float = Field(default=10.0, gt=0, le=120)
    development_mode: bool = False
    """Send with ``mode: development`` (templates being tested, delivered to the OA's admins only)."""
    event_tolerance_seconds: int = Field(default=900, ge=30, le=86400)
    """A delivery event older or newer than this is refused (a replayed capture)."""

    @property
    def can_refresh(self) -> bool:
        return bool(self.refresh_token.get_secret_value() and self.app_id and self.app_secret.get_secret_value())


class _Tokens:
    """The access token in use and how to renew it; one per token file (or per options) in a process."""

    def __init__(self, options: ZnsOptions) -> None:
        self.options = options
        self.lock = threading.Lock()
        self.access_token = options.access_token.get_secret_value()
        self.refresh_token = options.refresh_token.get_secret_value()
        self.expires_at = 0.0  # wall-clock seconds; 0: unknown (the configured token)
        self._read_file()

    @property
    def path(self) -> Path | None:
        return Path(self.options.token_file) if self.options.token_file else None

    def _read_file(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("zalo: token file %s cannot be read (%s); using the configured tokens", self.path, exc)
            return
        if isinstance(stored, dict) and stored.get("access_token") and stored.get("refresh_token"):
            self.access_token = str(stored["access_token"])
            self.refresh_token = str(stored["refresh_token"])
            self.expires_at = float(stored.get("expires_at") or 0)

    def _write_file(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps(
            {"access_token": self.access_token, "refresh_token": self.refresh_token, "expires_at": self.expires_at}
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".zalo-token-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(body)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Between processes: one renews, the others then read what it stored."""
        if self.path is None:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def current(self) -> str:
        with self.lock:
            if self.path is not None:
                self._read_file()  # another process may have renewed it
            soon = self.expires_at and self.expires_at - time.time() < 300
            token = self.access_token
        if soon and self.options.can_refresh:
            return self.renew(token)
        return token

    def renew(self, stale: str) -> str:
        """A fresh access token; `stale` is the one that was refused (someone else may have renewed it already)."""
        if not self.options.can_refresh:
            raise NotifierError("zalo: the access token was refused and no refresh token is configured")
        with self.lock, self._file_lock():
            self._read_file()
            if self.access_token != stale and not (self.expires_at and self.expires_at - time.time() < 300):
                return self.access_token
            o = self.options
            try:
                answer = httpx.post(
                    o.oauth_url,
                    headers={"secret_key": o.app_secret.get_secret_value()},
                    data={"refresh_token": self.refresh_token, "app_id": o.app_id, "grant_type": "refresh_token"},
                    timeout=o.timeout,
                )
            except httpx.HTTPError as exc:
                raise NotifierError(f"zalo oauth: {type(exc).__name__}: {exc}") from exc
            body = _json_object(answer)
            if answer.status_code != 200 or body is None or not body.get("access_token"):
                reason = (body or {}).get("error_description") or (body or {}).get("error_name") or answer.status_code
                log.error("zalo: renewing the access token failed: %s", reason)
                raise NotifierError(f"zalo oauth: the access token could not be renewed ({reason})")
            self.access_token = str(body["access_token"])
            self.refresh_token = str(body.get("refresh_token") or self.refresh_token)
            try:
                self.expires_at = time.time() + float(body.get("expires_in") or 0)
            except (TypeError, ValueError):
                self.expires_at = 0.0
            self._write_file()
            log.info("zalo: access token renewed (valid %s s)", body.get("expires_in"))
            return self.access_token


_tokens: dict[tuple[str, ...], _Tokens] = {}
_tokens_lock = threading.Lock()


def _tokens_for(options: ZnsOptions) -> _Tokens:
    """One token keeper per token file (or per configured token) in this process, shared by every sender."""
    key = (options.token_file,) if options.token_file else ("", options.app_id, options.access_token.get_secret_value())
    with _tokens_lock:
        keeper = _tokens.get(key)
        if keeper is None or keeper.options != options:
            keeper = _tokens[key] = _Tokens(options)
        return keeper


def _json_object(answer: httpx.Response) -> dict[str, Any] | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@zalo_registry.register("zns")
class ZnsSender:
    """Zalo Notification Service: one HTTPS call per message; ZNS's msg_id is the key of its delivery events."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = ZnsOptions

    def __init__(self, options: ZnsOptions) -> None:
        self.options = options

    def check_config(self) -> None:
        o = self.options
        if not o.base_url.startswith(("https://", "http://")):
            raise NotifierConfigError(f"zalo zns: base_url {o.base_url!r} is not an http(s) URL")
        if not o.access_token.get_secret_value() and not o.can_refresh:
            raise NotifierConfigError("zalo zns: give access_token, or refresh_token with app_id and app_secret")
        if o.refresh_token.get_secret_value() and not o.can_refresh:
            raise NotifierConfigError("zalo zns: refresh_token needs app_id and app_secret")
        if o.can_refresh and not o.token_file:
            log.warning("zalo zns: no token_file: a renewed refresh token is lost when the process stops")
        if not o.oa_secret_key.get_secret_value() or not o.app_id:
            log.warning("zalo zns: no oa_secret_key/app_id: delivery events are refused, deliveries stay 'sent'")
        for name, template_id in o.template_ids.items():
            if not TEMPLATE_ID_RE.match(template_id):
                raise NotifierConfigError(f"zalo zns: template_ids maps {name!r} to {template_id!r}, not digits")
        for template_id, params in o.templates.items():
            if not TEMPLATE_ID_RE.match(template_id):
                raise NotifierConfigError(f"zalo zns: declared template id {template_id!r} is not digits")
            bad = [name for name in params if not PARAM_NAME_RE.match(name)]
            if bad or not params:
                raise NotifierConfigError(f"zalo zns: template {template_id} declares bad parameters {bad or '{}'}")

    def _post(self, body: dict[str, Any], token: str) -> httpx.Response:
        url = self.options.base_url.rstrip("/") + "/message/template"
        try:
            return httpx.post(
                url,
                json=body,
                headers={"access_token": token, "Content-Type": "application/json"},
                timeout=self.options.timeout,
            )
        except httpx.TimeoutException as exc:
            raise NotifierError(f"zalo zns: no answer within {self.options.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise NotifierError(f"zalo zns: {type(exc).__name__}: {exc}") from exc

    def zns_template_id(self, template_id: str) -> str:
        """The id ZNS knows for the template a file names."""
        name = template_id.strip() if isinstance(template_id, str) else ""
        return self.options.template_ids.get(name, name)

    def send(self, message: ZaloMessage) -> str:
        o = self.options
        message = replace(message, template_id=self.zns_template_id(message.template_id))
        check_message(message, declared=o.templates, max_value_length=o.max_value_length, numeric_template_ids=True)
        body: dict[str, Any] = {
            "phone": message.phone,
            "template_id": message.template_id,
            "template_data": dict(message.data),
            "tracking_id": message.delivery_id[:TRACKING_ID_MAX],
        }
        if o.development_mode:
            body["mode"] = "development"
        tokens = _tokens_for(o)
        token = tokens.current()
        answer = self._post(body, token)
        result = self._result(answer)
        if result.get("error") == TOKEN_INVALID and o.can_refresh:
            answer = self._post(body, tokens.renew(token))
            result = self._result(answer)
        return self._msg_id(result)

    def _result(self, answer: httpx.Response) -> dict[str, Any]:
        if answer.status_code >= 500 or answer.status_code == 429:
            raise NotifierError(f"zalo zns: HTTP {answer.status_code}")
        if answer.status_code != 200:
            # ZNS answers its refusals with 200 and an error code: anything else is a proxy or a wrong URL.
            raise NotifierError(f"zalo zns: HTTP {answer.status_code} from {self.options.base_url}")
        body = _json_object(answer)
        if body is None or not isinstance(body.get("error"), int):
            raise NotifierError("zalo zns: the answer is not ZNS's JSON")
        return body

    @staticmethod
    def _msg_id(result: dict[str, Any]) -> str:
        code: int = result["error"]
        text = str(result.get("message") or "")
        if code == 0:
            data = result.get("data")
            msg_id = data.get("msg_id") if isinstance(data, dict) else None
            if not msg_id:
                raise NotifierError("zalo zns: success without a msg_id")
            quota = data.get("quota") if isinstance(data, dict) else None
            if isinstance(quota, dict):
                log.debug("zalo zns quota: %s", quota)
            return str(msg_id)
        if code in REJECTED_CODES:
            raise NotifierRejected(f"zalo zns {code}: {REJECTED_CODES[code]} ({text})")
        raise NotifierError(f"zalo zns {code}: {RETRIED_CODES.get(code, 'error')} ({text})")


def sender_from_settings(settings: Settings) -> ZaloSender:
    """The Zalo plugin PORTAL_ZALO_PROVIDER names, with PORTAL_ZALO_OPTIONS (pydantic's error when wrong)."""
    return zalo_registry.create(settings.zalo_provider, settings.zalo_options)


def check_config(settings: Settings) -> None:
    """Raise NotifierConfigError (or pydantic's ValidationError) when the Zalo settings cannot work."""
    sender_from_settings(settings).check_config()


# --- delivery events: the Official Account's webhook ---------------------------------------------------------


def event_signature(*, app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """Zalo's ``X-ZEvent-Signature``: ``mac=`` + hex SHA-256 of app id + raw body + timestamp + OA secret key."""
    digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()).hexdigest()
    return f"mac={digest}"


class ZaloEventMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    msg_id: str = Field(min_length=1, max_length=100, description="ZNS's msg_id, answered when it was sent.")
    delivery_time: str | int | None = Field(
        default=None, description="When it reached the phone, milliseconds since 1970 (UTC)."
    )
    tracking_id: str | None = Field(default=None, description="The portal's delivery id sent as tracking_id.")


class ZaloEvent(BaseModel):
    """An Official Account webhook event; only ``user_received_message`` changes anything."""

    model_config = ConfigDict(extra="allow")

    event_name: str = Field(min_length=1, max_length=60, examples=["user_received_message"])
    app_id: str = Field(min_length=1, max_length=40)
    timestamp: str | int = Field(description="When Zalo sent the event, milliseconds since 1970; signed.")
    message: ZaloEventMessage | None = None


class ZaloEventAnswer(BaseModel):
    """What the portal did with the event (always 200 for an authentic event, so Zalo does not repeat it)."""

    outcome: Literal["recorded", "unchanged", "ignored"] = Field(
        description="recorded: the receipt was applied (a delivery never moves backwards); unchanged: a replay "
        "or an unknown msg_id; ignored: an event that says nothing about delivery."
    )


_PROBLEM = {
    "application/problem+json": {
        "schema": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
            },
            "required": ["title", "status"],
        }
    }
}

router = APIRouter()


def _ms_to_datetime(value: str | int | None) -> datetime | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    try:
        seconds = number / 1000 if number > 10**11 else number  # Zalo sends milliseconds; accept seconds too
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _event_options(settings: Settings) -> ZnsOptions:
    if settings.zalo_provider != "zns":
        raise NotFound(N_("Zalo delivery events are not configured on this portal."))
    try:
        options = ZnsOptions.model_validate(settings.zalo_options)
    except ValidationError:
        log.error("zalo: PORTAL_ZALO_OPTIONS are not valid; delivery events refused")
        raise NotFound(N_("Zalo delivery events are not configured on this portal.")) from None
    if not options.app_id or not options.oa_secret_key.get_secret_value():
        raise NotFound(N_("Zalo delivery events are not configured on this portal."))
    return options


def _unauthorized() -> DomainError:
    return DomainError(N_("The event's signature is missing, wrong or too old."), status_code=401)


@router.post(
    "/api/notifications/zalo/events",
    name="zalo_events",
    tags=["notifications"],
    summary="Zalo Official Account webhook: ZNS delivery events",
    response_model=ZaloEventAnswer,
    responses={
        400: {"description": "The body is not a JSON object", "content": _PROBLEM},
        413: {"description": f"A body longer than {MAX_CALLBACK_BYTES} bytes", "content": _PROBLEM},
        401: {
            "description": "X-ZEvent-Signature missing or wrong, another app id, or a stale timestamp",
            "content": _PROBLEM,
        },
        404: {"description": "This portal does not send through ZNS", "content": _PROBLEM},
        422: {"description": "An authentic event without the fields it needs", "content": _PROBLEM},
    },
    openapi_extra={
        "parameters": [
            {
                "name": "X-ZEvent-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "pattern": "^mac=[0-9a-f]{64}$"},
                "description": "mac= + hex SHA-256(app_id + raw body + timestamp + OA secret key).",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inlined_schema(ZaloEvent)}},
        },
    },
)
async def zalo_events(request: Request, settings: SettingsDep, session: SessionDep) -> ZaloEventAnswer:
    """Zalo tells that a ZNS message reached the phone (``user_received_message``); other events are ignored.

    Checked before anything is read: the signature over the raw body, the app id and the timestamp's freshness.
    The same event twice changes nothing (the replay guard of ``record_receipt``).
    """
    options = _event_options(settings)
    raw = await capped_body(request)
    if raw is None:
        raise DomainError(N_("The body is too large for a delivery event."), status_code=413)
    try:
        payload = parse_json(raw)  # invalid, too deeply nested, lone surrogates: refused, never a crash
    except ValueError:
        raise DomainError(N_("The body is not a JSON object."), status_code=400) from None
    if not isinstance(payload, dict):
        raise DomainError(N_("The body is not a JSON object."), status_code=400)
    app_id, timestamp = payload.get("app_id"), payload.get("timestamp")
    sent = request.headers.get("X-ZEvent-Signature", "").strip()
    if not isinstance(app_id, str) or not isinstance(timestamp, (str, int)) or not sent:
        raise _unauthorized()
    expected = event_signature(
        app_id=app_id, body=raw, timestamp=str(timestamp), oa_secret_key=options.oa_secret_key.get_secret_value()
    )
    if not hmac.compare_digest(sent.lower().encode(), expected.encode()) or not hmac.compare_digest(
        app_id.encode(), options.app_id.encode()
    ):
        log.warning("zalo: delivery event with a wrong signature or app id refused")
        raise _unauthorized()
    signed_at = _ms_to_datetime(timestamp)
    if signed_at is None or abs((utcnow() - signed_at).total_seconds()) > options.event_tolerance_seconds:
        log.warning("zalo: delivery event with a stale timestamp %s refused", timestamp)
        raise _unauthorized()
    try:
        event = ZaloEvent.model_validate(payload)
    except ValidationError:
        raise Invalid(N_("Some values in the request are not valid.")) from None
    if event.event_name != "user_received_message":
        return ZaloEventAnswer(outcome="ignored")
    if event.message is None:
        raise Invalid(N_("Some values in the request are not valid."))
    message = event.message
    at = _ms_to_datetime(message.delivery_time) or signed_at

    def apply() -> bool:
        return deliveries.record_receipt(
            session,
            provider="zns",
            callback_id=f"user_received_message:{message.msg_id}",
            provider_message_id=message.msg_id,
            status=DeliveryStatus.DELIVERED,
            at=at,
            detail="user_received_message",
        )

    applied = await run_in_threadpool(apply)
    return ZaloEventAnswer(outcome="recorded" if applied else "unchanged")
