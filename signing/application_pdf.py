"""The application ("tờ khai") as an A4 PDF built from a dossier's answers, for the citizen to sign digitally.

The PDF is Vietnamese only: it is the document filed with a Vietnamese agency, so its fixed texts are
not translatable and have no msgids.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from pypdf import PdfReader

from forms.address import format_address
from forms.definition import Field, FieldType, FormDefinition
from forms.validation import visible_fields
from portal.kernel.calendar import to_local
from portal.kernel.pdfdoc import FONT, FONT_DIR, FONT_FILES, MOTTO, NATION, add_fonts, place_name

__all__ = [
    "SIGNATURE_BOX",
    "ApplicationData",
    "application_data",
    "render_application_pdf",
    "signature_page_index",
]


CREATOR = "Cổng Dịch vụ công"
_SIGNER_TITLE = "NGƯỜI YÊU CẦU"
_SIGNER_HINT = "(Ký, ghi rõ họ, chữ đệm, tên)"
EMPTY_ANSWER = "—"
_YES, _NO = "Có", "Không"
_MISSING_GLYPH = "\ufffd"  # shown instead of characters the font cannot draw, so nothing vanishes silently

_PT_PER_MM = 72 / 25.4
_PAGE_W, _PAGE_H = 210.0, 297.0  # A4, mm
_LEFT, _RIGHT, _TOP, _BOTTOM = 20.0, 15.0, 15.0, 20.0
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


def _clean(text: object, *, multiline: bool = False) -> str:
    """NFC-normalise, turn control characters into spaces and collapse spaces (keeping line breaks if asked)."""
    normalised = unicodedata.normalize("NFC", str(text or "")).replace("\r\n", "\n").replace("\r", "\n")
    lines = ["".join(ch if ch.isprintable() else " " for ch in line) for line in normalised.split("\n")]
    kept = [" ".join(line.split()) for line in lines]
    if not multiline:
        return " ".join(line for line in kept if line)
    out: list[str] = []
    for line in kept:
        if line or (out and out[-1]):  # at most one blank line in a row
            out.append(line)
    return "\n".join(out).strip()


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
        return next((_clean(o.label.vi) for o in f.options if o.value == value), _clean(value))
    if f.type is FieldType.CHECKBOX and f.options:
        chosen = value if isinstance(value, list) else [value]
        return "; ".join(_clean(o.label.vi) for o in f.options if o.value in chosen) or EMPTY_ANSWER
    if f.type is FieldType.CHECKBOX:
        return _YES if value is True else _NO
    if f.type is FieldType.ADDRESS:
        text = format_address(value) if isinstance(value, Mapping) else str(value)
        return _clean(text) or EMPTY_ANSWER
    if f.type is FieldType.DATE and isinstance(value, str) and len(value) == 10:
        return f"{value[8:10]}/{value[5:7]}/{value[0:4]}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "; ".join(_clean(v) for v in value)
    return _clean(value, multiline=f.type is FieldType.TEXTAREA) or EMPTY_ANSWER


def _group_rows(group: Field, value: Any, env: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One numbered row per item of a repeatable group: "Label (1)" → "Sub: answer; Sub: answer"."""
    label = _clean(group.label.vi)
    items = [item if isinstance(item, Mapping) else {} for item in value] if isinstance(value, list) else []
    if not items:
        return [(label, EMPTY_ANSWER)]
    rows = []
    for number, item in enumerate(items, start=1):
        shown, _ = visible_fields(group.fields, item, env)
        parts = [_labelled(_clean(s.label.vi), _answer(s, item.get(s.name))) for s in group.fields if s.name in shown]
        rows.append((f"{label} ({number})", "; ".join(parts) or EMPTY_ANSWER))
    return rows


def _title(procedure_name: str) -> str:
    """ "Cấp Giấy xác nhận tình trạng hôn nhân" → "TỜ KHAI CẤP GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN"."""
    name = _clean(procedure_name)
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
                rows.append((_clean(f.label.vi), _answer(f, values.get(f.name))))
        if rows:
            sections.append((_clean(step.title.vi), rows))
    return ApplicationData(
        title_vi=_title(procedure_name_vi),
        procedure_code=_clean(procedure_code),
        agency_name=_clean(agency_name_vi),
        sections=sections,
        applicant_name=_clean(applicant_name),
        place=place_name(place),
        created_at=now,
        dossier_ref=_clean(dossier_ref),
    )


# --- the PDF ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _drawable() -> frozenset[int]:
    """Code points all three font files have a glyph for."""
    sets = []
    for filename in FONT_FILES.values():
        font = TTFont(FONT_DIR / filename, lazy=True)
        sets.append(frozenset(font.getBestCmap()))
        font.close()
    return frozenset.intersection(*sets)


def _pdf_text(text: str, *, multiline: bool = False) -> str:
    """Text ready for the fonts: precomposed (one glyph per letter, no shaping needed), nothing undrawable."""
    drawable = _drawable()
    cleaned = _clean(text, multiline=multiline)
    return "".join(ch if ch == "\n" or ord(ch) in drawable else _MISSING_GLYPH for ch in cleaned)


def _roman(number: int) -> str:
    """Section numbers as in administrative forms: 1 → "I", 4 → "IV"."""
    out = ""
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                           (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):  # fmt: skip
        count, number = divmod(number, value)
        out += letters * count
    return out


class _ApplicationPDF(FPDF):
    """FPDF with a footer naming the procedure, the dossier and the page."""

    footer_text = ""

    def footer(self) -> None:
        """Draw the footer line at the bottom of every page."""
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, f"{self.footer_text} · Trang {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def _new_pdf(app: ApplicationData) -> _ApplicationPDF:
    """An A4 document with the vendored Noto Sans fonts and fixed metadata (same input, same bytes)."""
    pdf = _ApplicationPDF(orientation="portrait", unit="mm", format="A4")
    # No text shaping: with NFC text every Vietnamese letter is one glyph, which pdftotext maps back exactly.
    add_fonts(pdf)
    pdf.set_margins(_LEFT, _TOP, _RIGHT)
    pdf.set_auto_page_break(auto=True, margin=_BOTTOM)
    pdf.set_compression(True)
    pdf.set_title(_pdf_text(app.title_vi))
    pdf.set_author(_pdf_text(app.applicant_name))
    pdf.set_subject(_pdf_text(f"Mã thủ tục {app.procedure_code}; hồ sơ {app.dossier_ref}"))
    pdf.set_creator(CREATOR)
    pdf.set_lang("vi-VN")
    pdf.set_creation_date(to_local(app.created_at))
    pdf.footer_text = _pdf_text(f"Mã thủ tục: {app.procedure_code} · Mã hồ sơ: {app.dossier_ref}")
    pdf.add_page()
    return pdf


def _header(pdf: FPDF, app: ApplicationData) -> None:
    """National title and motto, the document title and the addressee."""
    pdf.set_font(FONT, "B", 12)
    pdf.cell(0, 6, NATION, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "B", 12.5)
    pdf.cell(0, 6.5, MOTTO, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    half, centre = pdf.get_string_width(MOTTO) / 2, pdf.l_margin + pdf.epw / 2
    pdf.line(centre - half, pdf.get_y() + 0.5, centre + half, pdf.get_y() + 0.5)
    pdf.ln(9)
    pdf.set_font(FONT, "B", 14)
    pdf.multi_cell(0, 7.5, _pdf_text(app.title_vi), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(FONT, "", 12)
    pdf.multi_cell(0, 7, _pdf_text(f"Kính gửi: {app.agency_name}"), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)


def _sections(pdf: FPDF, app: ApplicationData) -> None:
    """Each step as a numbered heading over "question: answer" paragraphs (answers in bold, wrapping)."""
    for number, (title, rows) in enumerate(app.sections, start=1):
        if pdf.get_y() + 7 + 2 * _LINE > pdf.page_break_trigger:  # keep the heading with its first row
            pdf.add_page()
        pdf.set_font(FONT, "B", 12)
        pdf.multi_cell(0, 7, f"{_roman(number)}. {_pdf_text(title)}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        # Text columns break lines across the two fonts (write() would split the first word of an
        # answer that starts near the end of a line) and flow onto new pages.
        with pdf.text_columns(text_align="LEFT", l_margin=_LEFT + _INDENT, line_height=_LINE_FACTOR) as column:
            for label, answer in rows:
                text_label = _pdf_text(label)
                with column.paragraph(bottom_margin=_ROW_GAP) as paragraph:
                    pdf.set_font(FONT, "", _TEXT_SIZE)
                    paragraph.write(f"{text_label}{_separator(text_label)}")
                    pdf.set_font(FONT, "B", _TEXT_SIZE)
                    paragraph.write(_pdf_text(answer, multiline=True))
        pdf.set_xy(_LEFT, pdf.get_y() + 1.5)


def _date_line(app: ApplicationData) -> str:
    local = to_local(app.created_at)
    place = _pdf_text(app.place) or "......"
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
    name, size = _pdf_text(app.applicant_name), 11.0
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
