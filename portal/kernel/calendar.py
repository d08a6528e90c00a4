"""Working-day arithmetic for Vietnamese public administration (Asia/Ho_Chi_Minh)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "TZ",
    "add_working_days",
    "appointment_date",
    "holiday_name",
    "is_working_day",
    "local_date",
    "to_local",
    "working_days_between",
]

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_ONE_DAY = timedelta(days=1)
_SATURDAY = 5


@lru_cache(maxsize=64)
def _year_calendar(year: int) -> tuple[dict[date, str], frozenset[date]]:
    """Return (public holidays with names, weekend days declared working days) of a year."""
    vn = holidays.country_holidays("VN", years=year)
    days_off = {d: str(name) for d, name in vn.items() if d.year == year}
    # Saturdays/Sundays the Government declared working days in exchange for a
    # bridge day off (e.g. Sat 2026-08-22 worked for Mon 2026-08-31 off).
    swapped = frozenset(d for d in getattr(vn, "weekend_workdays", ()) if d.year == year)
    return days_off, swapped


def holiday_name(d: date) -> str | None:
    """Return the (English) name of the public holiday on ``d``, or None."""
    return _year_calendar(d.year)[0].get(d)


def is_working_day(d: date) -> bool:
    """Tell whether ``d`` is an official working day in Vietnam."""
    days_off, swapped = _year_calendar(d.year)
    if d in days_off:
        return False
    if d.weekday() >= _SATURDAY:
        return d in swapped
    return True


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
