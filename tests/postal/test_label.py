"""The A6 shipping label, read back as a courier's tools would: pdftotext for the words, pdftoppm + zbarimg for the
Code 128 barcode and the QR code; and the Code 128 encoder against published check values."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from portal.kernel.settings import Settings
from postal.barcode import (
    CODE_B,
    CODE_C,
    QUIET_ZONE_MODULES,
    START_B,
    START_C,
    STOP,
    check_symbol,
    draw_code128,
    encode_code128,
)
from postal.label import cod_text, render_label
from postal.models import ParcelKind
from tests.pdftools import extract_text, poppler
from tests.postal.label_samples import CENTRE, CITIZEN, label_order

MM_PER_PT = 25.4 / 72


def _settings(**operators: dict[str, Any]) -> Settings:
    return Settings(
        environment="test",
        secret_key="s" * 48,
        postal_operators=operators or {"vnpost": {"plugin": "pull", "provinces": ["*"]}},
        _env_file=None,  # type: ignore[call-arg]
    )


def _zbar() -> str:
    path = shutil.which("zbarimg")
    if path is None:
        pytest.fail("zbarimg is required for this test: install zbar-tools (make system-test-deps)")
    return path


def _decode(pdf: bytes, tmp_path: Path) -> list[tuple[str, str]]:
    """(symbology, data) of every barcode zbarimg finds on the pages rasterised at 300 dpi."""
    source = tmp_path / "label.pdf"
    source.write_bytes(pdf)
    subprocess.run([poppler("pdftoppm"), "-r", "300", "-png", str(source), str(tmp_path / "page")], check=True)
    found: list[tuple[str, str]] = []
    for image in sorted(tmp_path.glob("page*.png")):
        result = subprocess.run([_zbar(), "-q", str(image)], capture_output=True, check=False)
        assert result.returncode in (0, 4), result.stderr  # 4: nothing found on that image
        for line in result.stdout.decode("utf-8").splitlines():
            symbology, _, data = line.partition(":")
            found.append((symbology, data))
    return found


def _page_size_mm(pdf: bytes) -> list[tuple[float, float]]:
    reader = PdfReader(io.BytesIO(pdf))
    return [(float(p.mediabox.width) * MM_PER_PT, float(p.mediabox.height) * MM_PER_PT) for p in reader.pages]


def _words(pdf: bytes) -> list[tuple[float, float, float, float, str]]:
    """pdftotext's words with their boxes (points): xMin, yMin, xMax, yMax, word."""
    out = subprocess.run(
        [poppler("pdftotext"), "-bbox", "-enc", "UTF-8", "-", "-"], input=pdf, check=True, capture_output=True
    ).stdout.decode("utf-8")
    pattern = re.compile(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', re.DOTALL
    )
    return [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in pattern.findall(out)]


# Code 128 ------------------------------------------------------------------------------------------------------


def test_check_symbol_matches_published_examples() -> None:
    # Wikipedia's "PJJ123C" in code set A (Start A = 103): 878 mod 103 = 54.
    assert check_symbol([103, 48, 42, 42, 17, 18, 19, 35]) == 54
    # The same text in code set B: 879 mod 103 = 55.
    assert encode_code128("PJJ123C").values == (START_B, 48, 42, 42, 17, 18, 19, 35, 55, STOP)
    # barcoderesource.com's examples: "abcdef" in set B → 97; "345678" in set C → 73.
    assert encode_code128("abcdef").values == (START_B, 65, 66, 67, 68, 69, 70, 97, STOP)
    assert encode_code128("345678").values == (START_C, 34, 56, 78, 73, STOP)
    # barcodeisland's "HI345678" switches to set C for the digits (there from Start A, 1406 mod 103 = 67;
    # from Start B the sum is one more).
    assert check_symbol([103, 40, 41, 99, 34, 56, 78]) == 67
    assert encode_code128("HI345678").values == (START_B, 40, 41, CODE_C, 34, 56, 78, 68, STOP)


def test_an_s10_number_uses_code_set_c_for_its_digits() -> None:
    code = encode_code128("RD123456785VN")
    r, d, one, v, n = (ord(ch) - 32 for ch in "RD1VN")
    assert code.values[:-2] == (START_B, r, d, one, CODE_C, 23, 45, 67, 85, CODE_B, v, n)
    assert code.values[-2] == check_symbol(code.values[:-2])
    # 13 symbols of 11 modules and the 13-module stop.
    assert code.modules == 13 * 11 + 13
    assert len(code.widths) == 13 * 6 + 7


def _read_values(values: tuple[int, ...]) -> str:
    """The text symbol values stand for (start B/C, data, switches; check and stop left off)."""
    current, out = values[0], []
    for value in values[1:-2]:
        if value in (CODE_B, CODE_C) and not (current == START_C and value < 100):
            current = START_B if value == CODE_B else START_C
        else:
            out.append(chr(value + 32) if current == START_B else f"{value:02d}")
    return "".join(out)


@pytest.mark.parametrize(
    "text",
    ["RD123456785VN", "1", "12", "123", "1234", "12345", "A1234", "A12345B", "00X00", "0123456789", "ab 12 34 5678 9"],
)
def test_the_fewest_symbols_that_read_back_as_the_text(text: str) -> None:
    code = encode_code128(text)
    assert _read_values(code.values) == text
    assert code.values[-2] == check_symbol(code.values[:-2])
    assert len(code.values) <= len(text) + 3  # never longer than all in code set B


def test_symbol_patterns_are_well_formed() -> None:
    text = "".join(chr(c) for c in range(32, 127)) + "".join(f"{n:02d}" for n in range(100))
    code = encode_code128(text)
    assert set(code.values[:-1]) | {STOP} >= set(range(100)) | {START_B, CODE_C, CODE_B, STOP}
    for index in range(len(code.values) - 1):
        widths = code.widths[index * 6 : index * 6 + 6]
        assert sum(widths) == 11
        assert sum(widths[0::2]) % 2 == 0  # bars of a symbol take an even number of modules
        assert all(1 <= w <= 4 for w in widths)
    assert code.widths[-7:] == (2, 3, 3, 1, 1, 1, 2)


@pytest.mark.parametrize("text", ["", "Số", "RD\n1"])
def test_code128_refuses_what_sets_b_and_c_cannot_hold(text: str) -> None:
    with pytest.raises(ValueError):
        encode_code128(text)


def test_every_symbol_decodes(tmp_path: Path) -> None:
    """All of code set B (space to "~") and all 100 pairs of code set C, drawn and read back by zbarimg."""
    printable = "".join(chr(c) for c in range(33, 127))
    digits = "".join(f"{n:02d}" for n in range(100))
    texts = [printable[i : i + 24] for i in range(0, len(printable), 24)] + ["A B C  D"]
    texts += ["X" + digits[i : i + 50] for i in range(0, len(digits), 50)]
    pdf = FPDF(unit="mm", format="A4")
    pdf.add_page()
    for row, text in enumerate(texts):
        draw_code128(pdf, encode_code128(text), x=10, y=10 + row * 30, width=190, height=20)
    found = _decode(bytes(pdf.output()), tmp_path)
    assert sorted(found) == sorted(("CODE-128", text) for text in texts)


@pytest.mark.parametrize("text", ["RD123456785VN", "VNP-" + "ABCDEFGHJKLMNPQRSTUVWXYZ2345678"])
def test_quiet_zones_are_at_least_ten_modules(text: str) -> None:
    pdf = FPDF(unit="mm", format=(105, 148))
    pdf.add_page()
    code = encode_code128(text)
    left, module = draw_code128(pdf, code, x=5, y=5, width=95, height=15)
    assert module == pytest.approx(min(0.5, 95 / (code.modules + 2 * QUIET_ZONE_MODULES)))
    assert left - 5 >= QUIET_ZONE_MODULES * module - 1e-9
    assert 5 + 95 - (left + code.modules * module) >= QUIET_ZONE_MODULES * module - 1e-9


# The label ----------------------------------------------------------------------------------------------------


def test_delivery_label(tmp_path: Path) -> None:
    pdf = render_label(label_order(), settings=_settings())
    assert _page_size_mm(pdf) == [pytest.approx((105.0, 148.0), abs=0.1)]
    text = extract_text(pdf)
    assert text == unicodedata.normalize("NFC", text)
    for expected in (
        "Bưu điện Việt Nam (VNPost)",
        "vnpost",
        "CHUYỂN PHÁT KẾT QUẢ",
        "Số đơn: BC2507120001",
        "Ngày: 12/07/2025",
        "RD123456785VN",
        "NGƯỜI GỬI",
        "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình",
        "ĐT: 02293871234",
        "Số 1 đường Lê Hồng Phong, Phường Hoa Lư, Tỉnh Ninh Bình",
        "NGƯỜI NHẬN",
        "Nguyễn Thị Hương",
        "ĐT: 0912345678",
        "Số 12 ngõ 34 phố Lý Thái Tổ, Phường Hoàn Kiếm, Thành phố Hà Nội",
        "Ghi chú giao hàng: Gọi trước khi giao, giờ hành chính",
        "Nội dung: Giấy phép lái xe",
        "Mã hồ sơ: G01.37-250712-0042",
        "Khối lượng: Phong bì tài liệu, đến 100 g",
        "Thu hộ (COD): 123.000 đ",
    ):
        assert expected in text, expected
    assert "Chưa có số vận đơn" not in text
    assert sorted(_decode(pdf, tmp_path)) == [("CODE-128", "RD123456785VN"), ("QR-Code", "RD123456785VN")]


def test_pickup_label_before_the_claim_carries_the_order_number(tmp_path: Path) -> None:
    order = label_order(
        kind=ParcelKind.PICKUP,
        number="BC2507120002",
        tracking_number=None,
        sender=CITIZEN,
        recipient={**CENTRE, "notes": "Giao tại quầy số 3"},
        weight_class="thick",
        cod_amount=0,
        contents=[
            {"id": "don", "name_vi": "Đơn đề nghị đổi giấy phép lái xe", "name_en": "Application"},
            {"id": "gplx", "name_vi": "Giấy phép lái xe (bản gốc)", "name_en": "Driving licence (original)"},
        ],
    )
    pdf = render_label(order, settings=_settings())
    assert _page_size_mm(pdf) == [pytest.approx((105.0, 148.0), abs=0.1)]
    text = extract_text(pdf)
    for expected in (
        "THU GOM HỒ SƠ",
        "Chưa có số vận đơn",
        "BC2507120002",
        "Nguyễn Thị Hương",
        "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình",
        "Ghi chú giao hàng: Giao tại quầy số 3",
        "Đơn đề nghị đổi giấy phép lái xe; Giấy phép lái xe (bản gốc)",
        "Khối lượng: Phong bì dày, đến 500 g",
        "Không thu hộ",
        "G01.37-250712-0042",
    ):
        assert expected in text, expected
    assert "Thu hộ (COD)" not in text
    # The citizen sends: their block comes first.
    assert text.index("NGƯỜI GỬI") < text.index("Nguyễn Thị Hương") < text.index("NGƯỜI NHẬN")
    assert sorted(_decode(pdf, tmp_path)) == [("CODE-128", "BC2507120002"), ("QR-Code", "BC2507120002")]


def test_an_operators_own_tracking_number(tmp_path: Path) -> None:
    settings = _settings(ghn={"plugin": "pull", "provinces": ["37"], "name": "Giao Hàng Nhanh"})
    pdf = render_label(label_order(operator="ghn", tracking_number="GHN-5XK2PQ7A9"), settings=settings)
    text = extract_text(pdf)
    assert "Giao Hàng Nhanh" in text
    assert "GHN-5XK2PQ7A9" in text
    assert sorted(_decode(pdf, tmp_path)) == [("CODE-128", "GHN-5XK2PQ7A9"), ("QR-Code", "GHN-5XK2PQ7A9")]


def test_an_unnamed_operator_is_shown_by_its_id() -> None:
    settings = _settings(buucuc={"plugin": "pull", "provinces": ["*"]})
    assert "Mã đơn vị: buucuc" in extract_text(render_label(label_order(operator="buucuc"), settings=settings))


def test_long_names_and_streets_wrap_inside_the_page(tmp_path: Path) -> None:
    long_name = "Nguyễn Hoàng Thị Minh Khai Phương " * 4
    street = "Tổ dân phố số 17, ngõ 1234 đường Nguyễn Văn Cừ kéo dài, khu đô thị mới Đông Hoa Lư, phía sau chợ "
    notes = "Giao giờ hành chính, gọi trước 30 phút, nếu vắng nhà thì gửi bảo vệ tòa nhà ký nhận thay. " * 4
    citizen = {
        **CITIZEN,
        "name": long_name.strip()[:120],
        "street": (street * 3)[:200].strip(),
        "notes": notes.strip()[:300],
    }
    # Words longer than a line, and notes of the largest size on both sides.
    centre = {**CENTRE, "name": "Trungtâm" * 15, "street": "Đườngsố" * 28, "notes": notes[::-1].strip()[:300]}
    contents = [{"id": f"c{i}", "name_vi": f"Giấy tờ bản gốc số {i} của hồ sơ", "name_en": ""} for i in range(12)]
    order = label_order(
        sender=centre, recipient=citizen, contents=contents, reference="G01.37-250712-0042-ABCDEFGHIJKLMNOPQRS"
    )
    pdf = render_label(order, settings=_settings())
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    width, height = 105 / MM_PER_PT, 148 / MM_PER_PT
    margin = 4.5 / MM_PER_PT
    for x_min, y_min, x_max, y_max, word in _words(pdf):
        assert margin <= x_min and x_max <= width - margin, word
        assert margin <= y_min and y_max <= height - margin, word
    text = extract_text(pdf)
    # Names and addresses are never cut: every word of them is there, in order (lines broken between words).
    joined = text.replace(" ", "")
    for value in (citizen["name"], citizen["street"], centre["name"], centre["street"]):
        assert value.replace(" ", "") in joined, value
    assert "Phường Hoàn Kiếm, Thành phố Hà Nội" in text
    assert "Thu hộ (COD): 123.000 đ" in text
    assert sorted(_decode(pdf, tmp_path)) == [("CODE-128", "RD123456785VN"), ("QR-Code", "RD123456785VN")]


def test_the_same_order_gives_the_same_bytes() -> None:
    settings = _settings()
    assert render_label(label_order(), settings=settings) == render_label(label_order(), settings=settings)


def test_text_the_fonts_cannot_draw_is_marked_not_dropped() -> None:
    text = extract_text(render_label(label_order(recipient={**CITIZEN, "name": "Lê Văn 𝔄n"}), settings=_settings()))
    assert "Lê Văn \ufffdn" in text


@pytest.mark.parametrize(("amount", "expected"), [(0, "Không thu hộ"), (123_000, "Thu hộ (COD): 123.000 đ")])
def test_cod_text(amount: int, expected: str) -> None:
    assert cod_text(amount) == expected
