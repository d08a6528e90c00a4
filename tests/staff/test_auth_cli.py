"""`portal staff …`: accounts made by the operator, each change audited; what they do to sign-in."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.staff_models import StaffMember
from portal.cli import main
from portal.kernel.audit import AuditEvent
from portal.kernel.settings import Settings, get_settings
from tests.staff_factories import StaffLogin, make_staff, sign_in_through_pages, staff_client

pytestmark = pytest.mark.db


@pytest.fixture()
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PORTAL_ENVIRONMENT", "test")
    monkeypatch.setenv("PORTAL_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def member(app: Any, username: str) -> StaffMember:
    with Session(app.state.engine) as s:
        row = s.exec(select(StaffMember).where(StaffMember.username == username)).one()
        s.expunge(row)
        return row


def audit_kinds(app: Any, member_id: str) -> list[tuple[str, str | None]]:
    with Session(app.state.engine) as s:
        rows = s.exec(
            select(AuditEvent).where(col(AuditEvent.kind).startswith("staff.")).order_by(col(AuditEvent.id))
        ).all()
        return [(e.kind, e.actor_kind) for e in rows if e.detail.get("staff_id") == member_id]


def test_add_prints_a_password_that_signs_in_and_enrols(app: Any, cli: CliRunner) -> None:
    username = f"canbo{secrets.token_hex(4)}"
    result = cli.invoke(
        main,
        ["staff", "add", "--username", username, "--name", "Phạm Thị Cán Bộ", "--role", "officer", "--agency", "ubxa"],
    )
    assert result.exit_code == 0, result.output
    password = re.search(r"password: (\S+)", result.output)
    assert password
    row = member(app, username)
    assert row.role == "officer" and row.agency_code == "UBXA" and row.totp_secret is None
    assert row.password_hash and password.group(1) not in row.password_hash
    login = StaffLogin(row.id, username, row.full_name, "officer", "UBXA", None, password.group(1), None)
    client = TestClient(app, follow_redirects=False)
    sign_in_through_pages(client, login)
    assert client.get("/staff").status_code == 200
    assert ("staff.add", "system") in audit_kinds(app, row.id)


def test_add_with_password_stdin_and_refusals(app: Any, cli: CliRunner) -> None:
    username = f"giamsat{secrets.token_hex(4)}"
    args = ["staff", "add", "--username", username, "--name", "Đỗ Giám Sát", "--role", "supervisor"]
    result = cli.invoke(main, [*args, "--password-stdin"], input="mot-mat-khau-dai-2026\n")
    assert result.exit_code == 0, result.output
    assert "password:" not in result.output
    again = cli.invoke(main, [*args, "--password-stdin"], input="mot-mat-khau-dai-2026\n")
    assert again.exit_code == 2 and "already exists" in again.output
    short = cli.invoke(main, [*args[:2], "--username", username + "x", *args[4:], "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "12 characters" in short.output
    officer = cli.invoke(main, ["staff", "add", "--username", username + "o", "--name", "A B", "--role", "officer"])
    assert officer.exit_code == 2 and "agency" in officer.output
    postal = cli.invoke(main, ["staff", "add", "--username", username + "p", "--name", "A B", "--role", "postal"])
    assert postal.exit_code == 2 and "operator" in postal.output
    bad = cli.invoke(main, ["staff", "add", "--username", "A!", "--name", "A B", "--role", "supervisor"])
    assert bad.exit_code == 2 and "username" in bad.output.lower()
    listed = cli.invoke(main, ["staff", "list"])
    assert listed.exit_code == 0 and username in listed.output and "Đỗ Giám Sát" in listed.output


def test_disable_ends_sessions_and_sign_in(app: Any, cli: CliRunner) -> None:
    client = staff_client(app, role="supervisor")
    assert client.get("/staff").status_code == 200
    result = cli.invoke(main, ["staff", "disable", client.staff.username])
    assert result.exit_code == 0, result.output
    assert client.get("/staff").status_code == 303
    assert not member(app, client.staff.username).active
    assert ("staff.disable", "system") in audit_kinds(app, client.staff.member_id)
    assert cli.invoke(main, ["staff", "disable", "no-such-member"]).exit_code == 2


def test_reset_totp_makes_the_next_sign_in_enrol_again(app: Any, cli: CliRunner) -> None:
    login = make_staff(app, role="officer")
    result = cli.invoke(main, ["staff", "reset-totp", login.username])
    assert result.exit_code == 0, result.output
    row = member(app, login.username)
    assert row.totp_secret is None and row.totp_confirmed_at is None
    login.totp_secret = None
    client = TestClient(app, follow_redirects=False)
    sign_in_through_pages(client, login)  # goes through the enrolment page
    assert login.totp_secret and client.get("/staff").status_code == 200
    assert ("staff.reset_totp", "system") in audit_kinds(app, login.member_id)


def test_set_password(app: Any, cli: CliRunner) -> None:
    login = make_staff(app, role="supervisor")
    result = cli.invoke(
        main, ["staff", "set-password", login.username, "--password-stdin"], input="mat-khau-moi-2026!\n"
    )
    assert result.exit_code == 0, result.output
    login.password = "mat-khau-moi-2026!"
    client = TestClient(app, follow_redirects=False)
    sign_in_through_pages(client, login)
    assert client.get("/staff").status_code == 200
    made = cli.invoke(main, ["staff", "set-password", login.username])
    assert made.exit_code == 0 and re.search(r"password: \S{12,}", made.output)
    assert ("staff.set_password", "system") in audit_kinds(app, login.member_id)
