"""Reporter plugins: how a report leaves for the national portal ("log": the embedded default; "http").

A plugin implements `send(report)`, which returns the receiver's acknowledgement (or "") and raises
`ReportRefused` when the receiver answered 4xx, `ReportFailed` when it could not be reached or answered
5xx; the outbox retries both, then dead-letters the message (`portal outbox list --dead`, `portal outbox
replay ID`). Chosen by PORTAL_NATIONAL_REPORTING, options in PORTAL_NATIONAL_OPTIONS (a JSON object checked
by the plugin's options model at start-up: `check_config`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from portal.kernel.clock import utcnow
from portal.kernel.plugins import Registry
from portal.kernel.settings import Settings
from portal.national import wire

log = logging.getLogger("portal.national")
USER_AGENT = "portal-national-reporting/1"
KEPT_ANSWER_CHARS = 300
DEFAULT_TIMEOUT = 10.0


class ReportFailed(Exception):
    """The report could not be handed over (no answer, a 5xx, a redirect): retried later."""


class ReportRefused(ReportFailed):
    """The receiver refused the report (4xx): retried too (a catalogue or a mapping may be fixed meanwhile),
    then dead-lettered for an operator; the message says what the receiver answered."""


class ReportingConfigError(Exception):
    """PORTAL_NATIONAL_REPORTING or PORTAL_NATIONAL_OPTIONS cannot work."""


@dataclass(frozen=True)
class Report:
    """One report as queued: the wire document without the sender's identity."""

    report_id: str
    dossier_code: str
    kind: str
    sequence: int
    document: Mapping[str, Any]


class Reporter(Protocol):
    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]]

    def __init__(self, options: Any) -> None: ...

    def send(self, report: Report) -> str:
        """Hand the report over; the receiver's acknowledgement id or ""."""
        ...

    def check_config(self) -> None:
        """Raise ReportingConfigError if the options cannot work."""
        ...

    @property
    def timeout(self) -> float:
        """The longest one send may wait for the receiver (for the outbox lease)."""
        ...


registry: Registry[Reporter] = Registry("national reporter")
register = registry.register


# --- the log: the embedded default ------------------------------------------------------------------


class LogOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    level: int = logging.INFO


@register("log")
class LogReporter:
    """Writes each report to the `portal.national` logger: what would have been sent."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = LogOptions

    def __init__(self, options: LogOptions) -> None:
        self.options = options

    @property
    def timeout(self) -> float:
        return 0.0

    def send(self, report: Report) -> str:
        body = json.dumps(dict(report.document), ensure_ascii=False, sort_keys=True)
        log.log(
            self.options.level, "national report %s (%s #%s): %s", report.report_id, report.kind, report.sequence, body
        )
        return ""

    def check_config(self) -> None:
        return None


# --- HTTP: the national portal's (or a provincial gateway's) receiving endpoint ----------------------


class HttpOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1, description="Where reports are POSTed (https in production).")
    province_code: str = Field(pattern=r"^\d{2}$", description="MaTinh: the province's two-digit code.")
    system_code: str = Field(min_length=1, max_length=40, description="MaHeThong, given by the national portal.")
    token: SecretStr = SecretStr("")
    """Sent as `Authorization: Bearer <token>`."""
    hmac_secret: SecretStr = SecretStr("")
    """Signs each body: `X-DVC-Signature: v1=<hex HMAC-SHA256 of "{timestamp}.{MaBaoCao}.{body}">`."""
    timeout_seconds: float = Field(default=DEFAULT_TIMEOUT, gt=0, le=120)


def signature(secret: str, timestamp: int, report_id: str, body: bytes) -> str:
    """The X-DVC-Signature value: "v1=" and the hex HMAC-SHA256 of "{timestamp}.{report_id}." + body."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{report_id}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def _start_of(response: httpx.Response) -> str:
    kept = b""
    for chunk in response.iter_bytes():
        kept += chunk
        if len(kept) >= KEPT_ANSWER_CHARS:
            break
    return kept[:KEPT_ANSWER_CHARS].decode("utf-8", "replace").strip()


@register("http")
class HttpReporter:
    """POSTs each report as UTF-8 JSON, authenticated by a bearer token and/or an HMAC signature."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = HttpOptions

    def __init__(self, options: HttpOptions) -> None:
        self.options = options
        self._client = httpx.Client(follow_redirects=False, headers={"user-agent": USER_AGENT})

    @property
    def timeout(self) -> float:
        return self.options.timeout_seconds

    def check_config(self) -> None:
        o = self.options
        parts = urlsplit(o.url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ReportingConfigError(f"national reporting: url {o.url!r} is not an http(s) URL")
        if not o.token.get_secret_value() and not o.hmac_secret.get_secret_value():
            raise ReportingConfigError("national reporting: give a token, an hmac_secret, or both")
        if parts.scheme == "http" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
            log.warning("national reporting: reports are sent unencrypted to %s", o.url)

    def body(self, report: Report) -> bytes:
        """The wire body: the queued document with the sender's identity, checked against the format."""
        document = {
            **dict(report.document),
            "MaTinh": self.options.province_code,
            "MaHeThong": self.options.system_code,
        }
        checked = wire.Report.model_validate(document)
        return json.dumps(checked.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")).encode()

    def headers(self, report: Report, body: bytes) -> dict[str, str]:
        o = self.options
        headers = {"content-type": "application/json; charset=utf-8", "idempotency-key": report.report_id}
        if o.token.get_secret_value():
            headers["authorization"] = f"Bearer {o.token.get_secret_value()}"
        if o.hmac_secret.get_secret_value():
            timestamp = int(utcnow().timestamp())
            headers["x-dvc-timestamp"] = str(timestamp)
            headers["x-dvc-signature"] = signature(o.hmac_secret.get_secret_value(), timestamp, report.report_id, body)
        return headers

    def send(self, report: Report) -> str:
        try:
            body = self.body(report)
        except ValidationError as exc:  # a document this version cannot send: an operator must look
            raise ReportRefused(f"the report does not follow the wire format: {exc.errors()[:3]}") from exc
        timeout = self.options.timeout_seconds
        try:
            request = self._client.build_request(
                "POST", self.options.url, content=body, headers=self.headers(report, body), timeout=timeout
            )
            response = self._client.send(request, stream=True)
            try:
                status, answer = response.status_code, _start_of(response)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise ReportFailed(f"no answer from {self.options.url} within {timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise ReportFailed(f"{self.options.url}: {type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return _acknowledgement(answer)
        if 400 <= status < 500:
            raise ReportRefused(f"refused by {self.options.url}: HTTP {status} {answer}".rstrip())
        raise ReportFailed(f"{self.options.url} answered HTTP {status} {answer}".rstrip())


def _acknowledgement(answer: str) -> str:
    """The receiver's MaTiepNhan when its answer is JSON that has one, else ""."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return ""
    value = parsed.get("MaTiepNhan") if isinstance(parsed, dict) else None
    return str(value) if value is not None else ""


# --- from the settings -------------------------------------------------------------------------------

_cache: dict[tuple[str, str], Reporter] = {}
_cache_lock = threading.Lock()


def reporter_from_settings(settings: Settings) -> Reporter:
    """The configured reporter (one per plugin and options, so an HTTP reporter's connections are reused);
    ReportingConfigError when the plugin is unknown or its options are wrong."""
    key = (settings.national_reporting, json.dumps(settings.national_options, sort_keys=True, default=str))
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            return found
        try:
            reporter = registry.create(settings.national_reporting, settings.national_options)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(options)'}: {e['msg']}" for e in exc.errors())
            raise ReportingConfigError(
                f"PORTAL_NATIONAL_OPTIONS for {settings.national_reporting!r}: {problems}"
            ) from None
        except ValueError as exc:
            raise ReportingConfigError(f"PORTAL_NATIONAL_REPORTING: {exc}") from None
        _cache[key] = reporter
        return reporter


def check_config(settings: Settings) -> None:
    """Raise ReportingConfigError if the configured reporting cannot work (for start-up and `portal check`)."""
    reporter = reporter_from_settings(settings)
    reporter.check_config()
    if settings.environment == "production" and settings.national_reporting == "log":
        log.warning("national reporting: PORTAL_NATIONAL_REPORTING is 'log': nothing reaches the national portal")
