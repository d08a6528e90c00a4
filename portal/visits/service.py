"""Visits to the centre: free slots, booking with a queue number, cancelling, checking in, calling the next
visitor to a counter, and what the kiosk shows of the queue.

The visit knows its dossier only as an opaque `owner_id` and its public `reference` (the dossier code): the
dossier domain decides who may book for which dossier and writes the timeline. Services flush, never commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from portal.kernel.calendar import TZ, local_date
from portal.kernel.clock import local, utcnow
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.visits.hours import SlotTime, booking_window, hours_of
from portal.visits.models import Visit, VisitCounter, VisitPurpose, VisitStatus

# A visit that still holds its place (and blocks another booking for the same dossier and purpose).
ACTIVE = (VisitStatus.BOOKED, VisitStatus.CHECKED_IN, VisitStatus.CALLED)
# Every visit but a cancelled one counts against the slot's places.
_TAKING_A_PLACE = (
    VisitStatus.BOOKED,
    VisitStatus.CHECKED_IN,
    VisitStatus.CALLED,
    VisitStatus.SERVED,
    VisitStatus.MISSED,
)


def queue_label(agency_code: str, number: int) -> str:
    """The queue number as printed and called: the agency's code and three digits, e.g. STP-012."""
    return f"{agency_code}-{number:03d}"


@dataclass(frozen=True)
class Slot:
    """A slot of a day with its places: `capacity` (the counters), `booked` and what is left."""

    day: date
    start: str
    end: str
    capacity: int
    booked: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.booked, 0)


@dataclass(frozen=True)
class DaySlots:
    day: date
    slots: list[Slot]


def starts_at(day: date, hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime.combine(day, time(int(hours), int(minutes)), tzinfo=TZ)


def _taken(session: Session, agency_code: str, days: Sequence[date]) -> dict[tuple[date, str], int]:
    rows = session.execute(
        sa_select(col(Visit.day), col(Visit.slot), func.count())
        .where(
            col(Visit.agency_code) == agency_code,
            col(Visit.day).in_(list(days)),
            col(Visit.status).in_(list(_TAKING_A_PLACE)),
        )
        .group_by(col(Visit.day), col(Visit.slot))
    ).all()
    return {(d, s): int(n) for d, s, n in rows}


def _slots(
    settings: Settings, agency_code: str, day: date, taken: dict[tuple[date, str], int], now: datetime
) -> list[Slot]:
    hours = hours_of(settings).of(agency_code)
    out = []
    for s in hours.slots_on(day):
        slot = Slot(day, s.start, s.end, hours.counters, taken.get((day, s.start), 0))
        if slot.free and starts_at(day, s.start) > now:
            out.append(slot)
    return out


def day_slots(
    session: Session, settings: Settings, agency_code: str, day: date, *, now: datetime | None = None
) -> list[Slot]:
    """The slots of one day that can still be booked (not started yet, with a free place)."""
    now = now or utcnow()
    if day not in booking_window(local_date(now), settings.visits_booking_days):
        return []
    return _slots(settings, agency_code, day, _taken(session, agency_code, [day]), now)


def available_days(
    session: Session, settings: Settings, agency_code: str, *, now: datetime | None = None
) -> list[DaySlots]:
    """The days of the booking window (today and `visits_booking_days` after) with at least one free slot."""
    now = now or utcnow()
    days = booking_window(local_date(now), settings.visits_booking_days)
    taken = _taken(session, agency_code, days)
    out = []
    for day in days:
        slots = _slots(settings, agency_code, day, taken, now)
        if slots:
            out.append(DaySlots(day, slots))
    return out


def _next_number(session: Session, agency_code: str, day: date) -> int:
    """Atomically take the agency's next queue number of the day; the counter row stays locked until commit,
    so bookings of one agency and day are serialised from here on (the capacity check below relies on it)."""
    dialect = session.get_bind().dialect.name
    table = VisitCounter.__table__  # type: ignore[attr-defined]
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    stmt = (
        ins.values(agency_code=agency_code, day=day, value=1)
        .on_conflict_do_update(index_elements=["agency_code", "day"], set_={"value": table.c.value + 1})
        .returning(table.c.value)
    )
    return int(session.execute(stmt).scalar_one())


def _give_back_number(session: Session, agency_code: str, day: date) -> None:
    """Undo `_next_number` in the same transaction (the counter row is still locked by it)."""
    table = VisitCounter.__table__  # type: ignore[attr-defined]
    session.execute(
        update(table).where(table.c.agency_code == agency_code, table.c.day == day).values(value=table.c.value - 1)
    )


def active_visits(session: Session, owner_id: str) -> list[Visit]:
    """The visits of a dossier that still hold a place, soonest first."""
    return list(
        session.exec(
            select(Visit)
            .where(Visit.owner_id == owner_id, col(Visit.status).in_(list(ACTIVE)))
            .order_by(col(Visit.day), col(Visit.slot))
        ).all()
    )


def visits_of(session: Session, owner_id: str) -> list[Visit]:
    """Every visit of a dossier, newest booking first."""
    return list(session.exec(select(Visit).where(Visit.owner_id == owner_id).order_by(col(Visit.created_at).desc())))


def book(
    *,
    session: Session,
    settings: Settings,
    agency_code: str,
    account_id: str,
    owner_id: str,
    reference: str | None,
    purpose: VisitPurpose,
    day: date,
    slot: str,
    now: datetime | None = None,
) -> Visit:
    """Book a place in a slot: one active booking per dossier and purpose; Conflict when the slot is full."""
    now = now or utcnow()
    if day not in booking_window(local_date(now), settings.visits_booking_days):
        raise Invalid(
            N_("Visits can be booked from today up to {days} days ahead."), {"days": settings.visits_booking_days}
        )
    hours = hours_of(settings).of(agency_code)
    chosen: SlotTime | None = hours.slot_at(day, slot)
    if chosen is None:
        raise Invalid(N_("The centre is not open at this time. Choose one of the times offered."))
    if starts_at(day, chosen.start) <= now:
        raise Conflict(N_("This time has already passed. Choose a later time."))
    existing = session.exec(
        select(Visit).where(Visit.owner_id == owner_id, Visit.purpose == purpose, col(Visit.status).in_(list(ACTIVE)))
    ).first()
    if existing is not None:
        raise Conflict(N_("A visit is already booked for this dossier. Cancel it first to choose another time."))
    number = _next_number(session, agency_code, day)
    taken = _taken(session, agency_code, [day]).get((day, chosen.start), 0)
    if taken >= hours.counters:
        # The refusal still commits (the page says why): give the number back, under the lock just taken, so
        # the day's numbering keeps no gap.
        _give_back_number(session, agency_code, day)
        raise Conflict(N_("This time is fully booked. Choose another time."))
    visit = Visit(
        agency_code=agency_code,
        account_id=account_id,
        owner_id=owner_id,
        reference=reference,
        purpose=purpose,
        day=day,
        slot=chosen.start,
        queue_number=number,
        token=secrets.token_urlsafe(24),
        created_at=now,
    )
    session.add(visit)
    session.flush()
    return visit


def cancel(*, session: Session, visit: Visit, now: datetime | None = None) -> Visit:
    """The citizen cancels a booking before its slot starts (a cancelled one stays cancelled)."""
    now = now or utcnow()
    if visit.status == VisitStatus.CANCELLED:
        return visit
    if visit.status not in (VisitStatus.BOOKED, VisitStatus.CHECKED_IN):
        raise Conflict(N_("This visit can no longer be cancelled."))
    if starts_at(visit.day, visit.slot) <= now:
        raise Conflict(N_("The time of this visit has come: it can no longer be cancelled."))
    visit.status = VisitStatus.CANCELLED
    visit.cancelled_at = now
    session.add(visit)
    session.flush()
    return visit


def cancel_open(*, session: Session, owner_id: str, now: datetime | None = None) -> list[Visit]:
    """The dossier no longer needs a visit (it closed another way): each booked or checked-in visit is cancelled,
    whatever its time (a visitor already called to a counter is left to the counter). A counter calling the
    same visitor at the same moment wins or loses as a whole (conditional update); returns those cancelled."""
    now = now or utcnow()
    out = []
    for visit in active_visits(session, owner_id):
        if visit.status not in (VisitStatus.BOOKED, VisitStatus.CHECKED_IN):
            continue
        taken = session.execute(
            update(Visit)
            .where(col(Visit.id) == visit.id, col(Visit.status) == visit.status)
            .values(status=VisitStatus.CANCELLED, cancelled_at=now)
            .execution_options(synchronize_session=False)
        )
        session.refresh(visit)
        if getattr(taken, "rowcount", 0) == 1:
            out.append(visit)
    return out


def visit_by_token(session: Session, token: str) -> Visit:
    """The visit of a ticket's QR code; NotFound for a token no ticket carries."""
    token = token.strip()
    visit = session.exec(select(Visit).where(Visit.token == token)).first() if 0 < len(token) <= 64 else None
    if visit is None:
        raise NotFound(N_("This ticket code is not known. Scan the QR code on your ticket again."))
    return visit


def check_in(*, session: Session, token: str, now: datetime | None = None) -> Visit:
    """The visitor scans the ticket at the kiosk on the day of the visit: booked → checked in (a repeat is kept)."""
    now = now or utcnow()
    visit = visit_by_token(session, token)
    if visit.status == VisitStatus.CANCELLED:
        raise Conflict(N_("This booking was cancelled."))
    if visit.day != local_date(now):
        raise Conflict(
            N_("This ticket is for {date}. Come back on that day."), {"date": visit.day.strftime("%d/%m/%Y")}
        )
    if visit.status in (VisitStatus.CHECKED_IN, VisitStatus.CALLED):
        return visit
    if visit.status != VisitStatus.BOOKED:
        raise Conflict(N_("This ticket has already been used."))
    visit.status = VisitStatus.CHECKED_IN
    visit.checked_in_at = now
    session.add(visit)
    session.flush()
    return visit


def _current_slot(settings: Settings, agency_code: str, now: datetime) -> str | None:
    today, clock = local_date(now), local(now).strftime("%H:%M")
    for s in hours_of(settings).of(agency_code).slots_on(today):
        if s.start <= clock < s.end:
            return s.start
    return None


def call_next(
    *, session: Session, settings: Settings, agency_code: str, counter: str, now: datetime | None = None
) -> Visit | None:
    """Call the next visitor to `counter`: the earliest checked-in visit of the day (by slot, then number),
    else the first booked one of the current slot; None when nobody is waiting. Two counters calling at once
    never get the same visitor (the row is taken with a conditional update)."""
    now = now or utcnow()
    today = local_date(now)
    base = select(Visit).where(Visit.agency_code == agency_code, Visit.day == today)
    candidates = [
        base.where(Visit.status == VisitStatus.CHECKED_IN).order_by(col(Visit.slot), col(Visit.queue_number)),
    ]
    current = _current_slot(settings, agency_code, now)
    if current is not None:
        candidates.append(
            base.where(Visit.status == VisitStatus.BOOKED, Visit.slot == current).order_by(col(Visit.queue_number))
        )
    for query in candidates:
        for visit in session.exec(query.limit(20)).all():
            taken = session.execute(
                update(Visit)
                .where(col(Visit.id) == visit.id, col(Visit.status) == visit.status)
                .values(status=VisitStatus.CALLED, counter=counter, called_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(taken, "rowcount", 0) == 1:
                session.refresh(visit)
                return visit
    return None


def agency_visit(session: Session, visit_id: str, agency_code: str) -> Visit:
    """One visit of the agency; another agency's visit is NotFound, as a missing one."""
    visit = session.get(Visit, visit_id) if len(visit_id) <= 32 else None
    if visit is None or visit.agency_code != agency_code:
        raise NotFound(N_("There is no visit with this id for your agency."))
    return visit


def mark_served(*, session: Session, visit: Visit, now: datetime | None = None) -> Visit:
    """The visitor was served at the counter that called them (a repeat is kept)."""
    if visit.status == VisitStatus.SERVED:
        return visit
    if visit.status not in (VisitStatus.CALLED, VisitStatus.CHECKED_IN):
        raise Conflict(
            N_("A visit that is {status} cannot be marked served."), {"status": VisitStatus(visit.status).label}
        )
    visit.status = VisitStatus.SERVED
    visit.served_at = now or utcnow()
    session.add(visit)
    session.flush()
    return visit


def mark_missed(*, session: Session, visit: Visit) -> Visit:
    """The visitor did not come when called, or not at all (a repeat is kept)."""
    if visit.status == VisitStatus.MISSED:
        return visit
    if visit.status not in ACTIVE:
        raise Conflict(
            N_("A visit that is {status} cannot be marked missed."), {"status": VisitStatus(visit.status).label}
        )
    visit.status = VisitStatus.MISSED
    session.add(visit)
    session.flush()
    return visit


def day_visits(session: Session, agency_code: str, day: date) -> list[Visit]:
    """An agency's visits of a day, by slot and number."""
    return list(
        session.exec(
            select(Visit)
            .where(Visit.agency_code == agency_code, Visit.day == day)
            .order_by(col(Visit.slot), col(Visit.queue_number))
        ).all()
    )


@dataclass(frozen=True)
class Serving:
    """A number on the kiosk's board, with the counter it is called to (None: waiting)."""

    number: str
    agency_code: str
    counter: str | None
    slot: str


def now_serving(session: Session, *, day: date, agency_code: str | None = None) -> list[Serving]:
    """The number each counter called last today and has not closed yet, latest call first."""
    query = select(Visit).where(Visit.day == day, Visit.status == VisitStatus.CALLED)
    if agency_code:
        query = query.where(Visit.agency_code == agency_code)
    seen: set[tuple[str, str | None]] = set()
    out = []
    for v in session.exec(query.order_by(col(Visit.called_at).desc())).all():
        key = (v.agency_code, v.counter)
        if key in seen:
            continue
        seen.add(key)
        out.append(Serving(queue_label(v.agency_code, v.queue_number), v.agency_code, v.counter, v.slot))
    return out


def next_numbers(session: Session, *, day: date, agency_code: str | None = None, limit: int = 10) -> list[Serving]:
    """The checked-in numbers waiting to be called today, in the order they will be called."""
    query = select(Visit).where(Visit.day == day, Visit.status == VisitStatus.CHECKED_IN)
    if agency_code:
        query = query.where(Visit.agency_code == agency_code)
    rows = session.exec(query.order_by(col(Visit.slot), col(Visit.queue_number)).limit(limit)).all()
    return [Serving(queue_label(v.agency_code, v.queue_number), v.agency_code, None, v.slot) for v in rows]
