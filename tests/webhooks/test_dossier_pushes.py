"""A real transition of the dossier's life reaches the back-office's receiver, signed, and its body is what
the OpenAPI `webhooks` section documents for its type."""

from __future__ import annotations

import json

import pytest
import standardwebhooks
from sqlmodel import Session, col, select

from portal.dossiers import lifecycle
from portal.kernel.db import writer
from portal.kernel.outbox import OutboxMessage
from portal.webhooks import events
from portal.webhooks.openapi import envelope_model
from tests import factories
from tests.webhooks.conftest import context, drain_all
from tests.webhooks.receiver import Receiver, serve

pytestmark = pytest.mark.db


def pending_pushes(app) -> list[OutboxMessage]:
    with Session(app.state.engine) as s:
        unsent = select(OutboxMessage).where(
            col(OutboxMessage.topic) == "webhook.deliver", col(OutboxMessage.processed_at).is_(None)
        )
        return list(s.exec(unsent))


def test_received_dossier_is_pushed_as_documented(app, settings, secret: str) -> None:
    with serve(Receiver()) as receiver:
        with Session(writer(app.state.engine)) as s:
            dossier = factories.dossier(s, submitted=True)
            code, agency_code = dossier.code, dossier.agency_code
            lifecycle.receive(session=s, dossier=dossier, officer="Trần Văn Nam", by="api:test")
            s.commit()
        ctx = context(settings, webhook_endpoints={agency_code: {"url": receiver.url, "secrets": [secret]}})
        rows = [m for m in pending_pushes(app) if m.payload["data"].get("code") == code]
        assert [m.payload["type"] for m in rows] == ["dossier.received"]
        drain_all(app.state.engine, ctx, [rows[0].payload["event_id"]])
    [got] = [r for r in receiver.requests if json.loads(r.body)["data"].get("code") == code]
    body = standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    event = events.registry.get("dossier.received")
    assert event is not None
    documented = envelope_model(event).model_validate(body)  # the body is what the OpenAPI document says
    data = event.model.model_validate(body["data"])
    assert documented.model_dump()["type"] == "dossier.received"
    assert body["data"]["status"] == "received" and body["data"]["received_by"] == "Trần Văn Nam"
    assert data.model_dump()["official_due_date"] is not None
