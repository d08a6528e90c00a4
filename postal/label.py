"""The shipping label of a postal order: one A6 page (105 × 148 mm) for the courier's printer.

From the top: the operator and the kind of parcel, the tracking number as a Code 128 barcode with the number
below it, the sender and the recipient, then the dossier code, the weight class, the amount to collect, and a
QR code of the tracking number. An order not yet claimed has no tracking number: its barcode and QR code hold
the order number, and the label says so.

The text is Vietnamese and stays extractable (embedded Noto Sans, NFC text, no shaping: see
`portal.kernel.pdfdoc`). Addresses of any allowed length fit on the page: the middle block's type shrinks
until it does, and only the notes for the courier and the list of contents are ever shortened.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import segno
from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from forms.address import format_address
from portal.kernel.calendar import to_local
from portal.kernel.money import group_thousands
from portal.kernel.pdfdoc import FONT, Margins, PortalPDF, clean_text, drawable_text
from portal.kernel.settings import Settings
from postal.barcode import draw_code128, encode_code128
from postal.models import ParcelKind, PostalOrder, WeightClass

__all__ = ["LABEL_SIZE", "LabelPDF", "cod_text", "label_code", "operator_name", "render_label"]

LABEL_SIZE = (105.0, 148.0)  # A6 portrait, mm
_MARGIN = 5.0
_MARGINS = Margins(left=_MARGIN, top=_MARGIN, right=_MARGIN, bottom=_MARGIN)
_PT = 25.4 / 72  # mm per point
_LINE_FACTOR = 1.25  # line height / font size

_KIND_TITLES: dict[str, str] = {ParcelKind.PICKUP: "Thu gom hồ sơ", ParcelKind.DELIVERY: "Chuyển phát kết quả"}
_WEIGHT_CLASSES: dict[str, str] = {
    WeightClass.DOCUMENT: "Phong bì tài liệu, đến 100 g",
    WeightClass.THICK: "Phong bì dày, đến 500 g",
    WeightClass.PARCEL: "Bưu kiện, đến 2 kg",
}
# Names of the operators the portal knows; an operator's settings may give its own ("name").
_OPERATOR_NAMES = {"vnpost": "Bưu điện Việt Nam (VNPost)"}

# The barcode band and the bottom band (dossier code, weight, COD, QR code) have fixed places; the addresses
# take what is left between them.
_HEADER_BOTTOM = 21.0
_BARCODE_TOP = 23.0
_BARCODE_HEIGHT = 17.0
_QR_SIZE = 27.0
_QR_BORDER = 4
_BOTTOM_BAND = _QR_SIZE + 6.0
_BASE_SIZES = tuple(x / 2 for x in range(20, 11, -1))  # 10 pt down to 6 pt for the addresses
_ELLIPSIS = "…"


class LabelPDF(PortalPDF):
    """A `PortalPDF` whose pages are A6 labels: no automatic page break, everything placed to fit one page."""

    def add_page(
        self,
        orientation: str = "",
        format: str | tuple[float, float] = "",
        same: bool = False,
        duration: float = 0,
        transition: Any = None,
        label_style: Any = None,
        label_prefix: str | None = None,
        label_start: int | None = None,
    ) -> None:
        super().add_page(
            orientation,
            format or LABEL_SIZE,
            same,
            duration,
            transition,
            label_style,
            label_prefix,
            label_start,
        )


def operator_name(settings: Settings, operator: str) -> str:
    """The name printed for an operator: its settings' "name", else the portal's own name for it, else its id."""
    configured = settings.postal_operators.get(operator, {}).get("name")
    if isinstance(configured, str) and clean_text(configured):
        return clean_text(configured)
    return _OPERATOR_NAMES.get(operator) or clean_text(operator)


def label_code(order: PostalOrder) -> str:
    """What the barcode and the QR code hold: the tracking number, or the order number before a claim."""
    return clean_text(order.tracking_number) or clean_text(order.number)


def cod_text(amount: int) -> str:
    """ "Thu hộ (COD): 123.000 đ", or "Không thu hộ" when nothing is collected at delivery."""
    return f"Thu hộ (COD): {group_thousands(amount)} đ" if amount > 0 else "Không thu hộ"


@dataclass(frozen=True)
class _Row:
    """One paragraph of the address block: its text, style and size relative to the block's base size."""

    text: str
    style: str = ""
    scale: float = 1.0
    gap_before: float = 0.0  # mm
    shorten: bool = False  # may be cut (with "…") when nothing else makes the block fit


def _party_rows(title: str, party: Mapping[str, Any], *, scale: float, notes_label: str) -> list[_Row]:
    """A sender or recipient: its heading, name, phone, address and the notes for the courier (those present)."""
    rows = [_Row(title, "B", 0.8)]
    name = drawable_text(party.get("name"))
    if name:
        rows.append(_Row(name, "B", scale * 1.1))
    phone = drawable_text(party.get("phone"))
    if phone:
        rows.append(_Row(f"ĐT: {phone}", "B", scale))
    address = drawable_text(format_address(party))
    if address:
        rows.append(_Row(address, "", scale))
    notes = drawable_text(party.get("notes"))
    if notes:
        rows.append(_Row(f"{notes_label}: {notes}", "I", 1.0, shorten=True))
    return rows


def _address_rows(order: PostalOrder) -> list[_Row]:
    """The middle block: sender (smaller), recipient (larger), each with its notes, then the contents."""
    sender = _party_rows("NGƯỜI GỬI", order.sender, scale=0.9, notes_label="Ghi chú lấy hàng")
    recipient = _party_rows("NGƯỜI NHẬN", order.recipient, scale=1.1, notes_label="Ghi chú giao hàng")
    recipient[0] = replace(recipient[0], gap_before=2.0)
    rows = sender + recipient
    names = [drawable_text(item.get("name_vi") or item.get("name_en")) for item in order.contents]
    contents = "; ".join(name for name in names if name)
    if contents:
        rows.append(_Row(f"Nội dung: {contents}", "", 0.9, shorten=True))
    return rows


def _lines(pdf: FPDF, row: _Row, base: float, width: float) -> list[str]:
    pdf.set_font(FONT, row.style, base * row.scale)
    lines = pdf.multi_cell(width, text=row.text, dry_run=True, output=MethodReturnValue.LINES)
    assert isinstance(lines, list)
    return lines


def _height(pdf: FPDF, rows: list[_Row], base: float, width: float) -> float:
    return sum(
        row.gap_before + len(_lines(pdf, row, base, width)) * base * row.scale * _PT * _LINE_FACTOR for row in rows
    )


def _shortened(pdf: FPDF, row: _Row, base: float, width: float, max_lines: int) -> _Row:
    """``row`` cut between words to at most ``max_lines`` lines, ending with "…"."""
    text = row.text.rstrip()
    cuts = [i for i, char in enumerate(text) if char == " "] or list(range(1, len(text)))
    cuts.append(len(text))

    def fits(end: int) -> bool:
        return len(_lines(pdf, _Row(text[:end].rstrip() + _ELLIPSIS, row.style, row.scale), base, width)) <= max_lines

    low, high = 0, len(cuts) - 1  # the longest cut between words that fits, by bisection (a few layouts)
    if not fits(cuts[low]):
        return replace(row, text=_ELLIPSIS)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(cuts[middle]):
            low = middle
        else:
            high = middle - 1
    return replace(row, text=text[: cuts[low]].rstrip() + _ELLIPSIS)


def _fit(pdf: FPDF, rows: list[_Row], width: float, height: float) -> tuple[float, list[_Row]]:
    """The largest base size at which ``rows`` fit in ``height``; at the smallest, shortenable rows are cut."""
    for base in _BASE_SIZES:
        if _height(pdf, rows, base, width) <= height:
            return base, rows
    base = _BASE_SIZES[-1]
    fitted = list(rows)
    for index in reversed([i for i, row in enumerate(rows) if row.shorten]):
        overflow = _height(pdf, fitted, base, width) - height
        if overflow <= 0:
            break
        row = fitted[index]
        line_height = base * row.scale * _PT * _LINE_FACTOR
        lines = len(_lines(pdf, row, base, width))
        keep = lines - math.ceil(overflow / line_height - 1e-9)  # the lines this row may keep, counted once
        if keep < 1:
            fitted.pop(index)
        else:
            fitted[index] = _shortened(pdf, row, base, width, keep)
    return base, fitted


def _rule(pdf: FPDF, y: float) -> None:
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.3)
    pdf.line(_MARGIN, y, pdf.w - _MARGIN, y)


def _header(pdf: LabelPDF, order: PostalOrder, settings: Settings) -> None:
    """Operator (left), the kind of parcel in a box (right), the order number and date beneath."""
    kind = _KIND_TITLES.get(order.kind, clean_text(order.kind))
    box_w = 38.0
    pdf.set_font(FONT, "B", 8.5)
    pdf.set_xy(pdf.w - _MARGIN - box_w, _MARGIN)
    pdf.multi_cell(box_w, 5.0, kind.upper(), border=1, align="C", new_x=XPos.LMARGIN)
    pdf.set_xy(_MARGIN, _MARGIN)
    left_w = pdf.epw - box_w - 2
    pdf.set_font(FONT, "B", 9.5)
    pdf.multi_cell(left_w, 4.2, clean_text(operator_name(settings, order.operator)), new_x=XPos.LMARGIN)
    pdf.set_font(FONT, "", 7)
    pdf.multi_cell(left_w, 3.2, f"Mã đơn vị: {clean_text(order.operator)}", new_x=XPos.LMARGIN)
    created = to_local(order.created_at)
    pdf.set_xy(_MARGIN, _HEADER_BOTTOM - 4.5)
    pdf.set_font(FONT, "", 8)
    pdf.cell(pdf.epw / 2, 4, f"Số đơn: {clean_text(order.number)}")
    pdf.cell(pdf.epw / 2, 4, f"Ngày: {created:%d/%m/%Y}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _rule(pdf, _HEADER_BOTTOM)


def _barcode(pdf: LabelPDF, order: PostalOrder) -> float:
    """The Code 128 band and the number it holds; returns the y below it."""
    code = label_code(order)
    draw_code128(pdf, encode_code128(code), x=_MARGIN, y=_BARCODE_TOP, width=pdf.epw, height=_BARCODE_HEIGHT)
    pdf.set_xy(_MARGIN, _BARCODE_TOP + _BARCODE_HEIGHT + 0.8)
    size = 12.0
    pdf.set_font(FONT, "B", size)
    while pdf.get_string_width(code) > pdf.epw and size > 7:  # an operator's own number may be long
        size -= 0.5
        pdf.set_font(FONT, "B", size)
    pdf.multi_cell(pdf.epw, size * _PT * _LINE_FACTOR, code, align="C", new_x=XPos.LMARGIN)
    if not clean_text(order.tracking_number):
        pdf.set_font(FONT, "I", 7)
        pdf.multi_cell(
            pdf.epw,
            3.2,
            "Chưa có số vận đơn (đơn chưa được nhận): mã vạch và mã QR là số đơn.",
            align="C",
            new_x=XPos.LMARGIN,
        )
    bottom = pdf.get_y() + 1
    _rule(pdf, bottom)
    return bottom


def _addresses(pdf: LabelPDF, order: PostalOrder, top: float, bottom: float) -> None:
    """Sender, recipient, notes and contents in the space between the barcode band and the bottom band."""
    width = pdf.epw
    base, rows = _fit(pdf, _address_rows(order), width, bottom - top - 2)
    pdf.set_xy(_MARGIN, top + 1)
    for row in rows:
        size = base * row.scale
        pdf.set_font(FONT, row.style, size)
        pdf.set_y(pdf.get_y() + row.gap_before)
        pdf.multi_cell(width, size * _PT * _LINE_FACTOR, row.text, align="L", new_x=XPos.LMARGIN)


def _draw_qr(pdf: FPDF, content: str, x: float, y: float, size: float) -> None:
    """A QR code (error level M, 4-module quiet zone) as filled rectangles, one per run of dark modules."""
    qr = segno.make_qr(content, error="m", boost_error=False)
    matrix = [[bool(module) for module in row] for row in qr.matrix_iter(scale=1, border=_QR_BORDER)]
    module = size / len(matrix)
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(x + start * module, y + r * module, (c - start) * module, module * 1.02, style="F")


def _bottom(pdf: LabelPDF, order: PostalOrder, top: float) -> None:
    """Dossier code, weight class and the amount to collect (left); the QR code (right)."""
    _rule(pdf, top)
    qr_x = pdf.w - _MARGIN - _QR_SIZE
    _draw_qr(pdf, label_code(order), qr_x, top + 1, _QR_SIZE)
    pdf.set_font(FONT, "", 6.5)
    pdf.set_xy(qr_x, top + 1 + _QR_SIZE)
    pdf.cell(_QR_SIZE, 3, "Mã QR: số vận đơn" if clean_text(order.tracking_number) else "Mã QR: số đơn", align="C")
    width = qr_x - _MARGIN - 2
    pdf.set_xy(_MARGIN, top + 2)
    pdf.set_font(FONT, "", 7.5)
    pdf.multi_cell(width, 3.4, "Mã hồ sơ:", new_x=XPos.LMARGIN)
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(width, 4.6, clean_text(order.reference), new_x=XPos.LMARGIN)
    pdf.set_y(pdf.get_y() + 1)
    pdf.set_font(FONT, "", 7.5)
    weight = _WEIGHT_CLASSES.get(order.weight_class, clean_text(order.weight_class))
    pdf.multi_cell(width, 3.4, f"Khối lượng: {weight}", new_x=XPos.LMARGIN)
    pdf.set_y(pdf.get_y() + 1.5)
    pdf.set_font(FONT, "B", 10.5 if order.cod_amount > 0 else 9)
    pdf.multi_cell(width, 5, cod_text(order.cod_amount), border=1 if order.cod_amount > 0 else 0, new_x=XPos.LMARGIN)


def render_label(order: PostalOrder, *, settings: Settings) -> bytes:
    """The order's A6 shipping label as PDF bytes (the same order gives the same bytes)."""
    code = label_code(order)
    pdf = LabelPDF(
        title=f"Nhãn gửi {code}",
        author=clean_text(settings.portal_name),
        subject=f"{_KIND_TITLES.get(order.kind, clean_text(order.kind))} - {clean_text(order.reference)}",
        created_at=order.created_at,
        margins=_MARGINS,
    )
    pdf.set_auto_page_break(auto=False)
    _header(pdf, order, settings)
    top = _barcode(pdf, order)
    bottom = pdf.h - _MARGIN - _BOTTOM_BAND
    _addresses(pdf, order, top, bottom)
    _bottom(pdf, order, bottom)
    return bytes(pdf.output())
