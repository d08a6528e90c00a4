"""Who read or changed a dossier, for the citizen's "who accessed my dossier" (docs/AUDIT.md, "What is recorded").

Every read of a dossier's personal data by a partner (a back-office, a postal operator) or by the centre's staff
is an audit event naming the dossier (`dossier_id`), who (`actor_kind`, `actor`, `agency_code`) and why
(`purpose`, a key of `PURPOSES`). A request says once who acts in it (`act_as`): the reads it records and the
status changes its transaction makes (`portal/dossiers/audit_trail.py`) carry that actor.

A list read (the back-office's change feed, the postal operator's orders) records one event per dossier whose
personal data it returned: that is what the citizen's question needs. The events are added together and
written in one flush with the request's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.requests import Request

from auth.clients import ApiClient
from portal.kernel.audit import AuditEvent, record
from portal.kernel.db import side_engine
from portal.kernel.i18n import N_
from portal.kernel.uow import unit_of_work

__all__ = [
    "ACTIONS",
    "PURPOSES",
    "SHOWN_ACTORS",
    "Access",
    "Actor",
    "accesses_of",
    "act_as",
    "actor_of",
    "partner_actor",
    "record_access",
    "record_apart",
    "record_reads",
    "record_reads_apart",
    "request_actor",
]

# Why a dossier was read or changed; the label is what the citizen reads.
PURPOSES: dict[str, str] = {
    "processing": N_("Processing the dossier"),
    "pickup": N_("Picking up the original documents"),
    "delivery": N_("Delivering the result"),
    "supervision": N_("Supervision by the centre"),
    "result_check": N_("Checking the result before it is returned"),
    "feedback": N_("Answering your feedback"),
}

# What was done, by audit kind: a message id with its parameters filled from the event's detail.
ACTIONS: dict[str, str] = {
    "dossier.read": N_("Read the dossier"),
    "dossier.listed": N_("Read the dossier in a list"),
    "dossier.payments_read": N_("Read the fees and payments"),
    "dossier.file_downloaded": N_("Downloaded the file {name}"),
    "dossier.status": N_("Changed the status to {status}"),
    "dossier.result_confirmed": N_("Confirmed the result before it was returned"),
    "dossier.result_returned": N_("Sent the result back to the agency"),
    "postal.order_read": N_("Read the postal order and its addresses"),
    "postal.label_downloaded": N_("Downloaded the shipping label"),
    "postal.proof_downloaded": N_("Downloaded the proof of delivery"),
    "feedback.read": N_("Read your feedback {code} about this dossier"),
    "feedback.attachment_downloaded": N_("Downloaded the attachment of your feedback"),
    "feedback.answered": N_("Answered your feedback {code}"),
}

# The actors a citizen is shown: their own actions (citizen) and the portal's automatic steps (system) are not.
SHOWN_ACTORS = ("agency", "postal", "staff", "partner")

_ACTOR_KEY = "portal.audit.actor"


@dataclass(frozen=True)
class Actor:
    """Who acts in a request: a partner client (by its name), a staff member (by their name), the citizen."""

    kind: str  # citizen | agency | postal | staff | partner | system
    name: str | None
    purpose: str | None = None
    agency_code: str | None = None
    client_id: str | None = None
    account_id: str | None = None


def act_as(session: Session, actor: Actor) -> Actor:
    """Say who acts in this session's transaction: its reads and status changes are recorded under that actor."""
    if actor.purpose is not None and actor.purpose not in PURPOSES:
        raise ValueError(f"unknown audit purpose {actor.purpose!r}: add it to PURPOSES")
    session.info[_ACTOR_KEY] = actor
    return actor


def actor_of(session: Session) -> Actor | None:
    """Who acts in this session (`act_as`), or None when nobody said."""
    found = session.info.get(_ACTOR_KEY)
    return found if isinstance(found, Actor) else None


def partner_actor(
    session: Session,
    *,
    client_id: str,
    scope: str,
    agency_code: str | None,
    postal_operator: str | None,
    purpose: str | None,
    name: str | None = None,
) -> Actor:
    """A partner client as an actor: its registered name (the citizen reads it), bound agency or operator.

    Give `name` when it is known (the bearer check loaded the client): the partner dependencies run before the
    endpoint, and a query there would hold the request's connection while it waits for an endpoint thread.
    """
    if not name:
        client = session.get(ApiClient, client_id)
        name = client.name if client is not None else client_id
    if scope == "postal":
        return Actor(kind="postal", name=name, purpose=purpose, client_id=client_id, agency_code=None)
    return Actor(kind="agency", name=name, purpose=purpose, agency_code=agency_code, client_id=client_id)


def record_access(
    session: Session,
    kind: str,
    *,
    dossier_id: str | None,
    actor: Actor,
    request: Request | None = None,
    purpose: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """One read or change of one dossier by `actor` (the purpose given here wins over the actor's); `dossier_id`
    None for a read of what no dossier holds (a feedback item about no dossier)."""
    why = purpose or actor.purpose
    if why is not None and why not in PURPOSES:
        raise ValueError(f"unknown audit purpose {why!r}: add it to PURPOSES")
    return record(
        session,
        kind,
        request=request,
        account_id=actor.account_id,
        client_id=actor.client_id,
        dossier_id=dossier_id,
        actor_kind=actor.kind,
        actor=actor.name,
        agency_code=actor.agency_code,
        purpose=why,
        **detail,
    )


def record_reads(
    session: Session,
    kind: str,
    dossier_ids: Iterable[str],
    *,
    actor: Actor,
    request: Request | None = None,
    purpose: str | None = None,
    **detail: Any,
) -> list[AuditEvent]:
    """One event per dossier a read returned (each once, in the order given), added to the transaction together."""
    seen: set[str] = set()
    events = []
    for dossier_id in dossier_ids:
        if dossier_id in seen:
            continue
        seen.add(dossier_id)
        events.append(
            record_access(session, kind, dossier_id=dossier_id, actor=actor, request=request, purpose=purpose, **detail)
        )
    return events


def request_actor(session: Session) -> Actor:
    """The actor the request named (`act_as`); a route that records reads without one is a programming error."""
    actor = actor_of(session)
    if actor is None:
        raise RuntimeError("no audit actor named in this request (act_as)")
    return actor


def record_reads_apart(
    engine: Engine,
    kind: str,
    dossier_ids: Iterable[str],
    *,
    actor: Actor,
    request: Request | None = None,
    purpose: str | None = None,
    **detail: Any,
) -> int:
    """`record_reads` in a write transaction of its own, committed before the read's answer is sent.

    For GET requests, whose own transaction only reads (on SQLite, a read transaction that later writes may be
    refused when another writer committed meanwhile). The answer is given only once its reads are recorded: if
    the audit cannot be written, the data is not returned. Returns how many events were written.
    """
    ids = list(dict.fromkeys(dossier_ids))
    if not ids:
        return 0
    # On a pool of its own: the request still holds its connection (`side_engine` says why).
    with unit_of_work(side_engine(engine), write=True) as session:
        record_reads(session, kind, ids, actor=actor, request=request, purpose=purpose, **detail)
    return len(ids)


def record_apart(
    engine: Engine,
    kind: str,
    *,
    actor: Actor,
    dossier_id: str | None = None,
    request: Request | None = None,
    purpose: str | None = None,
    **detail: Any,
) -> None:
    """`record_access` in a write transaction of its own, committed before the read's answer is sent (as
    `record_reads_apart`, which writes nothing without a dossier: this one writes the event all the same)."""
    with unit_of_work(side_engine(engine), write=True) as session:
        record_access(session, kind, dossier_id=dossier_id, actor=actor, request=request, purpose=purpose, **detail)


@dataclass(frozen=True)
class Access:
    """One access to a dossier as its owner sees it; the caller resolves the agency's name from `agency_code`."""

    at: datetime
    dossier_id: str
    kind: str
    actor_kind: str
    actor: str | None
    agency_code: str | None
    purpose: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def purpose_label(self) -> str | None:
        """The purpose's message id (None when the event gave none or an unknown one)."""
        return PURPOSES.get(self.purpose or "")

    @property
    def what(self) -> str:
        """What was done, as a message id with `{name}`/`{status}`/`{code}` placeholders filled by `params`."""
        return ACTIONS.get(self.kind, N_("Accessed the dossier"))

    @property
    def params(self) -> dict[str, Any]:
        return {
            "name": str(self.detail.get("name") or self.detail.get("file") or ""),
            "status": str(self.detail.get("to") or ""),
            "code": str(self.detail.get("code") or ""),  # a feedback item's tracking code (feedback.*)
        }


def accesses_of(session: Session, dossier_ids: Sequence[str], *, limit: int = 500) -> list[Access]:
    """Who read or changed these dossiers, newest first: agencies, staff and postal operators, never the citizen's
    own actions nor the portal's automatic steps (`SHOWN_ACTORS`); refused attempts returned nothing and are left
    out. At most `limit` entries (the newest)."""
    if not dossier_ids:
        return []
    rows = session.exec(
        select(AuditEvent)
        .where(
            col(AuditEvent.dossier_id).in_(list(dossier_ids)),
            col(AuditEvent.actor_kind).in_(SHOWN_ACTORS),
            AuditEvent.outcome == "ok",
        )
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(limit)
    ).all()
    return [
        Access(
            at=row.at,
            dossier_id=row.dossier_id or "",
            kind=row.kind,
            actor_kind=row.actor_kind or "",
            actor=row.actor,
            agency_code=row.agency_code,
            purpose=row.purpose,
            detail=dict(row.detail or {}),
        )
        for row in rows
    ]
