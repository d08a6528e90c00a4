"""The daily roll-up: built days give the hand count of tests/stats/dataset.py; a change to a built day's data
makes it counted live again until it is rebuilt; today and yesterday are never rolled up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from portal.dossiers.models import Dossier, SupplementRequest
from portal.stats import query as stats
from portal.stats import rollup
from portal.stats.figures import StatsQuery
from portal.stats.models import StatsDay, StatsDayState
from tests import factories
from tests.stats.dataset import EXPECTED, EXPECTED_MONTHLY, PERIOD_FROM, PERIOD_TO, Dataset

pytestmark = pytest.mark.db

DAYS = [PERIOD_FROM - timedelta(days=3) + timedelta(days=i) for i in range((PERIOD_TO - PERIOD_FROM).days + 7)]


def period(**filters: str) -> StatsQuery:
    return StatsQuery(date_from=PERIOD_FROM, date_to=PERIOD_TO, **filters)


def build_all(session: Session) -> None:
    for day in DAYS:
        rollup.build_day(session, day)


def test_the_built_days_give_the_hand_count(session: Session, data: Dataset) -> None:
    live = stats.compute(session, period(field=data.field))
    live_a = stats.compute(session, period(agency=data.agency_a)).figures
    live_b = stats.compute(session, period(procedure=data.procedure_b)).figures
    build_all(session)
    in_period = {d for d in DAYS if PERIOD_FROM <= d <= PERIOD_TO}
    assert rollup.built_days(session, PERIOD_FROM, PERIOD_TO) == in_period
    rows = session.exec(select(StatsDay).where(col(StatsDay.agency_code).in_([data.agency_a, data.agency_b]))).all()
    assert sum(r.received for r in rows if PERIOD_FROM <= r.day <= PERIOD_TO) == EXPECTED.received

    rolled = stats.compute(session, period(field=data.field))
    assert rolled.figures == EXPECTED == live.figures
    assert rolled.monthly == EXPECTED_MONTHLY
    assert (rolled.agencies, rolled.procedures) == (live.agencies, live.procedures)
    assert stats.compute(session, period(agency=data.agency_a)).figures == live_a
    assert stats.compute(session, period(procedure=data.procedure_b)).figures == live_b


def test_a_built_day_is_read_from_the_rollup(session: Session, data: Dataset) -> None:
    build_all(session)
    # An update behind the ORM's back (no day is marked): the built days still give the rolled-up counts.
    session.execute(
        update(Dossier).where(col(Dossier.agency_code).in_([data.agency_a, data.agency_b])).values(channel="counter")
    )
    assert stats.compute(session, period(field=data.field)).figures.received_counter == EXPECTED.received_counter
    for day in DAYS:
        rollup.build_day(session, day)
    assert stats.compute(session, period(field=data.field)).figures.received_counter == EXPECTED.received


def test_a_change_to_a_built_day_is_counted_live_until_rebuilt(session: Session, data: Dataset) -> None:
    build_all(session)
    asked = set(session.exec(select(SupplementRequest.dossier_id)).all())
    dossier = next(
        row
        for row in data.rows
        if isinstance(row, Dossier)
        and row.received_at is not None
        and PERIOD_FROM < row.received_at.date() < PERIOD_TO
        and row.id not in asked
    )
    session.add(SupplementRequest(dossier_id=dossier.id, requested_by="Cán bộ", message="Thiếu bản sao CCCD"))
    session.flush()  # marks the day the dossier was received
    assert rollup.built_days(session, PERIOD_FROM, PERIOD_TO) != {d for d in DAYS if PERIOD_FROM <= d <= PERIOD_TO}
    live = stats.compute(session, period(field=data.field)).figures
    assert live.supplement_requested == EXPECTED.supplement_requested + 1
    build_all(session)
    assert rollup.built_days(session, PERIOD_FROM, PERIOD_TO) == {d for d in DAYS if PERIOD_FROM <= d <= PERIOD_TO}
    assert stats.compute(session, period(field=data.field)).figures == live


def test_a_day_marked_during_its_build_stays_live(session: Session, data: Dataset) -> None:
    day = DAYS[10]
    rollup.build_day(session, day)
    assert day in rollup.built_days(session, day, day)
    rollup.mark(session.connection(), [day])  # a change committed while the worker counted
    state = session.get(StatsDayState, day)
    assert state is not None
    session.refresh(state)
    assert state.built is not None and state.built < state.changes
    assert day not in rollup.built_days(session, day, day)


def test_today_and_yesterday_are_never_rolled_up(session: Session) -> None:
    today = date(2099, 5, 20)
    factories.dossier(session, submitted=True, received_at=datetime(2099, 5, 12, 3, tzinfo=UTC))
    due = rollup.days_to_build(session, today, limit=10**6)
    assert due[-1] == today - timedelta(days=2) and date(2099, 5, 12) in due
    for day in (date(2099, 5, 12) + timedelta(days=i) for i in range(7)):
        rollup.build_day(session, day)
    assert all(day < date(2099, 5, 12) for day in rollup.days_to_build(session, today, limit=10**6))
    assert rollup.built_days(session, date(2099, 5, 12), date(2099, 5, 18)) == {
        date(2099, 5, 12) + timedelta(days=i) for i in range(7)
    }
    assert not rollup.built_days(session, today - timedelta(days=1), today)
    rollup.mark(session.connection(), [today, today - timedelta(days=1)], today=today)
    assert session.get(StatsDayState, today) is None and session.get(StatsDayState, today - timedelta(days=1)) is None
