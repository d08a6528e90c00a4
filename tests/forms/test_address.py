"""Tests for forms.address: two-level administrative units and address validation."""

from __future__ import annotations

import pytest

from forms import address
from forms.address import (
    clean_address,
    format_address,
    is_ward_in_province,
    province_name,
    provinces,
    ward_name,
    wards,
)


def test_provinces_are_the_34_units_sorted_by_name() -> None:
    items = provinces()
    assert len(items) == 34
    assert ("01", "Thành phố Hà Nội") in items and ("79", "Thành phố Hồ Chí Minh") in items
    names = [name for _code, name in items]
    assert names[0] == "An Giang"
    assert names.index("Cao Bằng") < names.index("Thành phố Đà Nẵng") < names.index("Gia Lai")
    assert all(len(code) == 2 and code.isdigit() for code, _name in items)
    items.clear()  # callers get a copy; the cache stays intact
    assert len(provinces()) == 34


def test_wards() -> None:
    hanoi = wards("01")
    assert ("00070", "Phường Hoàn Kiếm") in hanoi
    assert len(hanoi) > 100
    assert wards("1") == hanoi
    assert all(len(code) == 5 for code, _name in hanoi)
    assert all("  " not in name for _code, name in wards("79"))  # source data has double spaces
    for bad in ("", "00", "02", "abc", "99", "1" * 50):
        assert wards(bad) == []
    total = sum(len(wards(code)) for code, _name in provinces())
    assert total > 3000


def test_names_and_membership() -> None:
    assert province_name("01") == "Thành phố Hà Nội"
    assert province_name("4") == "Cao Bằng"
    assert province_name("02") is None and province_name("x") is None
    assert ward_name("00070") == "Phường Hoàn Kiếm" and ward_name("70") == "Phường Hoàn Kiếm"
    assert ward_name("99999") is None
    assert is_ward_in_province("00070", "01")
    assert not is_ward_in_province("00070", "79")
    assert not is_ward_in_province("nope", "01")


def test_format_address() -> None:
    value = {"province": "01", "ward": "00070", "street": "12 Lý Thái Tổ"}
    assert format_address(value) == "12 Lý Thái Tổ, Phường Hoàn Kiếm, Thành phố Hà Nội"
    ward_code, ward = wards("04")[0]
    assert format_address({"province": "04", "ward": ward_code, "street": ""}) == f"{ward}, Tỉnh Cao Bằng"
    assert format_address(None) == ""
    assert format_address({"province": "zz", "ward": 5, "street": None}) == ""


def test_clean_address_ok_and_normalised() -> None:
    value, errors = clean_address(" 1 ", "70", "  12 Lý Thái Tổ ", required=True)
    assert errors == {}
    assert value == {"province": "01", "ward": "00070", "street": "12 Lý Thái Tổ"}


def test_clean_address_ward_of_another_province() -> None:
    hcm_ward = wards("79")[0][0]
    value, errors = clean_address("01", hcm_ward, "1 Tràng Tiền", required=True)
    assert set(errors) == {"ward"}
    assert errors["ward"].msgid == "The selected ward or commune does not belong to the selected province or city."
    assert value == {"province": "01", "ward": hcm_ward, "street": "1 Tràng Tiền"}


@pytest.mark.parametrize(
    ("province", "ward", "street", "expected"),
    [
        ("", "", "", {"province", "ward", "street"}),
        ("02", "00070", "x", {"province"}),  # old Hà Giang code no longer exists
        ("01", "00000", "x", {"ward"}),
        ("01", "abc", "x", {"ward"}),
        ("01", "00070", "", {"street"}),
        ("01", "00070", "x" * 201, {"street"}),
    ],
)
def test_clean_address_errors(province: str, ward: str, street: str, expected: set[str]) -> None:
    _value, errors = clean_address(province, ward, street, required=True)
    assert set(errors) == expected


def test_optional_address() -> None:
    assert clean_address("", "", "  ") == (None, {})
    value, errors = clean_address("01", "00070", "")
    assert errors == {} and value == {"province": "01", "ward": "00070", "street": ""}
    _value, errors = clean_address("01", "", "")
    assert set(errors) == {"ward"}


def test_lookups_are_cached() -> None:
    address.wards("01")
    info = address._sorted_wards.cache_info()
    address.wards("01")
    assert address._sorted_wards.cache_info().hits == info.hits + 1


def test_parse_address_reads_what_identity_providers_send() -> None:
    from forms.address import format_address, parse_address

    text = "Số 12 đường Lê Hồng Phong, Phường Hoa Lư, Tỉnh Ninh Bình"
    value = parse_address(text)
    assert value is not None and value["province"] == "37" and value["street"] == "Số 12 đường Lê Hồng Phong"
    assert format_address(value) == text
    assert parse_address("Số 1 Tràng Tiền, phuong hoan kiem, Ha Noi") == parse_address(
        "Số 1 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội"
    )
    assert parse_address("Số 1, Phường Hoa Lư, Thành phố Hà Nội") is None  # that ward is not in Hà Nội
    assert parse_address("Phường Hoa Lư, Tỉnh Ninh Bình") is None  # no street
    assert parse_address("12 Main Street, Springfield") is None
