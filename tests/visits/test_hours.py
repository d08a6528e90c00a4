"""Opening hours: the shipped file, the days that open (weekdays, Saturdays, holidays, working weekends), the
slots of a day, per-agency overrides and the checks on a bad file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from portal.kernel.settings import Settings
from portal.visits.hours import SHIPPED_FILE, HoursFileError, clear_cache, hours_of, load_hours_file

MONDAY = date(2026, 6, 1)
SATURDAY = date(2026, 6, 6)
SUNDAY = date(2026, 6, 7)
NATIONAL_DAY = date(2026, 9, 2)  # a Wednesday
LABOUR_DAY_SATURDAY = date(2027, 5, 1)  # a holiday on a Saturday
WORKED_SATURDAY = date(2026, 8, 22)  # worked for Monday 31/08 off (holidays package)
ANNOUNCED_WORKED_SATURDAY = date(2026, 1, 10)  # worked for Friday 02/01 off (vn_calendar.yaml)


def starts(hours, day: date) -> list[str]:
    return [s.start for s in hours.slots_on(day)]


def test_a_weekday_opens_morning_and_afternoon() -> None:
    hours = load_hours_file(SHIPPED_FILE).of("STP")
    slots = hours.slots_on(MONDAY)
    assert [s.start for s in slots][:3] == ["07:30", "08:00", "08:30"]
    assert slots[7].start == "11:00" and slots[7].end == "11:30"  # the morning's last slot ends with it
    assert slots[8].start == "13:30" and slots[-1].start == "16:30" and slots[-1].end == "17:00"
    assert len(slots) == 8 + 7
    assert hours.counters == 3 and hours.slot_at(MONDAY, "12:00") is None


def test_saturday_mornings_where_the_province_opens_them() -> None:
    shipped = load_hours_file(SHIPPED_FILE)
    assert starts(shipped.of("STP"), SATURDAY) == [
        "07:30",
        "08:00",
        "08:30",
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
    ]
    assert starts(shipped.of("UBXA"), SATURDAY) == []  # the ward's desk stays closed on Saturdays
    assert starts(shipped.of("STP"), SUNDAY) == []


def test_holidays_and_days_off_are_closed() -> None:
    hours = load_hours_file(SHIPPED_FILE).of("STP")
    assert starts(hours, NATIONAL_DAY) == []
    assert starts(hours, date(2026, 8, 31)) == []  # the bridge day off
    assert starts(hours, date(2026, 1, 2)) == []  # announced in vn_calendar.yaml
    assert starts(hours, LABOUR_DAY_SATURDAY) == []  # a Saturday that is a holiday stays closed


def test_working_weekends_open_as_weekdays() -> None:
    shipped = load_hours_file(SHIPPED_FILE)
    for day in (WORKED_SATURDAY, ANNOUNCED_WORKED_SATURDAY):
        assert starts(shipped.of("UBXA"), day) == starts(shipped.of("UBXA"), MONDAY)
        assert len(shipped.of("STP").slots_on(day)) == 15  # the afternoon too, not the Saturday morning


def test_agency_overrides() -> None:
    shipped = load_hours_file(SHIPPED_FILE)
    police = shipped.of("CAT")
    assert police.slot_minutes == 20 and police.counters == 4
    assert starts(police, MONDAY)[:3] == ["07:30", "07:50", "08:10"]
    assert shipped.of("UBXA").counters == 2
    assert shipped.of("NOPE") == shipped.default


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hours.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
slot_minutes: 45
counters: 1
weekdays: [{start: "08:00", end: "10:00"}]
"""


def test_an_operator_file_replaces_the_shipped_one(tmp_path: Path, settings: Settings) -> None:
    path = write(tmp_path, GOOD)
    clear_cache()
    hours = hours_of(settings.model_copy(update={"visits_hours_file": path})).of("STP")
    assert starts(hours, MONDAY) == ["08:00", "08:45"]  # 09:30–10:15 would end after the session
    assert starts(hours, SATURDAY) == []  # no Saturday sessions unless listed
    assert hours_of(settings).of("STP").counters == 3


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("slot_minutes: 30\ncounters: 2\nweekdays: [{start: '7:30', end: '11:30'}]\n", "HH:MM"),
        ("slot_minutes: 30\ncounters: 2\nweekdays: [{start: '11:30', end: '07:30'}]\n", "ends before it starts"),
        (
            "slot_minutes: 30\ncounters: 2\n"
            "weekdays: [{start: '07:30', end: '11:30'}, {start: '11:00', end: '12:00'}]\n",
            "must not overlap",
        ),
        ("slot_minutes: 60\ncounters: 2\nweekdays: [{start: '07:30', end: '08:00'}]\n", "shorter than one slot"),
        ("slot_minutes: 30\ncounters: 0\nweekdays: [{start: '07:30', end: '11:30'}]\n", "counters"),
        ("slot_minutes: 30\ncounters: 2\nweekdays: []\n", "weekdays"),
        ("slot_minutes: 30\ncounters: 2\nweekdays: [{start: '07:30', end: '11:30'}]\nopen: yes\n", "open"),
        (
            "slot_minutes: 30\ncounters: 2\nweekdays: [{start: '07:30', end: '11:30'}]\n"
            "agencies: {stp: {counters: 1}}\n",
            "agencies.stp",
        ),
        (
            "slot_minutes: 30\ncounters: 2\nweekdays: [{start: '07:30', end: '11:30'}]\n"
            "agencies: {STP: {saturday: [{start: '07:30', end: '07:45'}]}}\n",
            "agencies.STP.saturday",
        ),
        ("slot_minutes: [\n", "not valid YAML"),
        ("", "slot_minutes"),
    ],
)
def test_a_bad_file_says_what_and_where(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(HoursFileError) as caught:
        load_hours_file(path)
    assert str(path) in str(caught.value) and reason in str(caught.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(HoursFileError, match="cannot be read"):
        load_hours_file(tmp_path / "none.yaml")
