"""What `/verify` does besides showing the page: the trust it checks signatures against, the portal's own
issued documents looked up by fingerprint, and the check of an uploaded or stored copy."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy.engine import Engine

from portal.kernel.deps import app_settings
from portal.kernel.documents import IssuedDocument, issued_documents
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from signing.verify import VerificationReport, verify_pdf

log = logging.getLogger(__name__)

MAX_MATCHES = 10


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
    in uploaded certificates. Configured roots are read once and kept with the app.
    """
    cached: TrustSetup | None = getattr(app.state, "verify_trust", None)
    if cached is not None:
        return cached
    settings = app_settings(app)
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


def check_pdf(data: bytes, trust: TrustSetup, *, max_pages: int, max_bytes: int) -> VerificationReport:
    """The signature report of a PDF against the portal's trust setup."""
    return verify_pdf(
        data,
        trust_roots=list(trust.roots),
        crls=list(trust.crls),
        allow_fetching=trust.allow_fetching,
        max_pages=max_pages,
        max_bytes=max_bytes,
    )


def find_issued(engine: Engine, sha256: str) -> list[IssuedDocument]:
    """What the portal issued with this SHA-256 (every domain's registered lookup; public columns only)."""
    return issued_documents.find(engine, sha256, limit=MAX_MATCHES)


def check_upload(
    app: Any, data: bytes, *, engine: Engine, settings: Settings
) -> tuple[VerificationReport, list[IssuedDocument]]:
    """An uploaded file's signature report, and what the portal issued with the same fingerprint."""
    trust = trust_setup(app)  # may read files and sign development CRLs: run this off the event loop
    report = check_pdf(data, trust, max_pages=max_pages(settings), max_bytes=max_bytes(settings))
    return report, find_issued(engine, report.sha256)


def stored_copy_report(
    app: Any, fingerprint: str, matches: list[IssuedDocument], *, storage: Storage, settings: Settings
) -> VerificationReport | None:
    """The signature report of the portal's own stored copy (a sealed receipt) of the matched document.

    Someone who follows the QR code has no file to upload: the seal on the copy the portal issued is
    checked instead, and they compare its fingerprint with their copy's. Nothing personal is shown.
    """
    key = next((m.storage_key for m in matches if m.storage_key), None)
    if not key or not storage.exists(key):
        return None
    data = storage.get(key)
    if hashlib.sha256(data).hexdigest() != fingerprint:
        return None
    return check_pdf(data, trust_setup(app), max_pages=max_pages(settings), max_bytes=max_bytes(settings))
