"""The operator's daily cash-on-delivery statement: by local (Vietnam) day, and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from postal import service
from postal.cod import CSV_HEADER, daily_statement, day_bounds, statement_csv
from postal.models import ParcelStatus, PostalOrder
from tests.postal import postal_factories as pf

pytestmark = pytest.mark.db

# A day long enough ago that no other test delivers on it.
DAY = date(2026, 3, 9)


def deliver(session: Session, settings: Settings, storage: LocalStorage, at: datetime, cod: int) -> PostalOrder:
    order = pf.claimed(session, settings, cod_amount=cod, age=timedelta(days=400))
    service.record_event(
        session=session,
        settings=settings,
        storage=storage,
        operator=order.operator,
        order=order,
        report=pf.report(ParcelStatus.DELIVERED, at=at, cod_collected=cod or None),
        proof=pf.proof(at=at),
    )
    return order


def test_day_bounds_are_local() -> None:
    start, end = day_bounds(DAY)
    assert start == datetime(2026, 3, 8, 17, 0, tzinfo=UTC)
    assert end - start == timedelta(days=1)


def test_statement_of_a_local_day(session: Session, settings: Settings, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    start, end = day_bounds(DAY)
    early = deliver(session, settings, storage, start + timedelta(minutes=1), 135000)  # 00:01 in Vietnam
    late = deliver(session, settings, storage, end - timedelta(minutes=1), 50000)  # 23:59 in Vietnam
    deliver(session, settings, storage, start - timedelta(minutes=1), 70000)  # the day before
    deliver(session, settings, storage, end, 80000)  # the day after
    deliver(session, settings, storage, start + timedelta(hours=5), 0)  # not COD
    statement = daily_statement(session, operator="vnpost", day=DAY)
    assert [line.number for line in statement.lines] == [early.number, late.number]
    assert statement.total == 185000
    assert statement.lines[0].tracking_number == early.tracking_number
    assert statement.lines[0].reference == early.reference
    assert daily_statement(session, operator="another", day=DAY).lines == []

    rows = list(csv.reader(io.StringIO(statement_csv(statement))))
    assert tuple(rows[0]) == CSV_HEADER
    assert rows[1] == [early.number, early.tracking_number, early.reference, "2026-03-09T00:01:00+07:00", "135000"]
    assert rows[2][3] == "2026-03-09T23:59:00+07:00"
    assert rows[-1] == ["total", "", "", "", "185000"]


def test_empty_statement_csv(session: Session) -> None:
    statement = daily_statement(session, operator="vnpost", day=date(2020, 1, 1))
    assert statement.total == 0
    assert statement_csv(statement) == "number,tracking_number,reference,delivered_at,amount\r\ntotal,,,,0\r\n"
