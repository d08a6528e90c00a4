"""Typed dependencies on what the app holds: its settings, engine, storage, rate limiter and worker.

Handlers declare `settings: SettingsDep` rather than reach into `request.app.state`. Each value is read
from the app's state in exactly one function here (`app_settings(app)` and its siblings, also called by
code that has the app but is not a dependency: rendering, a session opened by hand). What higher packages
own has its alias beside its owner: `GatewaysDep` in `payments.deps`, `CatalogDep` in `portal.catalog.deps`,
the SSO client in `auth.oidc`. The dependencies are `async` so that FastAPI calls them on the event loop
instead of sending each through the thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.engine import Engine
from starlette.requests import HTTPConnection

from portal.kernel.outbox import InProcessWorker
from portal.kernel.ratelimit import Limiter
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage


def app_settings(app: Any) -> Settings:
    """The settings the app was built with."""
    settings: Settings = app.state.settings
    return settings


def app_engine(app: Any) -> Engine:
    """The database engine, created in the app's lifespan."""
    engine: Engine = app.state.engine
    return engine


def app_storage(app: Any) -> Storage:
    """Where documents are stored, created in the app's lifespan."""
    storage: Storage = app.state.storage
    return storage


def app_limiter(app: Any) -> Limiter:
    """The rate limiter (memory, or Redis when configured)."""
    limiter: Limiter = app.state.limiter
    return limiter


def app_worker(app: Any) -> InProcessWorker | None:
    """The outbox worker running inside the web process, if the settings start one."""
    worker: InProcessWorker | None = getattr(app.state, "worker", None)
    return worker


async def get_settings(conn: HTTPConnection) -> Settings:
    return app_settings(conn.app)


async def get_engine(conn: HTTPConnection) -> Engine:
    return app_engine(conn.app)


async def get_storage(conn: HTTPConnection) -> Storage:
    return app_storage(conn.app)


async def get_limiter(conn: HTTPConnection) -> Limiter:
    return app_limiter(conn.app)


async def get_worker(conn: HTTPConnection) -> InProcessWorker | None:
    return app_worker(conn.app)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
StorageDep = Annotated[Storage, Depends(get_storage)]
LimiterDep = Annotated[Limiter, Depends(get_limiter)]
WorkerDep = Annotated[InProcessWorker | None, Depends(get_worker)]
