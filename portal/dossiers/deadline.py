"""The deadline clock of a dossier (docs/DEADLINES.md): pauses while a supplement is awaited, the judgement
early / on time / late at completion, and the periodic job that marks dossiers past their official date.

Lateness is always measured against `official_due_date`, which only supplement pauses move; an apology's new
date (`due_date`) is a promise to the applicant, never a new deadline for the statistics.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.dossiers.models import Dossier, DossierPause, DossierStatus, SupplementRequest, Timeliness
from portal.dossiers.pushes import push
from portal.dossiers.recipients import tell
from portal.dossiers.service import add_event
from portal.kernel.calendar import add_working_days, local_date, working_days_between
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.outbox import WorkerContext, periodic
from portal.kernel.uow import unit_of_work

log = logging.getLogger("portal.dossiers")

# How often each worker looks for dossiers that became overdue (they become so at local midnight).
OVERDUE_EVERY_SECONDS = 300.0

# Where the clock runs: received and not ended, not waiting for the applicant (a paused clock is not late),
# and without a result yet (the result's date is what is judged); a result the centre is checking is not the
# applicant's yet: the clock keeps running (portal/dossiers/centre_check.py).
RUNNING = (DossierStatus.RECEIVED, DossierStatus.IN_PROCESS, DossierStatus.RESULT_CHECK)


def pause(session: Session, dossier: Dossier, supplement: SupplementRequest, at: datetime) -> DossierPause:
    """Stop the clock while `supplement` is awaited (one open pause per dossier: an open one is returned)."""
    current = open_pause(session, dossier)
    if current is not None:
        return current
    row = DossierPause(dossier_id=dossier.id, supplement_id=supplement.id, started_at=at)
    session.add(row)
    session.flush()
    return row


def open_pause(session: Session, dossier: Dossier) -> DossierPause | None:
    return session.exec(
        select(DossierPause)
        .where(DossierPause.dossier_id == dossier.id, col(DossierPause.ended_at).is_(None))
        .order_by(col(DossierPause.id).desc())
    ).first()


def paused_working_days(started_at: datetime, ended_at: datetime) -> int:
    """The working days a pause took from the clock: those in (local start date, local end date]."""
    return max(working_days_between(local_date(as_utc(started_at)), local_date(as_utc(ended_at))), 0)


def _shift(day: date | None, days: int) -> date | None:
    return add_working_days(day, days) if day is not None and days > 0 else day


def resume(session: Session, dossier: Dossier, at: datetime) -> int:
    """Start the clock again: the open pause ends at `at`, and the official and promised dates move by the
    working days it lasted (returned; 0 when no pause was open)."""
    current = open_pause(session, dossier)
    if current is None:
        return 0
    current.ended_at = at
    session.add(current)
    days = paused_working_days(current.started_at, at)
    dossier.official_due_date = _shift(dossier.official_due_date, days)
    dossier.due_date = _shift(dossier.due_date, days)
    session.add(dossier)
    session.flush()
    return days


def judge(dossier: Dossier) -> Timeliness:
    """Early, on time or late: the local date the result was ready against the official appointment date."""
    official = dossier.official_due_date or dossier.due_date
    ready = dossier.result_ready_at or dossier.completed_at or utcnow()
    if official is None:
        return Timeliness.ON_TIME
    day = local_date(as_utc(ready))
    if day < official:
        return Timeliness.EARLY
    if day == official:
        return Timeliness.ON_TIME
    return Timeliness.LATE


def _not_a_parent() -> ColumnElement[bool]:
    """The parent of a linked application runs no clock of its own: it is late when a child is."""
    return or_(col(Dossier.linked_role).is_(None), col(Dossier.linked_role) != "parent")


def overdue_ids(session: Session, today: date) -> list[str]:
    """Dossiers whose clock runs past their official date and that were not marked yet."""
    return list(
        session.exec(
            select(Dossier.id)
            .where(
                col(Dossier.status).in_(RUNNING),
                col(Dossier.official_due_date) < today,
                col(Dossier.overdue_at).is_(None),
                _not_a_parent(),
            )
            .order_by(col(Dossier.official_due_date), col(Dossier.id))
        )
    )


def mark_overdue_one(session: Session, dossier: Dossier, *, now: datetime) -> bool:
    """Mark one dossier overdue, once (a conditional UPDATE: concurrent workers mark it once); the timeline,
    the agency's push and the applicant's notification come with it. False when it was not (or no longer)
    overdue."""
    today = local_date(now)
    won = session.execute(
        update(Dossier)
        .where(
            col(Dossier.id) == dossier.id,
            col(Dossier.status).in_(RUNNING),
            col(Dossier.official_due_date) < today,
            col(Dossier.overdue_at).is_(None),
            _not_a_parent(),
        )
        .values(overdue_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(dossier)
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if dossier.linked_role == "child" and dossier.parent_id is not None:
        # A late member makes its linked application late (the parent is shown overdue; its agencies are the
        # children's, each told of its own).
        session.execute(
            update(Dossier)
            .where(col(Dossier.id) == dossier.parent_id, col(Dossier.overdue_at).is_(None))
            .values(overdue_at=now)
            .execution_options(synchronize_session=False)
        )
    official = dossier.official_due_date
    add_event(session, dossier, "overdue", actor="system", due=official.isoformat() if official else None)
    push(session, dossier, "dossier.overdue")
    tell(
        session,
        dossier,
        kind="dossier.overdue",
        dedupe_key=f"dossier.overdue:{dossier.id}",
        params={"code": dossier.code or "", "due": official.strftime("%d/%m/%Y") if official else ""},
    )
    session.flush()
    return True


def sweep_overdue(session: Session, *, now: datetime | None = None) -> list[Dossier]:
    """Mark every dossier that became overdue, in the caller's transaction (the job does one per transaction)."""
    now = now or utcnow()
    marked = []
    for dossier_id in overdue_ids(session, local_date(now)):
        dossier = session.get(Dossier, dossier_id)
        if dossier is not None and mark_overdue_one(session, dossier, now=now):
            marked.append(dossier)
    return marked


@periodic("dossiers.overdue", lambda settings: OVERDUE_EVERY_SECONDS)
def mark_overdue(engine: Engine, ctx: WorkerContext) -> None:
    """The periodic job: each dossier marked in a transaction of its own (idempotent: every worker runs it)."""
    now = utcnow()
    with unit_of_work(engine) as session:
        ids = overdue_ids(session, local_date(now))
    for dossier_id in ids:
        with unit_of_work(engine, write=True, settings=ctx.settings) as session:
            dossier = session.get(Dossier, dossier_id)
            if dossier is not None and mark_overdue_one(session, dossier, now=now):
                log.info("dossier %s marked overdue", dossier.code)
