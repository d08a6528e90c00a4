"""One unit of work for sessions opened outside a request: the worker, periodic jobs, the CLI, short reads.

A request gets its transaction from `SessionDep` (`portal.kernel.db`); everything else writes::

    with unit_of_work(engine, write=True, settings=settings) as session:
        service.do_something(session=session, ...)  # services flush, never commit

and the block commits when it ends normally, rolls back when it raises, and closes the session either way.
This module imports nothing else of the kernel, so the outbox and the engine helpers can both use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.kernel.settings import Settings

# The execution option that makes SQLite take the write lock when the transaction begins (the `begin` hook
# of `portal.kernel.db.make_engine` reads it); PostgreSQL ignores it.
WRITE_OPTION = "portal_write"


def writer(engine: Engine) -> Engine:
    """The same engine, marked so SQLite takes the write lock when the transaction begins."""
    return engine.execution_options(**{WRITE_OPTION: True})


@contextmanager
def unit_of_work(engine: Engine, *, write: bool = False, settings: Settings | None = None) -> Iterator[Session]:
    """A session that commits when the block ends normally, rolls back when it raises, and is closed after.

    `write` takes SQLite's write lock at the first statement (writers queue instead of failing when they
    upgrade a read lock). `settings` are kept on the session for the domain code that reaches them through
    `settings_of(session)` (event subscribers). Objects stay readable after the block (no expiry on commit).
    """
    session = Session(writer(engine) if write else engine, expire_on_commit=False)
    if settings is not None:
        session.info["settings"] = settings
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
