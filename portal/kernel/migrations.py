"""Alembic, driven from code so `portal migrate` and `make run` need no alembic.ini lookup."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from portal.kernel.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config pointing at portal/migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str) -> None:
    """Apply every pending migration."""
    if database_url.startswith("sqlite") and ":memory:" not in database_url:
        Path(database_url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), "head")


@lru_cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def database_readiness(session: Session) -> tuple[bool, dict[str, str | None]]:
    """Whether the database answers and its schema is at the latest migration, with what a probe reports."""
    try:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        current = MigrationContext.configure(session.connection()).get_current_revision()
    except Exception as exc:  # any database failure means not ready
        return False, {"status": "unavailable", "database": type(exc).__name__}
    head = head_revision()
    if current != head:
        return False, {"status": "migrations pending", "current": current, "head": head, "action": "portal migrate"}
    return True, {"status": "ready", "revision": current}


class DatabaseNotMigrated(RuntimeError):
    """The database's schema is not the code's; the message is the one line an operator needs."""


def is_embedded_default(settings: Settings) -> bool:
    """A development SQLite file: the portal owns its database, so it may migrate it by itself."""
    url = settings.database_url
    return settings.environment == "development" and url.startswith("sqlite") and ":memory:" not in url


def current_revision(database_url: str) -> str | None:
    """The database's Alembic revision (None: never migrated); raises SQLAlchemyError if it does not answer."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def prepare_database(settings: Settings) -> str:
    """Before serving: migrate the embedded default, refuse any other database that is behind the code.

    Returns what was done ("up to date", "migrated", "unavailable"); raises DatabaseNotMigrated otherwise. A
    database that does not answer yet is left to `/readyz` (it may start after the portal).
    """
    if settings.database_url.startswith("sqlite") and ":memory:" not in settings.database_url:
        Path(settings.database_url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    try:
        current = current_revision(settings.database_url)
    except SQLAlchemyError:
        return "unavailable"
    head = head_revision()
    if current == head:
        return "up to date"
    if current is not None and current not in _known_revisions():
        raise DatabaseNotMigrated(
            f"the database is at migration {current}, which this version of the portal does not know "
            f"(its latest is {head}): run the portal version that migrated it, or restore the database"
        )
    if is_embedded_default(settings):
        return _migrate_embedded(settings.database_url)
    raise DatabaseNotMigrated(
        f"the database is not migrated (at {current or 'no migration'}, the code needs {head}): "
        "run `portal migrate`, then start again"
    )


def _migrate_embedded(database_url: str) -> str:
    """Migrate the SQLite file once, even when several server processes start together (`--workers N`)."""
    import fcntl

    lock_path = Path(database_url.split("///", 1)[-1] + ".migrate-lock")
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if current_revision(database_url) == head_revision():
            return "up to date"  # another process migrated it while this one waited
        upgrade(database_url)
        return "migrated"


def _known_revisions() -> set[str]:
    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
