"""`portal webhooks …` and `portal outbox …` as an operator types them; the OpenAPI `webhooks` section;
refused configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import standardwebhooks
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlmodel import Session, col, select

from portal.app import create_app
from portal.kernel.db import writer
from portal.kernel.outbox import OutboxMessage
from portal.kernel.settings import Settings, get_settings
from portal.webhooks import events, publish
from portal.webhooks.cli import outbox, webhooks
from portal.webhooks.endpoints import EndpointError, configured, set_endpoint
from portal.webhooks.events import register_event
from portal.webhooks.models import WebhookEndpoint
from tests.webhooks.conftest import agency, context, drain_all, publish_many
from tests.webhooks.receiver import Receiver, serve

pytestmark = pytest.mark.db


@pytest.fixture()
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PORTAL_ENVIRONMENT", "test")
    monkeypatch.setenv("PORTAL_SECRET_KEY", settings.secret_key)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_webhooks_commands_set_rotate_finish_and_list(app, settings: Settings, cli_env: CliRunner) -> None:
    code = agency()
    r = cli_env.invoke(webhooks, ["set", code, "https://mot-cua.example.vn/hooks"])
    assert r.exit_code == 0, r.output
    first = r.output.strip().splitlines()[-1]
    assert first.startswith("whsec_")
    r = cli_env.invoke(webhooks, ["rotate", code])
    assert r.exit_code == 0, r.output
    second = r.output.strip().splitlines()[-1]
    assert second.startswith("whsec_") and second != first
    with Session(app.state.engine) as s:
        row = s.get(WebhookEndpoint, code)
        assert row is not None and row.secrets == [first, second]
    assert "already rotating" in cli_env.invoke(webhooks, ["rotate", code]).output
    listed = cli_env.invoke(webhooks, ["list"]).output
    line = next(x for x in listed.splitlines() if x.startswith(code))
    assert "https://mot-cua.example.vn/hooks" in line and "rotating" in line and "whsec_" not in listed
    assert cli_env.invoke(webhooks, ["finish-rotation", code]).exit_code == 0
    with Session(app.state.engine) as s:
        row = s.get(WebhookEndpoint, code)
        assert row is not None and row.secrets == [second]
    r = cli_env.invoke(webhooks, ["finish-rotation", code])
    assert r.exit_code == 2 and "not rotating" in r.output
    r = cli_env.invoke(webhooks, ["set", code, "https://other.example.vn/h"])  # keeps the secret
    assert r.exit_code == 0 and "whsec_" not in r.output
    for bad in (["set", code, "ftp://x/y"], ["set", code, "https://x/y", "--secret", "whsec_short"]):
        r = cli_env.invoke(webhooks, bad)
        assert r.exit_code == 2 and r.output.startswith("refused:"), r.output
    assert "no webhook endpoint" in cli_env.invoke(webhooks, ["rotate", agency()]).output


def test_outbox_commands_list_and_replay(app, settings: Settings, cli_env: CliRunner) -> None:
    code = agency()
    receiver = Receiver(answer=lambda n, r: (500, {}, 0.0))
    with serve(receiver):
        with Session(writer(app.state.engine)) as s:
            set_endpoint(s, code, receiver.url, by="test")
            s.commit()
        [event_id] = publish_many(app.state.engine, code, 1)
        [row] = drain_all(app.state.engine, context(settings, outbox_max_attempts=1), [event_id])
    listed = cli_env.invoke(outbox, ["list", "--dead", "--topic", "webhook.deliver", "--limit", "10000"]).output
    line = next(x for x in listed.splitlines() if x.startswith(f"{row.id} "))
    assert "webhook.deliver" in line and "dead" in line and event_id in line and "HTTP 500" in line
    assert f"\n{row.id} " not in cli_env.invoke(outbox, ["list", "--topic", "nothing.here"]).output
    r = cli_env.invoke(outbox, ["replay", str(row.id)])
    assert r.exit_code == 0 and "pending again" in r.output
    r = cli_env.invoke(outbox, ["replay", str(row.id)])
    assert r.exit_code == 2 and "is pending" in r.output
    with Session(app.state.engine) as s:
        again = s.get(OutboxMessage, row.id)
        assert again is not None and (again.dead, again.attempts, again.processed_at) == (False, 0, None)
        s.delete(again)
        s.commit()


class Received(BaseModel):
    """The data of a test event."""

    code: str
    officer: str


def test_openapi_documents_every_registered_event(settings: Settings) -> None:
    with events.registry.isolated():
        register_event("test.received", Received, "A dossier was received at the counter.")
        register_event("test.received", Received, "A dossier was received at the counter.")  # same: accepted
        with pytest.raises(ValueError, match="two payload models"):
            register_event("test.received", BaseModel, "other")
        registered = [e.name for e in events.event_types()]
        spec = TestClient(create_app(settings)).get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert set(registered) <= set(spec["webhooks"]) and "test.received" in spec["webhooks"]
    op = spec["webhooks"]["test.received"]["post"]
    assert op["description"] == "A dossier was received at the counter."
    assert {p["name"] for p in op["parameters"] if p["in"] == "header"} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    envelope = spec["components"]["schemas"][
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    ]
    assert envelope["required"] == ["type", "timestamp", "data"]
    assert envelope["properties"]["type"]["const"] == "test.received"
    data = spec["components"]["schemas"][envelope["properties"]["data"]["$ref"].split("/")[-1]]
    assert set(data["properties"]) == {"code", "officer"}
    assert "422" not in op["responses"] and "200" in op["responses"]


def test_the_applications_events_are_all_documented(app) -> None:
    spec = TestClient(app).get("/api/openapi.json").json()
    assert {e.name for e in events.event_types()} <= set(spec.get("webhooks", {}))


def test_settings_endpoints_are_validated_naming_the_agency(settings: Settings) -> None:
    for bad in (
        {"url": "https://x/y", "secrets": []},
        {"url": "x", "secrets": ["whsec_" + "A" * 44]},
        {"url": "https://x/y"},
    ):
        with pytest.raises(EndpointError, match="UBXA"):
            configured(settings.model_copy(update={"webhook_endpoints": {"UBXA": bad}}))


def test_published_message_matches_the_interface(app, settings: Settings, secret: str) -> None:
    code = agency()
    with Session(writer(app.state.engine)) as s:
        event_id = publish(s, agency_code=code, type="dossier.paid", data={"amount": 50_000})
        msg = s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc())).first()
        assert msg is not None
        msg_id, topic, payload = msg.id, msg.topic, dict(msg.payload)
        s.rollback()  # published in the caller's transaction: rolled back with it
    assert topic == "webhook.deliver" and set(payload) == {"event_id", "agency_code", "type", "timestamp", "data"}
    assert payload["event_id"] == event_id and payload["data"] == {"amount": 50_000} and payload["agency_code"] == code
    with Session(app.state.engine) as s:
        assert s.get(OutboxMessage, msg_id) is None
    with serve(Receiver()) as receiver:
        ids = publish_many(app.state.engine, code, 1, "dossier.paid")
        endpoints = {code: {"url": receiver.url, "secrets": [secret]}}
        drain_all(app.state.engine, context(settings, webhook_endpoints=endpoints), ids)
    [got] = receiver.requests
    body = standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    assert json.loads(got.body) == body and body["type"] == "dossier.paid" and got.headers["webhook-id"] == ids[0]
