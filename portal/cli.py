"""The `portal` command: serve, migrate, catalog load, demo load, client, worker."""

from __future__ import annotations

import logging
import sys
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NoReturn

import click
from sqlmodel import Session

from auth.clients import SCOPES
from portal.audit.cli import audit
from portal.kernel.errors import DomainError
from portal.kernel.settings import get_settings
from portal.simulator.cli import backoffice
from portal.simulator.postal_cli import postal
from portal.staff.cli import staff
from portal.webhooks.cli import outbox, webhooks


@click.group()
def main() -> None:
    """Dịch vụ công — citizen e-service portal."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the simulator's and the webhooks' every request
    import portal.wiring  # noqa: F401  (what the domains provide: the agency check of back-office clients, handlers)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the portal over HTTP."""
    import uvicorn

    from portal.kernel.migrations import DatabaseNotMigrated, prepare_database

    # Checked once here, before any worker process starts: the embedded default is migrated by one process
    # only, and a database behind the code stops the start with one line (each worker checks again).
    try:
        prepare_database(get_settings())
    except DatabaseNotMigrated as exc:
        click.echo(f"portal: {exc}", err=True)
        sys.exit(1)

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
    from portal.kernel.db import make_engine
    from portal.kernel.uow import unit_of_work

    engine = make_engine(get_settings())
    try:
        with unit_of_work(engine, write=True) as session:
            report = load_catalog(session)
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
    from portal.kernel.db import make_engine
    from portal.kernel.uow import unit_of_work

    settings = get_settings()
    if settings.environment == "production":
        click.echo("demo data is not loaded in production", err=True)
        sys.exit(2)
    with unit_of_work(make_engine(settings), write=True) as session:
        lines = load_demo(session)
    for line in lines:
        click.echo(line)


@main.group()
def client() -> None:
    """Partner API clients: agency back-office systems and postal operators."""


def _writer_session() -> AbstractContextManager[Session]:
    """One unit of work: committed when the command's block ends, rolled back when it is refused."""
    from portal.kernel.db import command_session

    return command_session(get_settings())


def _refused(exc: DomainError) -> NoReturn:
    try:
        message = exc.msgid.format(**exc.params)
    except (KeyError, IndexError, ValueError):
        message = exc.msgid
    click.echo(f"refused: {message}", err=True)
    sys.exit(2)


@client.command("create")
@click.option("--name", required=True, help="Who runs the system, e.g. 'Một cửa UBND xã — phần mềm ABC'.")
@click.option("--scope", required=True, type=click.Choice(SCOPES))
@click.option("--agency", default=None, help="Agency code (scope backoffice), e.g. UBXA.")
@click.option("--operator", default=None, help="Postal operator id (scope postal), e.g. vnpost.")
def client_create(name: str, scope: str, agency: str | None, operator: str | None) -> None:
    """Create a client and print its id and secret (the secret is shown only this once)."""
    from auth.client_service import create_client

    with _writer_session() as session:
        try:
            row, secret = create_client(session, name=name, scope=scope, agency_code=agency, postal_operator=operator)
        except DomainError as exc:
            _refused(exc)
        client_id = row.id
    click.echo(f"client_id:     {client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("Store the secret now: it is not shown again (rotate it if it is lost).", err=True)


@client.command("rotate")
@click.argument("client_id")
def client_rotate(client_id: str) -> None:
    """Give a client a new secret; the old one stops working at once (issued tokens run to their expiry)."""
    from auth.client_service import rotate_secret

    with _writer_session() as session:
        try:
            secret = rotate_secret(session, client_id)
        except DomainError as exc:
            _refused(exc)
    click.echo(f"client_id:     {client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("Store the secret now: it is not shown again. The old secret no longer works.", err=True)


@client.command("revoke")
@click.argument("client_id")
def client_revoke(client_id: str) -> None:
    """Revoke a client for good: no new tokens, and its current tokens are refused from now on."""
    from auth.client_service import revoke

    with _writer_session() as session:
        try:
            revoke(session, client_id)
        except DomainError as exc:
            _refused(exc)
    click.echo(f"revoked {client_id}")


@client.command("list")
def client_list() -> None:
    """List clients (never their secrets); times in Vietnam time."""
    from auth.client_service import list_clients
    from portal.kernel.clock import local

    def when(at: datetime | None) -> str:
        return local(at).strftime("%Y-%m-%d %H:%M") if at else "-"

    with _writer_session() as session:
        rows = list_clients(session)
        lines = [
            (
                c.id,
                c.name,
                c.scope,
                c.agency_code or c.postal_operator or "-",
                when(c.created_at),
                when(c.rotated_at),
                when(c.revoked_at),
            )
            for c in rows
        ]
    if not lines:
        click.echo("no API clients")
        return
    header = ("CLIENT ID", "NAME", "SCOPE", "BINDING", "CREATED", "ROTATED", "REVOKED")
    widths = [max(len(str(r[i])) for r in (header, *lines)) for i in range(len(header))]
    for r in (header, *lines):
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _worker_context() -> Any:
    """The context the outbox handlers and periodic jobs get, with every handler registered."""
    import portal.app  # imports every module that registers handlers, jobs and subscribers
    from payments.setup import build_gateways
    from portal.kernel.outbox import WorkerContext
    from portal.kernel.storage import LocalStorage
    from postal.operators import check_operators
    from postal.tariff import check_tariff

    settings = get_settings()
    check_operators(settings)
    check_tariff(settings)
    portal.app.check_outbound(settings)
    return WorkerContext(
        settings=settings, storage=LocalStorage(settings.storage_dir), gateways=build_gateways(settings)
    )


@main.command()
def worker() -> None:
    """Drain the outbox and run the periodic jobs in this process (deployments without the in-process worker)."""
    from portal.kernel.db import make_engine
    from portal.kernel.outbox import run_forever

    ctx = _worker_context()
    run_forever(make_engine(ctx.settings), ctx, ctx.settings.worker_poll_seconds)


@main.group()
def payments() -> None:
    """Payments: reconciliation and the daily report."""


@payments.command("reconcile")
def payments_reconcile() -> None:
    """Settle pending payments older than PORTAL_PAYMENT_RECONCILE_AFTER_MINUTES by asking their gateways."""
    from payments.tasks import reconcile_now
    from portal.kernel.db import make_engine

    ctx = _worker_context()
    report = reconcile_now(make_engine(ctx.settings), ctx)
    click.echo(f"checked {report.checked}, settled {report.settled}, errors {report.errors}")
    if report.errors:
        sys.exit(1)


@payments.command("report")
@click.option("--day", "day_text", default="", help="the local day, YYYY-MM-DD (default: yesterday)")
@click.option("--agency", default=None, help="only this agency's code")
def payments_report(day_text: str, agency: str | None) -> None:
    """The daily report per agency and gateway, as CSV on standard output."""
    from datetime import date, timedelta

    from payments.report import daily_report, report_csv
    from portal.kernel.clock import local, utcnow
    from portal.kernel.db import make_engine
    from portal.kernel.uow import unit_of_work

    try:
        day = date.fromisoformat(day_text) if day_text else local(utcnow()).date() - timedelta(days=1)
    except ValueError:
        raise click.BadParameter("the day is written YYYY-MM-DD", param_hint="--day") from None
    with unit_of_work(make_engine(get_settings())) as session:
        click.echo(report_csv(daily_report(session, day, agency_code=agency)), nl=False)


main.add_command(outbox)
main.add_command(webhooks)
main.add_command(backoffice)
main.add_command(postal)
main.add_command(audit)
main.add_command(staff)

if __name__ == "__main__":
    main()


@main.group()
def stats() -> None:
    """Public statistics: the daily roll-up."""


@stats.command("build")
@click.option("--days", default=0, type=int, help="build at most this many days (default: every day that needs it)")
def stats_build(days: int) -> None:
    """Build the roll-up of the settled days that need it (the worker does it a month at a time)."""
    from portal.kernel.db import make_engine
    from portal.kernel.uow import unit_of_work
    from portal.stats import rollup

    settings = get_settings()
    engine = make_engine(settings)
    total = 0
    while days <= 0 or total < days:
        with unit_of_work(engine, write=True, settings=settings) as session:
            limit = rollup.BUILD_DAYS_PER_RUN if days <= 0 else min(rollup.BUILD_DAYS_PER_RUN, days - total)
            built = rollup.build(session, limit=limit)
        if not built:
            break
        total += len(built)
        click.echo(f"built {len(built)} days ({built[0]} to {built[-1]})")
    click.echo(f"{total} days built")
