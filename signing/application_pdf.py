"""The application ("tờ khai") as an A4 PDF built from a dossier's answers, for the citizen to sign digitally.

The PDF is Vietnamese only: it is the document filed with a Vietnamese agency, so its fixed texts are
not translatable and have no msgids.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from pypdf import PdfReader

from forms.address import format_address
from forms.definition import Field, FieldType, FormDefinition
from forms.validation import visible_fields
from portal.kernel.calendar import to_local
from portal.kernel.pdfdoc import FONT, Margins, PortalPDF, clean_text, drawable_text, place_name

__all__ = [
    "SIGNATURE_BOX",
    "ApplicationData",
    "application_data",
    "render_application_pdf",
    "signature_page_index",
]


_SIGNER_TITLE = "NGƯỜI YÊU CẦU"
_SIGNER_HINT = "(Ký, ghi rõ họ, chữ đệm, tên)"
EMPTY_ANSWER = "—"
_YES, _NO = "Có", "Không"

_PT_PER_MM = 72 / 25.4
_PAGE_W, _PAGE_H = 210.0, 297.0  # A4, mm
_MARGINS = Margins()
_LEFT, _RIGHT = _MARGINS.left, _MARGINS.right
_LINE = 6.0  # mm, header and closing lines
_TEXT_SIZE = 11.0
_LINE_FACTOR = 1.4  # answers: line height as a multiple of the font size
_ROW_GAP = 0.8  # mm between two answers
_INDENT = 4.0

SIGNATURE_BOX: tuple[float, float, float, float] = (301.0, 85.0, 521.0, 155.0)
"""Where the visible signature stamp goes on the last page: (x1, y1, x2, y2) in points from the bottom-left.

220 × 70 pt, centred under "NGƯỜI YÊU CẦU" in the right-hand column; the layout never draws into it.
"""

# The closing block (date line, signer title, box, name) sits at a fixed place on the last page,
# derived from SIGNATURE_BOX so the two cannot drift apart.
_SIGN_CENTRE = (SIGNATURE_BOX[0] + SIGNATURE_BOX[2]) / 2 / _PT_PER_MM  # mm from the left
_SIGN_COL_W = 2 * (_PAGE_W - _RIGHT - _SIGN_CENTRE)  # as wide as the right margin allows
_SIGN_COL_X = _SIGN_CENTRE - _SIGN_COL_W / 2
_BOX_TOP = _PAGE_H - SIGNATURE_BOX[3] / _PT_PER_MM  # mm from the top
_BOX_BOTTOM = _PAGE_H - SIGNATURE_BOX[1] / _PT_PER_MM
_BOX_CLEARANCE = 2.5  # mm kept free around the box


@dataclass(frozen=True)
class ApplicationData:
    """Everything printed on the application; texts are in Vietnamese."""

    title_vi: str
    procedure_code: str
    agency_name: str
    sections: list[tuple[str, list[tuple[str, str]]]]  # step title → (question label, answer text)
    applicant_name: str
    place: str
    created_at: datetime
    dossier_ref: str


# --- answers as text -------------------------------------------------------------------------


def _labelled(label: str, answer: str) -> str:
    """Join a question and its answer: "Dân tộc: Kinh", but "…nơi khác? Không"."""
    return f"{label}{_separator(label)}{answer}"


def _separator(label: str) -> str:
    return " " if label.endswith((":", "?", ".", "!")) else ": "


def _answer(f: Field, value: Any) -> str:
    """An answer as text, the way the review page (templates/dossiers/_answers.html) shows it."""
    if value is None or value == "" or value == []:
        return EMPTY_ANSWER
    if f.type in (FieldType.SELECT, FieldType.RADIO):
        return next((clean_text(o.label.vi) for o in f.options if o.value == value), clean_text(value))
    if f.type is FieldType.CHECKBOX and f.options:
        chosen = value if isinstance(value, list) else [value]
        return "; ".join(clean_text(o.label.vi) for o in f.options if o.value in chosen) or EMPTY_ANSWER
    if f.type is FieldType.CHECKBOX:
        return _YES if value is True else _NO
    if f.type is FieldType.ADDRESS:
        text = format_address(value) if isinstance(value, Mapping) else str(value)
        return clean_text(text) or EMPTY_ANSWER
    if f.type is FieldType.DATE and isinstance(value, str) and len(value) == 10:
        return f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "; ".join(clean_text(v) for v in value)
    return clean_text(value, multiline=f.type is FieldType.TEXTAREA) or EMPTY_ANSWER


def _group_rows(group: Field, value: Any, env: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One numbered row per item of a repeatable group: "Label (1)" → "Sub: answer; Sub: answer"."""
    label = clean_text(group.label.vi)
    items = [item if isinstance(item, Mapping) else {} for item in value] if isinstance(value, list) else []
    if not items:
        return [(label, EMPTY_ANSWER)]
    rows = []
    for number, item in enumerate(items, start=1):
        shown, _ = visible_fields(group.fields, item, env)
        parts = [
            _labelled(clean_text(s.label.vi), _answer(s, item.get(s.name))) for s in group.fields if s.name in shown
        ]
        rows.append((f"{label} ({number})", "; ".join(parts) or EMPTY_ANSWER))
    return rows


def _title(procedure_name: str) -> str:
    """ "Cấp Giấy xác nhận tình trạng hôn nhân" → "TỜ KHAI CẤP GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN"."""
    name = clean_text(procedure_name)
    return name.upper() if name.casefold().startswith("tờ khai") else f"TỜ KHAI {name.upper()}"


def application_data(
    *,
    defn: FormDefinition,
    data: Mapping[str, Any],
    procedure_name_vi: str,
    procedure_code: str,
    agency_name_vi: str,
    applicant_name: str,
    place: str,
    dossier_ref: str,
    now: datetime,
) -> ApplicationData:
    """Collect the shown questions and their answers, step by step, from a dossier's stored data."""
    to_local(now)  # fail early on a naive datetime
    values = data if isinstance(data, Mapping) else {}
    shown, env = visible_fields(defn.all_fields(), values)
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for step in defn.steps:
        rows: list[tuple[str, str]] = []
        for f in step.fields:
            if f.name not in shown:
                continue
            if f.type is FieldType.GROUP:
                rows.extend(_group_rows(f, values.get(f.name), env))
            else:
                rows.append((clean_text(f.label.vi), _answer(f, values.get(f.name))))
        if rows:
            sections.append((clean_text(step.title.vi), rows))
    return ApplicationData(
        title_vi=_title(procedure_name_vi),
        procedure_code=clean_text(procedure_code),
        agency_name=clean_text(agency_name_vi),
        sections=sections,
        applicant_name=clean_text(applicant_name),
        place=place_name(place),
        created_at=now,
        dossier_ref=clean_text(dossier_ref),
    )


# --- the PDF ---------------------------------------------------------------------------------


def _roman(number: int) -> str:
    """Section numbers as in administrative forms: 1 → "I", 4 → "IV"."""
    out = ""
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                           (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):  # fmt: skip
        count, number = divmod(number, value)
        out += letters * count
    return out


def _new_pdf(app: ApplicationData) -> PortalPDF:
    """An A4 document with the portal's fonts, fixed metadata (same input, same bytes) and a footer."""
    return PortalPDF(
        title=drawable_text(app.title_vi),
        author=drawable_text(app.applicant_name),
        subject=drawable_text(f"Mã thủ tục {app.procedure_code}; hồ sơ {app.dossier_ref}"),
        created_at=app.created_at,
        footer_text=drawable_text(f"Mã thủ tục: {app.procedure_code} · Mã hồ sơ: {app.dossier_ref}"),
        margins=_MARGINS,
    )


def _header(pdf: PortalPDF, app: ApplicationData) -> None:
    """National title and motto, the document title and the addressee."""
    pdf.national_title(x=pdf.l_margin, width=pdf.epw, size=12)
    pdf.ln(9)
    pdf.set_font(FONT, "B", 14)
    pdf.multi_cell(0, 7.5, drawable_text(app.title_vi), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(FONT, "", 12)
    pdf.multi_cell(0, 7, drawable_text(f"Kính gửi: {app.agency_name}"), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _sections(pdf: PortalPDF, app: ApplicationData) -> None:
    """Each step as a numbered heading over "question: answer" paragraphs (answers in bold, wrapping)."""
    for number, (title, rows) in enumerate(app.sections, start=1):
        if pdf.get_y() + 7 + 2 * _LINE > pdf.page_break_trigger:  # keep the heading with its first row
            pdf.add_page()
        pdf.set_font(FONT, "B", 12)
        pdf.multi_cell(0, 7, f"{_roman(number)}. {drawable_text(title)}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        paragraphs = []
        for label, answer in rows:
            text_label = drawable_text(label)
            paragraphs.append((f"{text_label}{_separator(text_label)}", drawable_text(answer, multiline=True)))
        pdf.labelled_paragraphs(
            paragraphs,
            size=_TEXT_SIZE,
            l_margin=_LEFT + _INDENT,
            line_height=_LINE_FACTOR,
            gap=_ROW_GAP,
        )
        pdf.set_xy(_LEFT, pdf.get_y() + 1.5)


def _date_line(app: ApplicationData) -> str:
    local = to_local(app.created_at)
    place = drawable_text(app.place) or "......"
    return f"{place}, ngày {local:%d} tháng {local:%m} năm {local:%Y}"


def _lines(pdf: FPDF, text: str) -> list[str]:
    """How ``text`` wraps in the signature column with the current font."""
    lines = pdf.multi_cell(_SIGN_COL_W, _LINE, text, align="C", dry_run=True, output="LINES")
    assert isinstance(lines, list)
    return lines


def _closing(pdf: FPDF, app: ApplicationData) -> None:
    """Date line, "NGƯỜI YÊU CẦU", the empty signature box and the name, at their fixed place on the last page."""
    pdf.set_font(FONT, "I", 11)
    date_line = _date_line(app)
    date_lines = _lines(pdf, date_line)
    hint_h, title_h = 5.0, 6.0
    top = _BOX_TOP - _BOX_CLEARANCE - hint_h - title_h - _LINE * len(date_lines)
    if pdf.get_y() > top - 4:
        pdf.add_page()
    pdf.set_auto_page_break(auto=False)  # everything below is placed absolutely
    pdf.set_xy(_SIGN_COL_X, top)
    pdf.multi_cell(_SIGN_COL_W, _LINE, date_line, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "B", 11)
    pdf.cell(_SIGN_COL_W, title_h, _SIGNER_TITLE, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "I", 10)
    pdf.cell(_SIGN_COL_W, hint_h, _SIGNER_HINT, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    name, size = drawable_text(app.applicant_name), 11.0
    pdf.set_font(FONT, "B", size)
    name_lines = _lines(pdf, name)
    while len(name_lines) > 2 and size > 7:  # two lines at most: the footer starts right below
        size -= 0.5
        pdf.set_font(FONT, "B", size)
        name_lines = _lines(pdf, name)
    pdf.set_xy(_SIGN_COL_X, _BOX_BOTTOM + _BOX_CLEARANCE)
    for line in name_lines[:2]:
        pdf.cell(_SIGN_COL_W, _LINE * size / 11, line, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)


def render_application_pdf(app: ApplicationData) -> bytes:
    """Render the application as an A4 PDF with an empty signature area at SIGNATURE_BOX on the last page."""
    pdf = _new_pdf(app)
    _header(pdf, app)
    _sections(pdf, app)
    _closing(pdf, app)
    return bytes(pdf.output())


def signature_page_index(pdf_bytes: bytes) -> int:
    """Index of the page that holds SIGNATURE_BOX: the last one."""
    pages = len(PdfReader(io.BytesIO(pdf_bytes)).pages)
    if pages == 0:
        raise ValueError("the PDF has no pages")
    return pages - 1
