"""Tests of portal.dossiers.receipt: Vietnamese text survives extraction, fonts embedded, QR drawn."""

from __future__ import annotations

import io
import subprocess
import unicodedata
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader

from portal.dossiers import receipt
from portal.dossiers.receipt import (
    FONT_DIR,
    ReceiptComponent,
    ReceiptData,
    format_local_datetime,
    render_receipt_pdf,
)
from tests.pdftools import extract_text, poppler

TRICKY = [
    "Nguyễn Thị Hường",
    "Phường Hoàn Kiếm",
    "Lý lịch tư pháp",
    "Đắk Lắk",
    "Thừa Thiên Huế",
    "ỷ ỹ ự ữ",
]


def sample(**changes: object) -> ReceiptData:
    """A receipt with every optional field and all the tricky diacritics."""
    data = ReceiptData(
        dossier_code="000.00.12.H15-270203-0007",
        agency_name="Trung tâm Phục vụ hành chính công tỉnh Đắk Lắk",
        procedure_code="2.001417",
        procedure_name="Cấp Phiếu Lý lịch tư pháp số 1 cho công dân Việt Nam",
        applicant_name="Nguyễn Thị Hường",
        applicant_id_number="066190001234",
        applicant_phone="0912 345 678",
        applicant_email="huong.nguyen@example.vn",
        applicant_address="Số 5 Đinh Tiên Hoàng, Phường Hoàn Kiếm, Hà Nội (quê Thừa Thiên Huế)",
        received_at=datetime(2027, 2, 3, 2, 30, tzinfo=UTC),  # 09:30 in Vietnam
        appointment_date=date(2027, 2, 15),
        components=[
            ReceiptComponent("Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp", 1, 2),
            ReceiptComponent("Giấy tờ thử dấu ỷ ỹ ự ữ", 2, 3),
        ],
        delivery_method="Nhận kết quả trực tuyến",
        lookup_url="https://dichvucong.example.gov.vn/tra-cuu/000.00.12.H15-270203-0007",
        fee_total=200_000,
        province_name="Tỉnh Đắk Lắk",
    )
    return replace(data, **changes)  # type: ignore[arg-type]


def test_vietnamese_text_comes_back_exactly(tmp_path: Path) -> None:
    text = extract_text(render_receipt_pdf(sample()))
    for expected in TRICKY:
        assert expected in text, expected
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Độc lập - Tự do - Hạnh phúc" in text
    assert "Mã hồ sơ: 000.00.12.H15-270203-0007" in text
    assert "Ông/Bà: Nguyễn Thị Hường" in text
    assert "Mã thủ tục: 2.001417" in text
    assert "Thời gian nhận hồ sơ: 09:30, ngày 03/02/2027" in text
    assert "Thời gian trả kết quả: ngày 15/02/2027" in text
    assert "Nhận kết quả trực tuyến" in text
    assert "Lệ phí: 200.000 đồng" in text
    assert "Đắk Lắk, ngày 03 tháng 02 năm 2027" in text
    assert "Tra cứu tình trạng hồ sơ tại:" in text
    assert "https://dichvucong.example.gov.vn/tra-cuu/000.00.12.H15-270203-0007" in text.replace(" ", "")
    assert "066190001234" in text and "huong.nguyen@example.vn" in text


def test_missing_optional_applicant_data_is_left_out(tmp_path: Path) -> None:
    data = sample(applicant_id_number=None, applicant_phone=None, applicant_email="", applicant_address=None)
    text = extract_text(render_receipt_pdf(data))
    for label in ("Số định danh cá nhân", "Số điện thoại", "Thư điện tử", "Địa chỉ"):
        assert label not in text
    assert "Ông/Bà: Nguyễn Thị Hường" in text


def test_decomposed_input_is_rendered_precomposed(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hường")
    text = extract_text(render_receipt_pdf(sample(applicant_name=nfd)))
    assert "Ông/Bà: Nguyễn Thị Hường" in text


def test_fonts_are_embedded_subsets(tmp_path: Path) -> None:
    path = tmp_path / "receipt.pdf"
    path.write_bytes(render_receipt_pdf(sample()))
    out = subprocess.run([poppler("pdffonts"), str(path)], check=True, capture_output=True, text=True).stdout
    rows = out.strip().splitlines()[2:]
    assert rows, out
    for row in rows:
        assert "NotoSans" in row, row
        emb, sub, uni = row.split()[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row


def test_fonts_are_vendored_in_the_repository() -> None:
    expected_dir = Path(receipt.__file__).resolve().parents[2] / "static" / "fonts"
    assert expected_dir == FONT_DIR
    for name in ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf", "NotoSans-Italic.ttf", "LICENSE-Noto.txt"):
        assert (FONT_DIR / name).is_file(), name
    assert "OFL" in (FONT_DIR / "LICENSE-Noto.txt").read_text(encoding="utf-8")


def test_pdf_opens_with_pypdf_as_a4() -> None:
    reader = PdfReader(io.BytesIO(render_receipt_pdf(sample())))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    assert reader.metadata is not None and "000.00.12.H15-270203-0007" in str(reader.metadata.title)


def test_very_long_names_wrap(tmp_path: Path) -> None:
    long_name = " ".join(["Thủ tục cấp giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở"] * 12)
    data = sample(
        procedure_name=long_name,
        agency_name="Ủy ban nhân dân xã Ea Kao thuộc thành phố Buôn Ma Thuột tỉnh Đắk Lắk " * 3,
        components=[ReceiptComponent(long_name, 3, 120)],
        lookup_url="https://dichvucong.example.gov.vn/tra-cuu?" + "x" * 300,
    )
    pdf = render_receipt_pdf(data)
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 1
    assert "Nguyễn Thị Hường" in extract_text(pdf)


@pytest.mark.parametrize(
    "host",
    [
        "http://127.0.0.1:8000",
        "https://dichvucong.ninhbinh.gov.vn",  # one line at 11 pt
        "https://dichvucong.example.gov.vn/tra-cuu",  # one line, smaller
        "https://cong-dich-vu-cong-truc-tuyen.ninhbinh.gov.vn/tra-cuu-ho-so/ket-qua-giai-quyet",  # two lines
    ],
)
def test_the_lookup_address_breaks_only_between_its_parts(host: str) -> None:
    code = "000.00.12.H15-270203-0007"
    url = f"{host}/lookup?code={code}"
    tokens = extract_text(render_receipt_pdf(sample(dossier_code=code, lookup_url=url))).split()
    start = next(i for i, token in enumerate(tokens) if token.startswith(host[:12]))
    pieces = [tokens[start]]
    while "".join(pieces) != url:
        assert len("".join(pieces)) < len(url), pieces
        pieces.append(tokens[start + len(pieces)])
    assert all(piece.endswith(("/", "?", "&", "=")) for piece in pieces[:-1]), pieces  # never inside a word
    assert any(piece.endswith(code) for piece in pieces)  # the dossier code is whole
    if len(url) < 80:
        assert pieces == [url]


def test_place_names_wrap_between_words() -> None:
    places = "Thôn Đông, xã Gia Viễn, phường Hoa Lư, tỉnh Ninh Bình (quê Thừa Thiên Huế)"
    for n in range(0, 48, 4):
        padding = "9" * n
        data = sample(
            applicant_address=f"Số {padding} đường Trần Hưng Đạo, {places}",
            business=f"Hộ kinh doanh {padding} Gia Viễn, {places}",
            procedure_name=f"Cấp giấy phép {padding} tại {places}",
            agency_name=f"Ủy ban nhân dân {padding} xã Gia Viễn tỉnh Ninh Bình",
            delivery_method=f"Nhận kết quả tại {places}",
        )
        words = set(extract_text(render_receipt_pdf(data)).split())
        for word in f"{data.applicant_address} {data.business} {data.procedure_name} {data.agency_name}".split():
            assert word in words, (n, word)


def test_many_components_span_pages(tmp_path: Path) -> None:
    components = [ReceiptComponent(f"Giấy tờ thứ {i} của hồ sơ Đắk Lắk", 1, i) for i in range(1, 61)]
    pdf = render_receipt_pdf(sample(components=components))
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 2
    text = extract_text(pdf)
    assert "Giấy tờ thứ 60 của hồ sơ Đắk Lắk" in text
    assert "Lệ phí: 200.000 đồng" in text


def test_no_components_and_no_fee(tmp_path: Path) -> None:
    text = extract_text(render_receipt_pdf(sample(components=[], fee_total=0)))
    assert "Lệ phí: 0 đồng" in text


def test_qr_code_is_drawn_scannably(tmp_path: Path) -> None:
    """Rasterise the vector QR and compare every module centre with segno's matrix."""
    url = "https://dichvucong.example.gov.vn/tra-cuu/000.00.12.H15-270203-0007"
    pdf = FPDF(format="A4")
    pdf.add_page()
    x_mm, y_mm, size_mm = 20.0, 30.0, 40.0
    receipt._draw_qr(pdf, url, x_mm, y_mm, size_mm)
    path = tmp_path / "qr.pdf"
    path.write_bytes(bytes(pdf.output()))
    dpi = 300
    subprocess.run(
        [poppler("pdftoppm"), "-r", str(dpi), "-gray", "-png", "-singlefile", str(path), str(tmp_path / "qr")],
        check=True,
    )
    page = Image.open(tmp_path / "qr.png").convert("L")
    matrix = receipt._qr_matrix(url)
    n = len(matrix)
    assert not any(matrix[0]) and not any(row[0] for row in matrix)  # quiet zone
    px_per_mm = dpi / 25.4
    module_px = size_mm / n * px_per_mm
    assert module_px > 5
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            cx = round((x_mm + (c + 0.5) * size_mm / n) * px_per_mm)
            cy = round((y_mm + (r + 0.5) * size_mm / n) * px_per_mm)
            value = page.getpixel((cx, cy))
            assert isinstance(value, int)
            assert (value < 128) == dark, (r, c, value)


def test_receipt_contains_the_qr_code() -> None:
    pdf = render_receipt_pdf(sample())
    content = PdfReader(io.BytesIO(pdf)).pages[0].get_contents()
    assert content is not None
    assert content.get_data().count(b" re") > 100  # the modules are vector rectangles
    assert b"/URI" in pdf  # the QR and the address are clickable


def test_format_local_datetime() -> None:
    assert format_local_datetime(datetime(2027, 4, 29, 18, 5, tzinfo=UTC)) == "01:05, ngày 30/04/2027"
    with pytest.raises(ValueError):
        format_local_datetime(datetime(2027, 4, 29, 18, 5))
