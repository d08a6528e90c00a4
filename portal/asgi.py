"""ASGI entry point for uvicorn: `portal.asgi:app`.

Before the app is built, the database is checked: the embedded default (a development SQLite file) is
migrated, any other database behind the code stops the start with one line (`portal migrate`), instead of
a portal that answers every page with 500.
"""

import logging
import sys

from fastapi import FastAPI

from portal.kernel.migrations import DatabaseNotMigrated, prepare_database
from portal.kernel.settings import get_settings


def _checked_app() -> FastAPI:
    settings = get_settings()
    try:
        if prepare_database(settings) == "migrated":
            logging.getLogger("portal").warning("the embedded database was migrated to the latest schema")
    except DatabaseNotMigrated as exc:
        print(f"portal: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    from portal.app import create_app  # after the check: a refused start stops before loading everything

    return create_app(settings)


app = _checked_app()
