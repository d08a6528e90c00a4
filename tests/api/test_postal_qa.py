"""QA of the postal operators' API as an adversarial integrator: what an earlier probe over real HTTP broke.

- The same `event_id` sent at the same moment for two different orders of one operator: one is recorded, the
  other is the 409 of an id already used (it was a 500 on PostgreSQL: the unique (operator, event_id) index
  refused the second insert), and nothing of the refused one is kept.
- The label of an order whose contents are long (ten result documents of 120 characters, an address of the
  longest allowed parts) held a core for 15 s and more (`postal.label._fit` cut the contents one word at a time,
  laying the whole block out again each time; thirty such documents never finished). It is one A6 page that
  ends the list with "…"; how long it takes is measured in bench/ (docs/PERFORMANCE.md), not asserted here.

The race is meant for PostgreSQL (`PORTAL_TEST_DATABASE_URL`), where the requests really run at once; on SQLite
writers take turns, and the outcome must be the same.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import Session, col, func, select

from portal.kernel.db import writer
from postal.models import PostalEvent, PostalOrder
from tests.api.postal_helpers import ago, claimed_order, operator_headers, url
from tests.postal.label_samples import LONGEST, long_contents

pytestmark = pytest.mark.db


def _post_at_once(app: Any, orders: list[PostalOrder], body: dict[str, Any]) -> list[tuple[int, str, str]]:
    clients = [TestClient(app) for _ in orders]
    headers = operator_headers(clients[0], app)
    barrier = threading.Barrier(len(orders))

    def post(i: int) -> tuple[int, str, str]:
        barrier.wait()
        r = clients[i].post(url(orders[i], "/events"), json=body, headers=headers)
        return r.status_code, r.headers["content-type"], r.text

    with ThreadPoolExecutor(len(orders)) as pool:
        return list(pool.map(post, range(len(orders))))


def test_one_event_id_raced_onto_two_orders_is_one_event_and_one_conflict(client, app, settings) -> None:
    h = operator_headers(client, app)
    for attempt in range(4):
        orders = [claimed_order(client, app, settings, h) for _ in range(2)]
        event_id = f"qa-race-{orders[0].number}-{attempt}"
        results = _post_at_once(
            app, orders, {"event_id": event_id, "status": "in_transit", "occurred_at": ago(minutes=5)}
        )
        assert sorted(status for status, _, _ in results) == [200, 409], results
        [(_, content_type, text)] = [r for r in results if r[0] == 409]
        assert content_type.startswith("application/problem+json"), text
        assert "already recorded" in text
        with Session(app.state.engine) as s:
            kept = s.exec(
                select(func.count()).select_from(PostalEvent).where(col(PostalEvent.event_id) == event_id)
            ).one()
            assert kept == 1


def test_a_label_with_long_contents_is_one_page_that_shortens_them(client, app, settings) -> None:
    h = operator_headers(client, app)
    order = claimed_order(client, app, settings, h)
    with Session(writer(app.state.engine)) as s:
        row = s.get(PostalOrder, order.id)
        assert row is not None
        row.contents = long_contents(10)
        row.recipient = {**row.recipient, **LONGEST}
        s.add(row)
        s.commit()
    r = client.get(url(order, "/label.pdf"), headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text
    pdf = PdfReader(io.BytesIO(r.content))
    assert len(pdf.pages) == 1
    text = pdf.pages[0].extract_text()
    assert "Bản chính giấy tờ số" in text and "…" in text
