"""Where each agency's pushes go: WebhookEndpoint rows (set by operators), else PORTAL_WEBHOOK_ENDPOINTS.

The operator functions (`set_endpoint`, `rotate`, `finish_rotation`) flush and write the audit trail; they
raise EndpointError for a refused request (the CLI prints it). Secrets are never written to the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlmodel import Session, col, select

from portal.kernel.audit import record
from portal.kernel.clock import utcnow
from portal.kernel.settings import Settings
from portal.webhooks.models import WebhookEndpoint
from portal.webhooks.signing import new_secret, secret_key


class EndpointError(ValueError):
    """An operator's request about endpoints that is refused."""


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a webhook URL is http(s)://host/…, not {url!r}")
    return url


def check_secret(secret: str) -> str:
    secret_key(secret)
    return secret


class ConfiguredEndpoint(BaseModel):
    """One entry of PORTAL_WEBHOOK_ENDPOINTS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    secrets: list[str]
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: list[str]) -> list[str]:
        if not 1 <= len(value) <= 2:
            raise ValueError("one secret, or two during a rotation")
        return [check_secret(s) for s in value]


@dataclass(frozen=True)
class Endpoint:
    """The endpoint a push goes to, wherever it is configured."""

    agency_code: str
    url: str
    secrets: tuple[str, ...]
    enabled: bool
    source: Literal["database", "settings"]


def configured(settings: Settings) -> dict[str, Endpoint]:
    """The endpoints of PORTAL_WEBHOOK_ENDPOINTS; EndpointError naming the agency for an invalid one."""
    out: dict[str, Endpoint] = {}
    for agency, raw in settings.webhook_endpoints.items():
        try:
            entry = ConfiguredEndpoint.model_validate(raw)
        except ValidationError as exc:
            raise EndpointError(f"PORTAL_WEBHOOK_ENDPOINTS[{agency!r}]: {exc}") from exc
        out[agency] = Endpoint(agency, entry.url, tuple(entry.secrets), entry.enabled, "settings")
    return out


def _from_row(row: WebhookEndpoint) -> Endpoint:
    return Endpoint(row.agency_code, row.url, tuple(row.secrets), row.enabled, "database")


def resolve(session: Session, settings: Settings, agency_code: str) -> Endpoint | None:
    """The agency's enabled endpoint (its row first, then the settings), or None: its pushes are skipped."""
    row = session.get(WebhookEndpoint, agency_code)
    endpoint = _from_row(row) if row is not None else configured(settings).get(agency_code)
    if endpoint is None or not endpoint.enabled or not endpoint.secrets:
        return None
    return endpoint


def all_endpoints(session: Session, settings: Settings) -> list[Endpoint]:
    """Every endpoint, the rows hiding the settings' entry of the same agency, by agency code."""
    found = configured(settings)
    for row in session.exec(select(WebhookEndpoint).order_by(col(WebhookEndpoint.agency_code))):
        found[row.agency_code] = _from_row(row)
    return [found[code] for code in sorted(found)]


def _row(session: Session, agency_code: str) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, agency_code)
    if row is None:
        raise EndpointError(f"no webhook endpoint for {agency_code} (portal webhooks set {agency_code} URL)")
    return row


def set_endpoint(
    session: Session, agency_code: str, url: str, *, secret: str | None = None, by: str
) -> tuple[WebhookEndpoint, str | None]:
    """Create or change an agency's endpoint. A new endpoint gets `secret` or a fresh one; an existing one
    keeps its secrets unless `secret` is given (which replaces them all). Returns the row and the secret
    made here, if any (to be given to the back-office once)."""
    try:
        check_url(url)
        if secret is not None:
            check_secret(secret)
    except ValueError as exc:
        raise EndpointError(str(exc)) from exc
    if not agency_code or len(agency_code) > 10:
        raise EndpointError("an agency code has 1 to 10 characters")
    row = session.get(WebhookEndpoint, agency_code)
    made = None
    if row is None:
        made = None if secret else new_secret()
        row = WebhookEndpoint(agency_code=agency_code, url=url, secrets=[secret or made or ""])
    else:
        row.url = url
        if secret is not None:
            row.secrets = [secret]
    row.enabled, row.updated_at = True, utcnow()
    session.add(row)
    record(
        session, "webhooks.set", agency=agency_code, url=url, new_secret=secret is not None or made is not None, by=by
    )
    session.flush()
    return row, made


def rotate(session: Session, agency_code: str, *, by: str) -> str:
    """Add a new secret beside the current one (both sign until `finish_rotation`); returns it."""
    row = _row(session, agency_code)
    if len(row.secrets) >= 2:
        raise EndpointError(f"{agency_code} is already rotating: portal webhooks finish-rotation {agency_code}")
    made = new_secret()
    row.secrets, row.updated_at = [*row.secrets, made], utcnow()
    session.add(row)
    record(session, "webhooks.rotate", agency=agency_code, by=by)
    session.flush()
    return made


def finish_rotation(session: Session, agency_code: str, *, by: str) -> WebhookEndpoint:
    """Drop the old secret once the back-office uses the new one."""
    row = _row(session, agency_code)
    if len(row.secrets) < 2:
        raise EndpointError(f"{agency_code} is not rotating (portal webhooks rotate {agency_code})")
    row.secrets, row.updated_at = row.secrets[-1:], utcnow()
    session.add(row)
    record(session, "webhooks.finish_rotation", agency=agency_code, by=by)
    session.flush()
    return row
