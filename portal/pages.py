"""Public pages: home, public lookup, language switch, health checks."""

from __future__ import annotations

import re
from typing import Annotated

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select as sa_select
from sqlalchemy import text
from sqlmodel import col, select

from auth.deps import OptionalAccount
from portal.catalog.models import Agency, Procedure
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.audit import client_ip
from portal.kernel.db import SessionDep
from portal.kernel.i18n import LOCALES, N_
from portal.kernel.migrations import head_revision
from portal.kernel.ratelimit import check
from portal.kernel.web import LANG_COOKIE, render

router = APIRouter()
CODE_RE = re.compile(r"^[A-Z]{2,10}-\d{6}-\d{4,6}$")


@router.get("/", name="home")
def home(request: Request, session: SessionDep, account: OptionalAccount) -> Response:
    popular = session.exec(
        select(Procedure).where(Procedure.active == True).order_by(col(Procedure.name_vi)).limit(6)
    ).all()
    return render(request, "home.html", {"popular": popular})


@router.get("/lookup", name="lookup")
def lookup(
    request: Request, session: SessionDep, account: OptionalAccount, code: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """Status of a dossier by code: no personal data is shown."""
    code = code.strip().upper()
    if not code:
        return render(request, "lookup.html", {"code": "", "result": None, "error": None})
    # Codes are guessable in shape (agency-date-sequence): limit how fast one address can try them.
    check(request.app.state.limiter, "lookup:ip", client_ip(request))
    if not CODE_RE.match(code):
        msg = N_("“{code}” is not a dossier code. A code looks like STP-261122-0001.")
        return render(
            request, "lookup.html", {"code": code, "result": None, "error": (msg, {"code": code[:40]})}, status_code=422
        )
    # Only the public columns are read: the applicant's answers never leave the database here.
    row = session.execute(
        sa_select(
            col(Dossier.code),
            col(Dossier.status),
            col(Dossier.submitted_at),
            col(Dossier.due_date),
            col(Procedure.name_vi),
            col(Procedure.name_en),
            col(Agency.name_vi),
            col(Agency.name_en),
            col(Dossier.receipt_sha256),
        )
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .join(Agency, col(Agency.code) == col(Dossier.agency_code))
        .where(col(Dossier.code) == code, col(Dossier.status) != DossierStatus.DRAFT)
    ).first()
    if row is None:
        msg = N_("No dossier has the code {code}. Check the code printed on your receipt.")
        return render(
            request, "lookup.html", {"code": code, "result": None, "error": (msg, {"code": code})}, status_code=404
        )
    result = {
        "code": row[0],
        "status": row[1],
        "submitted_at": row[2],
        "due_date": row[3],
        "procedure": {"vi": row[4], "en": row[5]},
        "agency": {"vi": row[6], "en": row[7]},
        "receipt_sha256": row[8],
    }
    return render(request, "lookup.html", {"code": code, "result": result, "error": None})


@router.get("/lang/{locale}", name="set_language")
def set_language(locale: str, next: str = "/") -> Response:
    """The visible language switch: a plain link, works without JavaScript."""
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if locale in LOCALES:
        response.set_cookie(LANG_COOKIE, locale, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    return response


@router.get("/healthz", name="healthz")
def healthz() -> Response:
    """The process is up."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", name="readyz")
def readyz(session: SessionDep) -> Response:
    """The database answers and its schema is at the latest migration."""
    try:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        current = MigrationContext.configure(session.connection()).get_current_revision()
    except Exception as exc:  # any database failure means not ready
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    head = head_revision()
    if current != head:
        return JSONResponse({"status": "migrations pending", "current": current, "head": head}, status_code=503)
    return JSONResponse({"status": "ready", "revision": current})
