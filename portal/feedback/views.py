"""Public pages of feedback and complaints: file one (signed in or not), follow it by its tracking code, and the
public list of answered items. The console's pages (answering) are portal/staff/feedback_views.py."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from auth.deps import OptionalAccount, optional_account_sync
from forms.uploads import UploadRejected
from portal.feedback import service
from portal.feedback.attachments import Attachment, check_attachment
from portal.feedback.models import FeedbackAbout, FeedbackKind
from portal.kernel.audit import client_ip
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import SessionDep
from portal.kernel.deps import LimiterDep, SettingsDep, StorageDep
from portal.kernel.i18n import N_
from portal.kernel.ratelimit import RateLimited, check
from portal.kernel.web import redirect, render, translator

router = APIRouter()

FIELDS = ("kind", "about", "procedure_code", "dossier_code", "agency_code", "title", "body", "name", "email", "phone")
_FIELD_MAX = 6000  # longer values are cut before the checks (the body's limit is 5,000 characters)
# Control characters (a NUL pasted with a text) are dropped: PostgreSQL cannot store a NUL, and a refusal of the
# whole request would lose what was typed. Tabs and line breaks stay.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _filing(form: FormData) -> service.Filing:
    values: dict[str, Any] = {}
    for name in FIELDS:
        value = form.get(name)
        values[name] = _CONTROLS.sub("", value[:_FIELD_MAX]) if isinstance(value, str) else ""
    values["public_consent"] = form.get("public_consent") == "yes"
    return service.Filing(**values)


def _form_page(
    request: Request,
    session: Any,
    account: Any,
    filing: service.Filing,
    *,
    errors: dict[str, service.Message] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "feedback/new.html",
        {
            "form": filing,
            "errors": errors or {},
            "kinds": list(FeedbackKind),
            "abouts": list(FeedbackAbout),
            "agencies": service.agency_names(session),
            "dossiers": service.own_dossiers(session, account) if account is not None else [],
            "signed_in": account is not None,
        },
        status_code=status_code,
    )


@router.get("/feedback/new", name="feedback_new")
def new_page(
    request: Request,
    session: SessionDep,
    account: OptionalAccount,
    about: Annotated[str, Query(max_length=20)] = "",
    procedure: Annotated[str, Query(max_length=20)] = "",
    dossier: Annotated[str, Query(max_length=40)] = "",
    agency: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The filing form; the links from a procedure's or a dossier's page fill in what it is about."""
    if not about:
        about = "dossier" if dossier else "procedure" if procedure else "agency" if agency else ""
    filing = service.Filing(
        about=about,
        procedure_code=procedure,
        dossier_code=dossier,
        agency_code=agency,
        name=account.full_name if account else "",
        email=(account.email or "") if account else "",
        phone=(account.phone or "") if account else "",
    )
    return _form_page(request, session, account, filing)


@router.post("/feedback/new", name="feedback_file")
async def file_page(
    request: Request, session: SessionDep, settings: SettingsDep, storage: StorageDep, limiter: LimiterDep
) -> Response:
    """File an item: the attachment is checked off the event loop before any database work; a mistake shows the
    form again with everything typed (the attachment must be chosen again: browsers never refill a file input)."""
    form = await request.form()
    filing = _filing(form)
    errors: dict[str, service.Message] = {}
    status_code = 422
    retry_after: int | None = None
    try:
        check(limiter, "feedback:ip", client_ip(request))
    except RateLimited as exc:
        errors["form"] = (exc.msgid, exc.params)
        status_code, retry_after = 429, exc.retry_after
    attachment: Attachment | None = None
    upload = form.get("attachment")
    if not errors and isinstance(upload, UploadFile) and (upload.filename or upload.size):
        data = await upload.read(settings.max_file_bytes + 1)
        try:
            attachment = await run_in_threadpool(
                check_attachment,
                upload.filename or "",
                data,
                max_bytes=settings.max_file_bytes,
                max_decoded_bytes=settings.max_image_decoded_bytes,
            )
        except UploadRejected as exc:
            errors["attachment"] = (exc.msgid, exc.params)
            status_code = exc.status_code

    def store() -> Response:
        account = optional_account_sync(request)
        if not errors:
            try:
                item = service.file_item(
                    session,
                    filing,
                    account=account,
                    settings=settings,
                    storage=storage,
                    attachment=attachment,
                    language=translator(request).locale,
                )
            except service.FilingRefused as exc:
                errors.update(exc.errors)
            else:
                request.session["feedback_filed"] = item.code
                return redirect(f"/feedback/{item.code}")
        else:
            # The rest of the form is checked too, so that every mistake is shown at once.
            try:
                service.check_filing(session, filing, account=account)
            except service.FilingRefused as exc:
                errors.update({k: v for k, v in exc.errors.items() if k not in errors})
        page = _form_page(request, session, account, filing, errors=errors, status_code=status_code)
        if retry_after is not None:
            page.headers["Retry-After"] = str(retry_after)
        return page

    return await run_in_threadpool(store)


@router.get("/feedback/lookup", name="feedback_lookup")
def lookup_page(
    request: Request,
    session: SessionDep,
    account: OptionalAccount,
    limiter: LimiterDep,
    code: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The tracking-code form; a known code goes to its page."""
    if not code.strip():
        return render(request, "feedback/lookup.html", {"code": "", "error": None})
    check(limiter, "feedback_lookup:ip", client_ip(request))
    item = service.by_code(session, code)
    if item is None:
        return _unknown(request, code)
    return redirect(f"/feedback/{item.code}")


def _unknown(request: Request, code: str) -> Response:
    msg = N_("No feedback has the tracking code {code}. Check the code in the message you received.")
    return render(
        request,
        "feedback/lookup.html",
        {"code": code[:40], "error": (msg, {"code": code.strip()[:40]})},
        status_code=404,
    )


@router.get("/feedback/public", name="feedback_public")
def public_page(
    request: Request,
    session: SessionDep,
    account: OptionalAccount,
    agency: Annotated[str, Query(max_length=10)] = "",
    procedure: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    """Answered items whose filer agreed to publication, without personal data."""
    result = service.public_items(session, agency=agency or None, procedure=procedure or None, page=page)
    base = "?" + "".join(f"{k}={v}&" for k, v in (("agency", agency), ("procedure", procedure)) if v)
    return render(
        request,
        "feedback/public.html",
        {
            "result": result,
            "agency": agency,
            "procedure": procedure,
            "agencies": service.agency_names(session),
            "procedures": service.procedure_names(
                session, {i.procedure_code for i in result.items if i.procedure_code}
            ),
            "base": base,
        },
    )


@router.get("/feedback/{code}", name="feedback_status")
def status_page(
    request: Request, session: SessionDep, account: OptionalAccount, limiter: LimiterDep, code: str
) -> Response:
    """The item of a tracking code: status, due date, the answer; never the filer's name or contact."""
    just_filed = request.session.get("feedback_filed") == code
    if not just_filed:
        check(limiter, "feedback_lookup:ip", client_ip(request))
    item = service.by_code(session, code)
    if item is None:
        return _unknown(request, code)
    if just_filed:
        request.session.pop("feedback_filed", None)
    agencies = service.agency_names(session)
    procedures = service.procedure_names(session, {item.procedure_code} if item.procedure_code else set())
    return render(
        request,
        "feedback/status.html",
        {
            "item": item,
            "just_filed": just_filed,
            "overdue": service.is_overdue(item, local_date(utcnow())),
            "agency": agencies.get(item.agency_code),
            "procedure": procedures.get(item.procedure_code or ""),
        },
    )
