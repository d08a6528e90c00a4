"""The deadline clock (portal/dossiers/deadline.py): pauses in working days, the judgement at completion,
and the job that marks overdue dossiers."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.dossiers import deadline
from portal.dossiers.models import Dossier, DossierPause, DossierStatus, SupplementRequest, Timeliness
from portal.kernel import outbox
from portal.kernel.calendar import TZ, is_working_day
from portal.kernel.clock import utcnow
from portal.kernel.outbox import WorkerContext
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.kernel.uow import unit_of_work
from tests import factories
from tests import lifecycle_factories as lf
from tests.lifecycle_factories import BACKOFFICE

pytestmark = pytest.mark.db


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment in Vietnam's local time."""
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def paused(session: Session, dossier: Dossier, started: datetime) -> DossierPause:
    request = SupplementRequest(dossier_id=dossier.id, requested_by=BACKOFFICE, message="Bổ sung", items=[])
    session.add(request)
    session.flush()
    return deadline.pause(session, dossier, request, started)


# -- pauses


def test_a_pause_over_a_weekend_costs_one_working_day(session: Session) -> None:
    # Received Thu 2026-03-05, due Tue 2026-03-10; paused Fri afternoon, answered Monday morning.
    dossier = lf.received(session, official_due_date=date(2026, 3, 10), due_date=date(2026, 3, 10))
    pause = paused(session, dossier, at(date(2026, 3, 6), 15))

    days = deadline.resume(session, dossier, at(date(2026, 3, 9), 8, 30))

    assert days == 1  # Saturday and Sunday do not count; Monday does
    assert (dossier.official_due_date, dossier.due_date) == (date(2026, 3, 11), date(2026, 3, 11))
    session.refresh(pause)
    assert pause.ended_at is not None and deadline.open_pause(session, dossier) is None


def test_a_pause_over_tet_skips_the_holidays(session: Session) -> None:
    # Tết 2026: Sat 14 Feb to Sun 22 Feb off. Paused Fri 13 Feb, answered Tue 24 Feb: only Mon 23 and Tue 24
    # were working days of the pause, so a date due Mon 23 Feb moves to Wed 25 Feb.
    assert not any(is_working_day(date(2026, 2, d)) for d in range(14, 23))
    dossier = lf.received(session, official_due_date=date(2026, 2, 23), due_date=date(2026, 2, 23))
    paused(session, dossier, at(date(2026, 2, 13), 10))

    assert deadline.resume(session, dossier, at(date(2026, 2, 24), 9)) == 2
    assert dossier.official_due_date == date(2026, 2, 25)


def test_a_pause_is_counted_in_local_dates(session: Session) -> None:
    # 01:00 on Friday in Hanoi is still Thursday in UTC: paused and answered the same local day costs nothing.
    dossier = lf.received(session, official_due_date=date(2026, 3, 10), due_date=date(2026, 3, 10))
    paused(session, dossier, at(date(2026, 3, 6), 1))

    assert deadline.resume(session, dossier, at(date(2026, 3, 6), 16)) == 0
    assert dossier.official_due_date == date(2026, 3, 10)


def test_an_apology_date_moves_with_the_pause_and_the_official_one_too(session: Session) -> None:
    dossier = lf.received(session, official_due_date=date(2026, 3, 10), due_date=date(2026, 3, 16))
    paused(session, dossier, at(date(2026, 3, 11), 9))

    assert deadline.resume(session, dossier, at(date(2026, 3, 13), 9)) == 2  # Thu 12, Fri 13
    assert (dossier.official_due_date, dossier.due_date) == (date(2026, 3, 12), date(2026, 3, 18))


def test_one_open_pause_at_a_time_and_resume_without_one(session: Session) -> None:
    dossier = lf.received(session, official_due_date=date(2026, 3, 10), due_date=date(2026, 3, 10))
    first = paused(session, dossier, at(date(2026, 3, 2), 9))
    assert paused(session, dossier, at(date(2026, 3, 3), 9)).id == first.id
    assert deadline.resume(session, dossier, at(date(2026, 3, 3), 9)) == 1
    assert deadline.resume(session, dossier, at(date(2026, 3, 5), 9)) == 0  # none open: nothing moves
    assert dossier.official_due_date == date(2026, 3, 11)
    rows = session.exec(select(DossierPause).where(DossierPause.dossier_id == dossier.id)).all()
    assert len(rows) == 1


# -- judgement


@pytest.mark.parametrize(
    ("ready", "expected"),
    [
        (at(date(2026, 3, 9), 16), Timeliness.EARLY),
        (at(date(2026, 3, 10), 0, 5), Timeliness.ON_TIME),
        (at(date(2026, 3, 10), 23, 55), Timeliness.ON_TIME),
        (at(date(2026, 3, 11), 0, 5), Timeliness.LATE),
    ],
)
def test_judge_compares_the_local_date_of_the_result_with_the_official_date(
    ready: datetime, expected: Timeliness
) -> None:
    dossier = Dossier(
        procedure_code=factories.MARITAL,
        agency_code="UBXA",
        applicant_id="x",
        form_id="f",
        form_version=1,
        official_due_date=date(2026, 3, 10),
        due_date=date(2026, 3, 20),  # an apology's later promise changes nothing
        result_ready_at=ready,
    )
    assert deadline.judge(dossier) == expected


def test_judge_uses_the_result_date_not_the_completion(session: Session) -> None:
    dossier = Dossier(
        procedure_code=factories.MARITAL,
        agency_code="UBXA",
        applicant_id="x",
        form_id="f",
        form_version=1,
        official_due_date=date(2026, 3, 10),
        result_ready_at=at(date(2026, 3, 10), 10),
        completed_at=at(date(2026, 3, 20), 10),  # picked up late by the applicant: still on time
    )
    assert deadline.judge(dossier) == Timeliness.ON_TIME


# -- overdue


def test_sweep_marks_running_dossiers_past_their_official_date_once(session: Session) -> None:
    late = lf.received(session, official_due_date=lf.local_day_offset(-1), due_date=lf.local_day_offset(-1))
    apologised = lf.received(  # the promise moved, the official date did not: overdue
        session,
        status=DossierStatus.IN_PROCESS,
        official_due_date=lf.local_day_offset(-2),
        due_date=lf.local_day_offset(5),
    )
    today = lf.received(session, official_due_date=lf.local_day_offset(0))
    waiting = lf.received(session, status=DossierStatus.SUPPLEMENT_REQUESTED, official_due_date=lf.local_day_offset(-4))
    with_result = lf.received(session, status=DossierStatus.RESULT_READY, official_due_date=lf.local_day_offset(-4))
    ended = lf.received(session, status=DossierStatus.REJECTED, official_due_date=lf.local_day_offset(-4))

    marked = deadline.sweep_overdue(session)

    assert {d.id for d in marked} >= {late.id, apologised.id}
    assert not {d.id for d in marked} & {today.id, waiting.id, with_result.id, ended.id}
    for dossier in (late, apologised):
        assert dossier.overdue_at is not None
        assert lf.kinds(session, dossier) == ["overdue"]
        [(kind, data)] = lf.pushes(session, dossier)
        assert dossier.official_due_date is not None
        assert (kind, data["official_due_date"]) == ("dossier.overdue", dossier.official_due_date.isoformat())
        assert lf.notification_kinds(session, dossier) == ["dossier.overdue"]
    for dossier in (today, waiting, with_result, ended):
        assert dossier.overdue_at is None and lf.kinds(session, dossier) == []

    again = deadline.sweep_overdue(session)
    assert not {d.id for d in again} & {late.id, apologised.id}
    assert lf.kinds(session, late) == ["overdue"]


def test_the_overdue_job_is_registered() -> None:
    assert "dossiers.overdue" in outbox.registry.jobs()
    every, job = outbox.registry.jobs()["dossiers.overdue"]
    assert job is deadline.mark_overdue and every(Settings(_env_file=None)) > 0  # type: ignore[call-arg]


def test_the_overdue_job_marks_in_its_own_transactions(engine: Engine, settings: Settings) -> None:
    """The job as the worker runs it (committed for real: the dossier is made late far in the past)."""
    with unit_of_work(engine, write=True, settings=settings) as session:
        dossier = lf.received(session, official_due_date=date(2020, 1, 6), due_date=date(2020, 1, 6))
        dossier_id = dossier.id
    ctx = WorkerContext(settings=settings, storage=LocalStorage(settings.storage_dir))

    deadline.mark_overdue(engine, ctx)
    deadline.mark_overdue(engine, ctx)  # every worker runs it: once is all that counts

    with unit_of_work(engine) as session:
        stored = session.get(Dossier, dossier_id)
        assert stored is not None and stored.overdue_at is not None
        assert lf.kinds(session, stored) == ["overdue"]
        assert lf.push_types(session, stored) == ["dossier.overdue"]
        assert abs(stored.overdue_at - utcnow()) < timedelta(minutes=5)
        remaining = session.exec(
            select(Dossier.id).where(col(Dossier.id) == dossier_id, col(Dossier.overdue_at).is_(None))
        ).all()
        assert remaining == []
