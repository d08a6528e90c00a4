"""An SMS's text fitted to the provider's segments (helper C of issue 14 fills this).

Interface (fixed):

    fit(text, *, plain, max_segments) -> SmsText
        plain: remove Vietnamese diacritics first (the account chose SMS without diacritics).
        GSM-7 (160 a segment, 153 each when concatenated) when every character is in the GSM 03.38 alphabet,
        else UCS-2 (70, 67); longer than max_segments: shortened by the written rule (docs/NOTIFICATIONS.md).
    strip_diacritics(text) -> str
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SmsText:
    text: str
    encoding: str  # "gsm7" or "ucs2"
    segments: int
    shortened: bool


def fit(text: str, *, plain: bool, max_segments: int) -> SmsText:
    raise NotImplementedError


def strip_diacritics(text: str) -> str:
    raise NotImplementedError
