"""The centre's opening hours for booked visits: sessions, slots and counters, per agency (docs/VISITS.md).

The data file (`data/opening_hours.yaml`, or `PORTAL_VISITS_HOURS_FILE`) is read once per path and checked
whole: a bad file raises `HoursFileError` naming the file and the entry. Which days open comes from the
working-day calendar (`portal.kernel.calendar`): working days open with the weekday sessions (announced
working weekends included), ordinary Saturdays with the Saturday sessions, holidays and days off never.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from portal.kernel.calendar import holiday_name, is_working_day
from portal.kernel.settings import Settings

__all__ = [
    "SHIPPED_FILE",
    "AgencyHours",
    "HoursFileError",
    "OpeningHours",
    "Session",
    "SlotTime",
    "hours_of",
    "load_hours_file",
]

SHIPPED_FILE = Path(__file__).resolve().parent / "data" / "opening_hours.yaml"
_SATURDAY = 5
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class HoursFileError(ValueError):
    """An opening-hours file that cannot be used; the message names the file and the entry."""


def _parse_hhmm(value: str) -> time:
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time of day written HH:MM (e.g. 07:30)")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


class _Session(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        _parse_hhmm(value)
        return value


_Sessions = list[_Session]


class _Overrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot_minutes: int | None = Field(default=None, ge=5, le=240)
    counters: int | None = Field(default=None, ge=1, le=100)
    weekdays: _Sessions | None = None
    saturday: _Sessions | None = None


_AgencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,10}$")]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot_minutes: int = Field(ge=5, le=240)
    counters: int = Field(ge=1, le=100)
    weekdays: _Sessions = Field(min_length=1)
    saturday: _Sessions = Field(default_factory=list)
    agencies: dict[_AgencyCode, _Overrides] = Field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    """One opening session of a day, such as 07:30–11:30."""

    start: time
    end: time


@dataclass(frozen=True)
class SlotTime:
    """One bookable slot of a day: its local start and end ("HH:MM")."""

    start: str
    end: str


@dataclass(frozen=True)
class AgencyHours:
    """The hours of one agency's counters, overrides applied."""

    slot_minutes: int
    counters: int
    weekdays: tuple[Session, ...]
    saturday: tuple[Session, ...]

    def sessions_on(self, day: date) -> tuple[Session, ...]:
        """The sessions of `day`: none on holidays, days off and Sundays that are not announced working days."""
        if is_working_day(day):
            return self.weekdays
        if day.weekday() == _SATURDAY and holiday_name(day) is None:
            return self.saturday
        return ()

    def slots_on(self, day: date) -> list[SlotTime]:
        """The slots of `day` in time order; a session's last slot ends at or before the session's end."""
        out: list[SlotTime] = []
        for session in self.sessions_on(day):
            start = _minutes(session.start)
            end = _minutes(session.end)
            while start + self.slot_minutes <= end:
                out.append(SlotTime(_hhmm(start), _hhmm(start + self.slot_minutes)))
                start += self.slot_minutes
        return out

    def slot_at(self, day: date, start: str) -> SlotTime | None:
        """The slot of `day` starting at `start`, if there is one."""
        return next((s for s in self.slots_on(day) if s.start == start), None)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class OpeningHours:
    """The whole file: the centre's default hours and each agency's overrides."""

    default: AgencyHours
    agencies: dict[str, AgencyHours]
    file: str

    def of(self, agency_code: str) -> AgencyHours:
        return self.agencies.get(agency_code, self.default)


def _sessions(raw: _Sessions, where: str, slot_minutes: int) -> tuple[Session, ...]:
    """Check that the sessions are in order, do not overlap and each holds at least one slot."""
    sessions = tuple(Session(_parse_hhmm(s.start), _parse_hhmm(s.end)) for s in raw)
    previous_end = -1
    for i, s in enumerate(sessions):
        start, end = _minutes(s.start), _minutes(s.end)
        label = f"{where}[{i}] {s.start:%H:%M}–{s.end:%H:%M}"
        if end <= start:
            raise ValueError(f"{label}: the session ends before it starts")
        if start < previous_end:
            raise ValueError(f"{label}: the sessions must be in time order and must not overlap")
        if end - start < slot_minutes:
            raise ValueError(f"{label}: shorter than one slot of {slot_minutes} minutes")
        previous_end = end
    return sessions


def _build(content: _File, path: Path) -> OpeningHours:
    try:
        default = AgencyHours(
            content.slot_minutes,
            content.counters,
            _sessions(content.weekdays, "weekdays", content.slot_minutes),
            _sessions(content.saturday, "saturday", content.slot_minutes),
        )
        agencies: dict[str, AgencyHours] = {}
        for code, over in content.agencies.items():
            slot = over.slot_minutes or content.slot_minutes
            weekdays = over.weekdays if over.weekdays is not None else content.weekdays
            saturday = over.saturday if over.saturday is not None else content.saturday
            if not weekdays:
                raise ValueError(f"agencies.{code}.weekdays: at least one weekday session is needed")
            agencies[code] = AgencyHours(
                slot,
                over.counters or content.counters,
                _sessions(weekdays, f"agencies.{code}.weekdays", slot),
                _sessions(saturday, f"agencies.{code}.saturday", slot),
            )
    except ValueError as exc:
        raise HoursFileError(f"opening hours file {path}: {exc}") from None
    return OpeningHours(default, agencies, str(path))


def load_hours_file(path: Path) -> OpeningHours:
    """Read and check one file; HoursFileError says what is wrong and where."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HoursFileError(f"opening hours file {path}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise HoursFileError(f"opening hours file {path}: not valid YAML ({exc})") from None
    try:
        content = _File.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors()
        )
        raise HoursFileError(
            f"opening hours file {path}: {problems} (expected slot_minutes, counters, weekdays: "
            '[{start: "HH:MM", end: "HH:MM"}], saturday: [...], agencies: {CODE: {...}})'
        ) from None
    return _build(content, path)


_lock = threading.Lock()
_loaded: dict[Path, OpeningHours] = {}


def hours_of(settings: Settings) -> OpeningHours:
    """The opening hours in use: the settings' file, or the shipped one (each path read once)."""
    path = Path(settings.visits_hours_file or SHIPPED_FILE)
    found = _loaded.get(path)
    if found is None:
        with _lock:
            found = _loaded.get(path)
            if found is None:
                found = load_hours_file(path)
                _loaded[path] = found
    return found


def clear_cache() -> None:
    """Forget the files read (tests and operators' tools that change a file call this)."""
    with _lock:
        _loaded.clear()


def booking_window(today: date, days: int) -> list[date]:
    """Today and the `days` days after it."""
    return [today + timedelta(days=n) for n in range(days + 1)]
