"""Alembic, driven from code so `portal migrate` and `make run` need no alembic.ini lookup."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import Session

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
        return False, {"status": "migrations pending", "current": current, "head": head}
    return True, {"status": "ready", "revision": current}
