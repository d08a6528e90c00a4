"""Partner API clients: the service rules and the `portal client` commands."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.client_service import create_client, list_clients, revoke, rotate_secret, verify_secret
from auth.clients import ApiClient
from portal.cli import main
from portal.kernel.audit import AuditEvent
from portal.kernel.db import writer
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.settings import Settings, get_settings

pytestmark = pytest.mark.db


@pytest.fixture()
def session(app) -> Iterator[Session]:
    """A writing session rolled back at the end: nothing a test creates here stays."""
    with Session(writer(app.state.engine)) as s:
        yield s
        s.rollback()


@pytest.fixture()
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner pointed at the test database through the environment, as an operator would."""
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_backoffice_client_is_bound_to_an_existing_agency(session: Session) -> None:
    client, secret = create_client(session, name="  Một cửa   UBND xã ", scope="backoffice", agency_code="UBXA")
    assert re.fullmatch(r"bo-ubxa-[0-9a-f]{8}", client.id)
    assert client.name == "Một cửa UBND xã"
    assert (client.agency_code, client.postal_operator, client.scope) == ("UBXA", None, "backoffice")
    assert len(secret) >= 43 and secret not in client.secret_hash
    assert client.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert verify_secret(client, secret)
    assert not verify_secret(client, secret + "x")
    assert not verify_secret(client, "")


def test_postal_client_is_bound_to_an_operator(session: Session) -> None:
    client, _ = create_client(session, name="VNPost", scope="postal", postal_operator="vnpost")
    assert re.fullmatch(r"po-vnpost-[0-9a-f]{8}", client.id)
    assert (client.agency_code, client.postal_operator) == (None, "vnpost")


@pytest.mark.parametrize(
    ("scope", "agency", "operator"),
    [
        ("backoffice", None, None),
        ("backoffice", "NOPE", None),
        ("backoffice", "UBXA", "vnpost"),
        ("postal", None, None),
        ("postal", "UBXA", "vnpost"),
        ("postal", None, "VNPost"),
        ("postal", None, "vn post"),
        ("postal", None, "-vnpost"),
        ("admin", "UBXA", None),
    ],
)
def test_inconsistent_bindings_are_refused(
    session: Session, scope: str, agency: str | None, operator: str | None
) -> None:
    with pytest.raises(Invalid):
        create_client(session, name="x", scope=scope, agency_code=agency, postal_operator=operator)


def test_empty_name_is_refused(session: Session) -> None:
    with pytest.raises(Invalid):
        create_client(session, name="   ", scope="postal", postal_operator="vnpost")


def test_rotate_replaces_the_secret_and_revoke_is_final(session: Session) -> None:
    client, old = create_client(session, name="Phần mềm một cửa", scope="backoffice", agency_code="STP")
    new = rotate_secret(session, client.id)
    assert new != old and client.rotated_at is not None
    assert verify_secret(client, new) and not verify_secret(client, old)
    revoke(session, client.id)
    first = client.revoked_at
    assert first is not None
    revoke(session, client.id)  # safe to repeat
    assert client.revoked_at == first
    with pytest.raises(Conflict):
        rotate_secret(session, client.id)
    with pytest.raises(NotFound):
        rotate_secret(session, "bo-none-00000000")
    with pytest.raises(NotFound):
        revoke(session, "bo-none-00000000")
    assert client.id in [c.id for c in list_clients(session)]
    kinds = session.exec(
        select(AuditEvent.kind).where(col(AuditEvent.client_id) == client.id).order_by(col(AuditEvent.id))
    ).all()
    assert kinds == ["partner.client.created", "partner.client.rotated", "partner.client.revoked"]


def _ids(output: str) -> tuple[str, str]:
    client_id = re.search(r"client_id:\s+(\S+)", output)
    secret = re.search(r"client_secret:\s+(\S+)", output)
    assert client_id and secret, output
    return client_id.group(1), secret.group(1)


def _token(client: TestClient, client_id: str, secret: str) -> int:
    return client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).status_code


def test_cli_create_rotate_list_revoke(cli: CliRunner, client: TestClient, app) -> None:
    created = cli.invoke(
        main, ["client", "create", "--name", "Một cửa xã", "--scope", "backoffice", "--agency", "UBXA"]
    )
    assert created.exit_code == 0, created.output
    client_id, secret = _ids(created.stdout)
    assert client_id.startswith("bo-ubxa-")
    assert "not shown again" in created.stderr
    assert _token(client, client_id, secret) == 200

    rotated = cli.invoke(main, ["client", "rotate", client_id])
    assert rotated.exit_code == 0, rotated.output
    _, new_secret = _ids(rotated.stdout)
    assert new_secret != secret
    assert _token(client, client_id, secret) == 401
    assert _token(client, client_id, new_secret) == 200

    listed = cli.invoke(main, ["client", "list"])
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.stdout.splitlines() if x.startswith(client_id))
    assert "Một cửa xã" in line and "backoffice" in line and "UBXA" in line
    assert listed.stdout.splitlines()[0].split()[:2] == ["CLIENT", "ID"]
    with Session(app.state.engine) as s:
        row = s.get(ApiClient, client_id)
        assert row is not None
        assert row.secret_hash not in listed.stdout
    assert new_secret not in listed.stdout and secret not in listed.stdout

    revoked = cli.invoke(main, ["client", "revoke", client_id])
    assert revoked.exit_code == 0, revoked.output
    assert _token(client, client_id, new_secret) == 401
    listed = cli.invoke(main, ["client", "list"])
    line = next(x for x in listed.stdout.splitlines() if x.startswith(client_id))
    assert line.split()[-1] != "-"  # the revoked column is filled


def test_cli_postal_client(cli: CliRunner) -> None:
    created = cli.invoke(main, ["client", "create", "--name", "VNPost", "--scope", "postal", "--operator", "vnpost"])
    assert created.exit_code == 0, created.output
    assert _ids(created.stdout)[0].startswith("po-vnpost-")


@pytest.mark.parametrize(
    "args",
    [
        ["client", "create", "--name", "X", "--scope", "backoffice", "--agency", "NOPE"],
        ["client", "create", "--name", "X", "--scope", "postal", "--agency", "UBXA"],
        ["client", "create", "--name", "X", "--scope", "postal", "--operator", "VNPost"],
        ["client", "rotate", "bo-none-00000000"],
        ["client", "revoke", "bo-none-00000000"],
    ],
)
def test_cli_refusals(cli: CliRunner, args: list[str]) -> None:
    result = cli.invoke(main, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("refused: ")
    assert "client_secret" not in result.stdout


def test_cli_unknown_scope_is_a_usage_error(cli: CliRunner) -> None:
    result = cli.invoke(main, ["client", "create", "--name", "X", "--scope", "admin", "--agency", "UBXA"])
    assert result.exit_code == 2 and "client_secret" not in result.stdout
