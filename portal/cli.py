"""The `portal` command: serve, migrate, catalog load, demo load, worker."""

from __future__ import annotations

import logging
import sys

import click
from sqlmodel import Session

from portal.kernel.settings import get_settings


@click.group()
def main() -> None:
    """Dịch vụ công — citizen e-service portal."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime").setLevel(logging.WARNING)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the portal over HTTP."""
    import uvicorn

    uvicorn.run(
        "portal.asgi:app", host=host, port=port, workers=workers, proxy_headers=True, log_level="info", access_log=False
    )


@main.command()
def migrate() -> None:
    """Apply database migrations."""
    from portal.kernel.migrations import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    click.echo("database is at the latest migration")


@main.group()
def catalog() -> None:
    """The procedure catalogue."""


@catalog.command("load")
def catalog_load() -> None:
    """Load agencies, procedures and forms from the data files (safe to repeat)."""
    from portal.catalog.loader import CatalogError, load_catalog
    from portal.kernel.db import make_engine, writer

    engine = make_engine(get_settings())
    try:
        with Session(writer(engine)) as session:
            report = load_catalog(session)
            session.commit()
    except CatalogError as exc:
        click.echo(f"catalogue error: {exc}", err=True)
        sys.exit(2)
    click.echo(
        f"catalogue loaded: {report.agencies} agencies, {report.procedures} procedures, {report.forms} form versions"
    )


@main.group()
def demo() -> None:
    """Demonstration data for the embedded default."""


@demo.command("load")
def demo_load() -> None:
    """Create the demo citizen account (development only)."""
    from portal.demo import load_demo
    from portal.kernel.db import make_engine, writer

    settings = get_settings()
    if settings.environment == "production":
        click.echo("demo data is not loaded in production", err=True)
        sys.exit(2)
    with Session(writer(make_engine(settings))) as session:
        lines = load_demo(session)
        session.commit()
    for line in lines:
        click.echo(line)


@main.command()
def worker() -> None:
    """Drain the outbox in this process (for deployments without the in-process worker)."""
    import portal.dossiers.tasks  # noqa: F401
    from portal.kernel.db import make_engine
    from portal.kernel.outbox import WorkerContext, run_forever
    from portal.kernel.storage import LocalStorage

    settings = get_settings()
    ctx = WorkerContext(settings=settings, storage=LocalStorage(settings.storage_dir))
    run_forever(make_engine(settings), ctx, settings.worker_poll_seconds)


if __name__ == "__main__":
    main()
