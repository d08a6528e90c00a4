"""Text folding for search that ignores Vietnamese diacritics and case."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s.-]", re.UNICODE)


def fold(text: str) -> str:
    """'Lý lịch Tư pháp' -> 'ly lich tu phap'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", _NON_WORD.sub(" ", stripped.lower())).strip()


def search_terms(query: str, *, limit: int = 8) -> list[str]:
    """The folded words of a query, at most `limit`, each at most 40 characters."""
    return [w[:40] for w in fold(query).split()][:limit]
