"""PDF "Giấy tiếp nhận hồ sơ và hẹn trả kết quả" (after Mẫu 01, Circular 01/2018/TT-VPCP)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.kernel.calendar import to_local
from portal.kernel.money import format_vnd
from portal.kernel.pdfdoc import FONT, FONT_DIR, Margins, PortalPDF, clean_text, place_name, url_lines

__all__ = [
    "FONT_DIR",
    "ReceiptComponent",
    "ReceiptData",
    "ReceiptMember",
    "format_local_datetime",
    "render_receipt_pdf",
]


TITLE = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"

_MARGINS = Margins(left=20.0, top=15.0, right=15.0, bottom=15.0)
_LINE = 6.5
_TEXT_SIZE = 11.0
_LINE_FACTOR = _LINE / (_TEXT_SIZE * 25.4 / 72)  # the line height of text columns, in font sizes
_URL_MIN_SIZE = 8.0  # the lookup address shrinks to this size to fit on one line before it is broken
_QR_SIZE = 32.0
_QR_BORDER = 4


@dataclass(frozen=True)
class ReceiptComponent:
    """One component (giấy tờ) of the dossier as received."""

    name: str
    files: int
    pages: int


@dataclass(frozen=True)
class ReceiptMember:
    """One member of a linked application (thủ tục liên thông): its own dossier, agency and date."""

    code: str
    procedure_code: str
    procedure_name: str
    agency_name: str
    appointment_date: date | None
    # A member waiting for another's result: its date is an estimate, counted again when the result arrives.
    estimated: bool = False


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
    # A linked application: every member's dossier, each handled by its own agency (empty otherwise).
    members: tuple[ReceiptMember, ...] = ()


def format_local_datetime(dt: datetime) -> str:
    """Format an aware datetime in Vietnam time as "HH:MM, ngày DD/MM/YYYY"."""
    local = to_local(dt)
    return f"{local:%H:%M}, ngày {local:%d/%m/%Y}"


def _new_pdf(data: ReceiptData) -> PortalPDF:
    """An A4 document with the portal's fonts and fixed metadata (same data, same bytes)."""
    return PortalPDF(
        title=f"{TITLE.capitalize()} - {clean_text(data.dossier_code)}",
        author=clean_text(data.agency_name),
        subject=clean_text(data.procedure_name),
        created_at=data.received_at,
        margins=_MARGINS,
    )


def _header(pdf: PortalPDF, data: ReceiptData) -> None:
    """Draw the two-column header: agency (left), national title and motto (right), then place and date."""
    right_x, right_w, bottom = pdf.national_heading(
        province_name=data.province_name, organisation=data.agency_name, left_width=72.0, size=_TEXT_SIZE
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


def _fields(pdf: PortalPDF, rows: list[tuple[str, str]]) -> None:
    """ "label value" paragraphs with a bold label, wrapping between words."""
    pdf.labelled_paragraphs(
        [(f"{label} ", value) for label, value in rows],
        size=_TEXT_SIZE,
        label_style="B",
        value_style="",
        line_height=_LINE_FACTOR,
        gap=0,
    )
    pdf.set_x(pdf.l_margin)


def _applicant(pdf: PortalPDF, data: ReceiptData) -> None:
    """Write who submitted the dossier and for which procedure (only the data present)."""
    pdf.set_font(FONT, "", _TEXT_SIZE)
    pdf.multi_cell(0, _LINE, f"{clean_text(data.agency_name)} tiếp nhận hồ sơ của:", new_x=XPos.LMARGIN)
    rows = [("Ông/Bà:", clean_text(data.applicant_name))]
    optional = (
        ("Đại diện cho:", data.business),
        ("Số định danh cá nhân:", data.applicant_id_number),
        ("Địa chỉ:", data.applicant_address),
        ("Số điện thoại:", data.applicant_phone),
        ("Thư điện tử:", data.applicant_email),
    )
    rows += [(label, clean_text(value)) for label, value in optional if clean_text(value)]
    rows.append(("Nội dung yêu cầu giải quyết:", clean_text(data.procedure_name)))
    rows.append(("Mã thủ tục:", clean_text(data.procedure_code)))
    _fields(pdf, rows)


def _components(pdf: PortalPDF, data: ReceiptData) -> None:
    """Write the numbered table of the components received."""
    pdf.ln(1)
    _fields(pdf, [("1. Thành phần hồ sơ nộp gồm:", "")])
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


def _members(pdf: PortalPDF, data: ReceiptData) -> None:
    """Write the table of a linked application's members: each one's code, procedure, agency and date."""
    if not data.members:
        return
    _fields(pdf, [("Hồ sơ liên thông:", f"{len(data.members):02d} thủ tục, mỗi thủ tục có mã hồ sơ riêng")])
    pdf.set_font(FONT, "", 10.5)
    widths = (12.0, 46.0, pdf.epw - 12.0 - 46.0 - 28.0, 28.0)
    with pdf.table(col_widths=widths, line_height=5.5, padding=1.5, text_align="LEFT") as table:
        heading = table.row()
        for text in ("STT", "Mã hồ sơ", "Thủ tục / Cơ quan giải quyết", "Ngày hẹn trả"):
            heading.cell(text, align="C")
        for number, member in enumerate(data.members, start=1):
            row = table.row()
            row.cell(str(number), align="C")
            row.cell(clean_text(member.code))
            row.cell(
                f"{clean_text(member.procedure_name)} ({clean_text(member.procedure_code)})\n"
                f"{clean_text(member.agency_name)}"
            )
            when = f"{member.appointment_date:%d/%m/%Y}" if member.appointment_date else ""
            row.cell(f"{when} (dự kiến)" if member.estimated and when else when, align="C")
    if any(m.estimated for m in data.members):
        pdf.set_font(FONT, "I", 10)
        pdf.multi_cell(
            0,
            5.5,
            "(dự kiến): thủ tục chờ kết quả của thủ tục liên thông trước; ngày hẹn được tính lại khi có kết quả đó.",
            new_x=XPos.LMARGIN,
        )
    pdf.ln(2)


def _schedule(pdf: PortalPDF, data: ReceiptData) -> None:
    """Write number of sets, receipt and appointment times, delivery method and fees."""
    items = [
        ("Số lượng hồ sơ:", "01 bộ"),
        ("Thời gian nhận hồ sơ:", format_local_datetime(data.received_at)),
        ("Thời gian trả kết quả:", f"ngày {data.appointment_date:%d/%m/%Y}"),
        ("Hình thức nhận kết quả:", clean_text(data.delivery_method)),
        ("Lệ phí:", format_vnd(data.fee_total)),
    ]
    present = [(label, value) for label, value in items if value]
    _fields(pdf, [(f"{number}. {label}", value) for number, (label, value) in enumerate(present, start=2)])


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


def _url_block(pdf: PortalPDF, url: str, width: float) -> tuple[float, list[str]]:
    """The font size and lines of the lookup address: one line if it fits at 8 pt or more, else broken
    after a "/", "?", "&" or "=" so that no word, and never the dossier code, is cut."""
    size = _TEXT_SIZE
    pdf.set_font(FONT, "", size)
    while pdf.get_string_width(url) > width and size > _URL_MIN_SIZE:
        size -= 0.5
        pdf.set_font(FONT, "", size)
    return size, url_lines(pdf, url, width)


def _lookup(pdf: PortalPDF, data: ReceiptData) -> None:
    """Draw the QR code with the lookup address next to it."""
    url = clean_text(data.lookup_url)
    if not url:
        return
    pdf.ln(3)
    x, text_x = pdf.l_margin, pdf.l_margin + _QR_SIZE + 4
    text_w = pdf.w - pdf.r_margin - text_x
    size, lines = _url_block(pdf, url, text_w)
    url_h = _LINE * size / _TEXT_SIZE
    text_h = 2 * _LINE + url_h * len(lines)
    if pdf.get_y() + max(_QR_SIZE, text_h) > pdf.page_break_trigger:
        pdf.add_page()
    y = pdf.get_y()
    _draw_qr(pdf, url, x, y, _QR_SIZE)
    pdf.link(x, y, _QR_SIZE, _QR_SIZE, url)
    pdf.set_xy(text_x, y + max(0.0, (_QR_SIZE - text_h) / 2))
    pdf.set_font(FONT, "", _TEXT_SIZE)
    pdf.cell(text_w, _LINE, "Tra cứu tình trạng hồ sơ tại:", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", size)
    for line in lines:
        pdf.cell(text_w, url_h, line, link=url, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "I", 10)
    pdf.cell(text_w, _LINE, "hoặc quét mã QR bằng điện thoại.", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(pdf.l_margin, max(pdf.get_y() + 2, y + _QR_SIZE + 2))


def render_receipt_pdf(data: ReceiptData) -> bytes:
    """Render the receipt and appointment slip of a dossier as an A4 PDF."""
    pdf = _new_pdf(data)
    _header(pdf, data)
    _title(pdf, data)
    _applicant(pdf, data)
    _components(pdf, data)
    _members(pdf, data)
    _schedule(pdf, data)
    _lookup(pdf, data)
    return bytes(pdf.output())
