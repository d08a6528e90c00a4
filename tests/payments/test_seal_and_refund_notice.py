"""The e-receipt's visible seal, and the sealed refund notice for money given back after the receipt was issued."""

from __future__ import annotations

import io
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import Session, select

from payments.ereceipt import (
    REFUND_NOTICE_TITLE,
    SEAL_BOX,
    RefundNoticeData,
    RefundNoticeLine,
    refund_notice_pdf,
    render_e_receipt_pdf,
    render_refund_notice_pdf,
    seal_issued,
)
from payments.models import Payment
from portal.kernel.outbox import WorkerContext, drain
from portal.kernel.settings import Settings
from signing.pki import DevPKI, get_pki
from signing.verify import verify_pdf
from tests.conftest import csrf
from tests.payments.helpers import pay
from tests.payments.test_ereceipt import sample
from tests.pdftools import extract_text
from tests.web.flow import fill_marital, submit


@pytest.fixture(scope="module")
def seal_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose seal is the development CA's (no database needed)."""
    return Settings(
        environment="test",
        secret_key=secrets.token_urlsafe(48),
        storage_dir=tmp_path_factory.mktemp("visible-seal"),
        base_url="http://testserver",
        _env_file=None,  # type: ignore[call-arg]
    )


def seal_widget_rect(pdf: bytes) -> tuple[float, float, float, float]:
    """The rectangle of the (one) signature widget on the last page."""
    page = PdfReader(io.BytesIO(pdf)).pages[-1]
    widgets = [a.get_object() for a in page.get("/Annots", []) if a.get_object().get("/FT") == "/Sig"]
    assert len(widgets) == 1, widgets
    x1, y1, x2, y2 = (float(v) for v in widgets[0]["/Rect"])
    return x1, y1, x2, y2


def assert_valid_seal(pdf: bytes, settings: Settings) -> None:
    pki = DevPKI.load_or_create(settings.storage_dir / "pki", base_url=settings.base_url)
    report = verify_pdf(pdf, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok, report
    [seal] = report.signatures
    assert seal.has_timestamp and seal.coverage == "entire_file"


def test_the_e_receipt_seal_is_visible_in_the_stamp_box(seal_settings: Settings) -> None:
    rendered = render_e_receipt_pdf(sample())
    assert "Ký bởi" not in extract_text(rendered)
    sealed = seal_issued(rendered, seal_settings)
    assert sealed.startswith(rendered)
    assert_valid_seal(sealed, seal_settings)
    assert seal_widget_rect(sealed) == SEAL_BOX
    text = extract_text(sealed)
    # The stamp, in Vietnamese, under "NGƯỜI THU TIỀN": who sealed, and when (Vietnam time).
    assert "NGƯỜI THU TIỀN" in text
    assert "Ký bởi: Cổng Dịch vụ công (phát triển)" in text
    assert "Thời gian: " in text


def notice(**changes: object) -> RefundNoticeData:
    data = RefundNoticeData(
        receipt_number="0000123",
        receipt_symbol="CAT-26E",
        receipt_issued_at=datetime(2027, 2, 3, 2, 30, tzinfo=UTC),
        receipt_total=100_000,
        collector_name="Công an tỉnh Ninh Bình",
        collector_address="Số 2 Lê Hồng Phong, phường Hoa Lư, tỉnh Ninh Bình",
        province_name="Tỉnh Ninh Bình",
        payer_name="Nguyễn Thị Hường",
        payer_id_number="037190001234",
        dossier_code="000.00.12.H15-270203-0007",
        procedure_name="Cấp Phiếu lý lịch tư pháp số 1 cho công dân Việt Nam",
        refunds=(
            RefundNoticeLine(datetime(2027, 2, 10, 3, 0, tzinfo=UTC), "Thanh toán trùng", 25_000, "SBR0001"),
            RefundNoticeLine(datetime(2027, 2, 12, 8, 15, tzinfo=UTC), "Hồ sơ bị từ chối", 35_000),
        ),
        lookup_url="http://testserver/lookup?code=000.00.12.H15-270203-0007",
    )
    return replace(data, **changes)  # type: ignore[arg-type]


def test_refund_notice_reads_back(seal_settings: Settings) -> None:
    sealed = seal_issued(render_refund_notice_pdf(notice()), seal_settings)
    assert_valid_seal(sealed, seal_settings)
    assert seal_widget_rect(sealed) == SEAL_BOX
    text = extract_text(sealed)
    for expected in (
        REFUND_NOTICE_TITLE,
        "Biên lai điện tử: Mẫu số 01BLP0-001, ký hiệu CAT-26E, số 0000123, lập lúc 09:30 ngày 03/02/2027",
        "Số tiền đã thu theo biên lai: 100.000 đồng",
        "1 10/02/2027 10:00 Thanh toán trùng (mã giao dịch SBR0001) 25.000 đồng",
        "2 12/02/2027 15:15 Hồ sơ bị từ chối 35.000 đồng",
        "Tổng số tiền đã hoàn trả 60.000 đồng",
        "Số tiền đã hoàn trả bằng chữ: Sáu mươi nghìn đồng",
        "Số tiền đơn vị thu còn giữ lại: 40.000 đồng (Bốn mươi nghìn đồng)",
        "Ninh Bình, ngày 12 tháng 02 năm 2027",  # dated by its latest refund
        "Ký bởi: Cổng Dịch vụ công (phát triển)",
    ):
        assert expected in text, (expected, text)


def test_refund_notice_refuses_impossible_amounts() -> None:
    with pytest.raises(ValueError, match="at least one refund"):
        notice(refunds=())
    with pytest.raises(ValueError, match="more than the receipt"):
        notice(receipt_total=50_000)
    with pytest.raises(ValueError, match="positive"):
        notice(refunds=(RefundNoticeLine(datetime(2027, 2, 10, tzinfo=UTC), "x", 0),))


# -- with the database: a refund after the receipt was issued


def drain_all(app: FastAPI) -> None:
    ctx = WorkerContext(settings=app.state.settings, storage=app.state.storage, gateways=app.state.gateways)
    while drain(app.state.engine, ctx):
        pass


@pytest.mark.db
def test_a_refund_after_issue_leaves_the_receipt_and_gets_a_notice(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_marital(citizen)
    assert submit(citizen, dossier_id).status_code == 303
    reference = pay(citizen, app, dossier_id)
    drain_all(app)  # the e-receipt is issued and stored
    settings = app.state.settings
    with Session(app.state.engine) as s:
        payment = s.exec(select(Payment).where(Payment.reference == reference)).one()
        payment_id, fingerprint, symbol, number = (
            payment.id,
            payment.receipt_sha256,
            payment.receipt_symbol,
            payment.receipt_number,
        )
        assert refund_notice_pdf(s, payment, settings) is None  # nothing given back yet
    receipt_url = f"/dossiers/{dossier_id}/payments/{payment_id}/receipt.pdf"
    notice_url = f"/dossiers/{dossier_id}/payments/{payment_id}/refunds.pdf"
    before = citizen.get(receipt_url).content
    assert citizen.get(notice_url).status_code == 404
    assert notice_url not in citizen.get(f"/dossiers/{dossier_id}/payment").text
    assert "Ký bởi:" in extract_text(before)  # the stored receipt carries the visible seal

    token = csrf(citizen, f"/dossiers/{dossier_id}")
    assert citizen.post(f"/dossiers/{dossier_id}/withdraw", data={"csrf_token": token}).status_code == 303
    drain_all(app)  # the refund is paid back by the gateway

    after = citizen.get(receipt_url).content
    assert after == before  # the issued receipt is never changed: its seal and /verify's fingerprint hold
    with Session(app.state.engine) as s:
        payment = s.exec(select(Payment).where(Payment.reference == reference)).one()
        assert payment.receipt_sha256 == fingerprint and payment.refunded_amount == payment.amount
        pdf = refund_notice_pdf(s, payment, settings)
        amount = payment.amount
    assert pdf is not None
    pki = get_pki(app)
    report = verify_pdf(pdf, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok, report
    text = extract_text(pdf)
    money = f"{amount:,}".replace(",", ".") + " đồng"
    assert f"ký hiệu {symbol}, số {number}" in text
    assert "Người nộp rút hồ sơ (mã giao dịch " in text
    assert f"Tổng số tiền đã hoàn trả {money}" in text
    assert "Số tiền đơn vị thu còn giữ lại: 0 đồng (Không đồng)" in text
    # The citizen downloads it from the fee page, beside the receipt; nobody else can.
    assert notice_url in citizen.get(f"/dossiers/{dossier_id}/payment").text
    served = citizen.get(notice_url)
    assert served.status_code == 200 and served.headers["content-type"] == "application/pdf"
    assert f"bien-lai-{number}-hoan-tra.pdf" in served.headers["content-disposition"]
    assert f"Tổng số tiền đã hoàn trả {money}" in extract_text(served.content)
    assert TestClient(app, follow_redirects=False).get(notice_url).status_code in (302, 303)


def test_sample_files_are_written(tmp_path: Path, seal_settings: Settings) -> None:
    # The notice and the sealed receipt are ordinary files a PDF reader opens (one page each here).
    for pdf in (
        seal_issued(render_e_receipt_pdf(sample()), seal_settings),
        seal_issued(render_refund_notice_pdf(notice()), seal_settings),
    ):
        path = tmp_path / "doc.pdf"
        path.write_bytes(pdf)
        assert len(PdfReader(str(path)).pages) == 1
