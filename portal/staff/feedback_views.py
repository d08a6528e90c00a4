"""Feedback and complaints in the console: the items of the member's scope, one item with the filer's contact,
and the answer (docs/STAFF.md, docs/FEEDBACK.md).

Supervisors see every agency's items, officers their agency's; the postal desk has no access. The answer is
`portal.feedback.service.answer` (once: a second answer is a 409; the filer is told). The console's reads of
an item (its page with the filer's contact, its attachment) are recorded in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, or_
from sqlmodel import Session, col, select
from starlette.background import BackgroundTask

from auth.staff_models import StaffRole
from portal.feedback import service
from portal.feedback.models import Feedback, FeedbackAbout, FeedbackKind, FeedbackStatus
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import SessionDep
from portal.kernel.deps import StorageDep, WorkerDep
from portal.kernel.errors import Conflict, NotFound
from portal.kernel.i18n import N_
from portal.kernel.web import redirect, render
from portal.staff.deps import StaffViewer, record_staff_read, staff_roles

router = APIRouter(prefix="/staff")
Answering = Annotated[StaffViewer, Depends(staff_roles(StaffRole.SUPERVISOR, StaffRole.OFFICER))]

PURPOSE = "feedback"  # a key of portal.audit.access.PURPOSES
_NO_ITEM = N_("There is no such feedback item.")
OVERDUE_CHOICES = {"1": N_("Past the answer date"), "0": N_("Not past the answer date")}


@dataclass(frozen=True)
class Filters:
    """The list's filters as typed (kept on the page) and the message of the first bad one."""

    status: str = ""
    overdue: str = ""
    kind: str = ""
    about: str = ""
    q: str = ""
    page: int = 1
    error: tuple[str, dict[str, Any]] | None = None
    error_field: str = ""

    def query(self, **over: Any) -> str:
        values = {"status": self.status, "overdue": self.overdue, "kind": self.kind, "about": self.about, "q": self.q}
        values.update(over)
        return urlencode({k: v for k, v in values.items() if v})


def parse_filters(status: str, overdue: str, kind: str, about: str, q: str, page: str) -> Filters:
    """The filters, each checked against its choices; a bad value is dropped and named in `error` (a 422)."""
    checks = (
        ("status", status, {s.value for s in FeedbackStatus}),
        ("overdue", overdue, set(OVERDUE_CHOICES)),
        ("kind", kind, {k.value for k in FeedbackKind}),
        ("about", about, {a.value for a in FeedbackAbout}),
    )
    values = {"status": status, "overdue": overdue, "kind": kind, "about": about}
    error: tuple[str, dict[str, Any]] | None = None
    error_field = ""
    for name, value, allowed in checks:
        if value and value not in allowed:
            values[name] = ""
            if error is None:
                error, error_field = (
                    (N_("Unknown value “{value}”: choose one in the list."), {"value": value[:40]}),
                    name,
                )
    number = 1
    if page:
        if page.isascii() and page.isdigit() and 1 <= int(page) <= 100_000:
            number = int(page)
        elif error is None:
            error, error_field = (N_("The page number must be a whole number from 1."), {}), "page"
    text = q.strip()
    if len(text) > 100 and error is None:
        error, error_field = (N_("Search with at most {n} characters."), {"n": 100}), "q"
    return Filters(q=text[:100], page=number, error=error, error_field=error_field, **values)


def find_items(session: Session, viewer: StaffViewer, filters: Filters, *, today: date) -> service.Page:
    """The items of the member's scope matching the filters, in `service.list_items`'s order (open first, the
    oldest due first); `list_items` has no kind/about filter, so the console keeps this query (same conditions)."""
    scope = viewer.agency_scope
    if scope is not None and not scope:
        return service.Page(items=(), page=1, pages=1, total=0)
    conditions: list[Any] = []
    if scope is not None:
        conditions.append(col(Feedback.agency_code).in_(sorted(scope)))
    if filters.status:
        conditions.append(col(Feedback.status) == filters.status)
    if filters.kind:
        conditions.append(col(Feedback.kind) == filters.kind)
    if filters.about:
        conditions.append(col(Feedback.about) == filters.about)
    late = (col(Feedback.status) == FeedbackStatus.OPEN) & (col(Feedback.due_on) < today)
    if filters.overdue == "1":
        conditions.append(late)
    elif filters.overdue == "0":
        conditions.append(~late)
    if filters.q:
        pattern = "%" + filters.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                col(Feedback.code) == filters.q.upper(),
                col(Feedback.dossier_code) == filters.q.upper(),
                col(Feedback.title).ilike(pattern, escape="\\"),
            )
        )
    total = int(session.exec(select(func.count()).select_from(Feedback).where(*conditions)).one())
    per_page = service.PER_PAGE
    pages = max(1, -(-total // per_page))
    page = min(filters.page, pages)
    items = session.exec(
        select(Feedback)
        .where(*conditions)
        .order_by(col(Feedback.status).desc(), col(Feedback.due_on), col(Feedback.filed_at), col(Feedback.id))
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return service.Page(items=tuple(items), page=page, pages=pages, total=total)


@router.get("/feedback", name="staff_feedback")
def feedback_list(
    request: Request,
    viewer: Answering,
    session: SessionDep,
    status: str = "",
    overdue: str = "",
    kind: str = "",
    about: str = "",
    q: str = "",
    page: str = "",
) -> Response:
    filters = parse_filters(status, overdue, kind, about, q, page)
    today = local_date(utcnow())
    found = find_items(session, viewer, filters, today=today)
    return render(
        request,
        "staff/feedback.html",
        {
            "viewer": viewer,
            "f": filters,
            "found": found,
            "today": today,
            "is_overdue": service.is_overdue,
            "agencies": service.agency_names(session),
            "overdue_choices": OVERDUE_CHOICES,
            "kinds": list(FeedbackKind),
            "abouts": list(FeedbackAbout),
            "statuses": list(FeedbackStatus),
        },
        status_code=422 if filters.error else 200,
        block="items",
    )


def _item_in_scope(session: Session, viewer: StaffViewer, item_id: str) -> Feedback:
    """The item when the member's scope holds its agency; 404 otherwise (no oracle for other agencies' items)."""
    item = service.get(session, item_id) if item_id.isalnum() else None
    if item is None or not viewer.sees_agency(item.agency_code):
        raise NotFound(_NO_ITEM)
    return item


def _record_read(request: Request, kind: str, item: Feedback, viewer: StaffViewer, **detail: Any) -> None:
    record_staff_read(
        request,
        kind,
        viewer,
        purpose=PURPOSE,
        agency_code=item.agency_code,
        dossier_id=item.dossier_id,
        code=item.code,
        **detail,
    )


def _detail(
    request: Request,
    viewer: StaffViewer,
    session: Session,
    item: Feedback,
    *,
    errors: dict[str, tuple[str, dict[str, Any]]] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    today = local_date(utcnow())
    names = service.procedure_names(session, {item.procedure_code} if item.procedure_code else set())
    agency = service.agency_names(session).get(item.agency_code)
    form = typed or {"text": "", "public_title": item.title, "public_body": item.body}
    return render(
        request,
        "staff/feedback_detail.html",
        {
            "viewer": viewer,
            "item": item,
            "overdue": service.is_overdue(item, today),
            "agency": agency,
            "procedure": names.get(item.procedure_code or ""),
            "errors": errors or {},
            "form": form,
            "limits": {
                "answer": (service.ANSWER_MIN, service.ANSWER_MAX),
                "title": (service.TITLE_MIN, service.TITLE_MAX),
                "body": (service.BODY_MIN, service.BODY_MAX),
            },
        },
        status_code=status_code,
    )


@router.get("/feedback/{item_id}", name="staff_feedback_item")
def feedback_item(request: Request, item_id: str, viewer: Answering, session: SessionDep) -> Response:
    """One item with the filer's contact and the answer form (or the answer); the read is recorded."""
    item = _item_in_scope(session, viewer, item_id)
    _record_read(request, "feedback.read", item, viewer)
    return _detail(request, viewer, session, item)


@router.get("/feedback/{item_id}/attachment", name="staff_feedback_attachment")
def feedback_attachment(
    request: Request, item_id: str, viewer: Answering, session: SessionDep, storage: StorageDep
) -> Response:
    """The item's attachment (the checked PDF stored at filing), shown in the browser; the download is recorded."""
    item = _item_in_scope(session, viewer, item_id)
    found = service.attachment(storage, item)
    if found is None:
        raise NotFound(N_("This item has no attachment."))
    filename, data = found
    _record_read(request, "feedback.attachment_downloaded", item, viewer, name=filename)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="phan-anh-{item.code}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/feedback/{item_id}/answer", name="staff_feedback_answer")
def feedback_answer(
    request: Request,
    item_id: str,
    viewer: Answering,
    session: SessionDep,
    worker: WorkerDep,
    text: Annotated[str, Form()] = "",
    public_title: Annotated[str, Form()] = "",
    public_body: Annotated[str, Form()] = "",
) -> Response:
    """Answer once (a second answer, by anyone, is a 409 page); mistakes re-render the form with what was typed."""
    item = _item_in_scope(session, viewer, item_id)
    try:
        service.answer(
            session,
            item,
            text=text,
            public_title=public_title,
            public_body=public_body,
            staff_name=viewer.name,
            staff_id=viewer.member.id,
        )
    except service.AnswerRefused as exc:
        typed = {"text": text[:20_000], "public_title": public_title[:1000], "public_body": public_body[:20_000]}
        return _detail(request, viewer, session, item, errors=exc.errors, typed=typed, status_code=422)
    except Conflict as exc:
        session.rollback()
        return render(
            request,
            "staff/feedback_refused.html",
            {"viewer": viewer, "item": _item_in_scope(session, viewer, item_id), "error": exc},
            status_code=409,
        )
    target = str(request.app.url_path_for("staff_feedback_item", item_id=item.id)) + "?answered=1"
    return redirect(target, background=BackgroundTask(worker.wake) if worker is not None else None)
