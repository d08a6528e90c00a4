"""PDF "Giấy tiếp nhận hồ sơ và hẹn trả kết quả" (after Mẫu 01, Circular 01/2018/TT-VPCP)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import segno
from fpdf import FPDF
from fpdf.enums import XPos

from portal.kernel.calendar import to_local
from portal.kernel.money import format_vnd
from portal.kernel.pdfdoc import FONT, FONT_DIR, add_fonts, clean_text, draw_national_heading, place_name

__all__ = [
    "FONT_DIR",
    "ReceiptComponent",
    "ReceiptData",
    "format_local_datetime",
    "render_receipt_pdf",
]


TITLE = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"

_LEFT_MARGIN = 20.0
_RIGHT_MARGIN = 15.0
_TOP_MARGIN = 15.0
_LINE = 6.5
_QR_SIZE = 32.0
_QR_BORDER = 4


@dataclass(frozen=True)
class ReceiptComponent:
    """One component (giấy tờ) of the dossier as received."""

    name: str
    files: int
    pages: int


@dataclass(frozen=True)
class ReceiptData:
    """Everything printed on a receipt; texts are already in Vietnamese."""

    dossier_code: str
    agency_name: str
    procedure_code: str
    procedure_name: str
    applicant_name: str
    applicant_id_number: str | None
    applicant_phone: str | None
    applicant_email: str | None
    applicant_address: str | None
    received_at: datetime
    appointment_date: date
    components: list[ReceiptComponent]
    delivery_method: str
    lookup_url: str
    fee_total: int
    province_name: str = "Tỉnh ..."
    business: str | None = None  # "<name> (MST <tax code>)" when filed for a business


def format_local_datetime(dt: datetime) -> str:
    """Format an aware datetime in Vietnam time as "HH:MM, ngày DD/MM/YYYY"."""
    local = to_local(dt)
    return f"{local:%H:%M}, ngày {local:%d/%m/%Y}"


def _new_pdf(data: ReceiptData) -> FPDF:
    """Create an A4 document with the vendored Noto Sans fonts and metadata."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    add_fonts(pdf)
    pdf.set_margins(_LEFT_MARGIN, _TOP_MARGIN, _RIGHT_MARGIN)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"{TITLE.capitalize()} - {clean_text(data.dossier_code)}")
    pdf.set_author(clean_text(data.agency_name))
    pdf.set_subject(clean_text(data.procedure_name))
    pdf.set_lang("vi-VN")
    pdf.set_creation_date(data.received_at)
    pdf.add_page()
    return pdf


def _header(pdf: FPDF, data: ReceiptData) -> None:
    """Draw the two-column header: agency (left), national title and motto (right), then place and date."""
    right_x, right_w, bottom = draw_national_heading(
        pdf, province_name=data.province_name, organisation=data.agency_name, left_width=72.0, size=11
    )
    pdf.set_xy(pdf.l_margin, bottom + 4)
    local = to_local(data.received_at)
    pdf.set_font(FONT, "I", 11)
    place_line = f"{place_name(data.province_name)}, ngày {local:%d} tháng {local:%m} năm {local:%Y}"
    pdf.set_x(right_x)
    pdf.multi_cell(right_w, _LINE, place_line, align="C", new_x=XPos.LMARGIN)


def _title(pdf: FPDF, data: ReceiptData) -> None:
    """Draw the document title and the dossier code."""
    pdf.ln(4)
    pdf.set_font(FONT, "B", 14)
    pdf.multi_cell(0, 8, TITLE, align="C", new_x=XPos.LMARGIN)
    pdf.set_font(FONT, "B", 12)
    pdf.multi_cell(0, 7, f"Mã hồ sơ: {clean_text(data.dossier_code)}", align="C", new_x=XPos.LMARGIN)
    pdf.ln(3)


def _field(pdf: FPDF, label: str, value: str) -> None:
    """Write "label value" as a wrapping paragraph with a bold label."""
    pdf.set_x(pdf.l_margin)
    pdf.set_font(FONT, "B", 11)
    pdf.write(_LINE, f"{label} ")
    pdf.set_font(FONT, "", 11)
    pdf.write(_LINE, value)
    pdf.ln(_LINE)


def _applicant(pdf: FPDF, data: ReceiptData) -> None:
    """Write who submitted the dossier and for which procedure (only the data present)."""
    pdf.set_font(FONT, "", 11)
    pdf.multi_cell(0, _LINE, f"{clean_text(data.agency_name)} tiếp nhận hồ sơ của:", new_x=XPos.LMARGIN)
    _field(pdf, "Ông/Bà:", clean_text(data.applicant_name))
    if data.business:
        _field(pdf, "Đại diện cho:", clean_text(data.business))
    optional = (
        ("Số định danh cá nhân:", data.applicant_id_number),
        ("Địa chỉ:", data.applicant_address),
        ("Số điện thoại:", data.applicant_phone),
        ("Thư điện tử:", data.applicant_email),
    )
    for label, value in optional:
        if value and clean_text(value):
            _field(pdf, label, clean_text(value))
    _field(pdf, "Nội dung yêu cầu giải quyết:", clean_text(data.procedure_name))
    _field(pdf, "Mã thủ tục:", clean_text(data.procedure_code))


def _components(pdf: FPDF, data: ReceiptData) -> None:
    """Write the numbered table of the components received."""
    pdf.ln(1)
    _field(pdf, "1. Thành phần hồ sơ nộp gồm:", "")
    pdf.set_font(FONT, "", 10.5)
    widths = (12.0, pdf.epw - 12.0 - 2 * 22.0, 22.0, 22.0)
    with pdf.table(col_widths=widths, line_height=5.5, padding=1.5, text_align="LEFT") as table:
        heading = table.row()
        for text in ("STT", "Tên giấy tờ", "Số file", "Số trang"):
            heading.cell(text, align="C")
        if not data.components:
            row = table.row()
            row.cell("", align="C")
            row.cell("(Không có thành phần hồ sơ)")
            row.cell("", align="C")
            row.cell("", align="C")
        for number, component in enumerate(data.components, start=1):
            row = table.row()
            row.cell(str(number), align="C")
            row.cell(clean_text(component.name))
            row.cell(str(component.files), align="C")
            row.cell(str(component.pages), align="C")
    pdf.ln(2)


def _schedule(pdf: FPDF, data: ReceiptData) -> None:
    """Write number of sets, receipt and appointment times, delivery method and fees."""
    items = [
        ("Số lượng hồ sơ:", "01 bộ"),
        ("Thời gian nhận hồ sơ:", format_local_datetime(data.received_at)),
        ("Thời gian trả kết quả:", f"ngày {data.appointment_date:%d/%m/%Y}"),
        ("Hình thức nhận kết quả:", clean_text(data.delivery_method)),
        ("Lệ phí:", format_vnd(data.fee_total)),
    ]
    present = [(label, value) for label, value in items if value]
    for number, (label, value) in enumerate(present, start=2):
        _field(pdf, f"{number}. {label}", value)


def _qr_matrix(url: str) -> list[list[bool]]:
    """Return the QR code of ``url`` (error level M) as rows of dark flags, quiet zone included."""
    qr = segno.make_qr(url, error="m", boost_error=False)
    return [[bool(module) for module in row] for row in qr.matrix_iter(scale=1, border=_QR_BORDER)]


def _draw_qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """Draw a scannable QR code as vector rectangles (runs of dark modules) on white."""
    matrix = _qr_matrix(url)
    module = size / len(matrix)
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0, 0, 0)
    overlap = module * 0.02  # hides hairline seams between rows in some viewers
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(x + start * module, y + r * module, (c - start) * module, module + overlap, style="F")


def _lookup(pdf: FPDF, data: ReceiptData) -> None:
    """Draw the QR code with the lookup address next to it."""
    if not data.lookup_url:
        return
    pdf.ln(3)
    if pdf.get_y() + _QR_SIZE > pdf.h - pdf.b_margin:
        pdf.add_page()
    x, y = pdf.l_margin, pdf.get_y()
    _draw_qr(pdf, data.lookup_url, x, y, _QR_SIZE)
    pdf.link(x, y, _QR_SIZE, _QR_SIZE, data.lookup_url)
    text_x = x + _QR_SIZE + 4
    pdf.set_left_margin(text_x)
    pdf.set_xy(text_x, y + _QR_SIZE / 2 - _LINE * 1.5)
    pdf.set_font(FONT, "", 11)
    pdf.write(_LINE, "Tra cứu tình trạng hồ sơ tại: ")
    pdf.write(_LINE, data.lookup_url, link=data.lookup_url)
    pdf.ln(_LINE)
    pdf.set_font(FONT, "I", 10)
    pdf.write(_LINE, "hoặc quét mã QR bằng điện thoại.")
    pdf.set_left_margin(_LEFT_MARGIN)
    pdf.set_xy(_LEFT_MARGIN, max(pdf.get_y() + _LINE, y + _QR_SIZE + 2))


def render_receipt_pdf(data: ReceiptData) -> bytes:
    """Render the receipt and appointment slip of a dossier as an A4 PDF."""
    pdf = _new_pdf(data)
    _header(pdf, data)
    _title(pdf, data)
    _applicant(pdf, data)
    _components(pdf, data)
    _schedule(pdf, data)
    _lookup(pdf, data)
    return bytes(pdf.output())
