"""Postal addresses: who sends or receives a parcel, where (two-level units since July 2025), how to call them.

One model serves both sides: the API validates a `PostalAddress` (pydantic errors name the field: a ward
outside its province, a phone that is not Vietnamese), the HTML forms call `clean_postal_address`, which
answers errors keyed by part as the other form helpers do. Orders and dossiers store the model's dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from forms.address import (
    STREET_MAX_LENGTH,
    clean_address,
    format_address,
    is_ward_in_province,
    normalize_province_code,
    normalize_ward_code,
)
from forms.fields import MSG_PHONE, clean_text, normalize_phone, normalize_text
from forms.messages import Msg
from portal.kernel.i18n import N_

__all__ = [
    "NAME_MAX_LENGTH",
    "NOTES_MAX_LENGTH",
    "PostalAddress",
    "clean_postal_address",
    "format_postal_address",
]

NAME_MAX_LENGTH = 120
NOTES_MAX_LENGTH = 300

MSG_NAME_REQUIRED = Msg(N_("Enter the name of the person who sends or receives the parcel."))
MSG_PHONE_REQUIRED = Msg(N_("Enter a phone number the postal worker can call."))

# The messages of the API's validation errors (English; the `type` of each error is stable for clients).
_ERR_PHONE = N_("Enter a valid Vietnamese phone number, e.g. 0912345678.")
_ERR_PROVINCE = N_("The selected province or city does not exist.")
_ERR_WARD = N_("The selected ward or commune does not exist.")
_ERR_WARD_MISMATCH = N_("The selected ward or commune does not belong to the selected province or city.")
_ERR_BLANK = N_("This field is required.")


class PostalAddress(BaseModel):
    """A sender or recipient: name, Vietnamese phone, province (2 digits), ward of it (5 digits), street."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH, description="Recipient or sender name.")
    phone: str = Field(description="Vietnamese phone number; stored as 0xxxxxxxxx.", examples=["0912345678"])
    province: str = Field(description="Two-digit province code (units in force since 1 July 2025).", examples=["01"])
    ward: str = Field(description="Five-digit ward or commune code, in the province.", examples=["00070"])
    street: str = Field(min_length=1, max_length=STREET_MAX_LENGTH, description="House number and street.")
    notes: str = Field(default="", max_length=NOTES_MAX_LENGTH, description="Delivery notes for the courier.")

    @field_validator("name", "street", mode="before")
    @classmethod
    def _one_line(cls, value: object) -> object:
        if isinstance(value, str):
            text = normalize_text(value)
            if not text:
                raise PydanticCustomError("blank", _ERR_BLANK)
            return text
        return value

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, value: object) -> object:
        return normalize_text(value, multiline=True) if isinstance(value, str) else value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        phone = normalize_phone(value)
        if phone is None:
            raise PydanticCustomError("phone_not_vietnamese", _ERR_PHONE)
        return phone

    @field_validator("province")
    @classmethod
    def _province(cls, value: str) -> str:
        code = normalize_province_code(value)
        if code is None:
            raise PydanticCustomError("province_unknown", _ERR_PROVINCE)
        return code

    @field_validator("ward")
    @classmethod
    def _ward(cls, value: str, info: ValidationInfo) -> str:
        code = normalize_ward_code(value)
        if code is None:
            raise PydanticCustomError("ward_unknown", _ERR_WARD)
        province = info.data.get("province")
        if province is not None and not is_ward_in_province(code, province):
            raise PydanticCustomError("ward_not_in_province", _ERR_WARD_MISMATCH)
        return code


def clean_postal_address(values: Mapping[str, str]) -> tuple[PostalAddress | None, dict[str, Msg]]:
    """Validate an HTML form's address (keys name, phone, province, ward, street, notes).

    Returns the address and no errors, or None and the errors keyed by part (each a translatable `Msg`).
    """

    def value(key: str) -> str:
        raw = values.get(key, "")
        return raw if isinstance(raw, str) else ""

    errors: dict[str, Msg] = {}
    name, name_error = clean_text(value("name"), max_length=NAME_MAX_LENGTH)
    if name_error is not None:
        errors["name"] = name_error
    elif not name:
        errors["name"] = MSG_NAME_REQUIRED
    phone_text = value("phone").strip()
    phone = normalize_phone(phone_text) if phone_text else None
    if not phone_text:
        errors["phone"] = MSG_PHONE_REQUIRED
    elif phone is None:
        errors["phone"] = MSG_PHONE
    place, place_errors = clean_address(value("province"), value("ward"), value("street"), required=True)
    errors.update(place_errors)
    notes, notes_error = clean_text(value("notes"), multiline=True, max_length=NOTES_MAX_LENGTH)
    if notes_error is not None:
        errors["notes"] = notes_error
    if errors or place is None or phone is None or not name:
        return None, errors
    address = PostalAddress(
        name=name,
        phone=phone,
        province=place["province"],
        ward=place["ward"],
        street=place["street"],
        notes=notes or "",
    )
    return address, {}


def format_postal_address(address: Mapping[str, Any] | PostalAddress | None) -> str:
    """The place of an address on one line: "12 Lý Thái Tổ, Phường Hoàn Kiếm, Thành phố Hà Nội"."""
    if isinstance(address, PostalAddress):
        address = address.model_dump()
    return format_address(address)
