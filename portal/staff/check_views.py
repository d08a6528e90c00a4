"""The centre's check of results in the console: what waits, one dossier's result, confirm or send back.

Supervisors only (the one-stop centre checks every agency's results; docs/STAFF.md, docs/CENTRE_CHECK.md).
The decisions are `portal.dossiers.centre_check.confirm` and `send_back`, which move the dossier, tell the
agency and record the audit events. The console's own reads of a dossier (its check page, a result's sealed
copy) are recorded too: kind dossier.read / dossier.file_downloaded, actor_kind staff, purpose result_check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select
from starlette.background import BackgroundTask

from auth.models import Account
from auth.staff_models import StaffRole
from portal.catalog.models import Agency, Procedure
from portal.dossiers import centre_check
from portal.dossiers.models import Dossier, DossierResult, DossierStatus
from portal.kernel.db import SessionDep
from portal.kernel.deps import StorageDep, WorkerDep
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.web import redirect, render
from portal.staff.deps import StaffViewer, record_staff_read, staff_roles

router = APIRouter(prefix="/staff")
Supervisor = Annotated[StaffViewer, Depends(staff_roles(StaffRole.SUPERVISOR))]

PURPOSE = "result_check"  # a key of portal.audit.access.PURPOSES
MAX_REASON = 2000
_NO_DOSSIER = N_("There is no such dossier.")
_NO_RESULT = N_("There is no such result document in this dossier.")


def _record_read(request: Request, kind: str, dossier: Dossier, viewer: StaffViewer, **detail: Any) -> None:
    record_staff_read(
        request, kind, viewer, purpose=PURPOSE, agency_code=dossier.agency_code, dossier_id=dossier.id, **detail
    )


def _dossier(session: Session, dossier_id: str, *, lock: bool = False) -> Dossier:
    if not dossier_id or len(dossier_id) > 32 or not dossier_id.isalnum():
        raise NotFound(_NO_DOSSIER)
    pg = session.get_bind().dialect.name == "postgresql"
    dossier = session.get(Dossier, dossier_id, with_for_update=lock and pg, populate_existing=lock)
    if dossier is None or dossier.status == DossierStatus.DRAFT:
        raise NotFound(_NO_DOSSIER)
    return dossier


def _page_number(value: str) -> int:
    if not value:
        return 1
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 100_000:
        raise Invalid(N_("The page number must be a whole number from 1."))
    return int(value)


@router.get("/checks", name="staff_checks")
def checks_page(request: Request, viewer: Supervisor, session: SessionDep, page: str = "", done: str = "") -> Response:
    """The dossiers whose result waits for the centre's check, oldest first."""
    number = _page_number(page)
    rows = centre_check.pending_checks(session, page=number)
    decided = None
    if done and len(done) <= 32 and done.isalnum():
        decided = session.get(Dossier, done)
    return render(
        request,
        "staff/checks.html",
        {
            "viewer": viewer,
            "rows": rows,
            "page": number,
            "has_next": len(rows) == centre_check.PAGE_SIZE,
            "decided": decided,
        },
        block="checks",
    )


@dataclass(frozen=True)
class CheckPage:
    dossier: Dossier
    procedure: Procedure | None
    agency: Agency | None
    applicant: str | None
    waiting: list[DossierResult]  # the results waiting for the decision
    decided: list[DossierResult]  # earlier results: confirmed or sent back


def _check_page(session: Session, dossier: Dossier) -> CheckPage:
    waiting = centre_check.pending_results(session, dossier) if dossier.status == DossierStatus.RESULT_CHECK else []
    waiting_ids = {r.id for r in waiting}
    every = session.exec(
        select(DossierResult)
        .where(DossierResult.dossier_id == dossier.id)
        .order_by(col(DossierResult.created_at).desc(), col(DossierResult.filename))
    ).all()
    account = session.get(Account, dossier.applicant_id)
    return CheckPage(
        dossier=dossier,
        procedure=session.get(Procedure, dossier.procedure_code),
        agency=session.get(Agency, dossier.agency_code),
        applicant=account.full_name if account is not None else None,
        waiting=waiting,
        decided=[r for r in every if r.id not in waiting_ids and r.checked_at is not None],
    )


def _render_check(
    request: Request,
    viewer: StaffViewer,
    found: CheckPage,
    *,
    error: Any = None,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "staff/checks_detail.html",
        {"viewer": viewer, "c": found, "dossier": found.dossier, "error": error, "reason": reason},
        status_code=status_code,
    )


@router.get("/checks/{dossier_id}", name="staff_check")
def check_page(request: Request, dossier_id: str, viewer: Supervisor, session: SessionDep) -> Response:
    """One dossier's result waiting for the check (or the decisions made on it): the read is recorded."""
    dossier = _dossier(session, dossier_id)
    found = _check_page(session, dossier)
    _record_read(request, "dossier.read", dossier, viewer, code=dossier.code)
    return _render_check(request, viewer, found)


@router.get("/checks/{dossier_id}/results/{result_id}", name="staff_check_result")
def check_result(
    request: Request, dossier_id: str, result_id: str, viewer: Supervisor, session: SessionDep, storage: StorageDep
) -> Response:
    """The portal's sealed copy of a result of the dossier, shown in the browser; the download is recorded."""
    dossier = _dossier(session, dossier_id)
    row = session.get(DossierResult, result_id) if len(result_id) <= 32 and result_id.isalnum() else None
    if row is None or row.dossier_id != dossier.id:
        raise NotFound(_NO_RESULT)
    data = storage.get(row.sealed_key)
    _record_read(request, "dossier.file_downloaded", dossier, viewer, name=row.filename, result_id=row.id)
    name = f"ket-qua-{dossier.code or dossier.id}-{row.id[:8]}.pdf"
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private, no-store"},
    )


def _refused(request: Request, viewer: StaffViewer, dossier: Dossier, exc: Conflict) -> Response:
    return render(
        request,
        "staff/checks_refused.html",
        {"viewer": viewer, "dossier": dossier, "error": exc},
        status_code=409,
    )


@router.post("/checks/{dossier_id}/confirm", name="staff_check_confirm")
def confirm(request: Request, dossier_id: str, viewer: Supervisor, session: SessionDep, worker: WorkerDep) -> Response:
    """The centre confirms the result: it is returned to the applicant (a second decision is a 409 page)."""
    dossier = _dossier(session, dossier_id, lock=True)
    try:
        centre_check.confirm(session, dossier, staff_name=viewer.name, staff_id=viewer.member.id)
    except Conflict as exc:
        session.rollback()
        return _refused(request, viewer, _dossier(session, dossier_id), exc)
    target = str(request.app.url_path_for("staff_checks")) + f"?done={dossier.id}"
    return redirect(target, background=BackgroundTask(worker.wake) if worker is not None else None)


@router.post("/checks/{dossier_id}/send-back", name="staff_check_send_back")
def send_back(
    request: Request,
    dossier_id: str,
    viewer: Supervisor,
    session: SessionDep,
    worker: WorkerDep,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """The centre sends the result back to the agency with a reason (required; kept on the page when refused)."""
    dossier = _dossier(session, dossier_id, lock=True)
    try:
        centre_check.send_back(session, dossier, reason=reason, staff_name=viewer.name, staff_id=viewer.member.id)
    except Conflict as exc:
        session.rollback()
        return _refused(request, viewer, _dossier(session, dossier_id), exc)
    except Invalid as exc:
        session.rollback()
        found = _check_page(session, _dossier(session, dossier_id))
        if not found.waiting:  # decided meanwhile: say that rather than ask for a reason
            return _refused(
                request, viewer, found.dossier, Conflict(N_("This dossier has no result waiting for the check."))
            )
        return _render_check(request, viewer, found, error=exc, reason=reason[:20_000], status_code=422)
    target = str(request.app.url_path_for("staff_checks")) + f"?done={dossier.id}"
    return redirect(target, background=BackgroundTask(worker.wake) if worker is not None else None)
