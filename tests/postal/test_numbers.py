"""Order numbers and the UPU S10 tracking numbers the portal issues."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from postal.numbers import is_s10, next_order_number, next_tracking_number, next_value, s10_check_digit, s10_number


@pytest.mark.parametrize(
    ("serial", "check"),
    [
        ("47312482", 9),  # the UPU S10 standard's example
        ("00000000", 5),  # 11 - 0 = 11 → 5
        ("12345678", 5),
    ],
)
def test_check_digit(serial: str, check: int) -> None:
    assert s10_check_digit(serial) == check


def test_check_digit_ten_becomes_zero() -> None:
    # A serial whose weighted sum is 1 modulo 11 (11 - 1 = 10) has the check digit 0.
    serial = next(
        f"{n:08d}"
        for n in range(1000)
        if sum(int(d) * w for d, w in zip(f"{n:08d}", (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11 == 1
    )
    assert s10_check_digit(serial) == 0


def test_s10_format() -> None:
    assert s10_number(47312482, service="RR") == "RR473124829VN"
    assert is_s10("RR473124829VN")
    assert not is_s10("RR473124828VN")  # wrong check digit
    assert not is_s10("RR47312482VN")
    assert not is_s10("rr473124829vn")
    with pytest.raises(ValueError):
        s10_number(100_000_000)


@pytest.mark.db
def test_counters(session: Session) -> None:
    a, b = next_value(session, "test-series"), next_value(session, "test-series")
    assert b == a + 1
    first, second = next_order_number(session), next_order_number(session)
    assert first != second and len(first) == 11 and first[:2] == "BC"
    assert int(second[4:]) == int(first[4:]) + 1
    tracking = next_tracking_number(session)
    assert is_s10(tracking) and tracking.startswith("RP") and tracking.endswith("VN")
    assert next_tracking_number(session) != tracking
