"""Partner API answers never wait for a thread while holding a database connection.

FastAPI validates a sync endpoint's `response_model` on a thread of the endpoints' pool, after the endpoint
returned and before the request's session dependency ends. If the session still held its connection then,
more concurrent requests than threads + connections deadlocked: every thread was an endpoint waiting for a
connection, every connection a request waiting for a thread (seen with `wrk -c50`: no answer at all until
the pool's timeout, then 500s). Partner routes commit in the endpoint's own thread (`commits_in_its_thread`).
"""

from __future__ import annotations

import inspect
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute
from sqlmodel import Session

from auth.bearer import PartnerAPIRoute
from auth.client_service import create_client
from portal.api import v1, v1_payments
from portal.app import create_app
from portal.kernel.db import commits_in_its_thread, writer
from portal.kernel.settings import Settings

pytestmark = pytest.mark.db


def partner_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, PartnerAPIRoute):
            yield route
        included = getattr(route, "original_router", None)  # an included router (FastAPI keeps them nested)
        if included is not None:
            yield from partner_routes(included.routes)


def test_every_sync_partner_endpoint_commits_in_its_own_thread() -> None:
    routes = list(partner_routes([*v1.router.routes, *v1_payments.router.routes]))
    assert len(routes) >= 15
    for route in routes:
        if not inspect.iscoroutinefunction(inspect.unwrap(route.endpoint)):
            assert route.endpoint.__code__ is commits_in_its_thread(lambda: None).__code__, route.path


def test_the_wrapper_ends_the_transaction_before_returning(app: object) -> None:
    engine = app.state.engine  # type: ignore[attr-defined]
    session = Session(engine)

    def endpoint(session: Session) -> str:
        session.connection()  # begins a transaction, holds a connection
        assert session.in_transaction()
        return "answer"

    assert commits_in_its_thread(endpoint)(session=session) == "answer"
    assert not session.in_transaction()

    # A dependency that carries the session (the transitions' step) is found too.
    carried = Session(engine)

    class Step:
        session = carried

    def step_endpoint(step: Step) -> str:
        return endpoint(step.session)

    assert commits_in_its_thread(step_endpoint)(step=Step()) == "answer"
    assert not carried.in_transaction()


@pytest.fixture()
def busy_server(settings: Settings) -> Iterator[str]:
    """The portal on a real socket with 2 endpoint threads, fewer than the concurrent callers below."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    app = create_app(settings.model_copy(update={"threads": 2, "rate_limits": {"api:ip": "100000/60"}}))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def test_many_concurrent_partner_requests_all_answer(busy_server: str, settings: Settings, app: object) -> None:
    engine = app.state.engine  # type: ignore[attr-defined]
    with Session(writer(engine)) as db:
        client, secret = create_client(db, name="Tải cao", scope="backoffice", agency_code="UBXA")
        client_id = client.id
        db.commit()
    token = httpx.post(
        f"{busy_server}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    ).json()["access_token"]

    def call(_: int) -> int:
        r = httpx.get(
            f"{busy_server}/api/v1/backoffice/changes",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        return r.status_code

    # 60 at once: more than the 2 threads and the connection pool together (SQLite 15, PostgreSQL 30).
    with ThreadPoolExecutor(max_workers=60) as pool:
        statuses = list(pool.map(call, range(60)))
    assert statuses == [200] * 60
