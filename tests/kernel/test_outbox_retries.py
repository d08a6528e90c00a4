"""The outbox's retry policy: exponential back-off with full jitter, a ceiling, dead after the setting's
maximum; a handler's HandlerFailed keeps its records; drain limited to topics."""

from __future__ import annotations

import random
from typing import ClassVar

import pytest
from sqlmodel import Session, col, select

from portal.kernel import outbox
from portal.kernel.audit import AuditEvent
from portal.kernel.db import writer
from portal.kernel.outbox import (
    MAX_ATTEMPTS,
    MIN_RETRY_SECONDS,
    HandlerFailed,
    OutboxMessage,
    OutboxPayload,
    WorkerContext,
    current_message_id,
    drain,
    enqueue,
    retry_delay,
)
from portal.kernel.settings import Settings


def test_retry_delay_is_full_jitter_under_an_exponential_ceiling(settings: Settings) -> None:
    s = settings.model_copy(update={"outbox_retry_base_seconds": 2.0, "outbox_retry_max_seconds": 100.0})
    assert [retry_delay(n, s, rng=lambda: 1.0) for n in (1, 2, 3, 4, 6, 7, 30)] == [2, 4, 8, 16, 64, 100, 100]
    assert retry_delay(5, s, rng=lambda: 0.5) == 16
    assert retry_delay(5, s, rng=lambda: 0.0) == MIN_RETRY_SECONDS  # never an immediate retry
    rng = random.Random(12)
    draws = [retry_delay(6, s, rng=rng.random) for _ in range(500)]
    assert all(MIN_RETRY_SECONDS <= d <= 64 for d in draws)
    assert min(draws) < 8 and max(draws) > 56  # spread over the whole range, not bunched at the ceiling
    tiny = settings.model_copy(update={"outbox_retry_base_seconds": 0.1, "outbox_retry_max_seconds": 0.5})
    assert retry_delay(1, tiny, rng=lambda: 0.0) == 0.1 and retry_delay(9, tiny, rng=lambda: 1.0) == 0.5


def test_default_max_attempts_is_the_settings_default() -> None:
    assert Settings.model_fields["outbox_max_attempts"].default == MAX_ATTEMPTS


class Probe(OutboxPayload):
    topic: ClassVar[str] = "test.probe"

    n: int


class Other(OutboxPayload):
    topic: ClassVar[str] = "test.other"


seen: list[tuple[int, int | None]] = []


def _probe(session: Session, payload: Probe, ctx: WorkerContext) -> None:
    seen.append((payload.n, current_message_id(session)))
    session.add(AuditEvent(kind="test.lost", detail={"n": payload.n}))  # rolled back with the savepoint
    raise HandlerFailed(f"probe {payload.n} refused", keep=[AuditEvent(kind="test.kept", detail={"n": payload.n})])


@pytest.mark.db
def test_handler_failed_keeps_its_records_and_dies_at_the_settings_maximum(app, settings: Settings) -> None:
    registry = outbox.OutboxRegistry()
    registry.handler(Probe)(_probe)
    ctx = WorkerContext(settings=settings.model_copy(update={"outbox_max_attempts": 2}), storage=app.state.storage)
    n = random.randrange(10**9)
    with Session(writer(app.state.engine)) as s:
        msg_id = enqueue(s, Probe(n=n)).id
        other_id = enqueue(s, Other()).id
        s.commit()
    for _ in range(2):
        drain(app.state.engine, ctx, handlers=registry, topics=["test.probe"])
        with Session(writer(app.state.engine)) as s:
            msg = s.get(OutboxMessage, msg_id)
            assert msg is not None
            msg.available_at = msg.created_at
            s.add(msg)
            s.commit()
    assert seen[-2:] == [(n, msg_id), (n, msg_id)]
    with Session(app.state.engine) as s:
        msg, other = s.get(OutboxMessage, msg_id), s.get(OutboxMessage, other_id)
        assert msg is not None and msg.dead and msg.attempts == 2 and msg.last_error == f"probe {n} refused"
        assert other is not None and other.attempts == 0 and other.processed_at is None  # not this drain's topic
        kinds = [
            e.kind
            for e in s.exec(select(AuditEvent).where(col(AuditEvent.kind).in_(["test.kept", "test.lost"])))
            if e.detail == {"n": n}
        ]
        assert kinds == ["test.kept", "test.kept"]
        s.delete(other)
        s.commit()
