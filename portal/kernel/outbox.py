"""Transactional outbox: messages written with the state change, drained by a worker."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Column, or_
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from portal.kernel.clock import utcnow
from portal.kernel.plugins import Resettable
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from portal.kernel.types import UTCDateTime
from portal.kernel.uow import unit_of_work

log = logging.getLogger("portal.worker")
MAX_ATTEMPTS = 8


class OutboxMessage(SQLModel, table=True):
    """A piece of background work, written in the transaction that caused it."""

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=60, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    available_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    attempts: int = 0
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    dead: bool = False
    last_error: str | None = None


@dataclass(frozen=True)
class WorkerContext:
    """What handlers may use besides their session."""

    settings: Settings
    storage: Storage
    # Plugins the handlers need, built once by whoever runs the worker (payment gateways by id).
    gateways: Mapping[str, Any] = field(default_factory=dict)


class OutboxPayload(BaseModel):
    """The payload of one topic: a frozen model whose JSON is what the outbox row stores.

    A subclass names its topic (``topic: ClassVar[str] = "payment.refund"``); ``enqueue`` writes its JSON
    and the worker validates the stored JSON back into it before calling the topic's handler. Keep a topic's
    fields compatible with the rows already written: unknown keys are ignored, new fields need defaults.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    topic: ClassVar[str]


T = TypeVar("T", bound=OutboxPayload)
Handler = Callable[[Session, T, WorkerContext], None]
Periodic = Callable[[Engine, WorkerContext], None]
Every = Callable[[Settings], float]


@dataclass(frozen=True)
class _Registered:
    payload_type: type[OutboxPayload]
    fn: Callable[[Session, Any, WorkerContext], None]


@dataclass(frozen=True)
class _OutboxState:
    handlers: dict[str, _Registered]
    periodic: dict[str, tuple[Every, Periodic]]


class OutboxRegistry(Resettable[_OutboxState]):
    """The handler of each topic (by its payload model) and the periodic jobs."""

    def __init__(self) -> None:
        self._handlers: dict[str, _Registered] = {}
        self._periodic: dict[str, tuple[Every, Periodic]] = {}

    def handler(self, payload_type: type[T]) -> Callable[[Handler[T]], Handler[T]]:
        """Register the function that processes messages of `payload_type`'s topic (one per topic)."""
        topic = payload_type.topic

        def register(fn: Handler[T]) -> Handler[T]:
            existing = self._handlers.get(topic)
            if existing is not None and existing.fn is not fn:
                raise ValueError(f"two handlers for {topic}")
            self._handlers[topic] = _Registered(payload_type, fn)
            return fn

        return register

    def periodic(self, name: str, every: Every) -> Callable[[Periodic], Periodic]:
        """Register a job the worker runs every `every(settings)` seconds (it must be idempotent: with several
        workers, several may run it)."""

        def register(fn: Periodic) -> Periodic:
            existing = self._periodic.get(name)
            if existing is not None and existing[1] is not fn:
                raise ValueError(f"two periodic jobs named {name}")
            self._periodic[name] = (every, fn)
            return fn

        return register

    def topics(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))

    def jobs(self) -> dict[str, tuple[Every, Periodic]]:
        return dict(self._periodic)

    def dispatch(self, session: Session, topic: str, payload: Mapping[str, Any], ctx: WorkerContext) -> None:
        """Validate a stored payload into its topic's model and call the handler; LookupError for an unknown
        topic, pydantic's ValidationError for a payload the model refuses."""
        registered = self._handlers.get(topic)
        if registered is None:
            raise LookupError(f"no handler for topic {topic}")
        registered.fn(session, registered.payload_type.model_validate(dict(payload)), ctx)

    def snapshot(self) -> _OutboxState:
        return _OutboxState(dict(self._handlers), dict(self._periodic))

    def restore(self, state: _OutboxState) -> None:
        self._handlers, self._periodic = dict(state.handlers), dict(state.periodic)

    def reset(self) -> None:
        self._handlers, self._periodic = {}, {}


# The application's handlers and jobs: modules register at import (`portal.wiring` imports them all).
registry = OutboxRegistry()


def handler(payload_type: type[T]) -> Callable[[Handler[T]], Handler[T]]:
    """Register, on the application's registry, the handler of `payload_type`'s topic."""
    return registry.handler(payload_type)


def periodic(name: str, every: Every) -> Callable[[Periodic], Periodic]:
    """Register, on the application's registry, a job run every `every(settings)` seconds."""
    return registry.periodic(name, every)


class _Schedule:
    """When each periodic job last ran, in one worker."""

    def __init__(self, jobs: OutboxRegistry | None = None) -> None:
        self.last: dict[str, float] = {}
        self.registry = jobs or registry

    def run_due(self, engine: Engine, ctx: WorkerContext) -> None:
        import time

        now = time.monotonic()
        for name, (every, fn) in self.registry.jobs().items():
            if now - self.last.get(name, float("-inf")) < every(ctx.settings):
                continue
            self.last[name] = now
            try:
                fn(engine, ctx)
            except Exception:  # a failing job must not stop the worker
                log.exception("periodic job %s failed", name)


def enqueue(session: Session, payload: OutboxPayload) -> OutboxMessage:
    """Add a message for the payload's topic in the caller's transaction."""
    msg = OutboxMessage(topic=payload.topic, payload=payload.model_dump(mode="json"))
    session.add(msg)
    session.flush()
    return msg


def _claim(session: Session, limit: int) -> list[OutboxMessage]:
    now = utcnow()
    stmt = (
        select(OutboxMessage)
        .where(col(OutboxMessage.processed_at).is_(None))
        .where(OutboxMessage.dead == False)
        .where(or_(col(OutboxMessage.available_at) <= now))
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.exec(stmt))


def drain(engine: Engine, ctx: WorkerContext, *, limit: int = 50, handlers: OutboxRegistry | None = None) -> int:
    """Process due messages one transaction each; returns how many were handled."""
    handlers = handlers or registry
    done = 0
    for _ in range(limit):
        with unit_of_work(engine, write=True, settings=ctx.settings) as session:
            claimed = _claim(session, 1)
            if not claimed:
                return done
            msg = claimed[0]
            try:
                with session.begin_nested():
                    handlers.dispatch(session, msg.topic, msg.payload, ctx)
                msg.processed_at = utcnow()
            except Exception:  # a failing handler must not stop the worker
                msg.attempts += 1
                msg.last_error = traceback.format_exc(limit=5)[-2000:]
                msg.dead = msg.attempts >= MAX_ATTEMPTS
                msg.available_at = utcnow() + timedelta(seconds=min(2**msg.attempts, 600))
                log.exception("outbox message %s (%s) failed", msg.id, msg.topic)
            session.add(msg)
        done += 1
    return done


class InProcessWorker:
    """A daemon thread that drains the outbox while the app runs (the embedded default)."""

    def __init__(self, engine: Engine, ctx: WorkerContext, poll_seconds: float) -> None:
        self.engine, self.ctx, self.poll = engine, ctx, poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        schedule = _Schedule()
        while not self._stop.is_set():
            try:
                drain(self.engine, self.ctx)
                schedule.run_due(self.engine, self.ctx)
            except Exception:  # the database may be briefly unavailable; retry next tick
                log.exception("outbox drain failed")
            self._wake.wait(self.poll)
            self._wake.clear()


def run_forever(engine: Engine, ctx: WorkerContext, poll_seconds: float) -> None:
    """The `portal worker` loop for a separate process."""
    stop = threading.Event()
    schedule = _Schedule()
    while not stop.is_set():
        schedule.run_due(engine, ctx)
        if drain(engine, ctx) == 0:
            stop.wait(poll_seconds)
