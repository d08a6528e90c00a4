"""A database of the test's own for the chain's tests that tamper with it, migrate it or count it whole: a
SQLite file, or on PostgreSQL a schema of its own in the test database (through `search_path`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from portal.kernel.audit import record
from portal.kernel.db import make_engine
from portal.kernel.settings import Settings
from portal.kernel.uow import unit_of_work


@contextmanager
def private_url(tmp: Path, name: str) -> Iterator[str]:
    """The URL of an empty database (not migrated), dropped afterwards."""
    base = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        yield f"sqlite:///{tmp / (name + '.db')}"
        return
    schema = f"{name}_{secrets.token_hex(4)}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def settings_for(settings: Settings, url: str, **over: object) -> Settings:
    """The run's settings (its storage, so its development seal) on another database."""
    return settings.model_copy(update={"database_url": url, **over})


def write_events(engine: Engine, tag: str, count: int, **detail: Any) -> None:
    """`count` events, one transaction each (kind test.chain)."""
    for n in range(count):
        with unit_of_work(engine, write=True) as session:
            record(session, "test.chain", tag=tag, n=n, **detail)


def engine_for(settings: Settings) -> Engine:
    return make_engine(settings)


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment `portal audit …` reads its settings from."""
    return {
        "PORTAL_ENVIRONMENT": "test",
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_STORAGE_DIR": str(settings.storage_dir),
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_BASE_URL": settings.base_url,
        "PORTAL_AUDIT_EXPORT_DIR": str(settings.audit_export_dir),
    }
