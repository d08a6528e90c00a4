"""The committed migrations describe exactly the tables the code declares."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, create_engine

import portal.models  # noqa: F401  (every table)
from portal.kernel.settings import Settings

pytestmark = pytest.mark.db


def test_models_and_migrations_agree(settings: Settings, app: object) -> None:
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"the models differ from the migrations; generate one (see docs/ARCHITECTURE.md): {diff}"
