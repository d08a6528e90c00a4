"""Signing an application and sealing a document: pyHanko's verdict, the stamp, and poppler's pdfsig."""

from __future__ import annotations

import hashlib
import io
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from signing.pki import DevPKI, Issued
from signing.sign import PadesLevel, SealError, seal_document, sign_application
from signing.stamping import TIMESTAMP_FORMAT
from signing.tsa import DevTimeStamper
from tests.signing.conftest import PERSON_NAME
from tests.signing.helpers import (
    BOX,
    make_test_pdf,
    nss_db,
    pdfsig,
    pdftotext,
    sign_with,
    simple_signer,
    validate_all,
    validation_context,
)

NAME = PERSON_NAME  # the `person` fixture (conftest.py)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return make_test_pdf("Tờ khai đăng ký thường trú\nHọ, chữ đệm và tên: Nguyễn Thị Hường\nĐịa chỉ: Phường Điện Biên")


@pytest.fixture(scope="module")
def citizen_signed(person: Issued, pdf: bytes, dev_pki: DevPKI) -> bytes:
    return sign_application(pdf, signer=simple_signer(person), signer_name=NAME, box=BOX, page=0).pdf


@pytest.fixture(scope="module")
def sealed(citizen_signed: bytes, dev_pki: DevPKI) -> bytes:
    result = seal_document(
        citizen_signed,
        signer=simple_signer(dev_pki.seal()),
        timestamper=DevTimeStamper(dev_pki),
        validation_context=validation_context(dev_pki),
    )
    assert result.level is PadesLevel.B_LT
    return result.pdf


def test_application_signature_is_valid_with_a_vietnamese_stamp(person: Issued, pdf: bytes, dev_pki: DevPKI) -> None:
    decomposed = unicodedata.normalize("NFD", NAME)  # as some keyboards send it: the stamp shows it composed
    before = datetime.now(UTC).replace(microsecond=0)
    result = sign_application(pdf, signer=simple_signer(person), signer_name=decomposed, box=BOX, page=0)

    assert result.signer_name == NAME and result.field_name == "ChuKyNguoiYeuCau"
    assert result.level is PadesLevel.B_B
    assert result.signed_at.utcoffset() == timedelta(hours=7) and result.signed_at >= before
    assert result.sha256 == hashlib.sha256(result.pdf).hexdigest()

    (status,) = validate_all(result.pdf, dev_pki)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert status.md_algorithm == "sha256"
    sig = PdfFileReader(io.BytesIO(result.pdf)).embedded_signatures[0]
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.sig_object["/Reason"] == "Ký tờ khai"

    text = pdftotext(result.pdf)
    assert f"Ký bởi: {NAME}" in text
    assert f"Thời gian: {result.signed_at.strftime(TIMESTAMP_FORMAT)}" in text


def test_application_signature_with_a_timestamp_is_b_t(person: Issued, pdf: bytes, dev_pki: DevPKI) -> None:
    result = sign_application(
        pdf, signer=simple_signer(person), signer_name=NAME, box=BOX, page=-1, timestamper=DevTimeStamper(dev_pki)
    )
    assert result.level is PadesLevel.B_T
    (status,) = validate_all(result.pdf, dev_pki)
    assert status.bottom_line
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted


def test_seal_has_a_valid_timestamp_and_embedded_validation_data(sealed: bytes, dev_pki: DevPKI) -> None:
    citizen, seal = validate_all(sealed, dev_pki)
    assert citizen.intact and citizen.valid and citizen.trusted
    assert citizen.coverage is SignatureCoverageLevel.ENTIRE_REVISION  # the seal came after, as it should
    assert seal.intact and seal.valid and seal.trusted, seal.pretty_print_details()
    assert seal.coverage is SignatureCoverageLevel.ENTIRE_FILE  # signature and DSS in one revision
    assert seal.timestamp_validity is not None
    assert seal.timestamp_validity.intact and seal.timestamp_validity.valid and seal.timestamp_validity.trusted

    reader = PdfFileReader(io.BytesIO(sealed))
    dss = reader.root["/DSS"]
    assert len(dss["/CRLs"]) >= 2 and len(dss["/Certs"]) >= 3  # CRLs of the services CA and root; the chains
    (_, seal_sig) = reader.embedded_signatures
    assert seal_sig.field_name == "DauCoQuan"
    assert "/Rect" not in seal_sig.sig_field or all(v == 0 for v in seal_sig.sig_field["/Rect"])  # invisible


def test_seal_without_validation_context_is_b_t(citizen_signed: bytes, dev_pki: DevPKI) -> None:
    result = seal_document(
        citizen_signed,
        signer=simple_signer(dev_pki.seal()),
        timestamper=DevTimeStamper(dev_pki),
        validation_context=None,
    )
    assert result.level is PadesLevel.B_T
    assert "/DSS" not in PdfFileReader(io.BytesIO(result.pdf)).root
    assert all(s.bottom_line for s in validate_all(result.pdf, dev_pki))


def test_seal_falls_back_to_b_t_when_revocation_data_is_unobtainable(citizen_signed: bytes, dev_pki: DevPKI) -> None:
    # Offline with the root's CRL only: the services CA's CRL (for the seal and TSA certificates) is missing.
    offline_without_crls = ValidationContext(
        trust_roots=[dev_pki.ca("root").asn1_cert()],
        other_certs=[dev_pki.ca("services").asn1_cert()],
        crls=[asn1_crl.CertificateList.load(dev_pki.crl_der("root"))],
        allow_fetching=False,
        revocation_mode="hard-fail",
    )
    result = seal_document(
        citizen_signed,
        signer=simple_signer(dev_pki.seal()),
        timestamper=DevTimeStamper(dev_pki),
        validation_context=offline_without_crls,
    )
    assert result.level is PadesLevel.B_T
    assert "/DSS" not in PdfFileReader(io.BytesIO(result.pdf)).root


def test_seal_refuses_a_revoked_certificate(citizen_signed: bytes, dev_pki: DevPKI) -> None:
    revoked = dev_pki.issue_person(full_name="Phạm Văn Đồng", cccd="001090000009")
    dev_pki.revoke(revoked.serial)
    with pytest.raises(SealError, match="revoked"):
        seal_document(
            citizen_signed,
            signer=simple_signer(revoked),
            timestamper=DevTimeStamper(dev_pki),
            validation_context=validation_context(dev_pki),
        )


def test_seal_refuses_a_revoked_tsa(citizen_signed: bytes, dev_pki: DevPKI) -> None:
    old_tsa = dev_pki.tsa()
    dev_pki.revoke(old_tsa.serial)  # the PKI issues a new TSA certificate for everyone else
    with pytest.raises(SealError, match="revoked"):
        seal_document(
            citizen_signed,
            signer=simple_signer(dev_pki.seal()),
            timestamper=DevTimeStamper(old_tsa),
            validation_context=validation_context(dev_pki),
        )


def test_seal_can_be_visible(pdf: bytes, dev_pki: DevPKI) -> None:
    result = seal_document(
        pdf,
        signer=simple_signer(dev_pki.seal()),
        timestamper=DevTimeStamper(dev_pki),
        validation_context=None,
        box=(40, 30, 260, 90),
        page=-1,
    )
    assert f"Ký bởi: {dev_pki.org}" in pdftotext(result.pdf)


def test_expired_and_revoked_signers_do_not_validate(pdf: bytes, dev_pki: DevPKI) -> None:
    expired = dev_pki.issue_person(
        full_name="Lê Thị Hết Hạn", cccd="001090000003", valid_from=datetime.now(UTC) - timedelta(days=10), valid_days=2
    )
    (status,) = validate_all(sign_with(expired, pdf), dev_pki)
    assert status.intact and status.valid  # the mathematics is fine...
    assert not status.trusted and not status.bottom_line  # ...but the certificate was not valid when it signed

    revoked = dev_pki.issue_person(full_name="Hoàng Văn Thu Hồi", cccd="001090000004")
    dev_pki.revoke(revoked.serial)
    (status,) = validate_all(sign_with(revoked, pdf), dev_pki)
    assert status.intact and status.valid
    assert status.revoked and not status.bottom_line


def test_pdfsig_agrees(citizen_signed: bytes, sealed: bytes, dev_pki: DevPKI, tmp_path: Path) -> None:
    """poppler + NSS, an implementation independent of pyHanko, trusting only the dev root."""
    db = nss_db(dev_pki, tmp_path / "nss")
    (tmp_path / "citizen.pdf").write_bytes(citizen_signed)
    (tmp_path / "sealed.pdf").write_bytes(sealed)

    alone = pdfsig(tmp_path / "citizen.pdf", db)
    assert alone.count("Signature is Valid.") == 1, alone
    assert alone.count("Certificate is Trusted.") == 1, alone
    assert "Total document signed" in alone, alone

    both = pdfsig(tmp_path / "sealed.pdf", db)
    citizen_part, seal_part = both.split("Signature #2:")
    assert "Signature Field Name: ChuKyNguoiYeuCau" in citizen_part
    assert "Signature is Valid." in citizen_part and "Certificate is Trusted." in citizen_part, both
    assert "Signature Field Name: DauCoQuan" in seal_part
    assert "Signature is Valid." in seal_part, both
    # NSS checks signers for the email-signing usage: the seal certificate needs emailProtection in its EKU.
    assert "Certificate is Trusted." in seal_part, both


def test_pdfsig_sees_an_expired_certificate(pdf: bytes, dev_pki: DevPKI, tmp_path: Path) -> None:
    """Offline, pdfsig sees expiry; it cannot see revocation (NSS fetches no CRLs and our certificates name no OCSP)."""
    expired = dev_pki.issue_person(
        full_name="Đỗ Văn Cũ", cccd="001090000005", valid_from=datetime.now(UTC) - timedelta(days=10), valid_days=2
    )
    (tmp_path / "expired.pdf").write_bytes(sign_with(expired, pdf))
    out = pdfsig(tmp_path / "expired.pdf", nss_db(dev_pki, tmp_path / "nss"))
    assert "Signature is Valid." in out and "Certificate has Expired" in out, out
