"""Small factories for test files and form answers."""

from __future__ import annotations

import io
import zipfile

from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter

MARITAL = "1.004873"  # Cấp Giấy xác nhận tình trạng hôn nhân (two steps)


def pdf_bytes(text: str = "Ban sao giay to", pages: int = 1) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    for i in range(pages):
        pdf.add_page()
        pdf.cell(0, 10, f"{text} {i + 1}")
    return bytes(pdf.output())


def jpeg_bytes(size: tuple[int, int] = (640, 480)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 180, 150)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def png_bytes(size: tuple[int, int] = (300, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", size, (20, 120, 200, 128)).save(buf, "PNG")
    return buf.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes())))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_as_png() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "not an image")
    return buf.getvalue()


def address(province: str = "01", ward: str = "00004", street: str = "12 Lý Thái Tổ") -> dict[str, str]:
    return {"province": province, "ward": ward, "street": street}


def marital_step1(**over: str) -> dict[str, str]:
    data = {
        "full_name": "Nguyễn Thị Hường",
        "gender": "female",
        "birth_date": "1990-05-17",
        "ethnicity": "Kinh",
        "nationality": "Việt Nam",
        "cccd": "001190012345",
        "address.province": "01",
        "address.ward": "00004",
        "address.street": "12 Lý Thái Tổ",
        "phone": "0912 345 678",
        "email": "huong@example.vn",
        "past_period": "no",
    }
    data.update(over)
    return data


def marital_step2(**over: str) -> dict[str, str]:
    data = {
        "marital_status": "never_married",
        "purpose": "loan",
        "purpose_other": "Vay vốn mua nhà",
        "copies": "1",
        "declaration": "true",
    }
    data.update(over)
    return data


def valid_tax_code() -> str:
    """A random 10-digit tax code whose check digit is right (portal/businesses/service.py)."""
    import random

    while True:
        digits = [random.randint(0, 9) for _ in range(9)]
        check = 10 - sum(d * w for d, w in zip(digits, (31, 29, 23, 19, 17, 13, 7, 5, 3), strict=True)) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)
