"""The audit trail: who signed in, who failed, which machine got a token, what changed hands.

Entries are written in the request's own transaction, so a refused attempt is recorded by a
handler that *returns* its refusal (a 4xx page or OAuth error) rather than raising: the request
commits and the entry stays. Nothing here stores a password, a secret or a token.

The entries form a hash chain (docs/AUDIT.md): when a transaction commits, its new entries are given the next
seqs and hashes under the lock of the chain head (`AuditHead`), so two processes never fork the chain. An entry
in the chain is never changed or deleted by the application (the session refuses it). `portal.audit.chain`
verifies the chain; `portal.audit.seal` seals each day's head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint, inspect, select
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel
from starlette.requests import Request

from portal.kernel.clock import as_utc, utcnow
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


# -- the hash chain (docs/AUDIT.md): the canonical encoding and the writer that extends the chain at commit

ENCODING = "v1"
GENESIS = "0" * 64
# Every column of an event except `id` and `hash`, in the encoding (the order does not matter: keys are sorted).
CHAINED_COLUMNS = (
    "seq",
    "prev_hash",
    "at",
    "kind",
    "outcome",
    "account_id",
    "client_id",
    "ip",
    "user_agent",
    "detail",
    "dossier_id",
    "actor_kind",
    "actor",
    "agency_code",
    "purpose",
)
_UNCHAINED = "audit_unchained"  # session.info: the events this session added, chained when it commits


class ChainedEventChanged(RuntimeError):
    """An audit event already in the chain was changed or deleted through the ORM (the trail is append-only)."""


def iso_utc(at: datetime) -> str:
    """`at` as the encoding writes it: ISO-8601 UTC with microseconds and `Z`."""
    return as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The bytes hashed for one event (encoding v1): a JSON object of `CHAINED_COLUMNS` plus `"v": "v1"`, keys
    sorted, no spaces, UTF-8 (not \\u-escaped), `at` as `iso_utc`."""
    doc = {name: fields[name] for name in CHAINED_COLUMNS}
    doc["at"] = iso_utc(doc["at"]) if isinstance(doc["at"], datetime) else doc["at"]
    doc["v"] = ENCODING
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the event's canonical encoding."""
    return hashlib.sha256(canonical(fields)).hexdigest()


def fields_of(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in CHAINED_COLUMNS}


def _lock_head(connection: Connection) -> tuple[int, str]:
    """The chain head's (seq, hash), its row locked until the transaction ends (created when missing).

    PostgreSQL: `SELECT ... FOR UPDATE` on row 1, so appending transactions queue here. SQLite: the caller has
    flushed its events first, so it holds the database's one write lock already and reads the latest head.
    """
    head = AuditHead.__table__  # type: ignore[attr-defined]
    postgres = connection.dialect.name == "postgresql"
    query = select(head.c.seq, head.c.hash).where(head.c.id == 1)
    if postgres:
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        # Missing (a database created without the migration's data step, or a deleted row): continue after the
        # last chained event, so the chain is not forked at seq 1 (verify reports a head that was edited).
        events = AuditEvent.__table__  # type: ignore[attr-defined]
        last = connection.execute(
            select(events.c.seq, events.c.hash).where(events.c.seq.is_not(None)).order_by(events.c.seq.desc()).limit(1)
        ).first()
        insert = pg_insert if postgres else sqlite_insert
        start = {"seq": last.seq, "hash": last.hash} if last else {"seq": 0, "hash": GENESIS}
        connection.execute(
            insert(head).values(id=1, updated_at=utcnow(), **start).on_conflict_do_nothing(index_elements=["id"])
        )
        row = connection.execute(query).one()
    return int(row.seq), str(row.hash)


def _committed(event: AuditEvent, name: str) -> Any:
    """The value of `name` as loaded from the database (before this flush's changes)."""
    history = inspect(event).attrs[name].history
    loaded = [*history.unchanged, *history.deleted]
    return loaded[0] if loaded else None


@sa_event.listens_for(OrmSession, "before_flush")
def _track_and_guard(session: OrmSession, flush_context: Any, instances: Any) -> None:
    """Remember the events added (chained at commit); refuse to change or delete an event already chained."""
    for obj in session.new:
        if isinstance(obj, AuditEvent):
            if obj.seq is not None or obj.hash is not None:
                raise ChainedEventChanged("an audit event gets its seq and hash from the chain writer, not its author")
            session.info.setdefault(_UNCHAINED, []).append(obj)
    for obj in session.dirty:
        if isinstance(obj, AuditEvent) and _committed(obj, "seq") is not None and session.is_modified(obj):
            raise ChainedEventChanged(f"audit event {obj.id} is in the chain: it cannot be changed")
    for obj in session.deleted:
        if isinstance(obj, AuditEvent) and _committed(obj, "seq") is not None:
            raise ChainedEventChanged(f"audit event {obj.id} is in the chain: it cannot be deleted")


@sa_event.listens_for(OrmSession, "before_commit")
def _extend_chain(session: OrmSession) -> None:
    """Give the transaction's new events their seq, prev_hash and hash under the head's lock, and move the head.

    Runs when the outermost transaction commits (a savepoint's release waits for it), so the lock is held only
    for the commit and seq order is commit order.
    """
    if session.in_nested_transaction():
        return
    if not session.info.get(_UNCHAINED) and not any(isinstance(obj, AuditEvent) for obj in session.new):
        return
    session.flush()  # every event has its id (and, on SQLite, the write lock is ours)
    tracked = session.info.pop(_UNCHAINED, [])
    seen: set[int] = set()
    events = []
    for event in tracked:
        if id(event) not in seen and event.seq is None and event in session and inspect(event).persistent:
            seen.add(id(event))
            events.append(event)
    if not events:
        return
    events.sort(key=lambda event: event.id or 0)
    connection = session.connection()
    seq, prev = _lock_head(connection)
    for event in events:
        seq += 1
        # What the JSON column gives back when read (tuples as lists, keys as strings): the hash is of that.
        stored = json.loads(json.dumps(event.detail or {}, ensure_ascii=False))
        if stored != event.detail:
            event.detail = stored
        event.seq, event.prev_hash = seq, prev
        event.hash = prev = event_hash(fields_of(event))
    head = AuditHead.__table__  # type: ignore[attr-defined]
    connection.execute(head.update().where(head.c.id == 1).values(seq=seq, hash=prev, updated_at=utcnow()))


@sa_event.listens_for(OrmSession, "after_soft_rollback")
def _forget_unchained(session: OrmSession, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the whole transaction is gone, its events with it
        session.info.pop(_UNCHAINED, None)
