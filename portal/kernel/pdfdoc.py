"""The one base of the portal's own PDFs (receipt, e-receipt, application): an A4 page, the embedded Noto Sans
family, fixed metadata, the national heading, a footer, and text that wraps between words, never inside one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.kernel.calendar import to_local

__all__ = [
    "CREATOR",
    "FONT",
    "FONT_DIR",
    "FONT_FILES",
    "MOTTO",
    "NATION",
    "Margins",
    "PortalPDF",
    "clean_text",
    "drawable_text",
    "place_name",
    "url_lines",
]

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"
FONT = "NotoSans"
FONT_FILES = {"": "NotoSans-Regular.ttf", "B": "NotoSans-Bold.ttf", "I": "NotoSans-Italic.ttf"}
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
CREATOR = "Cổng Dịch vụ công"
PLACE_PREFIXES = ("Thành phố ", "Tỉnh ", "TP. ", "TP ")
MISSING_GLYPH = "\ufffd"  # shown instead of characters the fonts cannot draw, so nothing vanishes silently

# Where a URL may be broken over lines: after these characters, so a path segment or a query value
# (a dossier code, a receipt number) always stays whole.
_URL_BREAKS = re.compile(r"(?<=[/?&=])")


@dataclass(frozen=True)
class Margins:
    """Page margins in mm; ``bottom`` is where the automatic page break happens."""

    left: float = 20.0
    top: float = 15.0
    right: float = 15.0
    bottom: float = 20.0


class PortalPDF(FPDF):
    """An A4 portrait document in mm with Noto Sans embedded, its first page added, and a footer when given.

    The metadata is fixed by the arguments, so the same input gives the same bytes. The creation date is
    written in Vietnam time. Text shaping stays off: with NFC text every Vietnamese letter is one glyph,
    which pdftotext maps back exactly.
    """

    def __init__(
        self,
        *,
        title: str,
        author: str,
        subject: str,
        created_at: datetime,
        footer_text: str = "",
        margins: Margins = Margins(),  # frozen: one shared default is safe
    ) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        for style, filename in FONT_FILES.items():
            self.add_font(FONT, style, FONT_DIR / filename)
        self.set_margins(margins.left, margins.top, margins.right)
        self.set_auto_page_break(auto=True, margin=margins.bottom)
        self.set_compression(True)
        self.set_title(title)
        self.set_author(author)
        self.set_subject(subject)
        self.set_creator(CREATOR)
        self.set_lang("vi-VN")
        self.set_creation_date(to_local(created_at))
        self.margins = margins
        self.footer_text = footer_text
        self.add_page()

    def footer(self) -> None:
        """A grey line at the bottom of every page: the footer text and "Trang n/N" (nothing without a text)."""
        if not self.footer_text:
            return
        self.set_xy(self.l_margin, -12)
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, f"{self.footer_text} · Trang {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)

    def national_title(self, *, x: float, width: float, size: float) -> None:
        """The national title and the underlined motto, centred in a column from the current y."""
        self.set_xy(x, self.get_y())
        self.set_font(FONT, "B", size)
        self.cell(width, size / 2, NATION, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_font(FONT, "B", size + 1)
        self.cell(width, (size + 1) / 2, MOTTO, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
        half, centre = self.get_string_width(MOTTO) / 2, x + width / 2
        self.line(centre - half, self.get_y() + 0.5, centre + half, self.get_y() + 0.5)

    def national_heading(
        self, *, province_name: str, organisation: str, left_width: float, size: float
    ) -> tuple[float, float, float]:
        """The two-column heading of an administrative document: province and organisation (left), national
        title and motto (right), each underlined. Returns (right column x, its width, the y below both columns).
        """
        top = self.get_y()
        right_w = self.epw - left_width
        self.set_font(FONT, "", size)
        self.multi_cell(left_width, size / 2, clean_text(province_name).upper(), align="C", new_x=XPos.LMARGIN)
        self.set_font(FONT, "B", size)
        self.multi_cell(left_width, size / 2, clean_text(organisation).upper(), align="C", new_x=XPos.LMARGIN)
        rule_y = self.get_y() + 1
        self.line(self.l_margin + left_width / 2 - 12, rule_y, self.l_margin + left_width / 2 + 12, rule_y)
        right_x = self.l_margin + left_width
        self.set_y(top)
        self.national_title(x=right_x, width=right_w, size=size)
        return right_x, right_w, max(rule_y, self.get_y())

    def labelled_paragraphs(
        self,
        rows: Sequence[tuple[str, str]],
        *,
        size: float,
        label_style: str = "",
        value_style: str = "B",
        l_margin: float | None = None,
        line_height: float = 1.4,
        gap: float = 0.6,
    ) -> None:
        """ "Label value" paragraphs that wrap between words and flow onto new pages; labels carry their own
        trailing separator. Text columns, not write(): write() splits the first word of a value that starts
        near the end of a line, as it does any word that straddles the change of face."""
        with self.text_columns(text_align="LEFT", l_margin=l_margin, line_height=line_height) as column:
            for label, value in rows:
                with column.paragraph(bottom_margin=gap) as paragraph:
                    self.set_font(FONT, label_style, size)
                    paragraph.write(label)
                    self.set_font(FONT, value_style, size)
                    paragraph.write(value)


def clean_text(text: object, *, multiline: bool = False) -> str:
    """NFC-normalise (precomposed Vietnamese glyphs), turn control characters into spaces and collapse spaces;
    ``multiline`` keeps line breaks (at most one blank line in a row)."""
    normalised = unicodedata.normalize("NFC", str(text or "")).replace("\r\n", "\n").replace("\r", "\n")
    lines = [
        " ".join("".join(ch if ch.isprintable() else " " for ch in line).split()) for line in normalised.split("\n")
    ]
    if not multiline:
        return " ".join(line for line in lines if line)
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


@lru_cache(maxsize=1)
def _drawable() -> frozenset[int]:
    """Code points all three font files have a glyph for."""
    sets = []
    for filename in FONT_FILES.values():
        font = TTFont(FONT_DIR / filename, lazy=True)
        sets.append(frozenset(font.getBestCmap()))
        font.close()
    return frozenset.intersection(*sets)


def drawable_text(text: object, *, multiline: bool = False) -> str:
    """:func:`clean_text`, with every character the fonts cannot draw shown as U+FFFD."""
    drawable = _drawable()
    cleaned = clean_text(text, multiline=multiline)
    return "".join(ch if ch == "\n" or ord(ch) in drawable else MISSING_GLYPH for ch in cleaned)


def place_name(province_name: str) -> str:
    """The place of a date line: "Tỉnh Ninh Bình" → "Ninh Bình", "Thành phố Hà Nội" → "Hà Nội"."""
    name = clean_text(province_name)
    for prefix in PLACE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix) :]
    return name


def url_lines(pdf: FPDF, url: str, width: float) -> list[str]:
    """``url`` as lines no wider than ``width`` in the current font, broken only after "/", "?", "&" or "=".

    A part wider than the line on its own is the only thing ever cut inside.
    """
    lines: list[str] = []
    line = ""
    for part in (p for p in _URL_BREAKS.split(url) if p):
        if line and pdf.get_string_width(line + part) > width:
            lines.append(line)
            line = ""
        line += part
        while pdf.get_string_width(line) > width and len(line) > 1:  # last resort: one part too long
            cut = len(line) - 1
            while cut > 1 and pdf.get_string_width(line[:cut]) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return lines
