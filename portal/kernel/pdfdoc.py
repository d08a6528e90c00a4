"""What the portal's own PDFs share: the embedded Noto Sans family and the national heading."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from fpdf import FPDF

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"
FONT = "NotoSans"
FONT_FILES = {"": "NotoSans-Regular.ttf", "B": "NotoSans-Bold.ttf", "I": "NotoSans-Italic.ttf"}
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"


def add_fonts(pdf: FPDF) -> None:
    """Register the Noto Sans regular, bold and italic faces (embedded as subsets, Unicode text kept)."""
    for style, filename in FONT_FILES.items():
        pdf.add_font(FONT, style, FONT_DIR / filename)


PLACE_PREFIXES = ("Thành phố ", "Tỉnh ", "TP. ", "TP ")


def clean_text(text: object) -> str:
    """NFC-normalise (precomposed Vietnamese glyphs), turn control characters into spaces, collapse spaces."""
    normalised = unicodedata.normalize("NFC", str(text or ""))
    return " ".join("".join(ch if ch.isprintable() else " " for ch in normalised).split())


def place_name(province_name: str) -> str:
    """The place of a date line: "Tỉnh Ninh Bình" → "Ninh Bình", "Thành phố Hà Nội" → "Hà Nội"."""
    name = clean_text(province_name)
    for prefix in PLACE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


def draw_national_heading(
    pdf: FPDF, *, province_name: str, organisation: str, left_width: float, size: float
) -> tuple[float, float, float]:
    """The two-column heading of an administrative document: province and organisation (left), national
    title and motto (right), each underlined. Returns (right column x, its width, the y below both columns).
    """
    from fpdf.enums import XPos, YPos

    top = pdf.get_y()
    right_w = pdf.epw - left_width
    pdf.set_font(FONT, "", size)
    pdf.multi_cell(left_width, 5.5, clean_text(province_name).upper(), align="C", new_x=XPos.LMARGIN)
    pdf.set_font(FONT, "B", size)
    pdf.multi_cell(left_width, 5.5, clean_text(organisation).upper(), align="C", new_x=XPos.LMARGIN)
    rule_y = pdf.get_y() + 1
    pdf.line(pdf.l_margin + left_width / 2 - 12, rule_y, pdf.l_margin + left_width / 2 + 12, rule_y)
    right_x = pdf.l_margin + left_width
    pdf.set_xy(right_x, top)
    pdf.set_font(FONT, "B", size)
    pdf.cell(right_w, 5.5, NATION, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FONT, "B", size + 1)
    pdf.cell(right_w, 6, MOTTO, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    half, centre = pdf.get_string_width(MOTTO) / 2, right_x + right_w / 2
    pdf.line(centre - half, pdf.get_y() + 0.5, centre + half, pdf.get_y() + 0.5)
    return right_x, right_w, max(rule_y, pdf.get_y())

