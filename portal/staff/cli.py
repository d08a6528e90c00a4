"""`portal staff add|list|disable|reset-totp|set-password`: staff accounts made by the operator (docs/STAFF.md).

Each command records an audit event (`staff.add`, `staff.disable`, `staff.reset_totp`, `staff.set_password`;
actor_kind system, actor "cli:<user>"). Passwords are printed once (made here) or read from stdin
(`--password-stdin`); the TOTP is enrolled by the member at the first sign-in.
"""

from __future__ import annotations

import getpass
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn

import click
from sqlmodel import Session, col, select

from auth import staff as staff_auth
from auth.staff_models import StaffMember, StaffRole
from portal.kernel.audit import record
from portal.kernel.errors import DomainError
from portal.kernel.settings import get_settings


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    from portal.kernel.db import command_session

    with command_session(get_settings()) as session:
        yield session


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _refused(exc: DomainError) -> NoReturn:
    try:
        message = exc.msgid.format(**exc.params)
    except (KeyError, IndexError, ValueError):
        message = exc.msgid
    click.echo(f"refused: {message}", err=True)
    sys.exit(2)


def _member(session: Session, username: str) -> StaffMember:
    member = staff_auth.find_member(session, username)
    if member is None:
        click.echo(f"refused: no staff member with username {username!r}", err=True)
        sys.exit(2)
    return member


def _audit(session: Session, kind: str, member: StaffMember, **detail: Any) -> None:
    record(
        session,
        kind,
        actor_kind="system",
        actor=_operator(),
        agency_code=member.agency_code,
        staff_id=member.id,
        username=member.username,
        **detail,
    )


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, whether it was made here and must be printed)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return secrets.token_urlsafe(15), True


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


@click.group()
def staff() -> None:
    """Staff accounts of the console."""


@staff.command("add")
@click.option("--username", required=True, help="Lower-case login, e.g. nguyenvana.")
@click.option("--name", "full_name", required=True, help="Full name, e.g. 'Nguyễn Văn A'.")
@click.option("--role", required=True, type=click.Choice([r.value for r in StaffRole]))
@click.option("--agency", default=None, help="Agency code of an officer, e.g. UBXA.")
@click.option("--operator", default=None, help="Postal operator of a postal desk, e.g. vnpost.")
@click.option("--email", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of making one.")
def staff_add(
    username: str,
    full_name: str,
    role: str,
    agency: str | None,
    operator: str | None,
    email: str | None,
    password_stdin: bool,
) -> None:
    """Create a staff member; prints a one-time password unless --password-stdin."""
    password, made = _password(password_stdin)
    with _unit_of_work() as session:
        try:
            member = staff_auth.create_member(
                session,
                username=username,
                full_name=full_name,
                role=role,
                agency_code=agency,
                postal_operator=operator,
                email=email,
                password=password,
            )
        except DomainError as exc:
            _refused(exc)
        _audit(session, "staff.add", member, role=member.role, postal_operator=member.postal_operator)
        username = member.username
    click.echo(f"staff member {username} ({role}) created")
    if made:
        click.echo(f"password: {password}")
        click.echo("Give it to the person: it is not shown again. The authenticator is set up at the first sign-in.")


@staff.command("list")
def staff_list() -> None:
    """Every staff member: role, scope, second factor, status."""
    with _unit_of_work() as session:
        members = session.exec(select(StaffMember).order_by(col(StaffMember.username))).all()
        rows = [
            (
                m.username,
                m.full_name,
                m.role,
                m.agency_code or m.postal_operator or "-",
                "oidc" if m.oidc_subject else "password",
                "yes" if m.totp_confirmed_at else "no",
                "active" if m.active else "disabled",
                _when(m.last_signin_at),
            )
            for m in members
        ]
    header = ("username", "name", "role", "scope", "sign-in", "totp", "status", "last sign-in")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


@staff.command("disable")
@click.argument("username")
def staff_disable(username: str) -> None:
    """Stop USERNAME from signing in (also through the provider) and end their sessions."""
    with _unit_of_work() as session:
        member = _member(session, username)
        staff_auth.disable(session, member)
        _audit(session, "staff.disable", member)
    click.echo(f"staff member {username} disabled")


@staff.command("reset-totp")
@click.argument("username")
def staff_reset_totp(username: str) -> None:
    """Forget USERNAME's authenticator: a new one is set up at the next sign-in."""
    with _unit_of_work() as session:
        member = _member(session, username)
        staff_auth.reset_totp(session, member)
        _audit(session, "staff.reset_totp", member)
    click.echo(f"staff member {username}: authenticator reset, set up again at the next sign-in")


@staff.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of making one.")
def staff_set_password(username: str, password_stdin: bool) -> None:
    """Give USERNAME a new password (printed once unless --password-stdin); their sessions end."""
    password, made = _password(password_stdin)
    with _unit_of_work() as session:
        member = _member(session, username)
        try:
            staff_auth.set_password(session, member, password)
        except DomainError as exc:
            _refused(exc)
        _audit(session, "staff.set_password", member)
    click.echo(f"staff member {username}: password changed")
    if made:
        click.echo(f"password: {password}")
