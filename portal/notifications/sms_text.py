"""An SMS's text fitted to the provider's segments: GSM-7 or UCS-2, counted, and shortened by a written rule.

The rule (docs/NOTIFICATIONS_SMS.md, "Fitting a text") in order:

1. The account chose SMS without diacritics (``plain``): Vietnamese letters lose their marks (đ → d, ố → o).
2. Always: typographic characters that have a plain GSM form become it (no-break and thin spaces → space,
   curly quotes → straight ones, dashes → "-", "…" → "...") and invisible ones (zero-width space, BOM) go.
3. Encoding: GSM-7 when every character is in the GSM 03.38 alphabet (the extension table's ``^ { } \\ [ ~ ] |
   €`` and form feed count two septets), else UCS-2 (UTF-16 code units: an emoji counts two). One segment holds
   160 septets or 70 units; a concatenated message 153 or 67 per segment. A two-septet character or a
   surrogate pair is never split across two segments, as phones do it.
4. More segments than ``max_segments``: runs of whitespace (line breaks too) become one space. Still too long:
   a link at the end (``http://`` or ``https://``) is kept, and the text before it is cut at the last word
   boundary that fits, with "..." (GSM-7) or "…" (UCS-2) after it. The beginning is what stays: templates put
   the dossier code and the essential fact first. A link that would take more than half of the room is dropped
   too (one UCS-2 segment with a 46-character link would keep only "Hồ sơ…").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

GSM7 = "gsm7"
UCS2 = "ucs2"

# GSM 03.38 default alphabet (without the escape 0x1B) and its extension table (each counts two septets).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

# Capacity of one segment: alone, and as a part of a concatenated message (the rest is the UDH).
SINGLE = {GSM7: 160, UCS2: 70}
PART = {GSM7: 153, UCS2: 67}
ELLIPSIS = {GSM7: "...", UCS2: "…"}

_TYPOGRAPHY = str.maketrans(
    {
        "\u00a0": " ",  # no-break space (amounts: 200.000 đồng)
        "\u202f": " ",  # narrow no-break space
        "\u2007": " ",
        "\u2009": " ",  # thin space
        "\u2002": " ",
        "\u2003": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2212": "-",  # minus
        "\u2026": "...",
        "\u200b": None,  # zero-width space
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
    }
)
_WHITESPACE = re.compile(r"\s+")
_TRAILING_LINK = re.compile(r"\s(https?://\S+)\s*$")
_TRAILING_PUNCTUATION = " \t\n,;:-–(/"


@dataclass(frozen=True)
class SmsText:
    text: str
    encoding: str  # "gsm7" or "ucs2"
    segments: int
    shortened: bool


def strip_diacritics(text: str) -> str:
    """'Hồ sơ đã được tiếp nhận' -> 'Ho so da duoc tiep nhan' (letters kept, case kept, marks removed)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn"))


def encoding_of(text: str) -> str:
    """GSM-7 when every character is in the GSM 03.38 alphabet (basic or extension), else UCS-2."""
    return GSM7 if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text) else UCS2


def _units(ch: str, encoding: str) -> int:
    if encoding == GSM7:
        return 2 if ch in GSM_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1  # UTF-16 code units


def length(text: str, encoding: str | None = None) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text takes."""
    enc = encoding or encoding_of(text)
    return sum(_units(ch, enc) for ch in text)


def segments(text: str, encoding: str | None = None) -> int:
    """How many SMS the text is sent as (an empty text is one SMS)."""
    enc = encoding or encoding_of(text)
    total = length(text, enc)
    if total <= SINGLE[enc]:
        return 1
    # Packed as a phone packs them: a character's units stay in one segment.
    count, used = 1, 0
    for ch in text:
        units = _units(ch, enc)
        if used + units > PART[enc]:
            count, used = count + 1, 0
        used += units
    return count


def room(encoding: str, max_segments: int) -> int:
    """Septets or units that `max_segments` segments hold."""
    return SINGLE[encoding] if max_segments == 1 else PART[encoding] * max_segments


def normalize(text: str, *, plain: bool) -> str:
    """Steps 1 and 2 of the rule: diacritics off when `plain`, typography to its GSM form."""
    if plain:
        text = strip_diacritics(text)
    return unicodedata.normalize("NFC", text).translate(_TYPOGRAPHY)


def fit(text: str, *, plain: bool, max_segments: int) -> SmsText:
    """The text as it is sent: normalized, encoded, counted, and shortened to `max_segments` by the rule."""
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    text = normalize(text, plain=plain).strip()
    if segments(text) <= max_segments:
        return _result(text, shortened=False)
    collapsed = _WHITESPACE.sub(" ", text)
    if segments(collapsed) <= max_segments:
        return _result(collapsed, shortened=False)
    return _result(_cut(collapsed, max_segments), shortened=True)


def _result(text: str, *, shortened: bool) -> SmsText:
    encoding = encoding_of(text)
    return SmsText(text=text, encoding=encoding, segments=segments(text, encoding), shortened=shortened)


def _cut(text: str, max_segments: int) -> str:
    """Step 4: the longest beginning that fits, cut at a word boundary, the ellipsis, then the link if any."""
    match = _TRAILING_LINK.search(text)
    if match:
        body, link = text[: match.start()].rstrip(), match.group(1)
        encoding = encoding_of(text)
        if length(f" {link}", encoding) <= room(encoding, max_segments) // 2:
            kept = _cut_body(body, f" {link}", max_segments)
            if kept is not None:
                return kept
        text = body
    kept = _cut_body(text, "", max_segments)
    if kept is None:  # not even the ellipsis fits: cannot happen with 70 units a segment
        raise ValueError("the text cannot be shortened to fit")
    return kept


def _cut_body(body: str, tail: str, max_segments: int) -> str | None:
    """`body` cut so that body + ellipsis + tail fits; None when not even one word fits."""

    def candidate(n: int) -> str:
        head = body[:n]
        encoding = encoding_of(head + tail)
        return head + ELLIPSIS[encoding] + tail

    # The number of characters kept is monotonic in the segments taken: search the largest that fits.
    low, high = 0, len(body)
    while low < high:
        mid = (low + high + 1) // 2
        if segments(candidate(mid)) <= max_segments:
            low = mid
        else:
            high = mid - 1
    if low == 0:
        return None
    head = body[:low]
    if low < len(body) and not body[low].isspace():
        # Cut inside a word: go back to the space before it (unless the text is one long word).
        space = head.rfind(" ")
        if space > 0:
            head = head[:space]
    head = head.rstrip(_TRAILING_PUNCTUATION)
    return candidate(len(head)) if head else None
