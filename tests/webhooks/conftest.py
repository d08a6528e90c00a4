"""Fixtures of the webhook tests: an agency of their own, settings pointing at a receiver, a drain loop."""

from __future__ import annotations

import secrets as random
from collections.abc import Callable

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

import portal.webhooks.tasks  # noqa: F401  (registers the webhook.deliver handler)
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.outbox import OutboxMessage, WorkerContext, drain
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.webhooks import publish
from portal.webhooks.signing import new_secret

TOPIC = "webhook.deliver"


def agency() -> str:
    """A fresh agency code (≤ 10 characters), so tests sharing the database never see each other's pushes."""
    return "T" + random.token_hex(4).upper()


def context(settings: Settings, **changes: object) -> WorkerContext:
    return WorkerContext(settings=settings.model_copy(update=changes), storage=LocalStorage(settings.storage_dir))


def endpoint_settings(url: str, *secrets: str) -> dict[str, object]:
    return {"url": url, "secrets": list(secrets)}


def publish_many(engine: Engine, agency_code: str, n: int, type_: str = "dossier.received") -> list[str]:
    with Session(writer(engine)) as s:
        ids = [publish(s, agency_code=agency_code, type=type_, data={"code": f"X-{i}", "n": i}) for i in range(n)]
        s.commit()
    return ids


def messages(engine: Engine, event_ids: list[str]) -> list[OutboxMessage]:
    """The outbox rows of these events (JSON payloads are compared in Python: portable across databases)."""
    wanted = set(event_ids)
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(col(OutboxMessage.topic) == TOPIC)).all()
        return [m for m in rows if m.payload.get("event_id") in wanted]


def time_travel(engine: Engine, ids: list[int]) -> None:
    """Make postponed messages due now instead of sleeping through their back-off."""
    with Session(writer(engine)) as s:
        s.execute(update(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).values(available_at=utcnow()))
        s.commit()


def drain_all(engine: Engine, ctx: WorkerContext, event_ids: list[str], *, rounds: int = 20) -> list[OutboxMessage]:
    """Run the real drain loop, time-travelling the retries, until the events are processed or dead."""
    for _ in range(rounds):
        drain(engine, ctx, topics=[TOPIC], limit=1000)
        rows = messages(engine, event_ids)
        waiting = [m.id for m in rows if m.processed_at is None and not m.dead and m.id is not None]
        if not waiting:
            return rows
        time_travel(engine, waiting)
    return messages(engine, event_ids)


@pytest.fixture()
def secret() -> str:
    return new_secret()


Drain = Callable[..., list[OutboxMessage]]
