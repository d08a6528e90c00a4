"""Working-day arithmetic for Vietnamese public administration (Asia/Ho_Chi_Minh).

The statutory holidays come from the ``holidays`` package; the days off and working weekends that the
Government announces each year come from ``data/vn_calendar.yaml`` and the operator's files
(``PORTAL_CALENDAR_FILES``), merged in that order (docs/DEADLINES.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated
from zoneinfo import ZoneInfo

import holidays
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

__all__ = [
    "MAX_TYPED_DAY",
    "MIN_TYPED_DAY",
    "SHIPPED_FILE",
    "TZ",
    "AnnouncedDay",
    "Announcements",
    "CalendarFileError",
    "DayOutOfRange",
    "add_working_days",
    "announcements",
    "appointment_date",
    "configure",
    "holiday_name",
    "is_working_day",
    "load_calendar_files",
    "local_date",
    "reload",
    "to_local",
    "typed_day",
    "working_days_between",
]

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SHIPPED_FILE = Path(__file__).resolve().parent / "data" / "vn_calendar.yaml"

_ONE_DAY = timedelta(days=1)
_SATURDAY = 5


class CalendarFileError(ValueError):
    """A calendar data file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class AnnouncedDay:
    """One announced day: off (a compensatory or bridge day) or worked (a Saturday or Sunday)."""

    day: date
    name: str
    source: str
    file: str


@dataclass(frozen=True)
class Announcements:
    """The announced days of every file, merged (a later file's word on a date wins)."""

    days_off: Mapping[date, AnnouncedDay]
    working_weekends: Mapping[date, AnnouncedDay]


_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: date
    name: _Text
    source: _Text


class _Year(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days_off: list[_Entry] = Field(default_factory=list)
    working_weekends: list[_Entry] = Field(default_factory=list)


_FILE = TypeAdapter(dict[int, _Year])


def _parse_file(path: Path) -> dict[int, _Year]:
    """Read and check one file; CalendarFileError says what is wrong and where."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CalendarFileError(f"calendar file {path}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise CalendarFileError(f"calendar file {path}: not valid YAML ({exc})") from None
    except ValueError as exc:  # YAML's own date syntax with an impossible date, such as 2027-02-30
        raise CalendarFileError(f"calendar file {path}: not a valid date ({exc})") from None
    try:
        years = _FILE.validate_python(raw if raw is not None else {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors()
        )
        raise CalendarFileError(
            f"calendar file {path}: {problems} (expected <year>: {{days_off: [{{date, name, source}}], "
            "working_weekends: [{date, name, source}]}})"
        ) from None
    for year, content in years.items():
        seen: set[date] = set()
        for kind, entries in (("days_off", content.days_off), ("working_weekends", content.working_weekends)):
            for entry in entries:
                where = f"calendar file {path}: {year}.{kind} {entry.date.isoformat()}"
                if entry.date.year != year:
                    raise CalendarFileError(f"{where}: the date is not in {year}")
                if entry.date in seen:
                    raise CalendarFileError(f"{where}: the date is listed twice")
                seen.add(entry.date)
                weekend = entry.date.weekday() >= _SATURDAY
                if kind == "days_off" and weekend:
                    raise CalendarFileError(f"{where}: a Saturday or Sunday is already a day off")
                if kind == "working_weekends" and not weekend:
                    raise CalendarFileError(f"{where}: only a Saturday or Sunday can be declared a working day")
    return years


def load_calendar_files(extra_files: Sequence[Path] = ()) -> Announcements:
    """Read the shipped file, then each operator file over it; raise CalendarFileError on a bad file."""
    days_off: dict[date, AnnouncedDay] = {}
    working: dict[date, AnnouncedDay] = {}
    for path in (SHIPPED_FILE, *extra_files):
        for content in _parse_file(Path(path)).values():
            for entry in content.days_off:
                days_off[entry.date] = AnnouncedDay(entry.date, entry.name, entry.source, str(path))
                working.pop(entry.date, None)
            for entry in content.working_weekends:
                working[entry.date] = AnnouncedDay(entry.date, entry.name, entry.source, str(path))
                days_off.pop(entry.date, None)
    return Announcements(MappingProxyType(days_off), MappingProxyType(working))


_lock = threading.Lock()
_files: tuple[Path, ...] = ()
_loaded: Announcements | None = None


def configure(extra_files: Sequence[Path]) -> Announcements:
    """Use the shipped file and ``extra_files`` from now on (settings call it at start; bad file: raise)."""
    global _files, _loaded
    files = tuple(Path(p) for p in extra_files)
    with _lock:
        if _loaded is not None and files == _files:
            return _loaded
        loaded = load_calendar_files(files)
        _files, _loaded = files, loaded
        _year_calendar.cache_clear()
        return loaded


def reload() -> Announcements:
    """Read the configured files again (the files are not watched; tests and operators' tools call this)."""
    global _loaded
    with _lock:
        _loaded = load_calendar_files(_files)
        _year_calendar.cache_clear()
        return _loaded


def announcements() -> Announcements:
    """The announced days in use (loaded on first use)."""
    global _loaded
    loaded = _loaded
    if loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = load_calendar_files(_files)
            loaded = _loaded
    return loaded


@lru_cache(maxsize=64)
def _year_calendar(year: int) -> tuple[dict[date, str], frozenset[date]]:
    """Return (days off with names, weekend days declared working days) of a year."""
    vn = holidays.country_holidays("VN", years=year)
    days_off = {d: str(name) for d, name in vn.items() if d.year == year}
    # Saturdays/Sundays the Government declared working days in exchange for a
    # bridge day off (e.g. Sat 2026-08-22 worked for Mon 2026-08-31 off).
    working = {d for d in getattr(vn, "weekend_workdays", ()) if d.year == year}
    announced = announcements()
    for d, day in announced.days_off.items():
        if d.year == year:
            days_off[d] = day.name
            working.discard(d)
    for d in announced.working_weekends:
        if d.year == year:
            working.add(d)
            days_off.pop(d, None)
    return days_off, frozenset(working)


def holiday_name(d: date) -> str | None:
    """Return the name of the public holiday or announced day off on ``d``, or None."""
    return _year_calendar(d.year)[0].get(d)


def is_working_day(d: date) -> bool:
    """Tell whether ``d`` is an official working day in Vietnam."""
    days_off, working = _year_calendar(d.year)
    if d in working:
        return True
    if d in days_off:
        return False
    return d.weekday() < _SATURDAY


def add_working_days(start: date, n: int) -> date:
    """Return the n-th working day strictly after ``start`` (n=0: start or the next working day)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    current = start
    if n == 0:
        while not is_working_day(current):
            current += _ONE_DAY
        return current
    remaining = n
    while remaining:
        current += _ONE_DAY
        if is_working_day(current):
            remaining -= 1
    return current


def _require_aware(dt: datetime) -> None:
    """Raise ValueError when ``dt`` carries no timezone."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")


def to_local(dt: datetime) -> datetime:
    """Convert an aware datetime to Asia/Ho_Chi_Minh local time."""
    _require_aware(dt)
    return dt.astimezone(TZ)


def local_date(dt: datetime) -> date:
    """Return the calendar date of an aware datetime in Asia/Ho_Chi_Minh."""
    return to_local(dt).date()


# The days a person may type in a filter: outside them a date is a typing mistake.
MIN_TYPED_DAY = date(1990, 1, 1)
MAX_TYPED_DAY = date(2100, 12, 31)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)  # ASCII digits: int() reads ٢ and ２ too
_VN_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", re.ASCII)


class DayOutOfRange(ValueError):
    """A typed day before MIN_TYPED_DAY or after MAX_TYPED_DAY."""


def typed_day(text: str) -> date:
    """A day as a person types it in a filter: YYYY-MM-DD or DD/MM/YYYY (spaces around ignored).

    ValueError when it is neither or no such day (31/02/2026); DayOutOfRange (a ValueError) when it is outside
    MIN_TYPED_DAY..MAX_TYPED_DAY. The callers word the messages (each for its own field)."""
    text = text.strip()
    if _ISO_DAY.match(text):
        day = date.fromisoformat(text)
    elif match := _VN_DAY.match(text):
        day = date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    else:
        raise ValueError(f"not a day: {text[:40]!r}")
    if not MIN_TYPED_DAY <= day <= MAX_TYPED_DAY:
        raise DayOutOfRange(day.isoformat())
    return day


def appointment_date(received_at: datetime, working_days: int) -> date:
    """Return the result date: ``working_days`` working days after the (effective) day of receipt."""
    received_on = add_working_days(local_date(received_at), 0)
    return add_working_days(received_on, working_days)


def working_days_between(start: date, end: date) -> int:
    """Count working days in (start, end]; negative count of (end, start] when end < start."""
    if end < start:
        return -working_days_between(end, start)
    count = 0
    current = start
    while current < end:
        current += _ONE_DAY
        if is_working_day(current):
            count += 1
    return count
