"""Engine, sessions and the one-transaction-per-request dependency."""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Annotated, Any, ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from portal.kernel.deps import app_engine, app_settings
from portal.kernel.settings import Settings

# Sessions outside a request (worker, jobs, CLI) are `portal.kernel.uow.unit_of_work`, which owns `writer`.
from portal.kernel.uow import WRITE_OPTION
from portal.kernel.uow import writer as writer

P = ParamSpec("P")
R = TypeVar("R")


def make_engine(settings: Settings, *, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """Create the engine for the configured database (called from the app lifespan and the CLI)."""
    engine = _make_engine(settings, pool_size=pool_size, max_overflow=max_overflow)
    _MADE_WITH[engine] = settings
    return engine


# The settings each engine was made with, and the side engines made beside them (`side_engine`).
_MADE_WITH: weakref.WeakKeyDictionary[Engine, Settings] = weakref.WeakKeyDictionary()
_SIDE: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_SIDE_LOCK = threading.Lock()


def side_engine(engine: Engine) -> Engine:
    """A small engine of its own beside `engine`, for the short writes a request makes while it holds its own
    connection (what a GET read, written to the audit trail before the answer is sent).

    Drawn from the request's own pool, such writes could deadlock under load: as many requests as connections,
    each holding one and waiting for a second. A separate pool breaks the cycle (its connections never wait for
    the main pool's). An engine not made by `make_engine` (a test's) is its own side engine.
    """
    settings = _MADE_WITH.get(engine)
    if settings is None:
        return engine
    with _SIDE_LOCK:
        side = _SIDE.get(engine)
        if side is None:
            side = _SIDE[engine] = _make_engine(settings, pool_size=4, max_overflow=12)
        return side


def dispose_engine(engine: Engine) -> None:
    """Close the engine's connections and its side engine's."""
    with _SIDE_LOCK:
        side = _SIDE.pop(engine, None)
    if side is not None:
        side.dispose()
    engine.dispose()


def _make_engine(settings: Settings, *, pool_size: int, max_overflow: int) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers queue on the lock at BEGIN instead of failing later when upgrading.
            write = conn.get_execution_options().get(WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        # Let SQLAlchemy emit BEGIN itself so the hook above controls it.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


@contextmanager
def command_session(settings: Settings) -> Iterator[Session]:
    """One writing unit of work for a command-line command, on an engine of its own: committed when the block
    ends, rolled back when it raises."""
    from portal.kernel.uow import unit_of_work

    engine = make_engine(settings)
    try:
        with unit_of_work(engine, write=True) as session:
            yield session
    finally:
        engine.dispose()


@lru_cache
def _finish_limiter() -> CapacityLimiter:
    # Finishing runs on threads of its own: if it shared the endpoints' pool, endpoints waiting for a
    # database connection could hold every thread while the requests that hold the connections wait
    # for a thread to give them back (a deadlock under load).
    return CapacityLimiter(16)


def _finish(session: Session, ok: bool) -> None:
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


def _open(request: Request, *, write: bool) -> Session:
    engine = app_engine(request.app)
    session = Session(writer(engine) if write else engine, expire_on_commit=False)
    # Only for subscribers of in-transaction events, which get a session and no request (see settings_of).
    session.info["settings"] = app_settings(request.app)
    return session


async def _end(session: Session, *, ok: bool) -> None:
    if not session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.close()  # never touched the database: nothing to commit, no thread needed
        return
    await to_thread.run_sync(_finish, session, ok, limiter=_finish_limiter())


def _session_dependency(*, always_write: bool) -> Callable[[Request], AsyncIterator[Session]]:
    async def dependency(request: Request) -> AsyncIterator[Session]:
        session = _open(request, write=always_write or request.method not in ("GET", "HEAD", "OPTIONS"))
        try:
            yield session
        except BaseException:
            await _end(session, ok=False)
            raise
        await _end(session, ok=True)

    return dependency


# One session and one transaction per request: commit on success, roll back on error. Async so that
# opening it costs no thread hop (a Session touches the database only when used); the commit or
# rollback and the close run together in one call on a thread of their own.
get_session = _session_dependency(always_write=False)
# The same for the few GET handlers that write (a sign-in callback): they take the write lock.
get_write_session = _session_dependency(always_write=True)


def commits_in_its_thread(endpoint: Callable[P, R]) -> Callable[P, R]:
    """Wrap a sync endpoint so that its request's session is committed (and closed) in the endpoint's own
    thread, before FastAPI serializes the answer.

    FastAPI validates a sync endpoint's `response_model` on a thread of the same pool as the endpoints, and
    the session dependency ends only after that. Under load every thread could then be an endpoint waiting
    for a database connection while the requests holding the connections wait for a thread to serialize
    their answer: a deadlock until the pool's timeout. Ending the transaction before returning gives the
    connection back first (the session is found among the endpoint's arguments, or as the `session` of one).
    A failing endpoint raises before this, and the dependency rolls back as before.
    """

    @functools.wraps(endpoint)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            # The session itself, or a dependency that carries it (`.session`, e.g. the API's transition step).
            carried = None if isinstance(value, Request) else getattr(value, "session", None)  # not the cookie one
            session = value if isinstance(value, Session) else carried
            if isinstance(session, Session):
                _finish(session, True)
        return result

    return run


def settings_of(session: Session) -> Settings:
    """The settings of the app (or worker) that opened this session.

    For event subscribers only, which are handed a session and nothing else; handlers take `SettingsDep`
    and services take `settings=` from their caller.
    """
    settings = session.info.get("settings")
    if isinstance(settings, Settings):
        return settings
    from portal.kernel.settings import get_settings

    return get_settings()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]
