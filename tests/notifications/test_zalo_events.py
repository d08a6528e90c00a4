"""Zalo end to end: a notification sent through the outbox to the fake ZNS, then Zalo's signed delivery event
(POST /api/notifications/zalo/events): forged, stale, replayed, malformed, unknown."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from auth.models import Account
from portal.app import create_app
from portal.kernel.db import writer
from portal.kernel.outbox import OutboxMessage, WorkerContext, drain
from portal.kernel.settings import Settings
from portal.notifications import zalo
from portal.notifications.models import DeliveryStatus, NotificationDelivery, NotificationPreference
from portal.notifications.service import notify
from tests.notifications.fake_zns import APP_ID, OA_SECRET_KEY, FakeZns, serve

PATH = "/api/notifications/zalo/events"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeZns]:
    with serve() as running:
        running.templates["501500"] = {"so_tien", "ma_giao_dich"}
        yield running


@pytest.fixture(scope="module")
def zns_settings(settings: Settings, fake: FakeZns) -> Settings:
    return settings.model_copy(
        update={
            "zalo_provider": "zns",
            "zalo_options": {
                "base_url": fake.url,
                "access_token": "at-initial",
                "app_id": APP_ID,
                "oa_secret_key": OA_SECRET_KEY,
                "template_ids": {"DVC_THANH_TOAN_THANH_CONG": "501500"},
                "timeout": 2,
            },
            "outbox_max_attempts": 2,
        }
    )


@pytest.fixture(scope="module")
def zns_app(zns_settings: Settings) -> Iterator[Any]:
    application = create_app(zns_settings)
    with TestClient(application):
        yield application


@pytest.fixture()
def api(zns_app: Any) -> TestClient:
    return TestClient(zns_app, follow_redirects=False)


@pytest.fixture(autouse=True)
def fresh(fake: FakeZns) -> Iterator[None]:
    fake.script.clear()
    fake.not_on_zalo.clear()
    zalo._tokens.clear()
    yield


def engine_of(app: Any) -> Engine:
    engine: Engine = app.state.engine
    return engine


def zalo_citizen(engine: Engine, phone: str) -> str:
    with Session(writer(engine)) as s:
        account = Account(full_name="Lê Thị Mai", phone=phone)
        s.add(account)
        s.flush()
        s.add(NotificationPreference(account_id=account.id, email=False, sms=False, zalo=True))
        s.commit()
        return account.id


def paid(engine: Engine, account_id: str, key: str) -> str:
    with Session(writer(engine)) as s:
        row = notify(
            s,
            account_id=account_id,
            kind="payment.succeeded",
            dedupe_key=key,
            params={"amount": "1.500.000", "reference": "TT-20261206-0042"},
            link="/dossiers/abc",
        )
        s.commit()
        assert row is not None
        return row.id


def run_outbox(app: Any, settings: Settings) -> None:
    engine = engine_of(app)
    ctx = WorkerContext(settings=settings, storage=app.state.storage)
    while drain(engine, ctx):
        pass


def zalo_delivery(engine: Engine, notification_id: str) -> NotificationDelivery:
    with Session(engine) as s:
        return s.exec(
            select(NotificationDelivery).where(
                NotificationDelivery.notification_id == notification_id, NotificationDelivery.channel == "zalo"
            )
        ).one()


def a_phone() -> str:
    """A Vietnamese mobile number no other test account has (the account's phone is unique)."""
    return "09" + "".join(secrets.choice("0123456789") for _ in range(8))


def sent_delivery(zns_app: Any, zns_settings: Settings) -> NotificationDelivery:
    engine = engine_of(zns_app)
    phone = a_phone()
    notification_id = paid(engine, zalo_citizen(engine, phone), f"zalo-test:{time.time_ns()}")
    run_outbox(zns_app, zns_settings)
    delivery = zalo_delivery(engine, notification_id)
    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    return delivery


# --- through the outbox ---------------------------------------------------------------------------------


def test_a_notification_goes_out_as_the_zns_template_and_its_receipt_marks_it_delivered(
    zns_app: Any, zns_settings: Settings, fake: FakeZns, api: TestClient
) -> None:
    delivery = sent_delivery(zns_app, zns_settings)

    assert delivery.provider == "zns" and delivery.recipient.startswith("849")
    sent = fake.sent[delivery.provider_message_id or ""]
    assert sent == {
        "phone": delivery.recipient,
        "template_id": "501500",
        "template_data": {"so_tien": "1.500.000", "ma_giao_dich": "TT-20261206-0042"},
        "tracking_id": delivery.id,
    }
    assert delivery.content["template_id"] == "DVC_THANH_TOAN_THANH_CONG"  # as the template file names it

    body, headers = fake.event(delivery.provider_message_id or "", tracking_id=delivery.id)
    r = api.post(PATH, content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"outcome": "recorded"}
    after = zalo_delivery(engine_of(zns_app), delivery.notification_id)
    assert after.status == DeliveryStatus.DELIVERED and after.status_at is not None

    # The same event again (Zalo repeats, or someone replays a capture): acknowledged, nothing changes.
    again = api.post(PATH, content=body, headers=headers)
    assert again.status_code == 200 and again.json() == {"outcome": "unchanged"}
    resigned, resigned_headers = fake.event(delivery.provider_message_id or "", tracking_id=delivery.id)
    assert api.post(PATH, content=resigned, headers=resigned_headers).json() == {"outcome": "unchanged"}
    assert zalo_delivery(engine_of(zns_app), delivery.notification_id).status_at == after.status_at


def test_a_number_not_on_zalo_fails_at_once_and_the_inbox_keeps_the_notification(
    zns_app: Any, zns_settings: Settings, fake: FakeZns
) -> None:
    phone = a_phone()
    fake.not_on_zalo.add("84" + phone[1:])
    engine = engine_of(zns_app)
    notification_id = paid(engine, zalo_citizen(engine, phone), f"zalo-test:{time.time_ns()}")
    run_outbox(zns_app, zns_settings)

    delivery = zalo_delivery(engine, notification_id)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert "-118" in (delivery.last_error or "")


def test_a_failing_zns_is_retried_then_failed_and_dead(zns_app: Any, zns_settings: Settings, fake: FakeZns) -> None:
    fake.script.extend([("http", 500), ("http", 500)])
    engine = engine_of(zns_app)
    notification_id = paid(engine, zalo_citizen(engine, a_phone()), f"zalo-test:{time.time_ns()}")
    run_outbox(zns_app, zns_settings)
    delivery = zalo_delivery(engine, notification_id)
    assert delivery.status == DeliveryStatus.QUEUED and "HTTP 500" in (delivery.last_error or "")

    with Session(writer(engine)) as s:  # the back-off has passed
        message = s.exec(
            select(OutboxMessage).where(OutboxMessage.topic == "notification.deliver", OutboxMessage.dead.is_(False))  # type: ignore[attr-defined]
        ).all()
        mine = [m for m in message if m.payload.get("id") == delivery.id]
        assert len(mine) == 1
        mine[0].available_at = mine[0].created_at
        s.add(mine[0])
        s.commit()
        message_id = mine[0].id
    run_outbox(zns_app, zns_settings)

    delivery = zalo_delivery(engine, notification_id)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 2
    with Session(engine) as s:
        dead = s.get(OutboxMessage, message_id)
        assert dead is not None and dead.dead


# --- the webhook's refusals -------------------------------------------------------------------------------


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize(
    "forgery",
    [
        {"secret": "not-the-oa-secret"},
        {"signed_app_id": "another-app"},
        {"app_id": "another-app", "signed_app_id": "another-app"},
        {"sent_ms": int(time.time() * 1000) - 3600_000},  # an hour-old capture, correctly signed
        {"sent_ms": int(time.time() * 1000) + 3600_000},
    ],
    ids=["wrong-secret", "signature-of-another-app", "another-app", "stale", "future"],
)
def test_forged_or_stale_events_are_401_and_change_nothing(
    zns_app: Any, zns_settings: Settings, fake: FakeZns, api: TestClient, forgery: dict[str, Any]
) -> None:
    delivery = sent_delivery(zns_app, zns_settings)
    body, headers = fake.event(delivery.provider_message_id or "", **forgery)
    problem(api.post(PATH, content=body, headers=headers), 401)
    assert zalo_delivery(engine_of(zns_app), delivery.notification_id).status == DeliveryStatus.SENT


def test_a_missing_signature_or_a_tampered_body_is_401(fake: FakeZns, api: TestClient) -> None:
    body, headers = fake.event("abc")
    problem(api.post(PATH, content=body, headers={"Content-Type": "application/json"}), 401)
    tampered = body.replace(b'"msg_id":"abc"', b'"msg_id":"abd"')
    problem(api.post(PATH, content=tampered, headers=headers), 401)


def test_malformed_bodies_are_400_or_422(fake: FakeZns, api: TestClient) -> None:
    problem(api.post(PATH, content=b"\xff\xfe not json", headers={"X-ZEvent-Signature": "mac=00"}), 400)
    problem(api.post(PATH, content=b"[1, 2]", headers={"X-ZEvent-Signature": "mac=00"}), 400)
    # Authentic, but a received-message event without its message: 422.
    body, headers = fake.event("abc")
    payload = json.loads(body)
    del payload["message"]
    raw = json.dumps(payload).encode()
    headers["X-ZEvent-Signature"] = zalo.event_signature(
        app_id=APP_ID, body=raw, timestamp=payload["timestamp"], oa_secret_key=OA_SECRET_KEY
    )
    problem(api.post(PATH, content=raw, headers=headers), 422)


def test_an_unknown_message_and_other_events_are_acknowledged(fake: FakeZns, api: TestClient) -> None:
    body, headers = fake.event("no-such-msg-id")
    r = api.post(PATH, content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"outcome": "unchanged"}
    body, headers = fake.event("abc", event_name="user_seen_message")
    r = api.post(PATH, content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"outcome": "ignored"}


def test_without_zns_the_route_is_404(client: TestClient, fake: FakeZns) -> None:
    body, headers = fake.event("abc")  # the session app sends Zalo through the log
    problem(client.post(PATH, content=body, headers=headers), 404)


def test_the_route_is_in_openapi_with_its_body_and_answers(client: TestClient) -> None:
    operation = client.get("/api/openapi.json").json()["paths"][PATH]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"event_name", "app_id", "timestamp"} <= set(schema["required"])
    assert "msg_id" in schema["properties"]["message"]["anyOf"][0]["properties"]
    assert {"200", "400", "401", "404", "422"} <= set(operation["responses"])
    assert any(p["name"] == "X-ZEvent-Signature" for p in operation["parameters"])
