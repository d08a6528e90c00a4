"""Shared fixtures: one migrated database per run (SQLite, or PostgreSQL via PORTAL_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, create_engine, select

from auth.models import Account
from portal.app import create_app
from portal.catalog.loader import load_catalog
from portal.kernel.migrations import upgrade
from portal.kernel.settings import Settings
from tests.fixtures.database import engine_fixture, session_fixture  # noqa: F401  (`session`: rolled back after each test)
from tests.oidc_op.fixture import oidc_op  # noqa: F401  (a session fixture: the npm oidc-provider)

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _database_of_this_worker(url: str) -> str:
    """Under pytest-xdist (`make test` runs two workers) each worker has a PostgreSQL database of its own,
    `<database>_<worker>` (created when missing): the per-run reset below drops the whole schema, which must not
    pull the tables from under the other worker. Without xdist: the URL as given."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    from sqlalchemy.engine import make_url

    given = make_url(url)
    name = f"{given.database}_{worker}"
    admin = create_engine(given.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return given.set(database=name).render_as_string(hide_password=False)


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = tmp_path_factory.mktemp("portal")
    url = os.environ.get("PORTAL_TEST_DATABASE_URL") or f"sqlite:///{base / 'test.db'}"
    if url.startswith("postgresql"):
        url = _database_of_this_worker(url)
        _reset_postgres(url)
    settings = Settings(
        environment="test",
        secret_key=secrets.token_urlsafe(48),
        database_url=url,
        storage_dir=base / "files",
        worker_in_process=False,
        base_url="http://testserver",
        max_file_bytes=2 * 1024 * 1024,
        max_dossier_bytes=5 * 1024 * 1024,
        page_cache_seconds=0,
        catalog_refresh_seconds=0,
        gc_freeze=False,  # many apps per test process: let the collector free them
        local_account_level=2,  # most tests file full-online procedures; tests/auth/test_assurance.py uses 1
        # Every test request comes from one address ("testclient"): per-address limits would trip across
        # unrelated tests. tests/kernel/test_ratelimit.py checks the default rules on apps of its own.
        rate_limits={
            b: "1000000/60"
            for b in ("signin:ip", "signup:ip", "lookup:ip", "oidc:ip", "token:ip", "api:ip", "staff_signin:ip")
        },
        _env_file=None,  # type: ignore[call-arg]
    )
    upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    with Session(engine) as session:
        load_catalog(session)
        session.commit()
    engine.dispose()
    return settings


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[object]:
    application = create_app(settings)
    with TestClient(application):  # runs the lifespan once: engine, storage
        yield application


@pytest.fixture()
def client(app: object) -> TestClient:
    """A browser with its own cookie jar."""
    return TestClient(app, follow_redirects=False)  # type: ignore[arg-type]


@pytest.fixture()
def db(app: object) -> Iterator[Session]:
    with Session(app.state.engine) as session:  # type: ignore[attr-defined]
        yield session


def csrf(client: TestClient, path: str = "/") -> str:
    """The CSRF token of the client's session, read off a page."""
    page = client.get(path)
    match = CSRF_RE.search(page.text) or CSRF_RE.search(client.get("/").text)
    assert match, f"no csrf token on {path}"
    return match.group(1)


def signup(
    client: TestClient,
    *,
    name: str = "Nguyễn Thị Hường",
    login: str | None = None,
    password: str = "mat-khau-rat-dai-2026",
) -> str:
    """Create an account in this client and stay signed in; returns the login."""
    login = login or f"citizen-{secrets.token_hex(6)}@example.vn"
    token = csrf(client, "/signup")
    r = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "login": login,
            "full_name": name,
            "password": password,
            "password2": password,
            "next": "/dossiers",
        },
    )
    assert r.status_code == 303, r.text
    return login


@pytest.fixture()
def citizen(client: TestClient) -> TestClient:
    signup(client)
    return client


@pytest.fixture()
def signer(app: object) -> TestClient:
    """A signed-in citizen whose account has a CCCD (what signing in with the national SSO once would have filled
    in), so they can sign online."""
    client = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    login = signup(client)
    with Session(app.state.engine) as s:  # type: ignore[attr-defined]
        account = s.exec(select(Account).where(Account.email == login)).one()
        account.cccd = "037190012345"
        s.add(account)
        s.commit()
    return client


def fixtures_dir() -> Path:
    return Path(__file__).parent / "fixtures"
