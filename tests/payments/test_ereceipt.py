"""Tests of payments.ereceipt: the e-receipt PDF reads back in exact Vietnamese, wraps, stays free for the seal."""

from __future__ import annotations

import io
import re
import secrets
import subprocess
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import segno
from PIL import Image
from pypdf import PdfReader

from payments.ereceipt import SEAL_BOX, TITLE, EReceiptData, EReceiptLine, receipt_lines, render_e_receipt_pdf
from payments.fees import Reduction, compute_fees
from portal.kernel.settings import Settings
from signing.pki import DevPKI
from signing.seal import seal_or_pass
from signing.verify import verify_pdf
from tests.pdftools import extract_text, poppler

LOOKUP_URL = "https://dichvucong.example.gov.vn/bien-lai/CAT-26E/0000123"
PT_PER_MM = 72 / 25.4
A4_W_PT = 210 * PT_PER_MM
RIGHT_MARGIN_PT = 15 * PT_PER_MM


def sample(**changes: object) -> EReceiptData:
    """A receipt for a 200.000 đồng fee halved by a reduction: 100.000 đồng paid."""
    bill = compute_fees(
        fee_items=[
            {"name": {"vi": "Phí cung cấp thông tin lý lịch tư pháp", "en": "Criminal record fee"}, "amount": 200_000}
        ],
        postal_fee=None,
        reduction=Reduction("martyr-family", "Thân nhân liệt sĩ", "Family of a martyr", 50),
    )
    lines, reductions = receipt_lines(bill)
    data = EReceiptData(
        receipt_number="0000123",
        receipt_symbol="CAT-26E",
        issued_at=datetime(2027, 2, 3, 2, 30, tzinfo=UTC),  # 09:30 in Vietnam
        collector_name="Công an tỉnh Ninh Bình",
        collector_address="Số 2 Lê Hồng Phong, phường Hoa Lư, tỉnh Ninh Bình",
        collector_tax_code="2700123456",
        province_name="Tỉnh Ninh Bình",
        payer_name="Nguyễn Thị Hường",
        payer_id_number="037190001234",
        payer_address="Thôn Đông, xã Gia Viễn, tỉnh Ninh Bình",
        dossier_code="000.00.12.H15-270203-0007",
        procedure_name="Cấp Phiếu lý lịch tư pháp số 1 cho công dân Việt Nam",
        lines=lines,
        reductions=reductions,
        total=bill.total,
        gateway_name="VNPAY",
        gateway_ref="14012345",
        payment_reference="PAY-270203-0001",
        lookup_url=LOOKUP_URL,
    )
    return replace(data, **changes)  # type: ignore[arg-type]


def many_lines(count: int) -> dict[str, object]:
    lines = tuple(EReceiptLine(f"Lệ phí thứ {i} của thủ tục tại Đắk Lắk", 10_000 * i) for i in range(1, count + 1))
    return {"lines": lines, "reductions": (), "total": sum(line.amount for line in lines)}


def word_boxes(pdf: bytes, tmp_path: Path) -> list[tuple[int, float, float, float, float]]:
    """Every word's page (1-based) and box (points from the top-left), from pdftotext -bbox."""
    path = tmp_path / "boxes.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(
        [poppler("pdftotext"), "-bbox", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    boxes = []
    for page, chunk in enumerate(html.split("<page ")[1:], start=1):
        for match in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', chunk):
            x1, y1, x2, y2 = (float(v) for v in match.groups())
            boxes.append((page, x1, y1, x2, y2))
    return boxes


def assert_seal_box_blank(pdf: bytes, tmp_path: Path) -> None:
    """Nothing is drawn in SEAL_BOX on the last page (rasterised: every pixel white)."""
    path = tmp_path / "blank.pdf"
    path.write_bytes(pdf)
    last = len(PdfReader(io.BytesIO(pdf)).pages)
    prefix = tmp_path / "last"
    subprocess.run(
        [poppler("pdftoppm"), "-r", "72", "-gray", "-png", "-singlefile", "-f", str(last), "-l", str(last),
         str(path), str(prefix)],
        check=True,
    )  # fmt: skip
    page = Image.open(f"{prefix}.png").convert("L")
    x1, y1, x2, y2 = SEAL_BOX
    height = page.height
    region = page.crop((round(x1), height - round(y2), round(x2), height - round(y1)))
    assert region.getextrema() == (255, 255), "something is drawn in the seal area"


def test_vietnamese_text_comes_back_exactly(tmp_path: Path) -> None:
    text = extract_text(render_e_receipt_pdf(sample()))
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "TỈNH NINH BÌNH",
        "CÔNG AN TỈNH NINH BÌNH",
        TITLE,
        "(Bản thể hiện của biên lai điện tử)",
        "Mẫu số: 01BLP0-001",
        "Ký hiệu: CAT-26E",
        "Số: 0000123",
        "Đơn vị thu phí, lệ phí: Công an tỉnh Ninh Bình",
        "Mã số thuế: 2700123456",
        "Địa chỉ: Số 2 Lê Hồng Phong, phường Hoa Lư, tỉnh Ninh Bình",
        "Họ tên người nộp: Nguyễn Thị Hường",
        "Số CCCD/Mã số thuế: 037190001234",
        "Địa chỉ: Thôn Đông, xã Gia Viễn, tỉnh Ninh Bình",
        "Mã hồ sơ: 000.00.12.H15-270203-0007",
        "Thủ tục hành chính: Cấp Phiếu lý lịch tư pháp số 1 cho công dân Việt Nam",
        "STT Tên loại phí, lệ phí Số tiền",
        "1 Phí cung cấp thông tin lý lịch tư pháp 200.000 đồng",
        "Miễn, giảm: Thân nhân liệt sĩ (50%) -100.000 đồng",
        "Tổng cộng 100.000 đồng",
        "Tổng số tiền bằng số: 100.000 đồng",
        "Số tiền bằng chữ: Một trăm nghìn đồng",
        "Hình thức thanh toán: Thanh toán trực tuyến (VNPAY)",
        "Mã thanh toán: PAY-270203-0001",
        "Mã giao dịch của cổng thanh toán: 14012345",
        "Thời điểm lập biên lai: 09:30, ngày 03/02/2027",
        f"Tra cứu biên lai tại: {LOOKUP_URL}",
        "Ninh Bình, ngày 03 tháng 02 năm 2027",
        "NGƯỜI THU TIỀN",
        "Biên lai điện tử · Ký hiệu: CAT-26E · Số: 0000123 · Trang 1/1",
    ):
        assert expected in text, expected
    assert "Đã hoàn trả" not in text


def test_refund_is_shown(tmp_path: Path) -> None:
    text = extract_text(render_e_receipt_pdf(sample(refunded=100_000)))
    assert "Đã hoàn trả: 100.000 đồng (Một trăm nghìn đồng)" in text
    assert "Tổng số tiền bằng số: 100.000 đồng" in text  # what was collected stays on the receipt


def test_optional_data_is_left_out(tmp_path: Path) -> None:
    data = sample(payer_id_number=None, payer_address="  ", dossier_code=None, gateway_ref=None, lookup_url=None,
                  collector_tax_code=None)  # fmt: skip
    pdf = render_e_receipt_pdf(data)
    text = extract_text(pdf)
    for label in ("Số CCCD", "Mã hồ sơ", "Mã giao dịch của cổng", "Tra cứu", "Mã số thuế", "Quét mã QR"):
        assert label not in text, label
    assert text.count("Địa chỉ:") == 1  # the collector's only
    assert not PdfReader(io.BytesIO(pdf)).pages[0].images


def test_untrusted_text_is_cleaned(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hường")
    text = extract_text(render_e_receipt_pdf(sample(payer_name=f"{nfd}\x00\r\n\t  **ký tự**")))
    assert "Họ tên người nộp: Nguyễn Thị Hường **ký tự**" in text  # precomposed, controls gone, no markup


def test_same_data_same_bytes() -> None:
    first = render_e_receipt_pdf(sample())
    assert render_e_receipt_pdf(sample()) == first
    assert render_e_receipt_pdf(sample(receipt_number="0000124")) != first
    reader = PdfReader(io.BytesIO(first))
    assert reader.metadata is not None
    assert reader.metadata.title == "Biên lai thu phí, lệ phí - Ký hiệu CAT-26E - Số 0000123"
    assert str(reader.metadata.get("/CreationDate", "")).startswith("D:20270203")


def test_a4_with_embedded_noto_sans(tmp_path: Path) -> None:
    pdf = render_e_receipt_pdf(sample())
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([poppler("pdffonts"), str(path)], check=True, capture_output=True, text=True).stdout
    rows = out.strip().splitlines()[2:]
    assert rows, out
    for row in rows:
        assert "NotoSans" in row, row
        assert row.split()[-5:-2] == ["yes", "yes", "yes"], row  # embedded, subset, Unicode map


def test_qr_code_is_the_lookup_address() -> None:
    """The embedded image is, module for module, segno's QR code of the lookup address (and it is a link)."""
    pdf = render_e_receipt_pdf(sample())
    images = PdfReader(io.BytesIO(pdf)).pages[-1].images
    assert len(images) == 1
    image = images[0].image
    assert image is not None
    qr = image.convert("L")
    matrix = [[bool(m) for m in row] for row in segno.make_qr(LOOKUP_URL, error="m").matrix_iter(border=4)]
    n = len(matrix)
    assert qr.width == qr.height and qr.width % n == 0
    module = qr.width // n
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            value = qr.getpixel((c * module + module // 2, r * module + module // 2))
            assert isinstance(value, int)
            assert (value < 128) == dark, (r, c)
    assert b"/URI" in pdf and LOOKUP_URL.encode() in pdf


def test_seal_area_is_left_free(tmp_path: Path) -> None:
    assert_seal_box_blank(render_e_receipt_pdf(sample(refunded=50_000)), tmp_path)


def test_long_names_and_thirty_lines_wrap_onto_pages(tmp_path: Path) -> None:
    long_name = " ".join(["Nguyễn Huỳnh Thị Phương Thảo Tôn Nữ Hoàng Lan"] * 15)
    unbroken = "Đ" * 40 + "0" * 160  # no space to break at
    data = sample(
        payer_name=long_name,
        payer_address=unbroken,
        procedure_name=" ".join(["Cấp giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở"] * 8),
        collector_name="Trung tâm Phục vụ hành chính công tỉnh Đắk Lắk thuộc Văn phòng Ủy ban nhân dân tỉnh " * 2,
        lookup_url=LOOKUP_URL + "?ma=" + "x" * 300,
        **many_lines(30),
    )
    pdf = render_e_receipt_pdf(data)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert pages >= 2
    text = extract_text(pdf)
    assert f"Họ tên người nộp: {long_name}" in text
    for i in range(1, 31):
        assert f"{i} Lệ phí thứ {i} của thủ tục tại Đắk Lắk {10_000 * i:,} đồng".replace(",", ".") in text, i
    assert "Tổng số tiền bằng số: 4.650.000 đồng" in text
    assert "Số tiền bằng chữ: Bốn triệu sáu trăm năm mươi nghìn đồng" in text
    assert f"Trang {pages}/{pages}" in text
    assert "".join(text.split()).count(unbroken) == 1  # wrapped mid-word, every character kept
    boxes = word_boxes(pdf, tmp_path)
    assert boxes
    assert all(x2 <= A4_W_PT - RIGHT_MARGIN_PT + 1 for _, _, _, x2, _ in boxes), "text runs into the margin"
    assert_seal_box_blank(pdf, tmp_path)


def test_amounts_must_add_up() -> None:
    with pytest.raises(ValueError, match="total"):
        sample(total=200_000)
    with pytest.raises(ValueError, match="refunded"):
        sample(refunded=100_001)
    with pytest.raises(ValueError, match="at least one"):
        sample(lines=(), reductions=(), total=0)
    with pytest.raises(ValueError, match="non-negative"):
        sample(lines=(EReceiptLine("Phí", -1),), reductions=(), total=0)
    with pytest.raises(ValueError):
        sample(issued_at=datetime(2027, 2, 3, 9, 30))  # naive


def test_receipt_lines_from_a_bill() -> None:
    bill = compute_fees(
        fee_items=[{"name": {"vi": "Lệ phí hộ tịch", "en": "Civil status fee"}, "amount": 8_000}],
        postal_fee=30_000,
        reduction=Reduction("poor", "Hộ nghèo", "Poor household", 100),
    )
    lines, reductions = receipt_lines(bill)
    assert lines == (
        EReceiptLine("Lệ phí hộ tịch", 8_000),
        EReceiptLine("Cước chuyển phát kết quả qua bưu chính", 30_000),
    )
    assert reductions == (EReceiptLine("Hộ nghèo (100%)", 8_000),)
    assert bill.total == 30_000


@pytest.fixture(scope="module")
def seal_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose seal is the development CA's (no database needed)."""
    return Settings(
        environment="test",
        secret_key=secrets.token_urlsafe(48),
        storage_dir=tmp_path_factory.mktemp("ereceipt-seal"),
        base_url="http://testserver",
        _env_file=None,  # type: ignore[call-arg]
    )


def test_sealed_receipt_validates_and_keeps_its_text(seal_settings: Settings, tmp_path: Path) -> None:
    pdf = render_e_receipt_pdf(sample())
    sealed = seal_or_pass(pdf, seal_settings)
    assert sealed.startswith(pdf)  # an incremental update: the receipt as rendered is what is sealed
    pki = DevPKI.load_or_create(seal_settings.storage_dir / "pki", base_url=seal_settings.base_url)
    report = verify_pdf(sealed, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok, report
    seal = report.signatures[0]
    assert seal.has_timestamp and seal.timestamp_valid and seal.coverage == "entire_file"
    assert "Số tiền bằng chữ: Một trăm nghìn đồng" in extract_text(sealed)
