"""Transactional outbox: messages written with the state change, drained by a worker."""

from __future__ import annotations

import logging
import random
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Column
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from portal.kernel.audit import record
from portal.kernel.clock import utcnow
from portal.kernel.plugins import Resettable
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from portal.kernel.types import UTCDateTime
from portal.kernel.uow import unit_of_work

log = logging.getLogger("portal.worker")
# The default of PORTAL_OUTBOX_MAX_ATTEMPTS: a message is dead after this many failed attempts.
MAX_ATTEMPTS: int = Settings.model_fields["outbox_max_attempts"].default
# A failed message is never retried sooner than this (full jitter may draw a delay close to zero).
MIN_RETRY_SECONDS = 1.0
# Where `drain` keeps the id of the message being handled, for handlers that log it (`current_message_id`).
CURRENT_MESSAGE = "outbox_message_id"


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


class HandlerFailed(Exception):
    """Raised by a handler whose try failed in an expected way (a receiver answered 500).

    The handler's savepoint is rolled back as for any error, then the rows in `keep` (built, not added, by
    the handler: the record of the try) are added to the worker's transaction, so they survive the failure.
    The message's `last_error` is the exception's text, without a traceback.
    """

    def __init__(self, message: str, *, keep: Sequence[SQLModel] = ()) -> None:
        super().__init__(message)
        self.keep = tuple(keep)


class OutboxError(ValueError):
    """An operator's request the outbox refuses (replaying a pending message, an unknown id)."""


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
class Staged:
    """A handler whose slow, external part (an HTTP call) must not hold the database.

    `prepare(session, payload, ctx)` reads what the call needs (in a transaction); `perform(job, ctx)` makes
    the call and returns its outcome, touching no database and raising nothing for what the remote side
    does; `finish(session, payload, outcome, ctx)` records it (raise HandlerFailed to retry). On PostgreSQL
    the three run in the message's transaction, the message locked throughout. On SQLite, whose one write
    lock would stop every other writer during the call, the message is leased for `lease(settings)` seconds
    (longer than the call can take) and the call runs between two short transactions; a worker that dies
    during the call leaves the message to be tried again when the lease ends.
    """

    prepare: Callable[[Session, Any, WorkerContext], Any]
    perform: Callable[[Any, WorkerContext], Any]
    finish: Callable[[Session, Any, Any, WorkerContext], None]
    lease: Callable[[Settings], float]

    def __call__(self, session: Session, payload: Any, ctx: WorkerContext) -> None:
        job = self.prepare(session, payload, ctx)
        self.finish(session, payload, self.perform(job, ctx), ctx)


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

    def staged(self, payload_type: type[OutboxPayload], stages: Staged) -> Staged:
        """Register a handler in three stages (see `Staged`) for `payload_type`'s topic."""
        existing = self._handlers.get(payload_type.topic)
        if existing is not None and existing.fn is not stages:
            raise ValueError(f"two handlers for {payload_type.topic}")
        self._handlers[payload_type.topic] = _Registered(payload_type, stages)
        return stages

    def registered(self, topic: str) -> tuple[type[OutboxPayload], Callable[[Session, Any, WorkerContext], None]]:
        """The payload model and the handler of `topic`; LookupError when it has none."""
        found = self._handlers.get(topic)
        if found is None:
            raise LookupError(f"no handler for topic {topic}")
        return found.payload_type, found.fn

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
        payload_type, fn = self.registered(topic)
        fn(session, payload_type.model_validate(dict(payload)), ctx)

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


def staged(payload_type: type[OutboxPayload], stages: Staged) -> Staged:
    """Register, on the application's registry, a handler in three stages (see `Staged`)."""
    return registry.staged(payload_type, stages)


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


def _claim(session: Session, limit: int, topics: Sequence[str] | None = None) -> list[OutboxMessage]:
    """The next due messages, locked until the transaction ends. On PostgreSQL `FOR UPDATE SKIP LOCKED`: a
    message being handled by one worker is invisible to the others until that worker commits (processed, or
    failed and postponed) or dies (its transaction rolls back and the message is due again, unchanged)."""
    now = utcnow()
    stmt = (
        select(OutboxMessage)
        .where(col(OutboxMessage.processed_at).is_(None))
        .where(OutboxMessage.dead == False)
        .where(col(OutboxMessage.available_at) <= now)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    if topics is not None:
        stmt = stmt.where(col(OutboxMessage.topic).in_(topics))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.exec(stmt))


def retry_delay(attempts: int, settings: Settings, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th failure: exponential back-off with full jitter, a random time
    between 0 and min(max, base × 2^(attempts-1)) (so that receivers recovering from an outage are not hit by
    every worker at once), never less than MIN_RETRY_SECONDS."""
    ceiling = min(settings.outbox_retry_max_seconds, settings.outbox_retry_base_seconds * 2.0 ** max(attempts - 1, 0))
    return max(min(MIN_RETRY_SECONDS, ceiling), rng() * ceiling)


def current_message_id(session: Session) -> int | None:
    """The id of the outbox message whose handler is running in this session (None outside a handler)."""
    value = session.info.get(CURRENT_MESSAGE)
    return value if isinstance(value, int) else None


def _failed(msg: OutboxMessage, exc: Exception, settings: Settings) -> None:
    msg.attempts += 1
    if isinstance(exc, HandlerFailed):
        msg.last_error = str(exc)[-2000:]
    else:
        msg.last_error = traceback.format_exc(limit=5)[-2000:]
    msg.dead = msg.attempts >= settings.outbox_max_attempts
    msg.available_at = utcnow() + timedelta(seconds=retry_delay(msg.attempts, settings))
    state = "dead" if msg.dead else f"retry at {msg.available_at:%H:%M:%S}"
    if isinstance(exc, HandlerFailed):
        log.warning("outbox message %s (%s) failed, attempt %s, %s: %s", msg.id, msg.topic, msg.attempts, state, exc)
    else:
        log.exception("outbox message %s (%s) failed, attempt %s, %s", msg.id, msg.topic, msg.attempts, state)


def drain(
    engine: Engine,
    ctx: WorkerContext,
    *,
    limit: int = 50,
    handlers: OutboxRegistry | None = None,
    topics: Sequence[str] | None = None,
) -> int:
    """Process due messages (only those of `topics` if given) one transaction each; returns how many were
    handled.

    The message stays locked while its handler runs (the handler's work, and the message's new state, commit
    together), except for a `Staged` handler on SQLite (leased instead, see `Staged`). A failure postpones it
    (`retry_delay`) and after PORTAL_OUTBOX_MAX_ATTEMPTS marks it dead.
    """
    handlers = handlers or registry
    done = 0
    for _ in range(limit):
        if not _handle_next(engine, ctx, handlers, topics):
            return done
        done += 1
    return done


@dataclass(frozen=True)
class _Leased:
    message_id: int
    stages: Staged
    payload: OutboxPayload
    job: Any
    until: datetime


def _handle_next(engine: Engine, ctx: WorkerContext, handlers: OutboxRegistry, topics: Sequence[str] | None) -> bool:
    leased: _Leased | None = None
    with unit_of_work(engine, write=True, settings=ctx.settings) as session:
        claimed = _claim(session, 1, topics)
        if not claimed:
            return False
        msg = claimed[0]
        session.info[CURRENT_MESSAGE] = msg.id
        try:
            with session.begin_nested():
                payload_type, fn = handlers.registered(msg.topic)
                payload = payload_type.model_validate(dict(msg.payload))
                if isinstance(fn, Staged) and session.get_bind().dialect.name == "sqlite" and msg.id is not None:
                    job = fn.prepare(session, payload, ctx)
                    until = utcnow() + timedelta(seconds=fn.lease(ctx.settings))
                    leased = _Leased(msg.id, fn, payload, job, until)
                    msg.available_at = until
                else:
                    fn(session, payload, ctx)
            if leased is None:
                msg.processed_at = utcnow()
        except Exception as exc:  # a failing handler must not stop the worker
            leased = None
            for row in exc.keep if isinstance(exc, HandlerFailed) else ():
                session.add(row)
            _failed(msg, exc, ctx.settings)
        finally:
            session.info.pop(CURRENT_MESSAGE, None)
        session.add(msg)
    if leased is not None:
        _finish_leased(engine, ctx, leased)
    return True


def _finish_leased(engine: Engine, ctx: WorkerContext, leased: _Leased) -> None:
    """The call of a staged handler, outside any transaction, then its record if the lease still holds."""
    outcome: Any = None
    error: Exception | None = None
    try:
        outcome = leased.stages.perform(leased.job, ctx)
    except Exception as exc:  # perform should not raise; if it does, it is a failed try like any other
        error = exc
    with unit_of_work(engine, write=True, settings=ctx.settings) as session:
        msg = session.get(OutboxMessage, leased.message_id)
        if (
            msg is None
            or msg.processed_at is not None
            or msg.dead
            or abs((msg.available_at - leased.until).total_seconds()) > 0.001
        ):
            log.warning("outbox message %s: its lease ended during the call; left to the next try", leased.message_id)
            return
        session.info[CURRENT_MESSAGE] = msg.id
        try:
            if error is not None:
                raise error
            with session.begin_nested():
                leased.stages.finish(session, leased.payload, outcome, ctx)
            msg.processed_at = utcnow()
        except Exception as exc:
            for row in exc.keep if isinstance(exc, HandlerFailed) else ():
                session.add(row)
            _failed(msg, exc, ctx.settings)
        finally:
            session.info.pop(CURRENT_MESSAGE, None)
        session.add(msg)


def message_state(msg: OutboxMessage) -> str:
    """ "processed", "dead" or "pending" (waiting for its first try or a retry)."""
    if msg.processed_at is not None:
        return "processed"
    return "dead" if msg.dead else "pending"


def list_messages(
    session: Session, *, dead: bool = False, topic: str | None = None, limit: int = 100
) -> list[OutboxMessage]:
    """The latest messages first (only the dead ones with `dead`), optionally of one topic."""
    stmt = select(OutboxMessage).order_by(col(OutboxMessage.id).desc()).limit(limit)
    if dead:
        stmt = stmt.where(OutboxMessage.dead == True)
    if topic:
        stmt = stmt.where(OutboxMessage.topic == topic)
    return list(session.exec(stmt))


def replay(session: Session, message_id: int, *, by: str, actor_kind: str = "system") -> OutboxMessage:
    """Make a dead or processed message pending again, with its attempts reset (the operator's replay,
    recorded in the audit trail under `by`: "staff" for the console, "system" for the command line). A pending
    message is refused: it will be retried anyway."""
    msg = session.get(OutboxMessage, message_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if msg is None:
        raise OutboxError(f"no outbox message {message_id}")
    before = message_state(msg)
    if before == "pending":
        raise OutboxError(
            f"outbox message {message_id} is pending: the worker tries it at {msg.available_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    msg.dead, msg.processed_at, msg.attempts, msg.available_at = False, None, 0, utcnow()
    session.add(msg)
    record(
        session,
        "outbox.replay",
        actor_kind=actor_kind,
        actor=by,
        message_id=message_id,
        topic=msg.topic,
        was=before,
        by=by,
    )
    session.flush()
    return msg


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
        try:
            schedule.run_due(engine, ctx)
            if drain(engine, ctx) == 0:
                stop.wait(poll_seconds)
        except Exception:  # the database may be briefly unavailable; retry after a pause
            log.exception("outbox drain failed")
            stop.wait(poll_seconds)
