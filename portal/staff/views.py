"""The centre's console at /staff, for supervisors, agency officers and the postal desk (docs/STAFF.md).

The console reads and supervises; it does not process dossiers (the back-office does that through the API),
except for the centre's check of a result before it is returned. This module is its home page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from auth.staff_models import StaffRole
from payments.report import ReportRow, daily_report, report_csv
from portal.catalog.models import Agency, Procedure
from portal.dossiers import lifecycle_views
from portal.dossiers import queries as dossier_queries
from portal.dossiers.models import Channel, Dossier, DossierStatus, Timeliness
from portal.dossiers.service import OPEN_STATES
from portal.feedback.models import Feedback, FeedbackStatus
from portal.kernel.calendar import local_date
from portal.kernel.clock import local, utcnow
from portal.kernel.db import SessionDep
from portal.kernel.deps import StorageDep, app_engine
from portal.kernel.i18n import N_
from portal.kernel.web import render, translator
from portal.staff import queries as staff_queries
from portal.staff.deps import CurrentStaff, StaffViewer, record_staff_read, staff_roles
from portal.staff.queries import FilterError

router = APIRouter(prefix="/staff")


@dataclass(frozen=True)
class HomeCounts:
    open_dossiers: int
    overdue_dossiers: int
    open_feedback: int
    overdue_feedback: int


def _scoped(query: Any, column: Any, scope: set[str] | None) -> Any:
    return query if scope is None else query.where(col(column).in_(scope))


def home_counts(session: Session, viewer: StaffViewer) -> HomeCounts | None:
    """What is waiting in the member's scope; None for the postal desk (its pages list its own orders)."""
    if viewer.role == StaffRole.POSTAL:
        return None
    scope = viewer.agency_scope
    today = local(utcnow()).date()
    open_q = _scoped(
        select(func.count()).select_from(Dossier).where(col(Dossier.status).in_([s.value for s in OPEN_STATES])),
        Dossier.agency_code,
        scope,
    )
    fb_q = _scoped(
        select(func.count()).select_from(Feedback).where(col(Feedback.status) == FeedbackStatus.OPEN.value),
        Feedback.agency_code,
        scope,
    )
    return HomeCounts(
        open_dossiers=session.exec(open_q).one(),
        overdue_dossiers=session.exec(open_q.where(col(Dossier.due_date) < today)).one(),
        open_feedback=session.exec(fb_q).one(),
        overdue_feedback=session.exec(fb_q.where(col(Feedback.due_on) < today)).one(),
    )


@router.get("", name="staff_home")
def home(request: Request, viewer: CurrentStaff, session: SessionDep) -> Response:
    counts = home_counts(session, viewer)
    return render(request, "staff/home.html", {"counts": counts, "viewer": viewer})


# -- the dossiers of the member's scope (read only; docs/STAFF.md "Pages")

ALL_ROLES = (StaffRole.SUPERVISOR, StaffRole.OFFICER, StaffRole.POSTAL)
CSV_HEADER = (
    "ma_ho_so",
    "ma_thu_tuc",
    "thu_tuc",
    "co_quan",
    "trang_thai",
    "ngay_tiep_nhan",
    "han_tra",
    "so_ngay_qua_han",
    "kenh",
    "nguoi_nop",
)
MAX_SHOWN = 200


def _typed(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The filters as typed (shown back in the form when one is refused)."""
    return {name: request.query_params.get(name, "")[:MAX_SHOWN] for name in names}


def _agency_choices(session: Session, viewer: StaffViewer) -> list[Agency]:
    """The agencies a filter offers: every one (the postal desk's scope is its operator's), an officer's own."""
    query = select(Agency).order_by(col(Agency.name_vi), col(Agency.code))
    scope = viewer.agency_scope
    if scope is not None and viewer.role == StaffRole.OFFICER:
        query = query.where(col(Agency.code).in_(scope))
    return list(session.exec(query))


def _procedure_choices(session: Session, viewer: StaffViewer) -> list[Procedure]:
    query = select(Procedure).order_by(col(Procedure.name_vi), col(Procedure.code))
    scope = viewer.agency_scope
    if scope is not None and viewer.role == StaffRole.OFFICER:
        query = query.where(col(Procedure.agency_code).in_(scope))
    return list(session.exec(query))


@router.get("/dossiers", name="staff_dossiers")
def dossiers(request: Request, session: SessionDep, viewer: StaffViewer = Depends(staff_roles(*ALL_ROLES))) -> Response:
    """The dossiers of the member's scope, filtered, by due date; a refused filter is a 422 page naming it."""
    today = local_date(utcnow())
    error: FilterError | None = None
    page: staff_queries.DossierPage | None = None
    filters: staff_queries.DossierFilters | None = None
    try:
        filters = staff_queries.parse_filters(session, viewer, _multi(request))
    except FilterError as refused:
        error = refused
    else:
        page = staff_queries.list_dossiers(session, viewer, filters, today=today)
    monday, sunday = staff_queries.week_of(today)
    context: dict[str, Any] = {
        "viewer": viewer,
        "form": _typed(request, staff_queries.FILTER_PARAMS),
        "filters": filters,
        "page": page,
        "error": error,
        "error_param": error.param if error else "",
        "statuses": [s for s in DossierStatus if s != DossierStatus.DRAFT],
        "timeliness": list(Timeliness),
        "agencies": _agency_choices(session, viewer),
        "procedures": _procedure_choices(session, viewer),
        "week": (monday, sunday),
        "query": filters.query_string() if filters else "",
    }
    return render(request, "staff/dossiers.html", context, status_code=error.status_code if error else 200)


def _multi(request: Request) -> dict[str, list[str]]:
    return {name: request.query_params.getlist(name) for name in request.query_params}


@router.get("/dossiers.csv", name="staff_dossiers_csv")
def dossiers_csv(
    request: Request, session: SessionDep, viewer: StaffViewer = Depends(staff_roles(*ALL_ROLES))
) -> Response:
    """Every dossier of the scope matching the filters (not only a page), as CSV: UTF-8 with BOM, streamed."""
    filters = staff_queries.parse_filters(session, viewer, _multi(request))
    today = local_date(utcnow())
    t = translator(request)
    engine = app_engine(request.app)

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        yield "\ufeff" + out.getvalue()
        for row in staff_queries.iter_dossiers(engine, viewer, filters, today=today):
            out.seek(0)
            out.truncate()
            writer.writerow(
                [
                    row.code or "",
                    row.procedure_code,
                    t.text(row.procedure),
                    t.text(row.agency),
                    t(DossierStatus(row.status).label) if row.status in STATUS_VALUES else row.status,
                    local(row.received_at).strftime("%Y-%m-%d %H:%M") if row.received_at else "",
                    row.due_date.isoformat() if row.due_date else "",
                    row.overdue_days,
                    t(Channel(row.channel).label) if row.channel in CHANNEL_VALUES else row.channel,
                    _csv_safe(row.applicant),
                ]
            )
            yield out.getvalue()

    name = f"ho-so-{today.isoformat()}.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"},
    )


STATUS_VALUES = {s.value for s in DossierStatus}
CHANNEL_VALUES = {c.value for c in Channel}


def _csv_safe(text: str) -> str:
    """A typed name never becomes a spreadsheet formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _record_read(request: Request, kind: str, dossier_id: str, viewer: StaffViewer, **detail: Any) -> None:
    record_staff_read(
        request, kind, viewer, purpose="supervision", agency_code=viewer.agency_code, dossier_id=dossier_id, **detail
    )


@router.get("/dossiers/{dossier_id}", name="staff_dossier")
def dossier_page(
    request: Request, dossier_id: str, session: SessionDep, viewer: StaffViewer = Depends(staff_roles(*ALL_ROLES))
) -> Response:
    """One dossier, read only; the read is recorded (audit, purpose "supervision") before the page is sent."""
    today = local_date(utcnow())
    detail = staff_queries.dossier_detail(session, viewer, dossier_id, today=today)
    _record_read(request, "dossier.read", detail.dossier.id, viewer)
    timeline = (
        lifecycle_views.timeline_entries(dossier_queries.timeline(session, detail.dossier)) if detail.full else []
    )
    return render(
        request,
        "staff/dossiers_detail.html",
        {
            "viewer": viewer,
            "d": detail,
            "dossier": detail.dossier,
            "timeline": timeline,
            "agency_name": t_text(request, detail.agency),
        },
    )


def t_text(request: Request, agency: Agency) -> str:
    return translator(request).text({"vi": agency.name_vi, "en": agency.name_en})


@router.get("/dossiers/{dossier_id}/files/{file_id}", name="staff_dossier_file")
def dossier_file(
    request: Request,
    dossier_id: str,
    file_id: str,
    session: SessionDep,
    storage: StorageDep,
    viewer: StaffViewer = Depends(staff_roles(StaffRole.SUPERVISOR, StaffRole.OFFICER)),
) -> Response:
    """A file of a dossier in scope (supervisor, officer of its agency), recorded in the audit log."""
    dossier, row = staff_queries.scoped_file(session, viewer, dossier_id, file_id)
    data = storage.get(row.storage_key)
    _record_read(request, "dossier.file_downloaded", dossier.id, viewer, name=row.filename, file_id=row.id)
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{row.id}.pdf"', "Cache-Control": "private, no-store"},
    )


# -- the daily payment report (payments.report)


def _report_day(raw: str, today: date) -> date:
    return staff_queries.parse_day(raw, "day") or today


def _report_agency(session: Session, viewer: StaffViewer, raw: str) -> str | None:
    """The officer's own agency; for a supervisor the agency asked (None: every agency)."""
    if viewer.role == StaffRole.OFFICER:
        return viewer.agency_code or ""
    code = raw.strip()
    if not code:
        return None
    if len(code) > staff_queries.MAX_TEXT or not code.isprintable() or session.get(Agency, code) is None:
        raise FilterError(N_("There is no agency with the code {value}."), param="agency", value=code[:40])
    return code


@dataclass(frozen=True)
class ReportTotals:
    payments: int
    amount: int
    refunds: int
    refunded: int
    net: int


PAYMENT_ROLES = (StaffRole.SUPERVISOR, StaffRole.OFFICER)


@router.get("/payments", name="staff_payments")
def payments_page(
    request: Request, session: SessionDep, viewer: StaffViewer = Depends(staff_roles(*PAYMENT_ROLES))
) -> Response:
    """Fees collected and refunds of a local day, per agency and gateway (officer: their agency only)."""
    today = local_date(utcnow())
    form = _typed(request, ("day", "agency"))
    error: FilterError | None = None
    rows: list[ReportRow] = []
    day: date | None = None
    agency: str | None = None
    try:
        day = _report_day(form["day"], today)
        agency = _report_agency(session, viewer, form["agency"])
    except FilterError as refused:
        error = refused
    else:
        rows = daily_report(session, day, agency_code=agency)
    names = {a.code: {"vi": a.name_vi, "en": a.name_en} for a in session.exec(select(Agency))}
    totals = ReportTotals(
        payments=sum(r.payments for r in rows),
        amount=sum(r.amount for r in rows),
        refunds=sum(r.refunds for r in rows),
        refunded=sum(r.refunded for r in rows),
        net=sum(r.net for r in rows),
    )
    csv_params = {"day": day.isoformat()} if day else {}
    if agency and viewer.role == StaffRole.SUPERVISOR:
        csv_params["agency"] = agency
    context: dict[str, Any] = {
        "viewer": viewer,
        "form": form,
        "error": error,
        "error_param": error.param if error else "",
        "day": day,
        "agency": agency,
        "rows": rows,
        "names": names,
        "totals": totals,
        "agencies": _agency_choices(session, viewer) if viewer.role == StaffRole.SUPERVISOR else [],
        "csv_link": f"{request.app.url_path_for('staff_payments_csv')}?{urlencode(csv_params)}",
        "previous_day": (day - timedelta(days=1)).isoformat() if day else "",
        "next_day": (day + timedelta(days=1)).isoformat() if day else "",
    }
    return render(request, "staff/payments.html", context, status_code=error.status_code if error else 200)


@router.get("/payments.csv", name="staff_payments_csv")
def payments_csv(
    request: Request, session: SessionDep, viewer: StaffViewer = Depends(staff_roles(*PAYMENT_ROLES))
) -> Response:
    """The same report as CSV (payments.report.report_csv: UTF-8, header without diacritics, amounts in đồng)."""
    today = local_date(utcnow())
    day = _report_day(request.query_params.get("day", ""), today)
    agency = _report_agency(session, viewer, request.query_params.get("agency", ""))
    body = "\ufeff" + report_csv(daily_report(session, day, agency_code=agency))
    name = f"thu-phi-{day.isoformat()}{'-' + agency if agency else ''}.csv"
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"},
    )
