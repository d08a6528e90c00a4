"""Writers racing on PostgreSQL: two claims of one order (one wins), one event twice, numbers never collide.

These commit for real (each thread has its own connection), so they use orders of their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.kernel.errors import Conflict
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from postal import service
from postal.models import ParcelStatus, PostalEvent, PostalOrder
from postal.numbers import next_order_number
from tests.postal import postal_factories as pf

pytestmark = pytest.mark.db

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _postgres_only(settings: Settings) -> None:
    if settings.is_sqlite:
        pytest.skip("races need PostgreSQL's row locks (PORTAL_TEST_DATABASE_URL)")


def committed_order(engine: Engine, settings: Settings, *, claim: bool = False) -> str:
    with Session(engine) as session:
        order = pf.claimed(session, settings) if claim else pf.order(session, settings)
        session.commit()
        return order.id


def race(engine: Engine, n: int, work: Callable[[Session], T]) -> list[T | Exception]:
    """Run `work` in n threads at once, each in its own committed transaction; results or errors."""
    barrier = threading.Barrier(n)

    def one(_: int) -> T | Exception:
        with Session(engine) as session:
            try:
                session.connection()  # begin before the barrier: the race is between open transactions
                barrier.wait()
                result = work(session)
                session.commit()
                return result
            except Exception as exc:  # the race's loser is the point
                session.rollback()
                return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.parametrize("tracking", [None, "own"])
def test_two_claims_one_wins(engine: Engine, settings: Settings, tracking: str | None) -> None:
    order_id = committed_order(engine, settings)

    def claim(session: Session) -> str:
        order = session.get(PostalOrder, order_id)
        assert order is not None
        number = None if tracking is None else f"EB{threading.get_ident() % 10**9:09d}VN"
        service.claim(session=session, order=order, operator=order.operator, tracking_number=number)
        return str(order.tracking_number)

    results = race(engine, 2, claim)
    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], Conflict), results
    with Session(engine) as session:
        order = session.get(PostalOrder, order_id)
        assert order is not None and order.status == ParcelStatus.CLAIMED and order.tracking_number == won[0]
        assert [e.status for e in service.events_of(session, order_id)].count(ParcelStatus.CLAIMED) == 1


def test_one_event_sent_twice_at_once(engine: Engine, settings: Settings, tmp_path: object) -> None:
    order_id = committed_order(engine, settings, claim=True)
    report = pf.report(ParcelStatus.PICKED_UP, event_id=f"race-{order_id}")
    storage = LocalStorage(tmp_path)  # type: ignore[arg-type]

    def send(session: Session) -> bool:
        order = session.get(PostalOrder, order_id)
        assert order is not None
        recorded = service.record_event(
            session=session, settings=settings, storage=storage, operator=order.operator, order=order, report=report
        )
        return recorded.replayed

    assert sorted(race(engine, 2, send)) == [False, True]  # type: ignore[type-var]
    with Session(engine) as session:
        events = [e for e in service.events_of(session, order_id) if isinstance(e, PostalEvent)]
        assert [e.event_id for e in events].count(report.event_id) == 1


def test_numbers_never_collide(engine: Engine) -> None:
    results = race(engine, 6, next_order_number)
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 6
