"""Typed dependency on the in-memory catalogue (its snapshot is reloaded every few seconds)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from portal.catalog.snapshot import CatalogCache


def app_catalog(app: Any) -> CatalogCache:
    """The catalogue cache, created in the app's lifespan."""
    cache: CatalogCache = app.state.catalog
    return cache


async def get_catalog(conn: HTTPConnection) -> CatalogCache:
    return app_catalog(conn.app)


CatalogDep = Annotated[CatalogCache, Depends(get_catalog)]
