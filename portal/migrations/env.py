"""Alembic environment: the URL comes from the caller or from PORTAL_DATABASE_URL."""

from __future__ import annotations

from typing import Literal

from alembic import context
from sqlalchemy import pool
from sqlmodel import SQLModel, create_engine

import portal.models  # noqa: F401  (registers every table on SQLModel.metadata)
from portal.kernel.settings import Settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or Settings().database_url
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: object, autogen_context: object) -> str | Literal[False]:
    """Write our UTC timestamp type as a plain timezone-aware DateTime in migrations."""
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def run_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
