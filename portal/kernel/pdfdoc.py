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
