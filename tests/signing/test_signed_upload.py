"""A document signed elsewhere (a USB token at home): validated at upload, refused with the reason."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from portal.dossiers.models import DossierFile
from signing.pki import get_pki
from tests.signing.helpers import append_annotation, make_test_pdf, sign_with
from tests.web.flow import start, upload

pytestmark = pytest.mark.db
HOUSEHOLD = "1.001612"  # household business registration: its application must be digitally signed


@pytest.fixture()
def draft(citizen: TestClient) -> str:
    citizen.cookies.set("lang", "en")
    return start(citizen, HOUSEHOLD)


def test_a_trusted_signed_pdf_is_accepted(citizen: TestClient, draft: str, app: FastAPI, db: Session) -> None:
    issued = get_pki(app).issue_person(full_name="Trần Văn Bảo", cccd="037190000777")
    signed = sign_with(issued, make_test_pdf("Giấy đề nghị đăng ký hộ kinh doanh"))
    r = upload(citizen, draft, "giay_de_nghi", "de-nghi.pdf", signed, "application/pdf")
    assert r.status_code == 303, r.text
    db.rollback()
    row = db.exec(select(DossierFile).where(DossierFile.dossier_id == draft)).one()
    assert row.signature == "uploaded" and row.signature_report and row.signature_report["signer"] == "Trần Văn Bảo"
    page = citizen.get(f"/dossiers/{draft}/files")
    assert "Digitally signed: Trần Văn Bảo" in page.text
    # The stored bytes are the signed file itself (re-saving would break the signature).
    assert citizen.get(f"/dossiers/{draft}/files/{row.id}").content == signed


def test_unsigned_modified_untrusted_and_revoked_files_are_refused(
    citizen: TestClient, draft: str, app: FastAPI, db: Session
) -> None:
    pki = get_pki(app)
    good = sign_with(pki.issue_person(full_name="Lê Thị Cúc", cccd="037190000778"), make_test_pdf("Đề nghị"))
    revoked_person = pki.issue_person(full_name="Phạm Văn Dũng", cccd="037190000779")
    revoked = sign_with(revoked_person, make_test_pdf("Đề nghị"))
    pki.revoke(revoked_person.cert.serial_number)
    cases = {
        "unsigned.pdf": make_test_pdf("Đề nghị chưa ký"),
        "tampered.pdf": good[:-400] + good[-400:].replace(b"0", b"1", 1),  # a change inside the signed bytes
        "appended.pdf": append_annotation(good),  # an incremental update after the signature
        "revoked.pdf": revoked,
    }
    for name, data in cases.items():
        r = upload(citizen, draft, "giay_de_nghi", name, data, "application/pdf")
        assert r.status_code == 422, (name, r.status_code)
        assert "was not accepted" in r.text or "signature" in r.text, name
    r = upload(citizen, draft, "giay_de_nghi", "scan.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")
    assert r.status_code in (415, 422)
    db.rollback()
    assert db.exec(select(DossierFile).where(DossierFile.dossier_id == draft)).all() == []  # nothing stored
    assert citizen.get(f"/dossiers/{draft}/review").status_code == 200  # the draft is intact


def test_a_required_signature_blocks_submission_until_present(citizen: TestClient, draft: str) -> None:
    review = citizen.get(f"/dossiers/{draft}/review")
    assert (
        review.status_code == 200 and "giay_de_nghi" in review.text
    ) or "Household business registration application" in review.text
