"""Small factories for signing tests: a Vietnamese one-page PDF, a signature by an Issued, and the checks."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1_crl
from fpdf import FPDF
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.pki import DevPKI, Issued
from signing.sign import sign_application

FONT_FILE = Path(__file__).resolve().parents[2] / "static" / "fonts" / "NotoSans-Regular.ttf"
BOX = (301.0, 85.0, 521.0, 155.0)  # as on the application's last page: 220 × 70 pt


def make_test_pdf(text: str) -> bytes:
    """A one-page A4 PDF with `text` in Noto Sans."""
    pdf = FPDF(format="A4")
    pdf.set_creator("tests")
    pdf.add_page()
    pdf.add_font("NotoSans", "", str(FONT_FILE))
    pdf.set_font("NotoSans", size=12)
    pdf.multi_cell(0, 7, text)
    return bytes(pdf.output())


def simple_signer(issued: Issued) -> SimpleSigner:
    """A pyHanko signer holding the Issued's key, with its chain for the CMS certificates."""
    return SimpleSigner(
        signing_cert=issued.asn1_cert(),
        signing_key=issued.asn1_key(),
        cert_registry=SimpleCertificateStore.from_certs(issued.asn1_chain()),
    )


def sign_with(issued: Issued, pdf: bytes, **kw: Any) -> bytes:
    """The citizen's visible signature by `issued` (any validity: pyHanko signs with expired or revoked keys)."""
    kw.setdefault("signer_name", issued.cert.subject.rfc4514_string().split("CN=")[-1].split(",")[0])
    kw.setdefault("box", BOX)
    kw.setdefault("page", 0)
    return sign_application(pdf, signer=simple_signer(issued), **kw).pdf


def validation_context(pki: DevPKI, *, crls: bool = True) -> ValidationContext:
    """Trusting only the dev root, offline; with every CA's CRL it checks revocation in hard-fail mode."""
    return ValidationContext(
        trust_roots=[_asn1(pki.root)],
        other_certs=[_asn1(c) for c in pki.intermediates()],
        crls=[asn1_crl.CertificateList.load(der) for der in pki.crls_der()] if crls else [],
        allow_fetching=False,
        revocation_mode="hard-fail" if crls else "soft-fail",
    )


def validate_all(pdf: bytes, pki: DevPKI) -> list[PdfSignatureStatus]:
    """pyHanko's status of every signature, in signing order."""
    reader = PdfFileReader(io.BytesIO(pdf))
    return [
        validate_pdf_signature(sig, signer_validation_context=validation_context(pki), ts_validation_context=None)
        for sig in reader.embedded_signatures
    ]


def pdftotext(pdf: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


def nss_db(pki: DevPKI, folder: Path) -> str:
    """An NSS database trusting the dev root, for poppler's pdfsig; returns the -nssdir argument."""
    folder.mkdir(parents=True, exist_ok=True)
    db = f"sql:{folder}"
    root = folder / "root.pem"
    root.write_bytes(pki.trust_roots_pem())
    subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", db, "-n", "devroot", "-t", "CT,C,C", "-i", str(root)], check=True)
    return db


def pdfsig(pdf_path: Path, nssdir: str) -> str:
    """pdfsig's report, offline: no OCSP (our certificates have none) and no AIA fetching."""
    assert shutil.which("pdfsig"), "poppler-utils is not installed"
    done = subprocess.run(["pdfsig", "-nssdir", nssdir, "-no-ocsp", str(pdf_path)], capture_output=True, timeout=60)
    return done.stdout.decode() + done.stderr.decode()


def _asn1(cert: Any) -> Any:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))
