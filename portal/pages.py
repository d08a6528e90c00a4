"""Public pages: home, public lookup, language switch, health checks."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from auth.deps import OptionalAccount
from portal.catalog.queries import popular_procedures
from portal.dossiers.queries import public_status
from portal.kernel.audit import client_ip
from portal.kernel.db import SessionDep
from portal.kernel.deps import LimiterDep
from portal.kernel.i18n import LOCALES, N_
from portal.kernel.migrations import database_readiness
from portal.kernel.ratelimit import check
from portal.kernel.web import LANG_COOKIE, redirect, render

router = APIRouter()
CODE_RE = re.compile(r"^[A-Z]{2,10}-\d{6}-\d{4,6}$")


@router.get("/", name="home")
def home(request: Request, session: SessionDep, account: OptionalAccount) -> Response:
    return render(request, "home.html", {"popular": popular_procedures(session)})


@router.get("/lookup", name="lookup")
def lookup(
    request: Request,
    session: SessionDep,
    account: OptionalAccount,
    limiter: LimiterDep,
    code: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Status of a dossier by code: no personal data is shown."""
    code = code.strip().upper()
    if not code:
        return render(request, "lookup.html", {"code": "", "result": None, "error": None})
    # Codes are guessable in shape (agency-date-sequence): limit how fast one address can try them.
    check(limiter, "lookup:ip", client_ip(request))
    if not CODE_RE.match(code):
        msg = N_("“{code}” is not a dossier code. A code looks like STP-261122-0001.")
        return render(
            request, "lookup.html", {"code": code, "result": None, "error": (msg, {"code": code[:40]})}, status_code=422
        )
    result = public_status(session, code)
    if result is None:
        msg = N_("No dossier has the code {code}. Check the code printed on your receipt.")
        return render(
            request, "lookup.html", {"code": code, "result": None, "error": (msg, {"code": code})}, status_code=404
        )
    return render(request, "lookup.html", {"code": code, "result": result, "error": None})


@router.get("/lang/{locale}", name="set_language")
def set_language(locale: str, next: str = "/") -> Response:
    """The visible language switch: a plain link, works without JavaScript."""
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = redirect(target)
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
    ready, report = database_readiness(session)
    return JSONResponse(report, status_code=200 if ready else 503)
