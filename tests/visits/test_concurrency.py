"""Queue numbers and the last places of a slot when bookings race (SQLite here, PostgreSQL in CI), and two
counters calling at the same moment."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from sqlmodel import Session, col, select

from portal.kernel.db import writer
from portal.kernel.errors import Conflict
from portal.visits import service as visits
from portal.visits.models import Visit, VisitPurpose, VisitStatus
from tests import factories

pytestmark = pytest.mark.db

# Days of their own (the app's database is shared by the run), in the booking window of NOW.
NOW = datetime(2031, 6, 1, 1, 0, tzinfo=UTC)


def _account(app) -> str:
    with Session(writer(app.state.engine)) as s:
        row = factories.account(s)
        s.commit()
        return row.id


def _book(app, settings, account_id: str, agency: str, day: date, slot: str) -> int | None:
    with Session(writer(app.state.engine)) as s:
        try:
            visit = visits.book(
                session=s,
                settings=settings,
                agency_code=agency,
                account_id=account_id,
                owner_id=uuid4().hex,
                reference=None,
                purpose=VisitPurpose.COLLECT_RESULT,
                day=day,
                slot=slot,
                now=NOW,
            )
        except Conflict:
            s.rollback()
            return None
        number = visit.queue_number
        s.commit()
        return number


def test_queue_numbers_are_unique_and_gapless(app, settings) -> None:
    account_id = _account(app)
    day = date(2031, 6, 2)
    slots = [s.start for s in visits.day_slots(Session(app.state.engine), settings, "STP", day, now=NOW)]
    barrier = threading.Barrier(8)

    def take(i: int) -> list[int | None]:
        barrier.wait()
        return [_book(app, settings, account_id, "STP", day, slots[(i + k) % len(slots)]) for k in range(3)]

    with ThreadPoolExecutor(8) as pool:
        numbers = [n for batch in pool.map(take, range(8)) for n in batch]
    assert sorted(n for n in numbers if n is not None) == list(range(1, 25))


def test_the_last_places_of_a_slot_go_once(app, settings) -> None:
    account_id = _account(app)
    day = date(2031, 6, 9)
    barrier = threading.Barrier(6)

    def take(_: int) -> int | None:
        barrier.wait()
        return _book(app, settings, account_id, "UBXA", day, "08:00")

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(take, range(6)))
    won = sorted(n for n in results if n is not None)
    assert won == [1, 2], results  # UBXA serves visits at two counters
    with Session(app.state.engine) as s:
        rows = s.exec(select(Visit).where(Visit.agency_code == "UBXA", Visit.day == day)).all()
    assert len(rows) == 2


def test_two_counters_never_call_the_same_visitor(app, settings) -> None:
    account_id = _account(app)
    day = date(2031, 6, 13)
    for slot in ("07:30", "07:50", "08:10", "08:30"):  # the police counters take 20-minute slots
        _book(app, settings, account_id, "CAT", day, slot)
    now = datetime(2031, 6, 13, 0, 45, tzinfo=UTC)  # 07:45 local
    with Session(writer(app.state.engine)) as s:
        for v in s.exec(select(Visit).where(Visit.agency_code == "CAT", Visit.day == day)).all():
            visits.check_in(session=s, token=v.token, now=now)
        s.commit()
    barrier = threading.Barrier(6)

    def call(i: int) -> str | None:
        barrier.wait()
        with Session(writer(app.state.engine)) as s:
            called = visits.call_next(session=s, settings=settings, agency_code="CAT", counter=str(i), now=now)
            s.commit()
            return called.id if called else None

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(call, range(6)))
    called = [r for r in results if r is not None]
    assert len(called) == 4 and len(set(called)) == 4
    with Session(app.state.engine) as s:
        statuses = s.exec(select(col(Visit.status)).where(Visit.agency_code == "CAT", Visit.day == day)).all()
    assert set(statuses) == {VisitStatus.CALLED}
