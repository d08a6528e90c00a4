"""Clients racing to claim the same order over HTTP: exactly one wins (200), every other gets 409, and the order
keeps the winner's tracking number. Meant for PostgreSQL (`PORTAL_TEST_DATABASE_URL`), where the requests really
run at once; on SQLite writers take turns, and the outcome must be the same."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from postal.models import ParcelStatus, PostalEvent, PostalOrder
from tests.api.postal_helpers import committed_order, operator_headers, url

pytestmark = pytest.mark.db
CLAIMERS = 4


def _race(app, order: PostalOrder, bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    clients = [TestClient(app) for _ in bodies]
    headers = [operator_headers(c, app) for c in clients]  # each its own API client of the same operator
    barrier = threading.Barrier(len(bodies))

    def claim(i: int) -> tuple[int, dict[str, Any]]:
        barrier.wait()
        r = clients[i].post(url(order, "/claim"), json=bodies[i], headers=headers[i])
        assert r.headers["content-type"].startswith(("application/json", "application/problem+json")), r.text
        return r.status_code, r.json()

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(claim, range(len(bodies))))


@pytest.mark.parametrize("own_numbers", [False, True], ids=["issued", "operators-own"])
def test_racing_claims_one_wins(app, settings, own_numbers: bool) -> None:
    for _ in range(3):
        order = committed_order(app, settings)
        bodies = [{"tracking_number": f"RACE-{order.number}-{i}"} if own_numbers else {} for i in range(CLAIMERS)]
        results = _race(app, order, bodies)
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] + [409] * (CLAIMERS - 1), results
        [winner] = [body for status, body in results if status == 200]
        with Session(app.state.engine) as s:
            row = s.get(PostalOrder, order.id)
            assert row is not None and row.status == ParcelStatus.CLAIMED
            assert row.tracking_number == winner["tracking_number"]
            claims = s.exec(
                select(func.count())
                .select_from(PostalEvent)
                .where(col(PostalEvent.order_id) == order.id, col(PostalEvent.status) == ParcelStatus.CLAIMED)
            ).one()
            assert claims == 1
