"""The audit trail: who signed in, who failed, which machine got a token, what changed hands.

Entries are written in the request's own transaction, so a refused attempt is recorded by a
handler that *returns* its refusal (a 4xx page or OAuth error) rather than raising: the request
commits and the entry stays. Nothing here stores a password, a secret or a token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel
from starlette.requests import Request

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime


class AuditEvent(SQLModel, table=True):
    """One security-relevant event."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    kind: str = Field(max_length=60, index=True)
    outcome: str = Field(default="ok", max_length=20)  # ok | refused
    account_id: str | None = Field(default=None, max_length=32, index=True)
    client_id: str | None = Field(default=None, max_length=64, index=True)
    ip: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=300)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def client_ip(request: Request | None) -> str | None:
    """The peer address (uvicorn's proxy_headers has already applied X-Forwarded-For from trusted proxies)."""
    if request is None or request.client is None:
        return None
    return request.client.host[:45]


def record(
    session: Session,
    kind: str,
    *,
    request: Request | None = None,
    outcome: str = "ok",
    account_id: str | None = None,
    client_id: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit entry to the current transaction (flushed with it, committed with the request)."""
    event = AuditEvent(
        kind=kind,
        outcome=outcome,
        account_id=account_id,
        client_id=client_id,
        ip=client_ip(request),
        user_agent=(request.headers.get("user-agent") or "")[:300] if request is not None else None,
        detail={k: v for k, v in detail.items() if v is not None},
    )
    session.add(event)
    return event
