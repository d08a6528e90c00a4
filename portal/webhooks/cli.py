"""`portal webhooks …` (endpoints and secret rotation) and `portal outbox …` (list, replay): operator commands.

The composition root adds both groups to `portal` (portal/cli.py: `main.add_command(webhooks)`,
`main.add_command(outbox)`).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import NoReturn

import click
from sqlmodel import Session

from portal.kernel.settings import get_settings


def _unit_of_work() -> AbstractContextManager[Session]:
    from portal.kernel.db import command_session

    return command_session(get_settings())


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _refused(exc: Exception) -> NoReturn:
    click.echo(f"refused: {exc}", err=True)
    sys.exit(2)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"


@click.group()
def webhooks() -> None:
    """Pushes to agencies' back-offices: endpoints and their signing secrets (docs/WEBHOOKS.md)."""


@webhooks.command("set")
@click.argument("agency")
@click.argument("url")
@click.option("--secret", default=None, help="a whsec_… secret to use (default: keep the current one, or make one)")
def webhooks_set(agency: str, url: str, secret: str | None) -> None:
    """Send AGENCY's pushes to URL."""
    from portal.webhooks.endpoints import EndpointError, set_endpoint

    with _unit_of_work() as session:
        try:
            row, made = set_endpoint(session, agency, url, secret=secret, by=_operator())
        except EndpointError as exc:
            _refused(exc)
        click.echo(f"{row.agency_code} → {row.url} ({len(row.secrets)} secret(s))")
    if made:
        click.echo("secret (give it to the back-office; it is not shown again):")
        click.echo(made)


@webhooks.command("rotate")
@click.argument("agency")
def webhooks_rotate(agency: str) -> None:
    """Add a new secret for AGENCY: pushes are signed with the old and the new one until finish-rotation."""
    from portal.webhooks.endpoints import EndpointError, rotate

    with _unit_of_work() as session:
        try:
            made = rotate(session, agency, by=_operator())
        except EndpointError as exc:
            _refused(exc)
    click.echo("new secret (both the old and this one sign until `portal webhooks finish-rotation`):")
    click.echo(made)


@webhooks.command("finish-rotation")
@click.argument("agency")
def webhooks_finish_rotation(agency: str) -> None:
    """Drop AGENCY's old secret: only the newest one signs from now on."""
    from portal.webhooks.endpoints import EndpointError, finish_rotation

    with _unit_of_work() as session:
        try:
            finish_rotation(session, agency, by=_operator())
        except EndpointError as exc:
            _refused(exc)
    click.echo(f"{agency}: the old secret is dropped")


@webhooks.command("list")
def webhooks_list() -> None:
    """Every endpoint (from the database and PORTAL_WEBHOOK_ENDPOINTS), without its secrets."""
    from portal.webhooks.endpoints import EndpointError, all_endpoints

    with _unit_of_work() as session:
        try:
            found = all_endpoints(session, get_settings())
        except EndpointError as exc:
            _refused(exc)
    if not found:
        click.echo("no webhook endpoints")
        return
    rows = [
        (
            e.agency_code,
            e.url,
            "rotating" if len(e.secrets) > 1 else f"{len(e.secrets)} secret",
            "on" if e.enabled else "off",
            e.source,
        )
        for e in found
    ]
    _table(("AGENCY", "URL", "SECRETS", "ENABLED", "FROM"), rows)


@click.group()
def outbox() -> None:
    """The outbox: background work and pushes, their retries and dead letters."""


@outbox.command("list")
@click.option("--dead", is_flag=True, help="only the dead messages (failed PORTAL_OUTBOX_MAX_ATTEMPTS times)")
@click.option("--topic", default=None, help="only this topic, e.g. webhook.deliver")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def outbox_list(dead: bool, topic: str | None, limit: int) -> None:
    """The latest messages first, with their state, attempts and last error."""
    from portal.kernel.outbox import list_messages, message_state

    with _unit_of_work() as session:
        found = list_messages(session, dead=dead, topic=topic, limit=limit)
    if not found:
        click.echo("no messages")
        return
    rows = [
        (
            str(m.id),
            m.topic,
            message_state(m),
            str(m.attempts),
            _when(m.created_at),
            _when(m.processed_at if m.processed_at else m.available_at),
            str(m.payload.get("event_id", "")) or "-",
            (m.last_error or "").strip().splitlines()[-1][:80] if m.last_error else "",
        )
        for m in found
    ]
    _table(("ID", "TOPIC", "STATE", "ATTEMPTS", "CREATED (UTC)", "DONE/NEXT (UTC)", "EVENT", "LAST ERROR"), rows)


@outbox.command("replay")
@click.argument("message_id", type=int)
def outbox_replay(message_id: int) -> None:
    """Make a dead (or processed) message pending again, its attempts reset; recorded in the audit trail."""
    from portal.kernel.outbox import OutboxError, replay

    with _unit_of_work() as session:
        try:
            msg = replay(session, message_id, by=_operator())
        except OutboxError as exc:
            _refused(exc)
        click.echo(f"message {msg.id} ({msg.topic}) is pending again")
