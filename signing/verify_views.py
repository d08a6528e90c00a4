"""The public verification page: check a signed PDF, or look up the fingerprint printed on a portal document.

Works without an account and shows no personal data from the database: a fingerprint match names the
dossier code, the kind of document and its date. The signer's name and identity number shown for an
uploaded file come from that file itself.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from cryptography import x509
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from auth.deps import OptionalAccount
from portal.kernel.audit import client_ip
from portal.kernel.clock import local
from portal.kernel.documents import IssuedDocument, issued_documents
from portal.kernel.i18n import N_
from portal.kernel.ratelimit import check
from portal.kernel.settings import Settings
from portal.kernel.web import render
from signing.verify import (
    MSG_EMPTY,
    MSG_TOO_LARGE,
    VerificationReport,
    verify_pdf,
)

log = logging.getLogger(__name__)

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
TEMPLATE = "signing/verify.html"
# Room for the multipart framing and the CSRF field around the file itself.
FORM_OVERHEAD = 64 * 1024
# A refused upload is read and thrown away up to this much, so the browser sees the answer, not a reset.
DRAIN_LIMIT = 64 * 1024 * 1024
MAX_MATCHES = 10


MSG_CHOOSE_FILE = N_("Choose the PDF file to check.")
MSG_BAD_FINGERPRINT = N_("A fingerprint is 64 characters long, made of the digits 0–9 and the letters a–f.")


# --- limits and trust -------------------------------------------------------------------------


def max_bytes(settings: Settings) -> int:
    return settings.verify_max_bytes


def max_pages(settings: Settings) -> int:
    return settings.verify_max_pages


@dataclass(frozen=True)
class TrustSetup:
    """What signatures are checked against: the trust roots, CRLs known up front, and whether to fetch more."""

    roots: tuple[x509.Certificate, ...]
    crls: tuple[bytes, ...]
    allow_fetching: bool


def trust_setup(app: Any) -> TrustSetup:
    """The configured trust roots (PEM files), or outside production the development CA's root and CRLs.

    The development CRLs are handed over directly, so revocation works without the server fetching from
    itself. Fetching (PORTAL_VERIFY_ALLOW_FETCHING) is off by default: it makes the server request URLs named
    in uploaded certificates.
    """
    cached: TrustSetup | None = getattr(app.state, "verify_trust", None)
    if cached is not None:
        return cached
    settings = app.state.settings
    paths: list[Path] = list(settings.signing_trust_roots)
    if paths or settings.environment == "production":
        roots: list[x509.Certificate] = []
        for path in paths:
            roots.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
        if not roots:
            log.warning("verify: PORTAL_SIGNING_TRUST_ROOTS is empty in production: no signature can be trusted")
        cached = TrustSetup(tuple(roots), (), settings.verify_allow_fetching)
        app.state.verify_trust = cached
        return cached
    from signing.pki import get_pki

    pki = get_pki(app)
    # The development CRLs change as certificates are revoked: made afresh for every check (cheap).
    return TrustSetup(
        tuple(x509.load_pem_x509_certificates(pki.trust_roots_pem())),
        tuple(pki.crls_der()),
        settings.verify_allow_fetching,
    )


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
                check(request.app.state.limiter, "verify:ip", client_ip(request))
                declared = request.headers.get("content-length", "")
                limit = max_bytes(request.app.state.settings)
                if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
                    await _drain(request)
                    return _page(request, error=MSG_TOO_LARGE, status_code=413)
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
    *,
    report: VerificationReport | None = None,
    matches: list[IssuedDocument] | None = None,
    fingerprint: str = "",
    error: str | None = None,
    fingerprint_error: str | None = None,
    filename: str = "",
    status_code: int = 200,
) -> Response:
    settings = request.app.state.settings
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
    request: Request, account: OptionalAccount, sha256: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """The upload form; with ?sha256= (the QR code on a receipt or result), whether the portal issued it."""
    fingerprint = sha256.strip().lower()
    if not fingerprint:
        return _page(request)
    if not SHA256_RE.match(fingerprint):
        return _page(request, fingerprint=sha256.strip()[:80], fingerprint_error=MSG_BAD_FINGERPRINT, status_code=422)
    matches = await run_in_threadpool(find_issued, request.app.state.engine, fingerprint)
    report = await run_in_threadpool(_stored_copy_report, request.app, fingerprint, matches) if matches else None
    return _page(request, fingerprint=fingerprint, matches=matches, report=report, status_code=200 if matches else 404)


def find_issued(engine: Any, sha256: str) -> list[IssuedDocument]:
    """What the portal issued with this SHA-256 (every domain's registered lookup; public columns only)."""
    return issued_documents.find(engine, sha256, limit=MAX_MATCHES)


def _stored_copy_report(app: Any, fingerprint: str, matches: list[IssuedDocument]) -> VerificationReport | None:
    """The signature report of the portal's own stored copy (a sealed receipt) of the matched document.

    Someone who follows the QR code has no file to upload: the seal on the copy the portal issued is
    checked instead, and they compare its fingerprint with their copy's. Nothing personal is shown.
    """
    key = next((m.storage_key for m in matches if m.storage_key), None)
    storage = app.state.storage
    if not key or not storage.exists(key):
        return None
    data = storage.get(key)
    if hashlib.sha256(data).hexdigest() != fingerprint:
        return None
    trust = trust_setup(app)
    return verify_pdf(
        data,
        trust_roots=list(trust.roots),
        crls=list(trust.crls),
        allow_fetching=trust.allow_fetching,
        max_pages=max_pages(app.state.settings),
        max_bytes=max_bytes(app.state.settings),
    )


@router.post("/verify", name="verify_upload")
async def verify_upload(request: Request, account: OptionalAccount) -> Response:
    """Check the uploaded PDF's signatures, and whether the portal issued this very file."""
    settings = request.app.state.settings
    limit = max_bytes(settings)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return _page(request, error=MSG_CHOOSE_FILE, status_code=422)
    filename = (upload.filename or "")[:200]
    data = await upload.read(limit + 1)
    if not data:
        return _page(request, error=MSG_CHOOSE_FILE if not filename else MSG_EMPTY, status_code=422)
    if len(data) > limit:
        return _page(request, error=MSG_TOO_LARGE, filename=filename, status_code=413)

    def check_file() -> tuple[VerificationReport, list[IssuedDocument]]:
        trust = trust_setup(request.app)  # may read files and sign development CRLs: off the event loop too
        report = verify_pdf(
            data,
            trust_roots=list(trust.roots),
            crls=list(trust.crls),
            allow_fetching=trust.allow_fetching,
            max_pages=max_pages(settings),
            max_bytes=limit,
        )
        return report, find_issued(request.app.state.engine, report.sha256)

    report, matches = await run_in_threadpool(check_file)
    # A file the portal issued is identified even when it carries no signature (a receipt, say).
    status = 422 if report.problems and not matches else 200
    error = report.problems[0] if report.problems and not matches else None
    return _page(request, report=report, matches=matches, error=error, filename=filename, status_code=status)


# --- formatting -------------------------------------------------------------------------------


def _vn_time(value: datetime | None) -> str:
    """A moment in Vietnam time, to the second."""
    return local(value).strftime("%H:%M:%S %d/%m/%Y") if value else ""


def _mb(n_bytes: int) -> int | float:
    mib = 1024 * 1024
    return n_bytes // mib if n_bytes % mib == 0 else round(n_bytes / mib, 1)
