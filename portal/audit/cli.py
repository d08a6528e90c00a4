"""`portal audit verify` and `portal audit export --day` (docs/AUDIT.md)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from portal.kernel.settings import get_settings


@click.group()
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command()
@click.option("--from-seq", type=click.IntRange(min=1), default=1, show_default=True, help="Start the walk here.")
def verify(from_seq: int) -> None:
    """Check the hash chain, its head and the sealed days; exit 1 naming the first bad event."""
    from portal.audit.chain import verify as verify_chain
    from portal.kernel.db import make_engine
    from portal.kernel.uow import unit_of_work

    engine = make_engine(get_settings())
    try:
        with unit_of_work(engine) as session:
            verdict = verify_chain(session, from_seq=from_seq)
    except ValueError as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(2)
    finally:
        engine.dispose()
    if verdict.problem is not None:
        click.echo(f"chain broken ({verdict.problem.what}): {verdict.problem.message}")
        click.echo(f"({verdict.checked} events intact before it)", err=True)
        sys.exit(1)
    click.echo(f"chain intact: {verdict.checked} events")


@audit.command()
@click.option("--day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="The local day, YYYY-MM-DD.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the files (default: PORTAL_AUDIT_EXPORT_DIR).",
)
def export(day: datetime, out: Path | None) -> None:
    """Seal the day's chain head (once) and write its statement, signature, events and certificates."""
    from portal.audit.seal import SealRefused, export_files, seal_day
    from portal.kernel.db import make_engine
    from portal.kernel.uow import unit_of_work

    settings = get_settings()
    target = out or Path(settings.audit_export_dir)
    engine = make_engine(settings)
    try:
        with unit_of_work(engine, write=True, settings=settings) as session:
            seal = seal_day(session, settings, day.date())
        with unit_of_work(engine, settings=settings) as session:  # the events are written out without the write lock
            paths = export_files(session, seal, target)
    except SealRefused as exc:
        click.echo(f"refused: {exc}", err=True)
        sys.exit(2)
    finally:
        engine.dispose()
    click.echo(
        f"sealed {seal.day.isoformat()}: events {seal.first_seq or '-'} to {seal.last_seq} ({seal.count}), "
        f"head {seal.head_hash}"
    )
    for path in (paths.statement, paths.signature, paths.events, paths.certificates):
        click.echo(str(path))
