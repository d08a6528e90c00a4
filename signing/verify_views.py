"""The public verification page: check a signed PDF, or look up the fingerprint printed on a portal document.

Works without an account and shows no personal data from the database: a fingerprint match names the
dossier code, the kind of document and its date. The signer's name and identity number shown for an
uploaded file come from that file itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from auth.deps import OptionalAccount
from portal.kernel.audit import client_ip
from portal.kernel.clock import local
from portal.kernel.deps import EngineDep, SettingsDep, StorageDep, app_limiter, app_settings
from portal.kernel.documents import IssuedDocument
from portal.kernel.i18n import N_
from portal.kernel.ratelimit import check
from portal.kernel.settings import Settings
from portal.kernel.web import render
from signing.verify import MSG_EMPTY, MSG_TOO_LARGE, VerificationReport
from signing.verify_service import check_upload, find_issued, max_bytes, max_pages, stored_copy_report

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TEMPLATE = "signing/verify.html"
# Room for the multipart framing and the CSRF field around the file itself.
FORM_OVERHEAD = 64 * 1024
# A refused upload is read and thrown away up to this much, so the browser sees the answer, not a reset.
DRAIN_LIMIT = 64 * 1024 * 1024


MSG_CHOOSE_FILE = N_("Choose the PDF file to check.")
MSG_BAD_FINGERPRINT = N_("A fingerprint is 64 characters long, made of the digits 0–9 and the letters a–f.")


# --- the route class: cheap refusals before the body is read ----------------------------------


class VerifyRoute(APIRoute):
    """Counts the attempt and refuses an oversized upload by its Content-Length before anything reads the body.

    The portal's CSRF check (an app-wide dependency) parses the form, so a size check in the endpoint or
    in a route dependency would come after the whole file had been received.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if request.method == "POST":
                check(app_limiter(request.app), "verify:ip", client_ip(request))
                declared = request.headers.get("content-length", "")
                settings = app_settings(request.app)
                if declared.isdigit() and int(declared) > max_bytes(settings) + FORM_OVERHEAD:
                    await _drain(request)
                    return _page(request, settings, error=MSG_TOO_LARGE, status_code=413)
            return await handler(request)

        return guarded


async def _drain(request: Request) -> None:
    """Read and discard what the client is still sending (within reason), keeping nothing."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > DRAIN_LIMIT:
            break


router = APIRouter(route_class=VerifyRoute)


# --- pages ------------------------------------------------------------------------------------


def _page(
    request: Request,
    settings: Settings,
    *,
    report: VerificationReport | None = None,
    matches: list[IssuedDocument] | None = None,
    fingerprint: str = "",
    error: str | None = None,
    fingerprint_error: str | None = None,
    filename: str = "",
    status_code: int = 200,
) -> Response:
    limit = max_bytes(settings)
    context = {
        "report": report,
        "matches": matches,
        "fingerprint": fingerprint,
        "error": error,
        "fingerprint_error": fingerprint_error,
        "filename": filename,
        "limits": {"max_mb": _mb(limit), "max_pages": max_pages(settings)},
        "vn_time": _vn_time,
    }
    return render(request, TEMPLATE, context, status_code=status_code, block="verify")


@router.get("/verify", name="verify")
async def verify_page(
    request: Request,
    account: OptionalAccount,
    settings: SettingsDep,
    engine: EngineDep,
    storage: StorageDep,
    sha256: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The upload form; with ?sha256= (the QR code on a receipt or result), whether the portal issued it."""
    fingerprint = sha256.strip().lower()
    if not fingerprint:
        return _page(request, settings)
    if not SHA256_RE.match(fingerprint):
        return _page(
            request, settings, fingerprint=sha256.strip()[:80], fingerprint_error=MSG_BAD_FINGERPRINT, status_code=422
        )
    matches = await run_in_threadpool(find_issued, engine, fingerprint)
    report = (
        await run_in_threadpool(
            stored_copy_report, request.app, fingerprint, matches, storage=storage, settings=settings
        )
        if matches
        else None
    )
    return _page(
        request, settings, fingerprint=fingerprint, matches=matches, report=report, status_code=200 if matches else 404
    )


@router.post("/verify", name="verify_upload")
async def verify_upload(
    request: Request, account: OptionalAccount, settings: SettingsDep, engine: EngineDep
) -> Response:
    """Check the uploaded PDF's signatures, and whether the portal issued this very file."""
    limit = max_bytes(settings)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return _page(request, settings, error=MSG_CHOOSE_FILE, status_code=422)
    filename = (upload.filename or "")[:200]
    data = await upload.read(limit + 1)
    if not data:
        return _page(request, settings, error=MSG_CHOOSE_FILE if not filename else MSG_EMPTY, status_code=422)
    if len(data) > limit:
        return _page(request, settings, error=MSG_TOO_LARGE, filename=filename, status_code=413)
    report, matches = await run_in_threadpool(check_upload, request.app, data, engine=engine, settings=settings)
    # A file the portal issued is identified even when it carries no signature (a receipt, say).
    status = 422 if report.problems and not matches else 200
    error = report.problems[0] if report.problems and not matches else None
    return _page(request, settings, report=report, matches=matches, error=error, filename=filename, status_code=status)


# --- formatting -------------------------------------------------------------------------------


def _vn_time(value: datetime | None) -> str:
    """A moment in Vietnam time, to the second."""
    return local(value).strftime("%H:%M:%S %d/%m/%Y") if value else ""


def _mb(n_bytes: int) -> int | float:
    mib = 1024 * 1024
    return n_bytes // mib if n_bytes % mib == 0 else round(n_bytes / mib, 1)
