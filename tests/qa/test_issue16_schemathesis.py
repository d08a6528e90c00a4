"""QA of issue 16 on the partner API: the back-office and postal operations (which now record their reads of
personal data in the audit chain) against their OpenAPI document with schemathesis, then the console reading the
same dossiers, then `portal audit verify`: never a 5xx, and the chain intact after the traffic."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from portal.audit.cli import audit
from portal.dossiers.models import Dossier
from portal.kernel.audit import AuditEvent
from portal.kernel.settings import get_settings
from tests.api.helpers import committed_dossier
from tests.api.postal_helpers import claimed_order, committed_order, deliver, operator_headers
from tests.api.test_schemathesis import _conform, _real_half
from tests.api.test_token_and_api import bearer, get_token, new_client
from tests.audit.chain_helpers import cli_env
from tests.staff_factories import staff_client

pytestmark = pytest.mark.db


def _verify(settings: Any) -> Any:
    get_settings.cache_clear()  # the command reads its settings from the environment given here
    try:
        return CliRunner().invoke(audit, ["verify"], env=cli_env(settings))
    finally:
        get_settings.cache_clear()


def test_backoffice_and_postal_operations_never_5xx_and_the_chain_stays_intact(app: Any, settings: Any) -> None:
    client = TestClient(app)
    bo_id, bo_secret = new_client(app)
    token = bearer(get_token(client, bo_id, bo_secret))
    dossiers = [committed_dossier(app) for _ in range(3)]
    codes = [d.code or "" for d in dossiers]
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).include(path_regex=r"^/api/v1/backoffice/")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 12, [op.label for op in operations]

    def prepare(case: schemathesis.Case) -> dict[str, str]:
        _real_half(case, "code", codes)
        return token

    failures = _conform(operations, prepare)

    postal = operator_headers(client, app)
    orders = [committed_order(app, settings, cod_amount=20_000), claimed_order(client, app, settings, postal)]
    done = claimed_order(client, app, settings, postal)
    assert deliver(client, postal, done).status_code == 200
    numbers = [o.number for o in [*orders, done]]
    postal_schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).include(path_regex=r"^/api/v1/postal/")
    postal_ops = [result.ok() for result in postal_schema.get_all_operations()]  # type: ignore[union-attr]

    def prepare_postal(case: schemathesis.Case) -> dict[str, str]:
        _real_half(case, "number", numbers)
        return postal

    failures += _conform(postal_ops, prepare_postal)
    assert not failures, "\n\n".join(failures)

    # The partner's reads are recorded as the dossier's accesses; the console reads them too.
    supervisor = staff_client(app, role="supervisor")
    with Session(app.state.engine) as s:
        ids = list(s.exec(select(Dossier.id).where(col(Dossier.code).in_(codes))).all())
        reads = s.exec(
            select(AuditEvent).where(col(AuditEvent.dossier_id).in_(ids), col(AuditEvent.actor_kind) == "agency")
        ).all()
        assert reads, "no back-office read was recorded"
    for dossier_id in ids:
        assert supervisor.get(f"/staff/dossiers/{dossier_id}").status_code == 200

    verdict = _verify(settings)
    assert verdict.exit_code == 0, verdict.output
    assert "chain intact" in verdict.output
