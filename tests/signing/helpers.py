"""Small factories for signing tests: a Vietnamese one-page PDF, a signature by an Issued, and the checks."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from fpdf import FPDF
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
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


SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@contextlib.contextmanager
def softhsm_token(base: Path, *, label: str, so_pin: str, pin: str) -> Iterator[Path]:
    """An initialised, empty SoftHSM2 token under `base`, with SOFTHSM2_CONF pointing at it while inside.

    SoftHSM reads SOFTHSM2_CONF when the library is initialised, and python-pkcs11 keeps one library per
    process: once the token holds what the test needs, call `pkcs11.lib(SOFTHSM_MODULE).reinitialize()`.
    """
    if not (shutil.which("softhsm2-util") and Path(SOFTHSM_MODULE).exists()):
        pytest.fail("SoftHSM2 is not installed: run `make system-test-deps` (make test does)")
    (base / "tokens").mkdir(parents=True)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", pin],
            check=True,
            capture_output=True,
        )
        yield conf


def append_annotation(pdf: bytes) -> bytes:
    """An incremental update after the signature: a sticky note on the first page."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref, _ = writer.find_page_for_modification(0)
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(n) for n in (10, 10, 30, 30)]),
            generic.NameObject("/Contents"): generic.TextStringObject("Đã sửa sau khi ký"),
        }
    )
    writer.register_annotation(page_ref, writer.add_object(annot))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
