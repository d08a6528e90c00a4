"""Engine, sessions and the one-transaction-per-request dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine
from starlette.concurrency import run_in_threadpool

from portal.kernel.settings import Settings


def make_engine(settings: Settings) -> Engine:
    """Create the engine for the configured database (called from the app lifespan and the CLI)."""
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
            write = conn.get_execution_options().get("portal_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        # Let SQLAlchemy emit BEGIN itself so the hook above controls it.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def writer(engine: Engine) -> Engine:
    """The same engine, marked so SQLite takes the write lock when the transaction begins."""
    return engine.execution_options(portal_write=True)


def _finish(session: Session, ok: bool) -> None:
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session and one transaction per request: commit on success, roll back on error.

    Async so that opening it costs no thread hop (a Session touches the database only when used);
    the commit or rollback and the close run together in one worker-thread call.
    """
    engine: Engine = request.app.state.engine
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        engine = writer(engine)
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_finish, session, False)
        raise
    await run_in_threadpool(_finish, session, True)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
