"""Tests of signing.verify (the validation report) and the public /verify page, with the development PKI."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import uuid4

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlmodel import Session

from auth.models import Account
from portal.app import create_app
from portal.catalog.models import Procedure
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.settings import Settings
from signing import verify
from signing.pki import DevPKI, Issued, get_pki
from signing.tsa import DevTimeStamper
from signing.verify import Coverage, VerificationReport, verify_pdf
from tests.conftest import CSRF_RE, csrf
from tests.factories import MARITAL, encrypted_pdf, pdf_bytes
from tests.signing.helpers import append_annotation

# The verifier's own tests need no database; the /verify page's tests below are marked `db` one by one (rerun on
# PostgreSQL in CI).

Verify = Callable[..., VerificationReport]


# --- signing helpers (pyHanko directly, as a third-party signer would) ------------------------------------


def sign(
    issued: Issued,
    pdf: bytes,
    *,
    field: str = "ChuKy1",
    timestamper: DevTimeStamper | None = None,
    validation_context: ValidationContext | None = None,
) -> bytes:
    """A PAdES signature over `pdf` with the certificate and key of `issued` (its chain embedded).

    With a validation context, pyHanko adds the certificates and CRLs to a DSS in a revision of its own after
    the signature (PAdES B-LT).
    """
    signer = signers.SimpleSigner(
        signing_cert=issued.asn1_cert(),
        signing_key=issued.asn1_key(),
        cert_registry=SimpleCertificateStore.from_certs(issued.asn1_chain()),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        validation_context=validation_context,
        embed_validation_info=validation_context is not None,
    )
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer, timestamper=timestamper)
    return bytes(out.getvalue())


def append_content(pdf: bytes) -> bytes:
    """An unsigned second revision that draws new text on the page."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    stream = generic.StreamObject(stream_data=b"BT /F1 12 Tf 100 100 Td (Sua doi) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream))
    writer.set_info(generic.DictionaryObject({generic.NameObject("/Title"): generic.TextStringObject("Sửa")}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def self_signed(name: str = "Trần Văn Giả") -> Issued:
    """A certificate that no one vouches for."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.SERIAL_NUMBER, "CCCD:079090001234")]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key, ())


def issued_without_signing_usage(pki: DevPKI) -> Issued:
    """A certificate from the citizens' CA whose key may only encipher keys, not sign documents."""
    ca = pki.ca("people")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mã Hóa Thôi")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.KeyUsage(False, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(cert, key, (ca.cert, *ca.chain))


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def check(dev_pki: DevPKI) -> Verify:
    return partial(verify_pdf, trust_roots=[dev_pki.root])


@pytest.fixture(scope="module")
def person(dev_pki: DevPKI) -> Issued:
    return dev_pki.issue_person(full_name="Nguyễn Thị Hường", cccd="001190012345")


@pytest.fixture(scope="module")
def signed(person: Issued) -> bytes:
    return sign(person, pdf_bytes("Giay xac nhan tinh trang hon nhan"))


# --- the report -----------------------------------------------------------------------------------------


def test_good_signature(check: Verify, signed: bytes) -> None:
    report = check(signed)
    assert report.ok and not report.problems and report.pages == 1
    (sig,) = report.signatures
    assert sig.field_name == "ChuKy1"
    assert (sig.signer_name, sig.signer_cccd) == ("Nguyễn Thị Hường", "001190012345")
    assert sig.intact and sig.valid and sig.trusted and not sig.revoked and not sig.expired_at_signing
    assert sig.coverage == Coverage.ENTIRE_FILE and not sig.modified_after and sig.covers_document
    assert not sig.has_timestamp and sig.timestamp_valid is None and sig.timestamp_time is None
    assert sig.signing_time is not None and abs(sig.signing_time - datetime.now(UTC)) < timedelta(minutes=5)
    assert sig.problems == ()


def test_timestamped_signature(dev_pki: DevPKI, check: Verify, person: Issued) -> None:
    report = check(sign(person, pdf_bytes("Ket qua"), timestamper=DevTimeStamper(dev_pki)))
    (sig,) = report.signatures
    assert report.ok
    assert sig.has_timestamp and sig.timestamp_valid is True and sig.timestamp_time is not None


def test_validation_data_appended_after_signing(dev_pki: DevPKI, check: Verify, person: Issued) -> None:
    pdf = sign(
        person,
        pdf_bytes("Ket qua"),
        timestamper=DevTimeStamper(dev_pki),
        validation_context=dev_pki.validation_context(),
    )
    report = check(pdf)
    (sig,) = report.signatures
    assert sig.ltv and sig.coverage == Coverage.ENTIRE_REVISION  # the DSS came in a revision after it...
    assert not sig.modified_after and sig.covers_document and report.ok  # ...which changes nothing one reads


def test_annotation_added_after_signing(check: Verify, signed: bytes) -> None:
    report = check(append_annotation(signed))
    (sig,) = report.signatures
    assert sig.intact and sig.trusted  # what was signed is untouched...
    assert sig.coverage == Coverage.ENTIRE_REVISION and sig.modified_after and not sig.covers_document
    assert verify.MSG_SIG_MODIFIED_AFTER in sig.problems
    assert not report.ok  # ...but the file is no longer what was signed


def test_unsigned_revision_after_signature(check: Verify, signed: bytes) -> None:
    report = check(append_content(signed))
    (sig,) = report.signatures
    assert sig.coverage != Coverage.ENTIRE_FILE and sig.modified_after and not sig.covers_document
    assert not report.ok


def test_later_signature_keeps_the_first_good(dev_pki: DevPKI, check: Verify, signed: bytes) -> None:
    official = dev_pki.issue_person(full_name="Lê Văn Cán Bộ", cccd="001080000001")
    report = check(sign(official, signed, field="ChuKy2"))
    first, second = report.signatures
    assert first.coverage == Coverage.ENTIRE_REVISION and first.modified_after and first.covers_document
    assert second.coverage == Coverage.ENTIRE_FILE
    assert report.ok


def test_byte_flipped_inside_the_signed_range(check: Verify, signed: bytes) -> None:
    # The page's text sits in the signed range (the content stream is compressed: flip one of its bytes).
    start = signed.index(b"stream\n") + len(b"stream\n") + 8
    tampered = bytearray(signed)
    tampered[start] ^= 0x01
    report = check(bytes(tampered))
    (sig,) = report.signatures
    assert not sig.intact and not report.ok
    assert verify.MSG_SIG_NOT_INTACT in sig.problems


def test_signer_not_trusted(check: Verify) -> None:
    report = check(sign(self_signed(), pdf_bytes()))
    (sig,) = report.signatures
    assert sig.intact and sig.valid and not sig.trusted and not report.ok
    assert sig.problems == (verify.MSG_SIG_UNTRUSTED,)


def test_certificate_not_meant_for_signing(dev_pki: DevPKI, check: Verify) -> None:
    report = check(sign(issued_without_signing_usage(dev_pki), pdf_bytes()))
    (sig,) = report.signatures
    assert sig.intact and not sig.trusted and sig.problems == (verify.MSG_SIG_KEY_USAGE,)


def test_revoked_certificate(dev_pki: DevPKI, check: Verify) -> None:
    victim = dev_pki.issue_person(full_name="Phạm Văn Mất Khóa", cccd="001090000002")
    pdf = sign(victim, pdf_bytes())
    assert check(pdf).ok  # no CRL given and no fetching: revocation unknown, not a failure
    dev_pki.revoke(victim.serial)
    report = check(pdf, crls=[dev_pki.crl_der("people")])
    (sig,) = report.signatures
    assert sig.revoked and not sig.trusted and not report.ok
    assert verify.MSG_SIG_REVOKED in sig.problems


def test_revocation_after_a_trusted_timestamp_does_not_count(dev_pki: DevPKI, check: Verify) -> None:
    holder = dev_pki.issue_person(full_name="Vũ Thị Lan", cccd="001190000003")
    stamped = sign(holder, pdf_bytes(), timestamper=DevTimeStamper(dev_pki))
    claimed_only = sign(holder, pdf_bytes())
    # Revoked a second after both signatures (CRL dates have whole seconds); checked once that is past.
    revoked_at = datetime.now(UTC) + timedelta(seconds=1)
    dev_pki.revoke(holder.serial, when=revoked_at)
    time.sleep(max(0.0, (revoked_at - datetime.now(UTC)).total_seconds()) + 0.05)
    crl = dev_pki.crl_der("people")
    assert check(stamped, crls=[crl]).ok  # the TSA attests it was signed before the revocation
    assert check(claimed_only, crls=[crl]).signatures[0].revoked  # a claimed time proves nothing


def test_certificate_expired_at_signing(dev_pki: DevPKI, check: Verify) -> None:
    old = dev_pki.issue_person(
        full_name="Đỗ Văn Hết Hạn", cccd="001090000004", valid_from=datetime.now(UTC) - timedelta(days=3), valid_days=1
    )
    report = check(sign(old, pdf_bytes()))
    (sig,) = report.signatures
    assert sig.expired_at_signing and not report.ok
    assert verify.MSG_SIG_EXPIRED in sig.problems


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", verify.MSG_EMPTY),
        (b"\x89PNG\r\n\x1a\n not a pdf at all", verify.MSG_NOT_PDF),
        (bytes(range(256)) * 40, verify.MSG_NOT_PDF),
        (b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\nstartxref\n999999\n%%EOF\n", verify.MSG_DAMAGED),
        (encrypted_pdf(), verify.MSG_ENCRYPTED),
        (pdf_bytes(), verify.MSG_NO_SIGNATURE),
    ],
    ids=["empty", "png", "garbage", "garbage-with-pdf-frame", "encrypted", "unsigned"],
)
def test_unusable_files_are_refused_with_a_reason(check: Verify, data: bytes, problem: str) -> None:
    report = check(data)
    assert report.problems == (problem,) and not report.ok and report.signatures == ()


def test_truncated_signed_pdf(check: Verify, signed: bytes) -> None:
    report = check(signed[: len(signed) // 2])
    assert report.problems == (verify.MSG_DAMAGED,) and not report.ok


def test_too_many_pages(check: Verify) -> None:
    report = check(pdf_bytes(pages=500))
    assert report.problems == (verify.MSG_TOO_MANY_PAGES,) and report.pages == 500


def test_too_large_is_refused_before_parsing(check: Verify, signed: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a file over the limit reached the PDF parser")

    monkeypatch.setattr(verify, "PdfFileReader", must_not_parse)
    report = check(signed + b" " * 1000, max_bytes=len(signed))
    assert report.problems == (verify.MSG_TOO_LARGE,) and report.size == len(signed) + 1000


# --- the /verify page -----------------------------------------------------------------------------------


@pytest.fixture()
def visitor(app: FastAPI) -> TestClient:
    return TestClient(app, follow_redirects=False)


@pytest.fixture()
def applicant(db: Session) -> Iterator[Account]:
    account = Account(full_name="Lê Thị Bí Mật", email=f"bimat-{uuid4().hex[:8]}@example.vn", cccd="001190099999")
    db.add(account)
    db.commit()
    yield account
    db.delete(account)
    db.commit()


@pytest.fixture()
def issued_dossier(db: Session, applicant: Account) -> Iterator[Callable[..., Dossier]]:
    """Insert a submitted dossier whose receipt has a given SHA-256; removed after the test."""
    made: list[Dossier] = []

    def make(code: str, receipt_sha256: str, submitted_at: datetime) -> Dossier:
        procedure = db.get(Procedure, MARITAL)
        assert procedure is not None
        dossier = Dossier(
            code=code,
            procedure_code=MARITAL,
            agency_code=procedure.agency_code,
            applicant_id=applicant.id,
            status=DossierStatus.SUBMITTED,
            form_id=procedure.form_id,
            form_version=procedure.form_version,
            data={"full_name": applicant.full_name, "cccd": applicant.cccd},
            submitted_at=submitted_at,
            receipt_sha256=receipt_sha256,
        )
        db.add(dossier)
        db.commit()
        made.append(dossier)
        return dossier

    yield make
    for dossier in made:
        db.delete(dossier)
    db.commit()


def post_file(client: TestClient, data: bytes, *, filename: str = "ho-so.pdf") -> httpx.Response:
    token = csrf(client, "/verify")
    return client.post("/verify", data={"csrf_token": token}, files={"file": (filename, data, "application/pdf")})


VERDICT_OK = '<section class="panel success" aria-labelledby="verdict-title">'
VERDICT_BAD = '<section class="panel" aria-labelledby="verdict-title">'


@pytest.mark.db
def test_page_has_a_labelled_upload_form(visitor: TestClient) -> None:
    r = visitor.get("/verify")
    assert r.status_code == 200
    assert '<label for="verify-file">' in r.text and 'id="verify-file" name="file"' in r.text
    assert 'accept=".pdf,application/pdf"' in r.text and 'enctype="multipart/form-data"' in r.text
    assert CSRF_RE.search(r.text)


@pytest.mark.db
def test_post_good_signature(app: FastAPI, visitor: TestClient) -> None:
    pdf = sign(get_pki(app).issue_person(full_name="Hoàng Thị Thu", cccd="001190000005"), pdf_bytes())
    r = post_file(visitor, pdf)
    assert r.status_code == 200, r.text
    assert VERDICT_OK in r.text and "Hoàng Thị Thu" in r.text and "001190000005" in r.text
    assert hashlib.sha256(pdf).hexdigest() in r.text


@pytest.mark.db
def test_post_altered_file_shows_the_problem(app: FastAPI, visitor: TestClient) -> None:
    pdf = append_annotation(sign(get_pki(app).issue_person(full_name="Bùi Văn Nam", cccd="001190000006"), pdf_bytes()))
    r = post_file(visitor, pdf)
    assert r.status_code == 200  # the check ran: its answer is "not valid"
    assert VERDICT_BAD in r.text and "✗" in r.text


@pytest.mark.db
def test_post_revoked_signer(app: FastAPI, visitor: TestClient) -> None:
    pki = get_pki(app)
    holder = pki.issue_person(full_name="Ngô Văn Thu Hồi", cccd="001190000007")
    pdf = sign(holder, pdf_bytes())
    pki.revoke(holder.serial)  # the page hands the development CA's CRLs to the validator
    r = post_file(visitor, pdf)
    assert r.status_code == 200 and VERDICT_BAD in r.text


@pytest.mark.db
@pytest.mark.parametrize(
    "data",
    [b"", b"hello, not a pdf", pdf_bytes(), encrypted_pdf(), pdf_bytes()[:500]],
    ids=["empty", "not-pdf", "unsigned", "encrypted", "truncated"],
)
def test_post_unusable_files(visitor: TestClient, data: bytes) -> None:
    r = post_file(visitor, data)
    assert r.status_code == 422
    assert 'aria-invalid="true"' in r.text and 'class="field-error"' in r.text


@pytest.mark.db
def test_htmx_gets_the_fragment(app: FastAPI, visitor: TestClient) -> None:
    pdf = sign(get_pki(app).issue_person(full_name="Đinh Thị Mai", cccd="001190000008"), pdf_bytes())
    token = csrf(visitor, "/verify")
    r = visitor.post(
        "/verify",
        data={"csrf_token": token},
        files={"file": ("a.pdf", pdf, "application/pdf")},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="verify">')
    assert "<html" not in r.text and VERDICT_OK in r.text and "HX-Request" in r.headers["vary"]


@pytest.mark.db
def test_post_without_a_file(visitor: TestClient) -> None:
    r = visitor.post("/verify", data={"csrf_token": csrf(visitor, "/verify")})
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text


@pytest.mark.db
def test_post_without_csrf_is_refused(visitor: TestClient) -> None:
    visitor.get("/verify")
    r = visitor.post("/verify", files={"file": ("a.pdf", pdf_bytes(), "application/pdf")})
    assert r.status_code == 403


@pytest.mark.db
def test_post_too_large(settings: Settings) -> None:
    application = create_app(settings.model_copy(update={"verify_max_bytes": 100_000}))
    with TestClient(application) as client:
        token = csrf(client, "/verify")
        big = b"%PDF-1.7\n" + b"0" * 300_000
        # Refused on its Content-Length, before the form is parsed.
        r = client.post("/verify", data={"csrf_token": token}, files={"file": ("big.pdf", big, "application/pdf")})
        assert r.status_code == 413 and 'aria-invalid="true"' in r.text
        # Just over the limit but within the form's slack: refused after reading limit + 1 bytes.
        small_big = big[:100_001]
        r = client.post("/verify", data={"csrf_token": token}, files={"file": ("b.pdf", small_big, "application/pdf")})
        assert r.status_code == 413


@pytest.mark.db
def test_fingerprint_lookup(visitor: TestClient, issued_dossier: Callable[..., Dossier]) -> None:
    fingerprint = "ab" * 32
    issued_dossier("UBXA-261122-9101", fingerprint, datetime(2026, 11, 22, 2, 30, tzinfo=UTC))
    r = visitor.get("/verify", params={"sha256": fingerprint.upper()})
    assert r.status_code == 200
    assert "UBXA-261122-9101" in r.text and "09:30:00 22/11/2026" in r.text  # Vietnam time
    for private in ("Lê Thị Bí Mật", "001190099999", "bimat-"):
        assert private not in r.text
    assert visitor.get("/verify", params={"sha256": "cd" * 32}).status_code == 404
    bad = visitor.get("/verify", params={"sha256": "<script>"})
    assert bad.status_code == 422 and "<script>" not in bad.text and 'aria-invalid="true"' in bad.text


@pytest.mark.db
def test_uploaded_file_issued_by_the_portal(visitor: TestClient, issued_dossier: Callable[..., Dossier]) -> None:
    receipt = pdf_bytes("Bien nhan ho so")  # receipts are not signed: the fingerprint identifies them
    issued_dossier("UBXA-261122-9102", hashlib.sha256(receipt).hexdigest(), datetime.now(UTC))
    r = post_file(visitor, receipt)
    assert r.status_code == 200 and "UBXA-261122-9102" in r.text and 'aria-invalid="true"' not in r.text


@pytest.mark.db
def test_posts_are_rate_limited(settings: Settings) -> None:
    application = create_app(settings)
    with TestClient(application) as client:
        token = csrf(client, "/verify")
        files = {"file": ("a.pdf", b"x", "application/pdf")}
        codes = [client.post("/verify", data={"csrf_token": token}, files=files).status_code for _ in range(31)]
    assert set(codes[:30]) == {422} and codes[30] == 429
