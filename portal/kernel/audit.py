"""The audit trail: who signed in, who failed, which machine got a token, what changed hands.

Entries are written in the request's own transaction, so a refused attempt is recorded by a
handler that *returns* its refusal (a 4xx page or OAuth error) rather than raising: the request
commits and the entry stays. Nothing here stores a password, a secret or a token.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, Session, SQLModel
from starlette.requests import Request

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime


class AuditEvent(SQLModel, table=True):
    """One security-relevant event, a link of the hash chain (docs/AUDIT.md).

    `seq`, `prev_hash` and `hash` are set when the transaction that wrote the event commits, under the chain
    head's lock: `seq` is the event's place in the chain (1, 2, 3, ...), `prev_hash` the hash of event
    `seq - 1` (64 zeros for the first) and `hash` SHA-256 over the canonical encoding of the event with
    `prev_hash`. Reads of personal data carry the dossier they touched (`dossier_id`), who read it
    (`actor_kind`, `actor`, `agency_code`) and why (`purpose`): the citizen's "who accessed my dossier".
    """

    __table_args__ = (UniqueConstraint("seq", name="uq_auditevent_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    seq: int | None = Field(default=None)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    kind: str = Field(max_length=60, index=True)
    outcome: str = Field(default="ok", max_length=20)  # ok | refused
    account_id: str | None = Field(default=None, max_length=32, index=True)
    client_id: str | None = Field(default=None, max_length=64, index=True)
    ip: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=300)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dossier_id: str | None = Field(default=None, max_length=32, index=True)
    # citizen | agency | postal | staff | partner | system
    actor_kind: str | None = Field(default=None, max_length=20)
    actor: str | None = Field(default=None, max_length=160)  # a person's or a machine's name, as shown
    agency_code: str | None = Field(default=None, max_length=40)
    purpose: str | None = Field(default=None, max_length=60)


class AuditHead(SQLModel, table=True):
    """The chain's head: one row (id 1), locked by every transaction that appends to the chain."""

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(default="0" * 64, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditSeal(SQLModel, table=True):
    """A day's chain head, sealed with the portal's seal (`portal audit export --day`)."""

    day: date = Field(primary_key=True)
    first_seq: int | None = None
    last_seq: int
    head_hash: str = Field(max_length=64)
    count: int
    sealed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    signature: str = Field(sa_type=Text)  # base64 DER CMS (PKCS#7) detached signature over `statement`
    statement: str = Field(sa_type=Text)  # the canonical JSON statement that was signed


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
    dossier_id: str | None = None,
    actor_kind: str | None = None,
    actor: str | None = None,
    agency_code: str | None = None,
    purpose: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit entry to the current transaction (flushed with it, committed with the request).

    A read or a change of a dossier names it (`dossier_id`), who did it (`actor_kind`: citizen | agency |
    postal | staff | partner | system, and `actor`, the name shown to the citizen, with `agency_code`) and why
    (`purpose`, a key of `portal.audit.access.PURPOSES`): these make the citizen's "who accessed my dossier".
    """
    event = AuditEvent(
        dossier_id=dossier_id,
        actor_kind=actor_kind,
        actor=actor[:160] if actor else None,
        agency_code=agency_code,
        purpose=purpose,
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
