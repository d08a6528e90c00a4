"""Tests of portal.kernel.calendar with concrete Vietnamese dates (holidays package data)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from portal.kernel import calendar
from portal.kernel.calendar import (
    TZ,
    add_working_days,
    appointment_date,
    holiday_name,
    is_working_day,
    local_date,
    to_local,
    working_days_between,
)
from portal.kernel.settings import Settings


def utc(iso: str) -> datetime:
    """An aware UTC datetime from an ISO string without offset."""
    return datetime.fromisoformat(iso).replace(tzinfo=UTC)


def test_tet_2027_days_off() -> None:
    # holidays.VN: Thu 04/02 .. Wed 10/02/2027 (29 Tết .. mùng 5).
    for day in range(4, 11):
        assert not is_working_day(date(2027, 2, day)), day
    assert holiday_name(date(2027, 2, 6)) is not None
    assert is_working_day(date(2027, 2, 3))  # Wednesday before Tết
    assert is_working_day(date(2027, 2, 11))  # Thursday after Tết


def test_tet_2027_appointment() -> None:
    # Received Wed 03/02/2027 10:00 local. Counting starts the next day:
    # 04..10/02 Tết (off), Thu 11/02 = 1, Fri 12/02 = 2, Sat/Sun 13-14/02 off, Mon 15/02 = 3.
    assert appointment_date(utc("2027-02-03T03:00:00"), 3) == date(2027, 2, 15)
    assert appointment_date(utc("2027-02-03T03:00:00"), 1) == date(2027, 2, 11)


def test_received_during_tet_counts_from_first_working_day_after() -> None:
    # Received Sat 06/02/2027 (Tết): treated as received Thu 11/02, so day 1 = Fri 12/02.
    assert appointment_date(utc("2027-02-06T02:00:00"), 1) == date(2027, 2, 12)


def test_reunification_and_labour_day_2027() -> None:
    # Fri 30/04 and Sat 01/05 are holidays; Mon 03/05 is the observed day for 01/05.
    assert not is_working_day(date(2027, 4, 30))
    assert not is_working_day(date(2027, 5, 1))
    assert not is_working_day(date(2027, 5, 3))
    assert is_working_day(date(2027, 5, 4))
    # Received Thu 29/04 09:00 local: next working day is Tue 04/05.
    assert appointment_date(utc("2027-04-29T02:00:00"), 1) == date(2027, 5, 4)
    assert appointment_date(utc("2027-04-29T02:00:00"), 2) == date(2027, 5, 5)


def test_late_utc_evening_is_next_day_in_vietnam() -> None:
    # 2027-04-29T18:00Z = 01:00 on Fri 30/04 in Hà Nội (a holiday): the receipt is
    # treated as on Tue 04/05, so one working day gives Wed 05/05.
    received = utc("2027-04-29T18:00:00")
    assert local_date(received) == date(2027, 4, 30)
    assert appointment_date(received, 1) == date(2027, 5, 5)
    # 16:59Z is still 23:59 on Thu 29/04 locally: one working day gives Tue 04/05.
    assert appointment_date(utc("2027-04-29T16:59:00"), 1) == date(2027, 5, 4)


def test_saturday_receipt() -> None:
    # Sat 06/03/2027 → treated as Mon 08/03 → 1 working day = Tue 09/03, 5 = Mon 15/03.
    assert appointment_date(utc("2027-03-06T03:00:00"), 1) == date(2027, 3, 9)
    assert appointment_date(utc("2027-03-06T03:00:00"), 5) == date(2027, 3, 15)
    # A Friday receipt with 1 working day lands on Monday.
    assert appointment_date(utc("2027-03-05T03:00:00"), 1) == date(2027, 3, 8)


def test_hung_kings_day_2027() -> None:
    # Fri 16/04/2027 (10/3 âm lịch) is off: received Thu 15/04 → Mon 19/04.
    assert not is_working_day(date(2027, 4, 16))
    assert appointment_date(utc("2027-04-15T03:00:00"), 1) == date(2027, 4, 19)


def test_national_day_2027() -> None:
    # Thu 02/09 and Fri 03/09/2027 are off: received Wed 01/09 → Mon 06/09.
    assert not is_working_day(date(2027, 9, 2))
    assert not is_working_day(date(2027, 9, 3))
    assert appointment_date(utc("2027-09-01T03:00:00"), 1) == date(2027, 9, 6)
    # 17:30Z on 01/09 is 00:30 on 02/09 locally: effective receipt Mon 06/09 → Tue 07/09.
    assert appointment_date(utc("2027-09-01T17:30:00"), 1) == date(2027, 9, 7)


def test_weekend_declared_working_day() -> None:
    # Sat 22/08/2026 is worked in exchange for Mon 31/08/2026 off (bridge to 01-02/09).
    assert is_working_day(date(2026, 8, 22))
    assert not is_working_day(date(2026, 8, 29))
    assert not is_working_day(date(2026, 8, 31))
    assert add_working_days(date(2026, 8, 21), 1) == date(2026, 8, 22)
    # Fri 28/08 + 1: Sat 29, Sun 30 off, Mon 31 bridge, Tue 01 and Wed 02/09 National Day → Thu 03/09.
    assert add_working_days(date(2026, 8, 28), 1) == date(2026, 9, 3)


def test_add_working_days_zero_and_errors() -> None:
    assert add_working_days(date(2027, 3, 3), 0) == date(2027, 3, 3)  # a Wednesday
    assert add_working_days(date(2027, 3, 6), 0) == date(2027, 3, 8)  # Saturday → Monday
    assert add_working_days(date(2027, 2, 5), 0) == date(2027, 2, 11)  # during Tết
    with pytest.raises(ValueError):
        add_working_days(date(2027, 3, 3), -1)


def test_appointment_zero_days_is_effective_receipt_day() -> None:
    assert appointment_date(utc("2027-03-06T03:00:00"), 0) == date(2027, 3, 8)
    assert appointment_date(utc("2027-03-03T03:00:00"), 0) == date(2027, 3, 3)


def test_year_boundary() -> None:
    # Thu 31/12/2026 + 1: Fri 01/01/2027 is New Year's Day, weekend → Mon 04/01/2027.
    assert add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)


def test_working_days_between() -> None:
    assert working_days_between(date(2027, 2, 3), date(2027, 2, 15)) == 3
    assert working_days_between(date(2027, 2, 3), date(2027, 2, 3)) == 0
    assert working_days_between(date(2027, 2, 15), date(2027, 2, 3)) == -3
    assert working_days_between(date(2027, 4, 29), date(2027, 5, 4)) == 1
    # A whole ordinary week (Mon..Mon) has five working days.
    assert working_days_between(date(2027, 3, 1), date(2027, 3, 8)) == 5


def test_add_and_between_agree() -> None:
    start = date(2027, 1, 20)
    for n in range(1, 40):
        assert working_days_between(start, add_working_days(start, n)) == n


def test_local_time_helpers() -> None:
    received = utc("2027-04-29T18:00:00")
    local = to_local(received)
    assert local.tzinfo is TZ
    assert local.utcoffset() == timedelta(hours=7)
    assert (local.hour, local.minute) == (1, 0)
    other_zone = datetime(2027, 4, 30, 3, 0, tzinfo=timezone(timedelta(hours=9)))  # Tokyo 03:00
    assert local_date(other_zone) == date(2027, 4, 30)  # 01:00 in Vietnam


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        to_local(datetime(2027, 4, 29, 18, 0))
    with pytest.raises(ValueError):
        appointment_date(datetime(2027, 4, 29, 18, 0), 1)


# --- Announced days: the holidays package plus portal/kernel/data/vn_calendar.yaml and operator files ---


@pytest.fixture
def shipped_calendar() -> Iterator[None]:
    """Only the shipped calendar, before and after the test (operator files must not leak)."""
    calendar.configure(())
    try:
        yield
    finally:
        calendar.configure(())


def test_tet_2025_nine_days(shipped_calendar: None) -> None:
    # Announcement 6150/TB-BLĐTBXH (2024): Sat 25/01 .. Sun 02/02/2025 off, back on Mon 03/02.
    for day in range(25, 32):
        assert not is_working_day(date(2025, 1, day)), day
    assert not is_working_day(date(2025, 2, 1))
    assert not is_working_day(date(2025, 2, 2))
    assert is_working_day(date(2025, 1, 24))
    assert is_working_day(date(2025, 2, 3))
    # Received Fri 24/01/2025: day 1 is Mon 03/02.
    assert appointment_date(utc("2025-01-24T03:00:00"), 1) == date(2025, 2, 3)


def test_tet_2026_fourteenth_to_twenty_second(shipped_calendar: None) -> None:
    # Sat 14/02 .. Sun 22/02/2026 (27 tháng Chạp .. mùng 6): nine days, back on Mon 23/02.
    for day in range(14, 23):
        assert not is_working_day(date(2026, 2, day)), day
    assert is_working_day(date(2026, 2, 13))
    assert is_working_day(date(2026, 2, 23))
    assert working_days_between(date(2026, 2, 13), date(2026, 2, 23)) == 1


def test_bridge_days(shipped_calendar: None) -> None:
    # From the shipped file (the holidays package lacks it): Fri 02/01/2026 off, Sat 10/01/2026 worked.
    assert not is_working_day(date(2026, 1, 2))
    assert holiday_name(date(2026, 1, 2)) == "Nghỉ Tết Dương lịch (hoán đổi với thứ Bảy 10/01/2026)"
    assert calendar.announcements().days_off[date(2026, 1, 2)].source.startswith("Công văn 12729/VPCP-KGVX")
    # Received Wed 31/12/2025: 01/01 holiday, 02/01 bridge, 03-04/01 weekend → day 1 is Mon 05/01.
    assert appointment_date(utc("2025-12-31T03:00:00"), 1) == date(2026, 1, 5)
    # From the holidays package: Fri 02/05/2025 off (for Sat 26/04), Mon 31/08/2026 off (for Sat 22/08).
    assert not is_working_day(date(2025, 5, 2))
    assert is_working_day(date(2025, 4, 26))
    assert not is_working_day(date(2026, 8, 31))


def test_compensatory_working_saturday(shipped_calendar: None) -> None:
    saturday = date(2026, 1, 10)
    assert saturday.weekday() == 5
    assert is_working_day(saturday)
    assert not is_working_day(date(2026, 1, 17))  # an ordinary Saturday
    assert add_working_days(date(2026, 1, 9), 1) == saturday
    assert working_days_between(date(2026, 1, 9), date(2026, 1, 12)) == 2  # Sat 10 and Mon 12


def test_shipped_file_only_adds_what_holidays_lacks(shipped_calendar: None) -> None:
    import holidays

    announced = calendar.announcements()
    for day in announced.days_off:
        assert day not in holidays.country_holidays("VN", years=day.year), day
    for day in announced.working_weekends:
        vn = holidays.country_holidays("VN", years=day.year)
        assert day not in vn.weekend_workdays, day
    for entry in (*announced.days_off.values(), *announced.working_weekends.values()):
        assert entry.name and entry.source


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_operator_file_adds_days(tmp_path: Path, shipped_calendar: None) -> None:
    assert is_working_day(date(2027, 3, 8))
    assert not is_working_day(date(2027, 3, 13))
    extra = write(
        tmp_path,
        "province.yaml",
        """
2027:
  days_off:
    - {date: 2027-03-08, name: "Nghỉ bù (thử)", source: "Quyết định 1/QĐ-UBND (test)"}
  working_weekends:
    - {date: 2027-03-13, name: "Làm bù", source: "Quyết định 1/QĐ-UBND (test)"}
""",
    )
    Settings(calendar_files=[extra])
    assert not is_working_day(date(2027, 3, 8))
    assert holiday_name(date(2027, 3, 8)) == "Nghỉ bù (thử)"
    assert is_working_day(date(2027, 3, 13))
    # Received Fri 05/03/2027: Mon 08 off → day 1 is Tue 09/03; Fri 12/03 + 1 is Sat 13/03.
    assert appointment_date(utc("2027-03-05T03:00:00"), 1) == date(2027, 3, 9)
    assert add_working_days(date(2027, 3, 12), 1) == date(2027, 3, 13)
    # The shipped days stay, and a later file's word on a date wins over the shipped file.
    assert not is_working_day(date(2026, 1, 2))
    override = write(
        tmp_path,
        "override.yaml",
        "2026:\n  working_weekends: []\n  days_off: []\n2027:\n  days_off: []\n",
    )
    Settings(calendar_files=[extra, override])
    assert not is_working_day(date(2027, 3, 8))  # an empty list removes nothing
    Settings()
    assert is_working_day(date(2027, 3, 8))  # back to the shipped calendar


def test_reload_reads_the_files_again(tmp_path: Path, shipped_calendar: None) -> None:
    extra = write(tmp_path, "extra.yaml", "2027: {}\n")
    calendar.configure([extra])
    assert is_working_day(date(2027, 6, 1))
    extra.write_text('2027:\n  days_off: [{date: 2027-06-01, name: "X", source: "Y"}]\n', encoding="utf-8")
    assert is_working_day(date(2027, 6, 1))  # cached per year: files are not watched
    calendar.reload()
    assert not is_working_day(date(2027, 6, 1))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2027: [unclosed\n", "not valid YAML"),
        ("- 2027-03-08\n", "expected <year>"),
        ("2027:\n  days_of: []\n", "days_of"),
        ('2027:\n  days_off: [{date: 2027-03-08, name: "X"}]\n', "source"),
        ('2027:\n  days_off: [{date: 2027-02-30, name: "X", source: "Y"}]\n', "date"),
        ('2027:\n  days_off: [{date: 2026-03-09, name: "X", source: "Y"}]\n', "not in 2027"),
        ('2027:\n  days_off: [{date: 2027-03-13, name: "X", source: "Y"}]\n', "Saturday or Sunday"),
        ('2027:\n  working_weekends: [{date: 2027-03-08, name: "X", source: "Y"}]\n', "only a Saturday"),
        (
            '2027:\n  days_off: [{date: 2027-03-08, name: "X", source: "Y"}]\n'
            '  working_weekends: [{date: 2027-03-08, name: "X", source: "Y"}]\n',
            "listed twice",
        ),
    ],
)
def test_bad_operator_file_stops_the_start(tmp_path: Path, shipped_calendar: None, text: str, reason: str) -> None:
    bad = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ValidationError) as caught:
        Settings(calendar_files=[bad])
    message = str(caught.value)
    assert "PORTAL_CALENDAR_FILES" in message
    assert str(bad) in message
    assert reason in message
    # The calendar in use is unchanged.
    assert not is_working_day(date(2026, 1, 2))
    assert is_working_day(date(2027, 3, 8))


def test_missing_operator_file(tmp_path: Path, shipped_calendar: None) -> None:
    with pytest.raises(calendar.CalendarFileError, match="cannot be read"):
        calendar.configure([tmp_path / "missing.yaml"])
