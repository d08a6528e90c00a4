"""Tax codes (mã số thuế): 10 digits with a check digit, or 13 for a branch."""

from __future__ import annotations

import pytest

from portal.businesses.service import (
    ONLY_DIGITS,
    WRONG_BRANCH,
    WRONG_CHECK_DIGIT,
    WRONG_LENGTH,
    check_digit,
    check_registration,
    check_tax_code,
    format_tax_code,
)
from portal.kernel.errors import Invalid


@pytest.mark.parametrize("value", ["0300588569", "0100109106", " 0100 109 106 "])
def test_valid_ten_digits(value: str) -> None:
    assert check_tax_code(value) == "".join(value.split())


@pytest.mark.parametrize("value", ["0100109106-001", "0100109106001", "0100109106 - 001", "0300588569-999"])
def test_valid_branch_in_every_written_form(value: str) -> None:
    code = check_tax_code(value)
    assert len(code) == 13 and code.isdigit()
    assert format_tax_code(code) == f"{code[:10]}-{code[10:]}"


@pytest.mark.parametrize(
    "value", ["01001O9106", "MST0100109106", "0100109106/001", "0100-109106", "０１００１０９１０６"]
)
def test_letters_and_other_characters(value: str) -> None:
    with pytest.raises(Invalid) as exc:
        check_tax_code(value)
    assert exc.value.msgid == ONLY_DIGITS


@pytest.mark.parametrize("value", ["010010910", "01001091060", "010010910600", "01001091060012", "0100109106-01"])
def test_wrong_length(value: str) -> None:
    with pytest.raises(Invalid) as exc:
        check_tax_code(value)
    assert exc.value.msgid == (ONLY_DIGITS if "-" in value else WRONG_LENGTH)


@pytest.mark.parametrize("value", ["0100109107", "0300588560", "0100109107-001"])
def test_wrong_check_digit(value: str) -> None:
    with pytest.raises(Invalid) as exc:
        check_tax_code(value)
    assert exc.value.msgid == WRONG_CHECK_DIGIT


def test_check_digit_ten_is_never_valid() -> None:
    # 010000005 weighs 29·1 + 3·5 = 44, a multiple of 11: the 10th digit would have to be 10.
    assert check_digit("010000005") is None
    for last in "0123456789":
        with pytest.raises(Invalid) as exc:
            check_tax_code("010000005" + last)
        assert exc.value.msgid == WRONG_CHECK_DIGIT


def test_branch_000_is_not_a_branch() -> None:
    with pytest.raises(Invalid) as exc:
        check_tax_code("0100109106-000")
    assert exc.value.msgid == WRONG_BRANCH


def test_registration_form_checks_every_field() -> None:
    errors = check_registration(tax_code="abc", name="   ", address="x" * 301)
    assert set(errors) == {"tax_code", "name", "address"}
    assert errors["tax_code"] == ONLY_DIGITS
    assert check_registration(tax_code="0100109106", name=" Công ty  A ", address="1 Tràng Tiền") == {}
