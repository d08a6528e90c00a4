"""Gateways are built from settings once, and a configuration that cannot work stops the start."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from payments.gateways.base import GatewayConfigError, registry
from payments.gateways.sandbox import SandboxGateway
from payments.setup import build_gateways
from portal.kernel import outbox
from portal.kernel.outbox import WorkerContext, _Schedule, periodic
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage


def make_settings(tmp_path: Path, **over: object) -> Settings:
    return Settings(
        environment=over.pop("environment", "test"),  # type: ignore[arg-type]
        secret_key=secrets.token_urlsafe(48),
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        storage_dir=tmp_path / "files",
        _env_file=None,  # type: ignore[call-arg]
        **over,  # type: ignore[arg-type]
    )


def test_default_is_the_sandbox_with_its_own_ledger(tmp_path: Path) -> None:
    gateways = build_gateways(make_settings(tmp_path))
    assert list(gateways) == ["sandbox", "cod"]  # cash on delivery is always built (offered to no payer)
    bank = gateways["sandbox"]
    assert isinstance(bank, SandboxGateway)
    assert bank.options.ledger == tmp_path / "sandbox-bank.db"
    assert bank.ledger_entry("DVCNOTHING") is None  # the ledger exists and answers
    assert {"sandbox", "vnpay", "stripe"} <= set(registry.ids())


def test_sandbox_never_runs_in_production(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match="never runs in production"):
        build_gateways(make_settings(tmp_path, environment="production"))


def test_unknown_gateway_and_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match="unknown payment gateway 'napas'"):
        build_gateways(make_settings(tmp_path, payment_gateways=["napas"]))
    with pytest.raises(GatewayConfigError, match="vnpay"):
        build_gateways(make_settings(tmp_path, payment_gateways=["vnpay"], payment_options={"vnpay": {"tmn_code": ""}}))
    with pytest.raises(GatewayConfigError):
        build_gateways(
            make_settings(tmp_path, payment_gateways=["sandbox"], payment_options={"sandbox": {"secret": "short"}})
        )


def test_vnpay_from_options(tmp_path: Path) -> None:
    options = {"vnpay": {"tmn_code": "DVCTEST1", "hash_secret": "S" * 32, "pay_url": "https://pay.example.vn"}}
    gateways = build_gateways(make_settings(tmp_path, payment_gateways=["vnpay", "sandbox"], payment_options=options))
    assert list(gateways) == ["vnpay", "sandbox", "cod"]  # offered in the configured order, then the internal


def test_periodic_jobs_run_when_due_and_survive_errors(tmp_path: Path) -> None:
    runs: list[str] = []
    settings = make_settings(tmp_path)
    ctx = WorkerContext(settings=settings, storage=LocalStorage(settings.storage_dir))
    with outbox.registry.isolated():  # the test job is forgotten afterwards

        @periodic("test.job", lambda settings: 3600.0)
        def job(engine: object, ctx: WorkerContext) -> None:
            runs.append("ran")
            raise RuntimeError("a failing job must not stop the worker")

        schedule = _Schedule()
        schedule.run_due(None, ctx)  # type: ignore[arg-type]
        # Not due again within the hour.
        schedule.run_due(None, ctx)  # type: ignore[arg-type]
    assert runs == ["ran"]
    assert "test.job" not in outbox.registry.jobs()
