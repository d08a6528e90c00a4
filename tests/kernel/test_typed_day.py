"""`typed_day`: the one reader of a day typed in a filter (the statistics, the console's lists and reports)."""

from __future__ import annotations

from datetime import date

import pytest

from portal.kernel.calendar import MAX_TYPED_DAY, MIN_TYPED_DAY, DayOutOfRange, typed_day


@pytest.mark.parametrize(
    ("text", "day"),
    [("2026-01-31", date(2026, 1, 31)), (" 31/01/2026 ", date(2026, 1, 31)), ("1/2/2026", date(2026, 2, 1))],
)
def test_iso_and_vietnamese_forms(text: str, day: date) -> None:
    assert typed_day(text) == day


@pytest.mark.parametrize("text", ["", "31/02/2026", "2026-1-31", "٢٠٢٦-01-31", "３１/01/2026", "2026-01-31T00:00", "x"])
def test_not_a_day(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        typed_day(text)
    assert not isinstance(caught.value, DayOutOfRange)


def test_outside_the_bounds() -> None:
    assert typed_day("01/01/1990") == MIN_TYPED_DAY and typed_day("2100-12-31") == MAX_TYPED_DAY
    for text in ("31/12/1989", "2101-01-01"):
        with pytest.raises(DayOutOfRange):
            typed_day(text)
