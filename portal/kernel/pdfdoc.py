"""What the portal's own PDFs share: the embedded Noto Sans family and the national heading."""

from __future__ import annotations

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
