"""Translations with Babel: Vietnamese by default, English complete."""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from portal.kernel.labels import LabelledEnum

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"


def N_(message: str) -> str:
    """Mark a string literal for extraction (`make messages`) without translating it: it is translated when shown."""
    return message


@lru_cache
def translations(locale: str) -> gettext.NullTranslations:
    """The catalogue of a locale, compiled in memory from its .po file."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def pick_locale(value: str | None) -> str:
    """A supported locale, or the default."""
    return value if value in LOCALES else DEFAULT_LOCALE


class Translator:
    """Bound to one locale: _(), plural and formatting helpers for templates and views."""

    def __init__(self, locale: str) -> None:
        self.locale = pick_locale(locale)
        self._t = translations(self.locale)

    def gettext(self, msgid: str, params: Mapping[str, Any] | None = None, /, **kw: Any) -> str:
        text = self._t.gettext(msgid)
        values = {**(params or {}), **kw}
        if not values:
            return text
        # A status (any labelled enum) given as a parameter reads as its label in this language.
        shown = {k: self._t.gettext(v.label) if isinstance(v, LabelledEnum) else v for k, v in values.items()}
        return text.format(**shown)

    __call__ = gettext

    def ngettext(self, singular: str, plural: str, n: int, **kw: Any) -> str:
        return self._t.ngettext(singular, plural, n).format(n=n, **kw)

    def text(self, value: Any) -> str:
        """Pick the current locale from a {vi, en} mapping or an object with .get(locale)."""
        if value is None:
            return ""
        if isinstance(value, Mapping):
            return str(value.get(self.locale) or value.get(DEFAULT_LOCALE) or "")
        getter = getattr(value, "get", None)
        if callable(getter):
            return str(getter(self.locale))
        return str(value)

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale="vi_VN" if self.locale == "vi" else "en_US")

    def money(self, amount: int) -> str:
        """An amount with its unit, joined by a no-break space so a line never breaks between them."""
        unit = "đ" if self.locale == "vi" else "VND"
        return f"{self.number(amount)}\u00a0{unit}"
