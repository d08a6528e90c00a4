"""The feedback figures of the statistics: items received in the period and, of those, answered on time (the
local date of the answer on or before `due_on`), for the agency, field and procedure filters. Counted from the
feedback table itself (a few thousand rows a year: no roll-up needed). docs/FEEDBACK.md, docs/STATISTICS.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import and_, func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from portal.catalog.models import Procedure
from portal.feedback.models import Feedback, FeedbackStatus
from portal.kernel.calendar import TZ
from portal.stats.figures import StatsQuery
from portal.stats.localtime import LocalDay


@dataclass(frozen=True, slots=True)
class FeedbackCounts:
    received: int
    answered_on_time: int

    @property
    def on_time_percent(self) -> float | None:
        return round(self.answered_on_time * 100 / self.received, 2) if self.received else None


def _scope(query: StatsQuery) -> list[ColumnElement[bool]]:
    start = datetime.combine(query.date_from, time(0), tzinfo=TZ)
    end = datetime.combine(query.date_to + timedelta(days=1), time(0), tzinfo=TZ)
    conditions: list[ColumnElement[bool]] = [col(Feedback.filed_at) >= start, col(Feedback.filed_at) < end]
    if query.agency:
        conditions.append(col(Feedback.agency_code) == query.agency)
    if query.procedure:
        conditions.append(col(Feedback.procedure_code) == query.procedure)
    if query.field:
        in_field = select(Procedure.code).where(Procedure.field_vi == query.field)
        conditions.append(col(Feedback.procedure_code).in_(in_field))
    return conditions


def counts(session: Session, query: StatsQuery) -> FeedbackCounts:
    """Items filed in the period (local days) within the filters, and those of them answered on time."""
    on_time = and_(
        col(Feedback.status) == FeedbackStatus.ANSWERED,
        LocalDay(col(Feedback.answered_at)) <= col(Feedback.due_on),
    )
    row = session.exec(
        select(func.count(), func.count().filter(on_time)).select_from(Feedback).where(*_scope(query))
    ).one()
    return FeedbackCounts(received=int(row[0] or 0), answered_on_time=int(row[1] or 0))
