"""Development API clients for the simulated agencies: created once, their secrets kept beside the
development PKI (storage_dir/simulator/clients.json, 0600), and created again when refused."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from auth.client_service import create_client, revoke
from portal.kernel.errors import DomainError
from portal.kernel.settings import Settings
from portal.kernel.uow import unit_of_work
from portal.simulator.api import Credentials

CLIENT_NAME = "Phần mềm một cửa mô phỏng (phát triển)"
POSTAL_CLIENT_NAME = "Doanh nghiệp bưu chính mô phỏng (phát triển)"
_lock = threading.Lock()


class NotInDevelopment(RuntimeError):
    """Development clients are only made outside production."""


def _store(settings: Settings) -> Path:
    return Path(settings.storage_dir) / "simulator" / "clients.json"


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def agency_names(engine: Engine) -> dict[str, str]:
    """Every agency of the catalogue, code → Vietnamese name. Read from its table directly: the catalogue is a
    sibling domain this package does not import, and a development simulator may know the schema."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, name_vi FROM agency ORDER BY code"))
        return {str(code): str(name) for code, name in rows}


def procedure_names(engine: Engine) -> dict[str, tuple[str, str]]:
    """Every procedure of the catalogue, code → (Vietnamese name, Vietnamese name of its result), for the
    result documents (read like agency_names)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, name_vi, result_vi FROM procedure"))
        return {str(code): (str(name), str(result or "")) for code, name, result in rows}


def dev_client(settings: Settings, engine: Engine, agency_code: str, *, renew: bool = False) -> Credentials:
    """The development client of this agency: the stored one, or a new one (`renew`: the stored one was refused;
    it is revoked and replaced)."""
    return _dev_client(settings, engine, agency_code, renew=renew, name=CLIENT_NAME, scope="backoffice")


def dev_postal_client(settings: Settings, engine: Engine, operator: str, *, renew: bool = False) -> Credentials:
    """The development client of this postal operator (scope `postal`), kept like the agencies' ones."""
    return _dev_client(
        settings, engine, f"postal:{operator}", renew=renew, name=POSTAL_CLIENT_NAME, scope="postal", operator=operator
    )


def _dev_client(
    settings: Settings,
    engine: Engine,
    key: str,
    *,
    renew: bool,
    name: str,
    scope: str,
    operator: str | None = None,
) -> Credentials:
    if settings.environment == "production":
        raise NotInDevelopment("the simulators create API clients only outside production")
    path = _store(settings)
    with _lock:
        stored = _read(path)
        current = stored.get(key)
        if current and not renew:
            return Credentials(current["client_id"], current["client_secret"])
        with unit_of_work(engine, write=True, settings=settings) as session:
            if current:
                with contextlib.suppress(DomainError):  # gone with a reset database: nothing to revoke
                    revoke(session, current["client_id"])
            if operator is None:
                row, secret = create_client(session, name=name, scope=scope, agency_code=key)
            else:
                row, secret = create_client(session, name=name, scope=scope, postal_operator=operator)
            client_id = row.id
        stored[key] = {"client_id": client_id, "client_secret": secret}
        _write(path, stored)
        return Credentials(client_id, secret)
