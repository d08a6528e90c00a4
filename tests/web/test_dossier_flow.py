"""The Level-3 journey over HTTP: draft, steps, uploads, review, submit, receipt, timeline."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from portal.dossiers.models import Dossier, DossierEvent, DossierFile
from portal.kernel.outbox import WorkerContext, drain
from signing.pki import get_pki
from tests.conftest import csrf
from tests.factories import jpeg_bytes, marital_step1, marital_step2, pdf_bytes
from tests.signing.helpers import sign_with
from tests.web.flow import fill_marital, post_step, start, submit, upload

pytestmark = pytest.mark.db
CODE_RE = re.compile(r"\bUBXA-\d{6}-\d{4}\b")


def test_start_needs_sign_in_and_comes_back(client: TestClient) -> None:
    page = client.get("/procedures/1.004873")
    assert 'href="/signin?next=%2Fprocedures%2F1.004873"' in page.text
    assert "set-cookie" not in page.headers  # anonymous catalogue pages carry no session
    token = csrf(client, "/signin")
    r = client.post(
        "/procedures/1.004873/start",
        data={"csrf_token": token},
        headers={"referer": "http://testserver/procedures/1.004873"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=%2Fprocedures%2F1.004873"


def test_step_errors_keep_what_was_typed(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    r = post_step(citizen, dossier_id, "applicant", marital_step1(cccd="00119001234", phone="12345"))
    assert r.status_code == 422
    assert 'class="error-summary"' in r.text
    assert 'href="#f-cccd-wrap"' in r.text
    assert 'value="00119001234"' in r.text  # what the citizen typed is shown again
    assert "Nguyễn Thị Hường" in r.text
    # The draft was saved with the valid answers.
    page = citizen.get(f"/dossiers/{dossier_id}/steps/applicant")
    assert 'value="Kinh"' in page.text
    r = post_step(citizen, dossier_id, "applicant", marital_step1(cccd="099190012345"))
    assert r.status_code == 422 and "099" in r.text
    r = post_step(citizen, dossier_id, "applicant", marital_step1())
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/status")


def test_garbage_in_every_field_is_a_422_not_a_500(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    garbage = {k: "\x00<script>alert(1)</script>" + "ű" * 3000 for k in marital_step1()}
    r = post_step(citizen, dossier_id, "applicant", garbage)
    assert r.status_code == 422
    assert "<script>alert(1)</script>" not in r.text
    r = post_step(citizen, dossier_id, "status", {"marital_status": "hacker", "copies": "NaN", "purpose": "x" * 10})
    assert r.status_code == 422
    r = post_step(citizen, dossier_id, "nope", {})
    assert r.status_code == 404


def test_resume_draft_from_my_dossiers(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    post_step(citizen, dossier_id, "applicant", marital_step1(), action="save")
    listing = citizen.get("/dossiers")
    assert f"/dossiers/{dossier_id}/continue" in listing.text
    r = citizen.get(f"/dossiers/{dossier_id}/continue")
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/applicant")


def test_show_if_and_back_navigation(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    post_step(citizen, dossier_id, "applicant", marital_step1())
    # purpose=marriage makes the partner fields required; purpose_other is then not asked.
    r = post_step(citizen, dossier_id, "status", marital_step2(purpose="marriage"))
    assert r.status_code == 422 and "f-partner_name-wrap" in r.text
    r = post_step(citizen, dossier_id, "status", {}, action="back")
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/applicant")


def test_uploads_are_checked_by_content(citizen: TestClient, db: Session) -> None:
    dossier_id = start(citizen)
    post_step(citizen, dossier_id, "applicant", marital_step1())
    cases = [
        ("empty.pdf", b"", 422),
        ("virus.pdf", b"MZ\x90\x00" + b"\x00" * 2000, 415),
        ("photo.png", __import__("tests.factories", fromlist=["zip_as_png"]).zip_as_png(), 415),
        ("locked.pdf", __import__("tests.factories", fromlist=["encrypted_pdf"]).encrypted_pdf(), 422),
        ("cut.pdf", pdf_bytes()[:400], 422),
        ("big.pdf", b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024), 413),
    ]
    for name, data, status in cases:
        r = upload(citizen, dossier_id, "to_khai", name, data, "application/pdf")
        assert r.status_code == status, (name, r.status_code)
        assert 'class="error-summary"' in r.text
    assert not db.exec(select(DossierFile).where(DossierFile.dossier_id == dossier_id)).all()
    ok = upload(citizen, dossier_id, "to_khai", "to-khai.pdf", pdf_bytes(), "image/jpeg")
    assert ok.status_code == 303
    # A refused file does not lose the one already there, nor the answers.
    assert upload(citizen, dossier_id, "giay_to_ly_hon", "x.pdf", b"not a pdf", "application/pdf").status_code == 415
    db.rollback()  # a new snapshot
    files = db.exec(select(DossierFile).where(DossierFile.dossier_id == dossier_id)).all()
    assert [f.filename for f in files] == ["to-khai.pdf"]
    assert len(files[0].sha256) == 64
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.data["ethnicity"] == "Kinh"


def test_request_over_the_body_limit_gets_413(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    token = csrf(citizen, f"/dossiers/{dossier_id}/files")
    r = citizen.post(
        f"/dossiers/{dossier_id}/files/to_khai",
        data={"csrf_token": token},
        files=[("files", ("huge.pdf", b"%PDF-1.4" + b"0" * (7 * 1024 * 1024), "application/pdf"))],
    )
    assert r.status_code == 413
    assert "MB" in r.text
    assert citizen.get(f"/dossiers/{dossier_id}/steps/applicant").status_code == 200


def test_submit_incomplete_dossier_lists_what_is_missing(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    post_step(citizen, dossier_id, "applicant", marital_step1())
    r = submit(citizen, dossier_id)
    assert r.status_code == 422
    assert "f-marital_status-wrap" in r.text
    assert f"/dossiers/{dossier_id}/files#c-to_khai" in r.text


def test_full_journey_receipt_and_timeline(citizen: TestClient, app, db: Session) -> None:
    dossier_id = fill_marital(citizen)
    review = citizen.get(f"/dossiers/{dossier_id}/review")
    assert review.status_code == 200 and "Kinh" in review.text and "to-khai.pdf" in review.text
    r = submit(citizen, dossier_id, "post")
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}?submitted=1"
    page = citizen.get(r.headers["location"])
    code = CODE_RE.search(page.text)
    assert code, page.text
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.code == code.group(0) and dossier.due_date is not None
    # The worker builds and stores the receipt once.
    ctx = WorkerContext(settings=app.state.settings, storage=app.state.storage)
    while drain(app.state.engine, ctx):  # everything due (other tests' messages come first, by id)
        pass
    db.rollback()  # a new snapshot
    events = select(DossierEvent).where(DossierEvent.dossier_id == dossier_id).order_by(col(DossierEvent.id))
    kinds = [e.kind for e in db.exec(events)]
    assert kinds == ["created", "submitted", "receipt_issued"]
    receipt = citizen.get(f"/dossiers/{dossier_id}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.pdf"
        path.write_bytes(receipt.content)
        text = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
    flat = " ".join(text.split())
    for expected in (
        "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        code.group(0),
        "Nguyễn Thị Hường",
        "Cấp Giấy xác nhận tình trạng hôn nhân",
        dossier.due_date.strftime("%d/%m/%Y"),
        "15.000",
    ):
        assert expected in flat, expected
    detail = citizen.get(f"/dossiers/{dossier_id}")
    assert "timeline" in detail.text and detail.text.count("<time ") == 3
    # A submitted dossier can no longer be edited.
    assert citizen.get(f"/dossiers/{dossier_id}/steps/applicant").status_code == 303
    assert post_step(citizen, dossier_id, "applicant", marital_step1()).status_code == 409


def test_double_submit_makes_one_dossier(citizen: TestClient, db: Session) -> None:
    dossier_id = fill_marital(citizen)
    first, second = submit(citizen, dossier_id), submit(citizen, dossier_id)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    db.rollback()  # a new snapshot
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.code
    events = db.exec(
        select(DossierEvent).where(DossierEvent.dossier_id == dossier_id, DossierEvent.kind == "submitted")
    ).all()
    assert len(events) == 1


def test_component_that_accepts_only_pdf_refuses_a_photo(citizen: TestClient) -> None:
    dossier_id = start(citizen, "1.001612")
    r = upload(citizen, dossier_id, "giay_de_nghi", "scan.jpg", jpeg_bytes(), "image/jpeg")
    assert r.status_code == 415 and "PDF" in r.text
    # That component must also be signed (tests/signing/test_signed_upload.py): an unsigned PDF is refused too.
    assert upload(citizen, dossier_id, "giay_de_nghi", "don.pdf", pdf_bytes(), "application/pdf").status_code == 422
    signed = sign_with(get_pki(citizen.app).issue_person(full_name="Chủ Hộ", cccd="037190000101"), pdf_bytes())
    assert upload(citizen, dossier_id, "giay_de_nghi", "don.pdf", signed, "application/pdf").status_code == 303
    assert upload(citizen, dossier_id, "khong_co", "don.pdf", pdf_bytes(), "application/pdf").status_code == 404


def test_conditional_fields_name_the_answer_that_needs_them(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    post_step(citizen, dossier_id, "applicant", marital_step1())
    page = citizen.get(f"/dossiers/{dossier_id}/steps/status").text
    assert "Chỉ khai mục này nếu đã chọn “Đăng ký kết hôn” tại mục “Mục đích sử dụng Giấy xác nhận”." in page
    assert 'data-show-if="purpose"' in page
