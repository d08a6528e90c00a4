"""The visible signature stamp: who signed and when, in Noto Sans so Vietnamese diacritics render."""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.layout import AxisAlignment, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import TextStampStyle

from portal.kernel.clock import LOCAL_TZ

FONT_FILE = Path(__file__).resolve().parent.parent / "static" / "fonts" / "NotoSans-Regular.ttf"
STAMP_TEXT = "Ký bởi: %(signer)s\nThời gian: %(ts)s"
# pyHanko formats the signing time with strftime in the datetime's own zone: sign.py passes Vietnam time.
TIMESTAMP_FORMAT = "%d/%m/%Y %H:%M"


# What a stamp can say: Latin letters with every Vietnamese diacritic (precomposed, stamp_name gives NFC),
# digits and punctuation.
STAMP_CHARACTERS = [
    *range(0x20, 0x7F),
    *range(0xA0, 0x180),
    *(0x1A0, 0x1A1, 0x1AF, 0x1B0),  # Ơ ơ Ư ư
    *range(0x300, 0x324),  # combining marks, should a name arrive decomposed
    *range(0x1EA0, 0x1EFA),  # Vietnamese letters with two marks (ạ … ỹ)
    *(0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2026),
]


@cache
def _font_bytes(path: str) -> bytes:
    """The font cut down once to the stamp's characters, without its layout tables.

    pyHanko subsets the font for every signature; with the whole Noto Sans (its large GSUB/GPOS tables
    re-read each time) that was three quarters of the time of a signature (docs/PERFORMANCE.md, Signing).
    Vietnamese needs no shaping once the text is NFC: every letter has its own glyph.
    """
    from fontTools import subset

    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "DSIG"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = subset.load_font(path, options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=STAMP_CHARACTERS)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class _InMemoryFontFactory(GlyphAccumulatorFactory):
    """GlyphAccumulatorFactory that reads the font file once, not once per signature (and never leaks the handle)."""

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: object = None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        return GlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(_font_bytes(self.font_file)),
            font_size=self.font_size,
            ot_script_tag=self.ot_script_tag,
            ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction,
            bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream,
        )


@cache
def signature_stamp_style() -> TextStampStyle:
    """The stamp style shared by every visible signature (built once; pyHanko styles are immutable)."""
    font = _InMemoryFontFactory(
        str(FONT_FILE), font_size=11, ot_script_tag="latn", ot_language_tag="VIT ", bcp47_lang_code="vi"
    )
    return TextStampStyle(
        stamp_text=STAMP_TEXT,
        timestamp_format=TIMESTAMP_FORMAT,
        text_box_style=TextBoxStyle(font=font, font_size=11, leading=15, text_color=(0.0, 0.2, 0.6)),
        border_width=1,
        border_color=(0.0, 0.2, 0.6),
        background=None,
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins.uniform(4),
        ),
    )


def stamp_name(name: str) -> str:
    """A name as it goes on the stamp: NFC, so 'ườ' is one glyph lookup, not a base letter plus loose marks."""
    return unicodedata.normalize("NFC", " ".join(name.split()))


def stamp_time(moment: datetime) -> datetime:
    """The signing time in Vietnam time, to the second (what the stamp shows and the signature records)."""
    return moment.astimezone(LOCAL_TZ).replace(microsecond=0)
