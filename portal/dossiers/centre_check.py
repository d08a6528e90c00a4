"""The centre's check of results (procedure.centre_check; docs/CENTRE_CHECK.md).

For a procedure whose results the one-stop centre checks before they are returned, `lifecycle.issue_result`
stores the agency's signed results and moves the dossier to RESULT_CHECK: the agency is pushed
`dossier.result_issued` as for any result, but the applicant is not told and sees no result yet. A supervisor
of the centre then either

- `confirm`s: RESULT_CHECK → RESULT_READY; the results are marked checked and everything an issued result
  does for other procedures happens now (the applicant is told, `ResultIssued` is published: a delivery by
  post is ordered, linked members waiting for it are released, the results are kept in the document store),
  and the agency is pushed `dossier.result_confirmed`. `result_ready_at` is the confirmation's time: that is
  when the applicant can have the result;
- or `send_back`s with a reason: RESULT_CHECK → IN_PROCESS; the results are marked refused (kept, never
  shown to the applicant nor recognised by /verify), the agency is pushed `dossier.result_returned` with the
  reason and issues a new result through the API.

The deadline clock keeps running while the centre checks. Both steps write the dossier's timeline and an
audit event (actor_kind staff). Services flush, never commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from portal.audit.access import Actor, act_as
from portal.catalog.models import Agency, Procedure
from portal.dossiers.lifecycle import MAX_TEXT, release_result
from portal.dossiers.models import Dossier, DossierResult, DossierStatus
from portal.dossiers.pushes import push
from portal.dossiers.service import add_event, move_status
from portal.kernel.audit import record
from portal.kernel.calendar import local_date
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.i18n import N_

__all__ = [
    "PAGE_SIZE",
    "PendingCheck",
    "applicant_results",
    "confirm",
    "pending_checks",
    "pending_results",
    "send_back",
]

PAGE_SIZE = 50
# The audit purpose of the centre's decisions (a key of portal.audit.access.PURPOSES).
PURPOSE = "supervision"

_NOT_WAITING = N_("This dossier has no result waiting for the centre's check: it is {status}.")


@dataclass(frozen=True)
class PendingCheck:
    """A dossier whose result waits for the centre's check, as the console lists it."""

    dossier_id: str
    code: str
    procedure_code: str
    procedure_vi: str
    procedure_en: str
    agency_code: str
    agency_vi: str
    agency_en: str
    issued_at: datetime  # when the agency issued the result now waiting
    waiting: timedelta  # how long it has waited (at the time of the listing)
    results: int  # how many result documents wait
    official_due_date: date | None
    overdue: bool  # past its official date (the clock keeps running during the check)


def pending_results(session: Session, dossier: Dossier) -> list[DossierResult]:
    """The results waiting for the centre's check: neither confirmed nor refused, oldest first."""
    return list(
        session.exec(
            select(DossierResult)
            .where(
                DossierResult.dossier_id == dossier.id,
                col(DossierResult.checked_at).is_(None),
                col(DossierResult.refused_reason).is_(None),
            )
            .order_by(col(DossierResult.created_at), col(DossierResult.filename))
        )
    )


def applicant_results(session: Session, dossier: Dossier) -> list[DossierResult]:
    """The results the applicant may see and download: none while the centre checks them, never a refused one."""
    if dossier.status == DossierStatus.RESULT_CHECK:
        return []
    return list(
        session.exec(
            select(DossierResult)
            .where(DossierResult.dossier_id == dossier.id, col(DossierResult.refused_reason).is_(None))
            .order_by(col(DossierResult.created_at), col(DossierResult.filename))
        )
    )


def _waiting(session: Session, dossier: Dossier) -> list[DossierResult]:
    if dossier.status != DossierStatus.RESULT_CHECK:
        raise Conflict(_NOT_WAITING, {"status": DossierStatus(dossier.status)})
    results = pending_results(session, dossier)
    if not results:  # cannot happen through issue_result; a repair by hand would need the agency again
        raise Conflict(_NOT_WAITING, {"status": DossierStatus(dossier.status)})
    return results


def _refs(results: list[DossierResult]) -> list[dict[str, str]]:
    return [{"id": r.id, "filename": r.filename, "sha256": r.sha256} for r in results]


def _as_the_centre(session: Session, dossier: Dossier, staff_name: str) -> str:
    """Name the supervisor as the transaction's actor (the status change is audited under them); their name."""
    name = staff_name.strip()[:120]
    act_as(session, Actor(kind="staff", name=name, purpose=PURPOSE, agency_code=dossier.agency_code))
    return name


def _record_decision(
    session: Session,
    dossier: Dossier,
    kind: str,
    results: list[DossierResult],
    *,
    name: str,
    staff_id: str,
    **detail: Any,
) -> None:
    record(
        session,
        kind,
        dossier_id=dossier.id,
        actor_kind="staff",
        actor=name,
        agency_code=dossier.agency_code,
        purpose=PURPOSE,
        staff_id=staff_id,
        code=dossier.code,
        results=[r.id for r in results],
        **detail,
    )


def confirm(session: Session, dossier: Dossier, *, staff_name: str, staff_id: str) -> Dossier:
    """RESULT_CHECK → RESULT_READY: the centre confirms the agency's result and it is returned to the applicant.

    Conflict (409) when the dossier's result is not waiting for the check (confirmed already, sent back, or
    another supervisor decided at the same moment: one conditional UPDATE decides)."""
    results = _waiting(session, dossier)
    name = _as_the_centre(session, dossier, staff_name)
    now = utcnow()
    if not move_status(
        session,
        dossier,
        to=DossierStatus.RESULT_READY,
        allowed=[DossierStatus.RESULT_CHECK],
        refused=_NOT_WAITING,
        result_ready_at=now,
    ):
        raise Conflict(_NOT_WAITING, {"status": DossierStatus(dossier.status)})
    for row in results:
        row.checked_at, row.checked_by = now, name
        session.add(row)
    session.flush()
    add_event(
        session,
        dossier,
        "result_issued",
        actor=results[0].uploaded_by,
        agency=dossier.agency_code,
        results=[{"id": r.id, "filename": r.filename} for r in results],
        checked_by=name,
    )
    push(session, dossier, "dossier.result_confirmed", results=_refs(results), checked_by=name, checked_at=now)
    _record_decision(session, dossier, "dossier.result_confirmed", results, name=name, staff_id=staff_id)
    release_result(session, dossier, results)
    return dossier


def send_back(session: Session, dossier: Dossier, *, reason: str, staff_name: str, staff_id: str) -> Dossier:
    """RESULT_CHECK → IN_PROCESS: the centre refuses the agency's result with a reason (required: Invalid, a
    422, when empty or longer than 2000 characters); the results are kept, marked refused, and the agency
    issues a new one. Conflict (409) when no result is waiting for the check."""
    # Control characters (a pasted NUL, which PostgreSQL cannot store) are dropped; tabs and line breaks stay.
    cleaned = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", reason).strip()
    if not cleaned:
        raise Invalid(N_("Give the reason for sending the result back to the agency."))
    if len(cleaned) > MAX_TEXT:
        raise Invalid(N_("A text is longer than {n} characters: shorten it."), {"n": MAX_TEXT, "text": cleaned[:40]})
    results = _waiting(session, dossier)
    name = _as_the_centre(session, dossier, staff_name)
    if not move_status(
        session,
        dossier,
        to=DossierStatus.IN_PROCESS,
        allowed=[DossierStatus.RESULT_CHECK],
        refused=_NOT_WAITING,
    ):
        raise Conflict(_NOT_WAITING, {"status": DossierStatus(dossier.status)})
    now = utcnow()
    for row in results:
        row.checked_at, row.checked_by, row.refused_reason = now, name, cleaned
        session.add(row)
    session.flush()
    add_event(
        session,
        dossier,
        "result_returned",
        actor=name,
        agency=dossier.agency_code,
        results=[{"id": r.id, "filename": r.filename} for r in results],
        returned_reason=cleaned,
    )
    push(session, dossier, "dossier.result_returned", results=_refs(results), reason=cleaned, returned_by=name)
    _record_decision(session, dossier, "dossier.result_returned", results, name=name, staff_id=staff_id, reason=cleaned)
    session.flush()
    return dossier


def pending_checks(
    session: Session, *, page: int = 1, agency_codes: set[str] | None = None, now: datetime | None = None
) -> list[PendingCheck]:
    """The dossiers whose result waits for the centre's check, oldest first (by when the waiting result was
    issued), `PAGE_SIZE` a page (page 1 is the first; a page past the end is empty); `agency_codes` narrows
    the list to those agencies (None: every agency)."""
    now = now or utcnow()
    page = max(int(page), 1)
    waiting = (
        sa_select(
            col(DossierResult.dossier_id).label("dossier_id"),
            func.max(DossierResult.created_at).label("issued_at"),
            func.count().label("results"),
        )
        .where(col(DossierResult.checked_at).is_(None), col(DossierResult.refused_reason).is_(None))
        .group_by(col(DossierResult.dossier_id))
        .subquery()
    )
    stmt = (
        sa_select(Dossier, Procedure, Agency, waiting.c.issued_at, waiting.c.results)
        .join(waiting, waiting.c.dossier_id == col(Dossier.id))
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .join(Agency, col(Agency.code) == col(Dossier.agency_code))
        .where(col(Dossier.status) == DossierStatus.RESULT_CHECK)
    )
    if agency_codes is not None:
        stmt = stmt.where(col(Dossier.agency_code).in_(sorted(agency_codes)))
    stmt = stmt.order_by(waiting.c.issued_at, col(Dossier.id)).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    today = local_date(now)
    out = []
    for dossier, procedure, agency, issued_at, count in session.execute(stmt).all():
        issued = as_utc(issued_at)
        due = dossier.official_due_date
        out.append(
            PendingCheck(
                dossier_id=dossier.id,
                code=dossier.code or "",
                procedure_code=procedure.code,
                procedure_vi=procedure.name_vi,
                procedure_en=procedure.name_en,
                agency_code=agency.code,
                agency_vi=agency.name_vi,
                agency_en=agency.name_en,
                issued_at=issued,
                waiting=max(as_utc(now) - issued, timedelta(0)),
                results=int(count),
                official_due_date=due,
                overdue=due is not None and today > due,
            )
        )
    return out
