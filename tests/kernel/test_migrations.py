"""The committed migrations describe exactly the tables the code declares."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, create_engine

import portal.models  # noqa: F401  (every table)
from portal.kernel.migrations import (
    DatabaseNotMigrated,
    current_revision,
    head_revision,
    is_embedded_default,
    prepare_database,
    upgrade,
)
from portal.kernel.settings import Settings

pytestmark = pytest.mark.db


def test_models_and_migrations_agree(settings: Settings, app: object) -> None:
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"the models differ from the migrations; generate one (see docs/ARCHITECTURE.md): {diff}"


# --- Starting on a database that is not migrated (portal/asgi.py → prepare_database) ---

SECRET = "s" * 40


def sqlite_settings(tmp_path: Path, environment: str) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'portal.db'}",
        environment=environment,  # type: ignore[arg-type]
        secret_key=SECRET,
        storage_dir=tmp_path / "files",
    )


def test_embedded_default_is_migrated_at_start(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, "development")
    assert is_embedded_default(settings)
    assert current_revision(settings.database_url) is None
    assert prepare_database(settings) == "migrated"
    assert current_revision(settings.database_url) == head_revision()
    assert prepare_database(settings) == "up to date"


def test_other_database_behind_the_code_refuses_with_one_line(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, "test")
    assert not is_embedded_default(settings)
    with pytest.raises(DatabaseNotMigrated) as caught:
        prepare_database(settings)
    message = str(caught.value)
    assert "run `portal migrate`" in message and "\n" not in message
    assert current_revision(settings.database_url) is None  # nothing was done to it
    upgrade(settings.database_url)
    assert prepare_database(settings) == "up to date"


def test_database_from_a_newer_portal_refuses(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, "development")
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('ffffffffffff')")
    engine.dispose()
    with pytest.raises(DatabaseNotMigrated, match="does not know"):
        prepare_database(settings)


def test_unreachable_database_is_left_to_readyz() -> None:
    settings = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", environment="development")
    assert prepare_database(settings) == "unavailable"


def serve_env(tmp_path: Path, environment: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}",
        PORTAL_ENVIRONMENT=environment,
        PORTAL_SECRET_KEY=SECRET,
        PORTAL_STORAGE_DIR=str(tmp_path / "files"),
        PORTAL_WORKER_IN_PROCESS="false",
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_portal_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    portal = Path(sys.executable).with_name("portal")
    done = subprocess.run(
        [str(portal), "serve", "--port", str(free_port())],
        env=serve_env(tmp_path, "test"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("portal: the database is not migrated"), done.stderr
    assert "run `portal migrate`" in lines[-1]
    assert "Traceback" not in done.stderr


def test_portal_serve_migrates_the_embedded_default(tmp_path: Path) -> None:
    portal = Path(sys.executable).with_name("portal")
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [str(portal), "serve", "--port", str(port)], env=serve_env(tmp_path, "development"), stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            status = response.status_code
            break
        assert status == 200, (tmp_path / "serve.log").read_text()
        assert current_revision(f"sqlite:///{tmp_path / 'portal.db'}") == head_revision()
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_unmigrated_postgresql_database_refuses_even_in_development() -> None:
    """Only the embedded SQLite file is migrated by `portal serve`; a PostgreSQL database never is."""
    url = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("runs in the PostgreSQL pass (PORTAL_TEST_DATABASE_URL)")
    from sqlalchemy.engine import make_url

    name = f"portal_unmigrated_{os.getpid()}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        fresh = make_url(url).set(database=name).render_as_string(hide_password=False)
        settings = Settings(database_url=fresh, environment="development")
        assert not is_embedded_default(settings)
        with pytest.raises(DatabaseNotMigrated, match="run `portal migrate`"):
            prepare_database(settings)
        assert current_revision(fresh) is None
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_processes_starting_together_migrate_the_embedded_default_once(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, "development")
    code = (
        "from portal.kernel.migrations import prepare_database; from portal.kernel.settings import Settings; "
        f"print(prepare_database(Settings(_env_file=None, database_url={settings.database_url!r})))"
    )
    starts = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outcomes = sorted(p.communicate(timeout=120)[0].strip() for p in starts)
    assert all(p.returncode == 0 for p in starts)
    assert outcomes == ["migrated", "up to date", "up to date"]
    assert current_revision(settings.database_url) == head_revision()
