"""Visits: free slots over the booking window, booking (one per dossier and purpose, capacity, numbering),
cancelling, checking in on the day, calling the next visitor and closing the call; what the kiosk shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlmodel import Session

from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.settings import Settings
from portal.visits import service as visits
from portal.visits.models import Visit, VisitPurpose, VisitStatus
from tests import factories

# Friday 29/05/2026, 10:00 in Vietnam (UTC+7).
NOW = datetime(2026, 5, 29, 3, 0, tzinfo=UTC)
TODAY = date(2026, 5, 29)
MONDAY = date(2026, 6, 1)
SATURDAY = date(2026, 5, 30)


def at(day: date, hhmm: str) -> datetime:
    """The UTC instant of a local time."""
    h, m = hhmm.split(":")
    return datetime(day.year, day.month, day.day, int(h), int(m), tzinfo=UTC) - timedelta(hours=7)


def booking(
    session: Session, settings: Settings, *, agency: str = "UBXA", day: date = MONDAY, slot: str = "08:00", **over: Any
) -> Visit:
    person = over.pop("account", None) or factories.account(session)
    values: dict[str, Any] = {
        "session": session,
        "settings": settings,
        "agency_code": agency,
        "account_id": person.id,
        "owner_id": uuid4().hex,
        "reference": "UBXA-260529-0001",
        "purpose": VisitPurpose.COLLECT_RESULT,
        "day": day,
        "slot": slot,
        "now": NOW,
    }
    values.update(over)
    return visits.book(**values)


def test_the_window_lists_open_days_and_future_slots(session: Session, settings: Settings) -> None:
    days = visits.available_days(session, settings, "STP", now=NOW)
    listed = [d.day for d in days]
    assert listed[0] == TODAY and listed[-1] <= TODAY + timedelta(days=settings.visits_booking_days)
    assert SATURDAY in listed and date(2026, 5, 31) not in listed  # Saturday morning open, Sunday closed
    today = days[0].slots
    assert today[0].start == "10:30"  # 10:00 has started: only later slots of today
    assert all(s.capacity == 3 and s.free == 3 for s in today)
    ward = [d.day for d in visits.available_days(session, settings, "UBXA", now=NOW)]
    assert SATURDAY not in ward


def test_booking_numbers_each_agency_day_and_fills_slots(session: Session, settings: Settings) -> None:
    first = booking(session, settings)
    second = booking(session, settings, slot="09:00")
    assert (first.queue_number, second.queue_number) == (1, 2)
    assert visits.queue_label("UBXA", first.queue_number) == "UBXA-001"
    assert first.status == VisitStatus.BOOKED and len(first.token) >= 32 and first.token != second.token
    other_day = booking(session, settings, day=date(2026, 6, 2))
    other_agency = booking(session, settings, agency="STP")
    assert other_day.queue_number == 1 and other_agency.queue_number == 1

    booking(session, settings)  # UBXA has two counters: 08:00 is now full
    free = {s.start: s.free for s in visits.day_slots(session, settings, "UBXA", MONDAY, now=NOW)}
    assert "08:00" not in free and free["09:00"] == 1 and free["07:30"] == 2
    with pytest.raises(Conflict) as full:
        booking(session, settings)
    assert "fully booked" in full.value.msgid
    # The refusal gave its number back: the next booking of the day takes the one after the last given.
    assert booking(session, settings, slot="09:00").queue_number == 4


def test_one_active_booking_per_dossier_and_purpose(session: Session, settings: Settings) -> None:
    owner = uuid4().hex
    booking(session, settings, owner_id=owner)
    with pytest.raises(Conflict):
        booking(session, settings, owner_id=owner, slot="10:00")
    # Another purpose of the same dossier is its own booking.
    assert booking(session, settings, owner_id=owner, purpose=VisitPurpose.IN_PERSON).purpose == "in_person"


def test_refusals(session: Session, settings: Settings) -> None:
    with pytest.raises(Invalid):
        booking(session, settings, slot="12:00")  # lunch
    with pytest.raises(Invalid):
        booking(session, settings, day=date(2026, 5, 31))  # Sunday
    with pytest.raises(Invalid):
        booking(session, settings, day=TODAY + timedelta(days=settings.visits_booking_days + 1))
    with pytest.raises(Invalid):
        booking(session, settings, day=TODAY - timedelta(days=1))
    with pytest.raises(Conflict):
        booking(session, settings, day=TODAY, slot="09:30")  # already started
    assert booking(session, settings, day=TODAY, slot="10:30").queue_number == 1  # no number was used up


def test_cancel_before_the_slot_frees_the_place(session: Session, settings: Settings) -> None:
    a = booking(session, settings)
    booking(session, settings)
    visits.cancel(session=session, visit=a, now=NOW)
    assert a.status == VisitStatus.CANCELLED and a.cancelled_at == NOW
    assert visits.cancel(session=session, visit=a, now=NOW) is a  # a repeat is kept
    assert {s.start: s.free for s in visits.day_slots(session, settings, "UBXA", MONDAY, now=NOW)}["08:00"] == 1
    late = booking(session, settings, slot="09:00")
    with pytest.raises(Conflict):
        visits.cancel(session=session, visit=late, now=at(MONDAY, "09:00"))


def test_check_in_on_the_day_only(session: Session, settings: Settings) -> None:
    v = booking(session, settings)
    with pytest.raises(Conflict) as early:
        visits.check_in(session=session, token=v.token, now=NOW)
    assert early.value.params == {"date": "01/06/2026"}
    on_the_day = at(MONDAY, "07:40")
    assert visits.check_in(session=session, token=v.token, now=on_the_day).status == VisitStatus.CHECKED_IN
    assert v.checked_in_at == on_the_day
    assert visits.check_in(session=session, token=f"  {v.token} ", now=on_the_day) is v  # a second scan
    with pytest.raises(NotFound):
        visits.check_in(session=session, token="not-a-ticket", now=on_the_day)
    with pytest.raises(NotFound):
        visits.check_in(session=session, token="x" * 300, now=on_the_day)
    gone = booking(session, settings, slot="10:00")
    visits.cancel(session=session, visit=gone, now=NOW)
    with pytest.raises(Conflict):
        visits.check_in(session=session, token=gone.token, now=on_the_day)


def test_call_next_takes_checked_in_first_then_the_current_slot(session: Session, settings: Settings) -> None:
    early = booking(session, settings, slot="07:30")
    later = booking(session, settings, slot="09:00")
    current = booking(session, settings, slot="08:00")
    current2 = booking(session, settings, slot="08:00")
    now = at(MONDAY, "08:05")
    visits.check_in(session=session, token=later.token, now=now)
    visits.check_in(session=session, token=early.token, now=now)

    called = visits.call_next(session=session, settings=settings, agency_code="UBXA", counter="1", now=now)
    assert called is early
    assert early.status == VisitStatus.CALLED and early.counter == "1" and early.called_at == now
    assert visits.call_next(session=session, settings=settings, agency_code="UBXA", counter="2", now=now) is later
    # Nobody checked in any more: the booked visitors of the current slot (08:00), by number.
    now = at(MONDAY, "08:10")
    assert visits.call_next(session=session, settings=settings, agency_code="UBXA", counter="1", now=now) is current
    now = at(MONDAY, "08:15")
    assert visits.call_next(session=session, settings=settings, agency_code="UBXA", counter="1", now=now) is current2
    assert visits.call_next(session=session, settings=settings, agency_code="UBXA", counter="1", now=now) is None
    assert visits.call_next(session=session, settings=settings, agency_code="STP", counter="1", now=now) is None

    serving = visits.now_serving(session, day=MONDAY, agency_code="UBXA")
    assert [(s.number, s.counter) for s in serving] == [("UBXA-004", "1"), ("UBXA-002", "2")]  # last call per counter

    visits.mark_served(session=session, visit=early, now=now)
    assert early.status == VisitStatus.SERVED and early.served_at == now
    assert visits.mark_served(session=session, visit=early) is early
    visits.mark_missed(session=session, visit=current)
    assert current.status == VisitStatus.MISSED
    with pytest.raises(Conflict):
        visits.mark_served(session=session, visit=current)
    with pytest.raises(Conflict):
        visits.mark_missed(session=session, visit=early)


def test_next_numbers_are_the_checked_in_ones_in_calling_order(session: Session, settings: Settings) -> None:
    a = booking(session, settings, agency="STP", slot="09:00")
    b = booking(session, settings, agency="STP", slot="08:00")
    booking(session, settings, agency="STP", slot="08:00")  # booked, not here yet
    now = at(MONDAY, "07:45")
    visits.check_in(session=session, token=a.token, now=now)
    visits.check_in(session=session, token=b.token, now=now)
    assert [w.number for w in visits.next_numbers(session, day=MONDAY, agency_code="STP")] == ["STP-002", "STP-001"]
    assert visits.now_serving(session, day=MONDAY, agency_code="STP") == []


def test_agency_visit_hides_other_agencies(session: Session, settings: Settings) -> None:
    v = booking(session, settings)
    assert visits.agency_visit(session, v.id, "UBXA") is v
    for code, visit_id in (("STP", v.id), ("UBXA", "nope"), ("UBXA", "x" * 100)):
        with pytest.raises(NotFound):
            visits.agency_visit(session, visit_id, code)
    assert [x.id for x in visits.day_visits(session, "UBXA", MONDAY)] == [v.id]
    assert isinstance(session.get(Visit, v.id), Visit)
