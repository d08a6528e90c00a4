"""Form versions survive definition changes; the outbox retries and gives up cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from portal.catalog.models import Procedure
from portal.dossiers.models import Dossier
from portal.kernel import outbox
from portal.kernel.db import writer
from portal.kernel.outbox import MAX_ATTEMPTS, OutboxMessage, OutboxPayload, WorkerContext, drain, enqueue
from tests.web.flow import start

pytestmark = pytest.mark.db
JUDICIAL = "3.000333"


def _set_version(app, version: int) -> None:
    with Session(writer(app.state.engine)) as s:
        proc = s.get(Procedure, JUDICIAL)
        assert proc is not None
        proc.form_version = version
        s.add(proc)
        s.commit()


def test_draft_keeps_its_form_version(citizen: TestClient, app) -> None:
    old = start(citizen, JUDICIAL)
    _set_version(app, 2)
    try:
        new = start(citizen, JUDICIAL)
        with Session(app.state.engine) as s:
            assert (s.get(Dossier, old).form_version, s.get(Dossier, new).form_version) == (1, 2)  # type: ignore[union-attr]
        first_step = citizen.get(f"/dossiers/{new}/continue").headers["location"]
        assert "other_names" in citizen.get(first_step).text
        old_page = citizen.get(citizen.get(f"/dossiers/{old}/continue").headers["location"])
        assert old_page.status_code == 200 and "other_names" not in old_page.text
    finally:
        _set_version(app, 1)


calls: list[int] = []


class Flaky(OutboxPayload):
    topic: ClassVar[str] = "test.flaky"

    n: int


def _flaky(session: Session, payload: Flaky, ctx: WorkerContext) -> None:
    calls.append(payload.n)
    raise RuntimeError("downstream unavailable")


# Only this test's topic: the shared database holds other tests' messages (pushes of every dossier event),
# which a drain of 50 would otherwise try first, with no handler for them in the isolated registry.
FLAKY = ("test.flaky",)


@pytest.fixture()
def flaky_handler() -> Iterator[None]:
    with outbox.registry.isolated():
        outbox.handler(Flaky)(_flaky)
        yield


def test_failing_message_is_retried_with_backoff_then_dead(app, flaky_handler: None) -> None:
    ctx = WorkerContext(settings=app.state.settings, storage=app.state.storage)
    with Session(writer(app.state.engine)) as s:
        msg_id = enqueue(s, Flaky(n=1)).id
        s.commit()
    drain(app.state.engine, ctx, topics=FLAKY)
    drain(app.state.engine, ctx, topics=FLAKY)  # not due again yet: backoff
    assert calls == [1]
    with Session(writer(app.state.engine)) as s:
        msg = s.get(OutboxMessage, msg_id)
        assert (
            msg is not None
            and msg.attempts == 1
            and not msg.dead
            and "downstream unavailable" in (msg.last_error or "")
        )
        msg.attempts = MAX_ATTEMPTS - 1
        msg.available_at = msg.created_at
        s.add(msg)
        s.commit()
    drain(app.state.engine, ctx, topics=FLAKY)
    with Session(app.state.engine) as s:
        msg = s.get(OutboxMessage, msg_id)
        assert msg is not None and msg.dead and msg.processed_at is None
        pending = s.exec(
            select(OutboxMessage).where(col(OutboxMessage.topic) == "test.flaky", OutboxMessage.dead == False)
        ).all()
        assert pending == []
