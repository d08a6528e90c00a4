"""Validators and canonicalisers for individual field values (never raise on bad input)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from forms.definition import Field, FieldType
from forms.messages import INVALID_CHOICE, REQUIRED, Msg, too_long
from portal.kernel.i18n import N_

__all__ = [
    "CCCD_PROVINCES",
    "Cleaned",
    "Msg",
    "clean_bool",
    "clean_cccd",
    "clean_choice",
    "clean_date",
    "clean_email",
    "clean_multi",
    "clean_number",
    "clean_phone",
    "clean_text",
    "clean_value",
    "normalize_phone",
    "normalize_text",
    "parse_date",
    "today_vn",
]

Cleaned = tuple[Any, Msg | None]
"""(canonical value or the raw string for redisplay, error or None); value None means empty."""

DEFAULT_MAX_LENGTH = {FieldType.TEXT: 500, FieldType.TEXTAREA: 5000}
MAX_SHORT_INPUT = 100  # longer values cannot be a valid number/date/phone/CCCD

# Birth-registration province codes, Circular 07/2016/TT-BCA (pre-2025 provinces).
CCCD_PROVINCES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang",
    "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định", "037": "Ninh Bình",
    "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình", "045": "Quảng Trị",
    "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định",
    "054": "Phú Yên", "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước",
    "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai", "077": "Bà Rịa – Vũng Tàu",
    "079": "TP Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh",
    "086": "Vĩnh Long", "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ",
    "093": "Hậu Giang", "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}  # fmt: skip

MSG_CCCD_FORMAT = Msg(N_("Enter a 12-digit citizen ID number (CCCD)."))
MSG_PHONE = Msg(N_("Enter a valid Vietnamese phone number, e.g. 0912345678."))
MSG_EMAIL = Msg(N_("Enter a valid email address."))
MSG_NUMBER = Msg(N_("Enter a valid number."))
MSG_INTEGER = Msg(N_("Enter a whole number."))
MSG_DATE_FORMAT = Msg(N_("Enter a valid date (DD/MM/YYYY)."))
MSG_DATE_IMPOSSIBLE = Msg(N_("This date does not exist."))
MSG_DATE_FUTURE = Msg(N_("The date cannot be in the future."))
MSG_DATE_PAST = Msg(N_("The date cannot be in the past."))
MSG_SELECT_ONE = Msg(N_("Select at least one option."))
MSG_TICK = Msg(N_("You must tick this box to continue."))

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_TRUE = frozenset({"on", "true", "1", "yes"})
_FALSE = frozenset({"", "off", "false", "0", "no"})


def today_vn() -> date:
    """Today's date in Vietnam (Asia/Ho_Chi_Minh)."""
    zone: tzinfo
    try:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo("Asia/Ho_Chi_Minh")
    except Exception:  # no tz database: Vietnam has no DST, UTC+7 is exact
        zone = timezone(timedelta(hours=7))
    return datetime.now(zone).date()


def normalize_text(value: str, *, multiline: bool = False) -> str:
    """NFC-normalise, drop control/bidi/surrogate characters and trim."""
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    out: list[str] = []
    for ch in value:
        if ch in "\n\t":
            out.append(ch if multiline else " ")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            continue
        else:
            out.append(ch)
    return "".join(out).strip()


def clean_text(value: str, *, multiline: bool = False, max_length: int = 500) -> Cleaned:
    """Clean a text/textarea value and enforce its maximum length."""
    text = normalize_text(value, multiline=multiline)
    if not text:
        return None, None
    if len(text) > max_length:
        return text, too_long(max_length)
    return text, None


def clean_cccd(value: str) -> Cleaned:
    """Validate a 12-digit citizen ID (spaces allowed); returns the digits."""
    text = value.strip()
    if not text:
        return None, None
    if len(text) > MAX_SHORT_INPUT:
        return text[:MAX_SHORT_INPUT], MSG_CCCD_FORMAT
    digits = re.sub(r"\s+", "", text)
    if not re.fullmatch(r"[0-9]{12}", digits):
        return text, MSG_CCCD_FORMAT
    prefix = digits[:3]
    if prefix not in CCCD_PROVINCES:
        return digits, Msg(N_("The first three digits {prefix} are not a valid province code."), {"prefix": prefix})
    return digits, None


def normalize_phone(value: str) -> str | None:
    """Return a Vietnamese phone number in 0xxxxxxxxx form, or None if invalid."""
    if len(value) > MAX_SHORT_INPUT:
        return None
    text = re.sub(r"[\s.\-()]", "", value)
    if text.startswith("+84"):
        rest = text[3:]
    elif text.startswith("0084"):
        rest = text[4:]
    elif text.startswith("84") and len(text) in (11, 12):
        rest = text[2:]
    else:
        rest = None
    if rest is not None:
        text = rest if rest.startswith("0") else "0" + rest
    if re.fullmatch(r"0[35789][0-9]{8}", text) or re.fullmatch(r"02[0-9]{9}", text):
        return text
    return None


def clean_phone(value: str) -> Cleaned:
    """Validate and normalise a Vietnamese mobile or landline number."""
    text = value.strip()
    if not text:
        return None, None
    phone = normalize_phone(text)
    return (phone, None) if phone else (text[:MAX_SHORT_INPUT], MSG_PHONE)


def clean_email(value: str) -> Cleaned:
    """Pragmatic email check: one @, no spaces, dotted domain, at most 254 characters."""
    text = value.strip()
    if not text:
        return None, None
    if len(text) > 254 or text.count("@") != 1 or any(ch.isspace() or ord(ch) < 32 for ch in text):
        return text[:300], MSG_EMAIL
    local, domain = text.split("@")
    labels = domain.split(".")
    if not local or len(local) > 64 or len(labels) < 2 or any(not label for label in labels):
        return text, MSG_EMAIL
    if any(label.startswith("-") or label.endswith("-") for label in labels) or '"' in local:
        return text, MSG_EMAIL
    return f"{local}@{domain.lower()}", None


def _display_number(value: float) -> int | float:
    """Show integral bounds without a trailing .0."""
    return int(value) if float(value).is_integer() else value


def clean_number(value: str, *, min: float | None = None, max: float | None = None, integer: bool = False) -> Cleaned:
    """Parse a number (dot or comma decimal separator) and check bounds."""
    text = re.sub(r"\s+", "", value)
    if not text:
        return None, None
    if len(text) > 64 or not re.fullmatch(r"[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]{1,3})?", text):
        return value.strip()[:MAX_SHORT_INPUT], MSG_NUMBER
    number = float(text.replace(",", "."))
    if not math.isfinite(number):
        return value.strip(), MSG_NUMBER
    result: int | float = number
    if integer:
        if not number.is_integer() or abs(number) > 2**53:
            return value.strip(), MSG_INTEGER
        result = int(number)
    if min is not None and number < min:
        return result, Msg(N_("Enter a number no less than {min}."), {"min": _display_number(min)})
    if max is not None and number > max:
        return result, Msg(N_("Enter a number no greater than {max}."), {"max": _display_number(max)})
    return result, None


class _Impossible(ValueError):
    """A well-formed date that does not exist (e.g. 31/02)."""


def parse_date(value: str) -> date | None:
    """Parse ``YYYY-MM-DD`` or ``DD/MM/YYYY``; None if malformed, _Impossible if nonexistent."""
    text = value.strip()
    if match := re.fullmatch(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", text):
        year, month, day = (int(g) for g in match.groups())
    elif match := re.fullmatch(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", text):
        day, month, year = (int(g) for g in match.groups())
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        raise _Impossible(text) from None


def _bound(spec: float | str | None, today: date) -> date | None:
    """Resolve a date bound from the definition ("today" or ISO)."""
    if spec is None:
        return None
    if spec == "today":
        return today
    try:
        return date.fromisoformat(str(spec))
    except ValueError:
        return None


def clean_date(
    value: str, *, min: float | str | None = None, max: float | str | None = None, today: date | None = None
) -> Cleaned:
    """Parse a date into ``YYYY-MM-DD`` and check the min/max bounds."""
    text = value.strip()
    if not text:
        return None, None
    if len(text) > MAX_SHORT_INPUT:
        return text[:MAX_SHORT_INPUT], MSG_DATE_FORMAT
    try:
        parsed = parse_date(text)
    except _Impossible:
        return text, MSG_DATE_IMPOSSIBLE
    if parsed is None:
        return text, MSG_DATE_FORMAT
    iso = parsed.isoformat()
    today = today or today_vn()
    low, high = _bound(min, today), _bound(max, today)
    if low is not None and parsed < low:
        if min == "today":
            return iso, MSG_DATE_PAST
        return iso, Msg(N_("Enter a date on or after {min}."), {"min": low.strftime("%d/%m/%Y")})
    if high is not None and parsed > high:
        if max == "today":
            return iso, MSG_DATE_FUTURE
        return iso, Msg(N_("Enter a date on or before {max}."), {"max": high.strftime("%d/%m/%Y")})
    return iso, None


def clean_choice(value: str, options: Sequence[str]) -> Cleaned:
    """A single choice that must be one of ``options``."""
    text = value.strip()
    if not text:
        return None, None
    if text not in options:
        return text[:MAX_SHORT_INPUT], INVALID_CHOICE
    return text, None


def clean_multi(values: Sequence[str], options: Sequence[str], *, required: bool = False) -> Cleaned:
    """Several choices, each one of ``options``; duplicates removed."""
    chosen: list[str] = []
    for raw in values:
        text = raw.strip()
        if text and text not in chosen:
            chosen.append(text[:MAX_SHORT_INPUT])
    if not chosen:
        return None, MSG_SELECT_ONE if required else None
    if any(c not in options for c in chosen):
        return chosen, INVALID_CHOICE
    return chosen, None


def clean_bool(values: Sequence[str], *, required: bool = False) -> Cleaned:
    """A single checkbox: ticked if any submitted value is truthy (on/true/1/yes)."""
    texts = [v.strip().lower() for v in values]
    if any(t in _TRUE for t in texts):
        return True, None
    if any(t not in _FALSE for t in texts):
        return False, INVALID_CHOICE
    return False, MSG_TICK if required else None


def clean_value(field: Field, values: Sequence[str], *, today: date | None = None) -> Cleaned:
    """Clean the submitted values of any non-address, non-group field, applying ``required``."""
    kind = field.type
    first = values[0] if values else ""
    result: Cleaned
    if kind is FieldType.CHECKBOX:
        if field.options:
            return clean_multi(values, field.option_values(), required=field.required)
        return clean_bool(values, required=field.required)
    if kind in (FieldType.TEXT, FieldType.TEXTAREA):
        limit = field.max_length or DEFAULT_MAX_LENGTH[kind]
        result = clean_text(first, multiline=kind is FieldType.TEXTAREA, max_length=limit)
    elif kind is FieldType.NUMBER:
        low = field.min if isinstance(field.min, float | int) else None
        high = field.max if isinstance(field.max, float | int) else None
        result = clean_number(first, min=low, max=high, integer=field.integer)
    elif kind is FieldType.DATE:
        result = clean_date(first, min=field.min, max=field.max, today=today)
    elif kind in (FieldType.SELECT, FieldType.RADIO):
        result = clean_choice(first, field.option_values())
    elif kind is FieldType.CCCD:
        result = clean_cccd(first)
    elif kind is FieldType.PHONE:
        result = clean_phone(first)
    elif kind is FieldType.EMAIL:
        result = clean_email(first)
    else:  # address and group are handled by forms.validation
        result = (None, INVALID_CHOICE)
    if result[0] is None and result[1] is None and field.required:
        return None, REQUIRED
    return result
