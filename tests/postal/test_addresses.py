"""Postal addresses: the API's model (errors name the field) and the HTML forms' cleaner (errors by part)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from forms.address import MSG_WARD_MISMATCH
from forms.fields import MSG_PHONE
from postal.addresses import (
    MSG_NAME_REQUIRED,
    MSG_PHONE_REQUIRED,
    PostalAddress,
    clean_postal_address,
    format_postal_address,
)

GOOD = {
    "name": "  Nguyễn Thị Hường ",
    "phone": "+84 912 345 678",
    "province": "1",
    "ward": "4",
    "street": "12 Lý Thái Tổ",
    "notes": "Gọi trước\r\n15 phút",
}


def test_model_normalises() -> None:
    address = PostalAddress.model_validate(GOOD)
    assert address.model_dump() == {
        "name": "Nguyễn Thị Hường",
        "phone": "0912345678",
        "province": "01",
        "ward": "00004",
        "street": "12 Lý Thái Tổ",
        "notes": "Gọi trước\n15 phút",
    }
    with pytest.raises(ValidationError):
        address.name = "x"  # frozen


def _errors(**over: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        PostalAddress.model_validate({**GOOD, **over})
    return {".".join(str(p) for p in e["loc"]): e["type"] for e in info.value.errors()}


def test_model_errors_name_the_field() -> None:
    assert _errors(ward="14362") == {"ward": "ward_not_in_province"}  # a ward of Ninh Bình, not Hà Nội
    assert _errors(phone="+1 415 555 0100") == {"phone": "phone_not_vietnamese"}
    assert _errors(phone="0112345678") == {"phone": "phone_not_vietnamese"}
    assert _errors(province="03") == {"province": "province_unknown"}
    assert _errors(ward="99999") == {"ward": "ward_unknown"}
    assert _errors(name="   ") == {"name": "blank"}
    assert _errors(street="x" * 201) == {"street": "string_too_long"}
    assert _errors(notes="x" * 301) == {"notes": "string_too_long"}
    assert _errors(colour="red") == {"colour": "extra_forbidden"}


def test_model_error_message_is_english_msgid() -> None:
    with pytest.raises(ValidationError) as info:
        PostalAddress.model_validate({**GOOD, "ward": "14362"})
    assert info.value.errors()[0]["msg"] == MSG_WARD_MISMATCH.msgid


def test_clean_for_forms() -> None:
    address, errors = clean_postal_address(GOOD)
    assert errors == {}
    assert address == PostalAddress.model_validate(GOOD)


def test_clean_errors_by_part() -> None:
    address, errors = clean_postal_address({"province": "01", "ward": "14362", "phone": "12345"})
    assert address is None
    assert errors["ward"] == MSG_WARD_MISMATCH
    assert errors["phone"] == MSG_PHONE
    assert errors["name"] == MSG_NAME_REQUIRED
    assert "street" in errors
    _, errors = clean_postal_address({**GOOD, "phone": " "})
    assert errors == {"phone": MSG_PHONE_REQUIRED}
    _, errors = clean_postal_address({**GOOD, "notes": "x" * 301})
    assert set(errors) == {"notes"}


def test_format() -> None:
    text = format_postal_address(PostalAddress.model_validate(GOOD))
    assert text == "12 Lý Thái Tổ, Phường Ba Đình, Thành phố Hà Nội"
    assert format_postal_address({"province": "37", "ward": "14362", "street": "Số 2"}).endswith("Tỉnh Ninh Bình")
    assert format_postal_address(None) == ""
