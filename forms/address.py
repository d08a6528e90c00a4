"""Two-level administrative units (province → ward, in force since 1 July 2025) and address validation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from vietnam_provinces import Province, VietNamDivisionType, Ward

from forms.fields import clean_text
from forms.messages import Msg
from portal.kernel.i18n import N_

__all__ = [
    "STREET_MAX_LENGTH",
    "clean_address",
    "format_address",
    "is_ward_in_province",
    "normalize_province_code",
    "normalize_ward_code",
    "parse_address",
    "province_name",
    "provinces",
    "ward_name",
    "wards",
]

STREET_MAX_LENGTH = 200
_PREFIXES = ("thanh pho ", "tinh ", "phuong ", "xa ", "dac khu ")

MSG_PROVINCE_REQUIRED = Msg(N_("Select a province or city."))
MSG_PROVINCE_UNKNOWN = Msg(N_("The selected province or city does not exist."))
MSG_WARD_REQUIRED = Msg(N_("Select a ward or commune."))
MSG_WARD_UNKNOWN = Msg(N_("The selected ward or commune does not exist."))
MSG_WARD_MISMATCH = Msg(N_("The selected ward or commune does not belong to the selected province or city."))
MSG_STREET_REQUIRED = Msg(N_("Enter the house number and street name."))


def _sort_key(name: str) -> tuple[Any, ...]:
    """Diacritic-insensitive, natural sort key ignoring the administrative prefix."""
    base = unicodedata.normalize("NFD", _clean_name(name).replace("Đ", "D").replace("đ", "d"))
    base = "".join(ch for ch in base if unicodedata.category(ch) != "Mn").casefold()
    for prefix in _PREFIXES:
        if base.startswith(prefix):
            base = base[len(prefix) :]
            break
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", base) if p)
    return parts, name


def _code(value: object, width: int) -> str:
    """Canonical zero-padded string code."""
    return f"{int(value):0{width}d}"  # type: ignore[call-overload]


def _clean_name(name: str) -> str:
    """Collapse the stray double spaces present in the source data."""
    return " ".join(name.split())


@lru_cache(maxsize=1)
def _provinces_by_code() -> dict[str, Province]:
    """All provinces keyed by their 2-digit code."""
    return {_code(p.code, 2): p for p in Province.iter_all()}


@lru_cache(maxsize=1)
def _wards_by_code() -> dict[str, Ward]:
    """All wards keyed by their 5-digit code."""
    return {_code(w.code, 5): w for w in Ward.iter_all()}


@lru_cache(maxsize=1)
def _sorted_provinces() -> tuple[tuple[str, str], ...]:
    """(code, name) of all provinces sorted by name."""
    items = [(code, _clean_name(p.name)) for code, p in _provinces_by_code().items()]
    return tuple(sorted(items, key=lambda item: _sort_key(item[1])))


@lru_cache(maxsize=64)
def _sorted_wards(province_code: str) -> tuple[tuple[str, str], ...]:
    """(code, name) of the wards of one province sorted by name."""
    items = [
        (code, _clean_name(w.name))
        for code, w in _wards_by_code().items()
        if _code(w.province_code, 2) == province_code
    ]
    return tuple(sorted(items, key=lambda item: _sort_key(item[1])))


def _normalize(code: object, width: int, table: Mapping[str, object]) -> str | None:
    """Normalise a submitted code ("1", "01", 1) to a known canonical code, else None."""
    if isinstance(code, bool) or not isinstance(code, str | int):
        return None
    text = str(code).strip()
    if not re.fullmatch(r"[0-9]{1,8}", text):
        return None
    canonical = _code(text, width)
    return canonical if canonical in table else None


def normalize_province_code(code: object) -> str | None:
    """Canonical 2-digit code of an existing province, or None."""
    return _normalize(code, 2, _provinces_by_code())


def normalize_ward_code(code: object) -> str | None:
    """Canonical 5-digit code of an existing ward, or None."""
    return _normalize(code, 5, _wards_by_code())


def provinces() -> list[tuple[str, str]]:
    """All provinces and centrally-run cities as (code, name), sorted by name."""
    return list(_sorted_provinces())


def wards(province_code: str) -> list[tuple[str, str]]:
    """Wards, communes and special zones of a province as (code, name); empty if unknown."""
    code = normalize_province_code(province_code)
    return list(_sorted_wards(code)) if code else []


def province_name(code: str) -> str | None:
    """Name of a province (e.g. "Thành phố Hà Nội", "Cao Bằng"), or None if unknown."""
    canonical = normalize_province_code(code)
    return _clean_name(_provinces_by_code()[canonical].name) if canonical else None


def ward_name(code: str) -> str | None:
    """Name of a ward (e.g. "Phường Hoàn Kiếm"), or None if unknown."""
    canonical = normalize_ward_code(code)
    return _clean_name(_wards_by_code()[canonical].name) if canonical else None


def is_ward_in_province(ward: str, province: str) -> bool:
    """Whether the ward exists and belongs to the province."""
    ward_code, province_code = normalize_ward_code(ward), normalize_province_code(province)
    if ward_code is None or province_code is None:
        return False
    return _code(_wards_by_code()[ward_code].province_code, 2) == province_code


def _full_province_name(code: str) -> str | None:
    """Province name with "Tỉnh" prefixed for provinces (cities already say "Thành phố")."""
    canonical = normalize_province_code(code)
    if canonical is None:
        return None
    province = _provinces_by_code()[canonical]
    name = _clean_name(province.name)
    if province.division_type is VietNamDivisionType.TINH and not name.startswith("Tỉnh"):
        return f"Tỉnh {name}"
    return name


def format_address(value: Mapping[str, Any] | None) -> str:
    """Render ``{"province", "ward", "street"}`` as "12 Lý Thái Tổ, Phường Hoàn Kiếm, Thành phố Hà Nội"."""
    if not isinstance(value, Mapping):
        return ""
    street = value.get("street")
    parts = [street.strip() if isinstance(street, str) else ""]
    parts.append(ward_name(value.get("ward")) or "")  # type: ignore[arg-type]
    parts.append(_full_province_name(value.get("province")) or "")  # type: ignore[arg-type]
    return ", ".join(p for p in parts if p)


def clean_address(
    province: str, ward: str, street: str, *, required: bool = False
) -> tuple[dict[str, str] | None, dict[str, Msg]]:
    """Validate an address; errors are keyed by part ("province", "ward", "street")."""
    raw = {"province": province.strip()[:20], "ward": ward.strip()[:20], "street": street}
    street_value, street_error = clean_text(street, max_length=STREET_MAX_LENGTH)
    raw["street"] = street_value or ""
    if not required and not raw["province"] and not raw["ward"] and not street_value:
        return None, {}
    errors: dict[str, Msg] = {}
    province_code = normalize_province_code(raw["province"])
    if not raw["province"]:
        errors["province"] = MSG_PROVINCE_REQUIRED
    elif province_code is None:
        errors["province"] = MSG_PROVINCE_UNKNOWN
    ward_code = normalize_ward_code(raw["ward"])
    if not raw["ward"]:
        errors["ward"] = MSG_WARD_REQUIRED
    elif ward_code is None:
        errors["ward"] = MSG_WARD_UNKNOWN
    elif province_code is not None and not is_ward_in_province(ward_code, province_code):
        errors["ward"] = MSG_WARD_MISMATCH
    if street_error is not None:
        errors["street"] = street_error
    elif required and not street_value:
        errors["street"] = MSG_STREET_REQUIRED
    if errors or province_code is None or ward_code is None:
        return raw, errors
    return {"province": province_code, "ward": ward_code, "street": street_value or ""}, {}


def _fold(name: str) -> str:
    base = unicodedata.normalize("NFD", _clean_name(name).replace("Đ", "D").replace("đ", "d"))
    return "".join(ch for ch in base if unicodedata.category(ch) != "Mn").casefold()


def _province_variants(code: str, province: Province) -> set[str]:
    names = {_fold(province.name), _fold(_full_province_name(code) or "")}
    return {n for n in names if n} | {n.removeprefix("thanh pho ").removeprefix("tinh ") for n in names if n}


def parse_address(text: str) -> dict[str, str] | None:
    """Read "street, ward, province" (how identity providers format an address) into an address value.

    Returns None unless both the province and a ward of it are recognised, so a prefilled address is
    either right or left for the citizen to fill in.
    """
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) < 3:
        return None
    province_key, ward_key = _fold(parts[-1]), _fold(parts[-2])
    for code, province in _provinces_by_code().items():
        if province_key in _province_variants(code, province):
            for ward_code, name in wards(code):
                if _fold(name) == ward_key:
                    street = ", ".join(parts[:-2])[:STREET_MAX_LENGTH]
                    return {"province": code, "ward": ward_code, "street": street}
            return None
    return None
