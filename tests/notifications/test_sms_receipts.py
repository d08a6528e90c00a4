"""The SMS gateway's delivery receipts: signed callbacks from the fake gateway move deliveries to delivered or
failed; forged, stale, replayed and malformed ones change nothing and never give a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.app import create_app
from portal.kernel.clock import utcnow
from portal.kernel.settings import Settings
from portal.notifications.models import DeliveryStatus, Notification, NotificationChannel, NotificationDelivery
from tests.factories import account
from tests.notifications.fake_sms import FakeSmsGateway

pytestmark = pytest.mark.db

URL = "/api/notifications/sms/http/receipts"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def gateway() -> FakeSmsGateway:
    # Only its receipts are used here: no server needed.
    return FakeSmsGateway()


@pytest.fixture(scope="module")
def sms_app(settings: Settings, gateway: FakeSmsGateway) -> Iterator[Any]:
    options = {"url": "https://sms.example.vn/send", "callback_secret": gateway.secret}
    application = create_app(settings.model_copy(update={"sms_provider": "http", "sms_options": options}))
    with TestClient(application):
        yield application


@pytest.fixture()
def api(sms_app: Any) -> TestClient:
    return TestClient(sms_app, follow_redirects=False)


def sent_sms(app: Any, *, status: str = DeliveryStatus.SENT, provider: str = "http") -> tuple[str, str]:
    """A committed SMS delivery the gateway took; returns (delivery id, the gateway's message id)."""
    message_id = "SMS" + secrets.token_hex(8).upper()
    with Session(app.state.engine) as session:
        owner = account(session)
        notification = Notification(
            account_id=owner.id, kind="dossier.result_ready", dedupe_key=secrets.token_hex(8), link="/dossiers/x"
        )
        session.add(notification)
        session.flush()
        delivery = NotificationDelivery(
            notification_id=notification.id,
            account_id=owner.id,
            channel=NotificationChannel.SMS,
            provider=provider,
            recipient="84912345678",
            status=status,
            content={"text": "Ho so da co ket qua", "encoding": "gsm7", "segments": 1},
            provider_message_id=message_id,
            attempts=1,
            sent_at=utcnow(),
        )
        session.add(delivery)
        session.commit()
        return delivery.id, message_id


def delivery_of(app: Any, delivery_id: str) -> NotificationDelivery:
    with Session(app.state.engine) as session:
        row = session.get(NotificationDelivery, delivery_id)
        assert row is not None
        return row


def test_a_delivered_receipt_is_recorded_once(sms_app: Any, api: TestClient, gateway: FakeSmsGateway) -> None:
    delivery_id, message_id = sent_sms(sms_app)
    receipt = {
        "event_id": secrets.token_hex(8),
        "message_id": message_id,
        "status": "DELIVRD",
        "time": "2026-03-02 09:15:00",
    }
    r = gateway.post_receipt(api, URL, receipt)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 1, "applied": 1, "ignored": 0}
    row = delivery_of(sms_app, delivery_id)
    assert row.status == DeliveryStatus.DELIVERED
    assert row.status_at is not None
    assert row.status_at.replace(tzinfo=UTC) == datetime(2026, 3, 2, 2, 15, tzinfo=UTC)  # 09:15 in Vietnam
    # The gateway sends it again (its own retry, freshly signed): acknowledged, nothing applied twice.
    again = gateway.post_receipt(api, URL, receipt)
    assert again.status_code == 200
    assert again.json() == {"received": 1, "applied": 0, "ignored": 1}


def test_a_receipt_without_event_id_is_guarded_by_its_body(
    sms_app: Any, api: TestClient, gateway: FakeSmsGateway
) -> None:
    delivery_id, message_id = sent_sms(sms_app)
    receipt = {"message_id": message_id, "status": "delivered"}
    assert gateway.post_receipt(api, URL, receipt).json()["applied"] == 1
    assert gateway.post_receipt(api, URL, receipt).json()["applied"] == 0
    assert delivery_of(sms_app, delivery_id).status == DeliveryStatus.DELIVERED


def test_a_failed_receipt_keeps_the_reason_and_never_goes_backwards(
    sms_app: Any, api: TestClient, gateway: FakeSmsGateway
) -> None:
    delivery_id, message_id = sent_sms(sms_app)
    r = gateway.post_receipt(
        api,
        URL,
        {"event_id": secrets.token_hex(8), "message_id": message_id, "status": "UNDELIV", "error": "Thuê bao tạm khóa"},
    )
    assert r.json()["applied"] == 1
    row = delivery_of(sms_app, delivery_id)
    assert row.status == DeliveryStatus.FAILED
    assert "Thuê bao tạm khóa" in (row.last_error or "")
    # A late "delivered" for a delivery already failed, and a "failed" for one delivered, change nothing.
    gateway.post_receipt(api, URL, {"event_id": secrets.token_hex(8), "message_id": message_id, "status": "delivered"})
    assert delivery_of(sms_app, delivery_id).status == DeliveryStatus.FAILED
    delivered_id, delivered_msg = sent_sms(sms_app, status=DeliveryStatus.DELIVERED)
    gateway.post_receipt(api, URL, {"event_id": secrets.token_hex(8), "message_id": delivered_msg, "status": "failed"})
    assert delivery_of(sms_app, delivered_id).status == DeliveryStatus.DELIVERED


def test_a_batch_with_intermediate_statuses_and_unknown_ids(
    sms_app: Any, api: TestClient, gateway: FakeSmsGateway
) -> None:
    first_id, first_msg = sent_sms(sms_app)
    second_id, second_msg = sent_sms(sms_app)
    batch: list[dict[str, Any]] = [
        {"message_id": first_msg, "status": "delivered", "time": int(time.time()) - 60},
        {"message_id": second_msg, "status": "ENROUTE"},  # not final: acknowledged, ignored
        {"message_id": "SMS-NOT-OURS", "status": "delivered"},  # unknown: acknowledged, ignored
    ]
    r = gateway.post_receipt(api, URL, batch)
    assert r.status_code == 200
    assert r.json() == {"received": 3, "applied": 1, "ignored": 2}
    assert delivery_of(sms_app, first_id).status == DeliveryStatus.DELIVERED
    assert delivery_of(sms_app, second_id).status == DeliveryStatus.SENT


def test_a_form_encoded_receipt(sms_app: Any, api: TestClient, gateway: FakeSmsGateway) -> None:
    delivery_id, message_id = sent_sms(sms_app)
    r = gateway.post_receipt(api, URL, {"message_id": message_id, "status": "delivered"}, form=True)
    assert r.status_code == 200 and r.json()["applied"] == 1
    assert delivery_of(sms_app, delivery_id).status == DeliveryStatus.DELIVERED


def test_another_providers_delivery_is_not_touched(sms_app: Any, api: TestClient, gateway: FakeSmsGateway) -> None:
    delivery_id, message_id = sent_sms(sms_app, provider="zns")
    r = gateway.post_receipt(api, URL, {"message_id": message_id, "status": "delivered"})
    assert r.json() == {"received": 1, "applied": 0, "ignored": 1}
    assert delivery_of(sms_app, delivery_id).status == DeliveryStatus.SENT


def assert_refused(r: Any, status: int, detail: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert detail in r.json()["detail"]
    assert r.headers["cache-control"] == "no-store"


def test_forged_stale_and_unsigned_receipts_are_refused(sms_app: Any, api: TestClient, gateway: FakeSmsGateway) -> None:
    delivery_id, message_id = sent_sms(sms_app)
    receipt = {"event_id": secrets.token_hex(8), "message_id": message_id, "status": "delivered"}
    assert_refused(gateway.post_receipt(api, URL, receipt, secret="not-the-secret"), 401, "does not match")
    assert_refused(gateway.post_receipt(api, URL, receipt, sign=False), 401, "no X-Signature")
    stale = int(time.time()) - 301
    assert_refused(gateway.post_receipt(api, URL, receipt, timestamp=stale), 401, "away from the portal's clock")
    future = int(time.time()) + 400
    assert_refused(gateway.post_receipt(api, URL, receipt, timestamp=future), 401, "away from the portal's clock")
    # A captured callback with its body changed (another message id, a new status) no longer matches.
    body, headers = gateway.receipt(receipt)
    tampered = body.replace(b"delivered", b"failed")
    assert_refused(api.post(URL, content=tampered, headers=headers), 401, "does not match")
    # The timestamp is signed too: replaying the body with a fresh timestamp needs the secret.
    headers = {**headers, "x-timestamp": str(int(time.time()) + 1)}
    assert_refused(api.post(URL, content=body, headers=headers), 401, "does not match")
    bad_headers = {**gateway.receipt(receipt)[1], "x-signature": "zz-not-hex"}
    assert_refused(api.post(URL, content=body, headers=bad_headers), 401, "not hex")
    no_time = {k: v for k, v in gateway.receipt(receipt)[1].items() if k != "x-timestamp"}
    assert_refused(api.post(URL, content=body, headers=no_time), 401, "X-Timestamp")
    assert delivery_of(sms_app, delivery_id).status == DeliveryStatus.SENT


def test_malformed_receipts_are_refused_with_a_4xx(api: TestClient, gateway: FakeSmsGateway) -> None:
    def signed_raw(body: bytes, content_type: str = "application/json") -> Any:
        _, headers = gateway.receipt({})
        ts = headers["x-timestamp"]
        signature = hmac.new(gateway.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return api.post(
            URL, content=body, headers={"content-type": content_type, "x-timestamp": ts, "x-signature": signature}
        )

    assert_refused(signed_raw(b"{not json"), 400, "not JSON")
    assert_refused(signed_raw(b"\xff\xfe"), 400, "not UTF-8")
    assert_refused(signed_raw(b"[]"), 422, "not a receipt object")
    assert_refused(signed_raw(b'["x"]'), 422, "not a receipt object")
    assert_refused(signed_raw(b'"text"'), 422, "not a receipt object")
    assert_refused(signed_raw(b'{"status": "delivered"}'), 422, "no message id")
    assert_refused(signed_raw(b'{"message_id": "SMS1"}'), 422, "no status")
    assert_refused(signed_raw(b'{"message_id": true, "status": "delivered"}'), 422, "no message id")
    assert_refused(signed_raw(b'{"message_id": "SMS1", "status": "delivered", "time": "yesterday"}'), 422, "time")
    future = (utcnow() + timedelta(days=3)).isoformat()
    assert_refused(
        signed_raw(json.dumps({"message_id": "SMS1", "status": "delivered", "time": future}).encode()), 422, "future"
    )
    many = json.dumps([{"message_id": f"m{i}", "status": "sent"} for i in range(501)]).encode()
    assert_refused(signed_raw(many), 422, "more than 500")


def test_garbage_never_gives_a_500(api: TestClient, gateway: FakeSmsGateway) -> None:
    bodies: list[bytes] = [b"", b"null", b"0", b"{}", b"[{}]", b"a=b&c", b"\x00" * 10, b'{"message_id": {"a": 1}}']
    for body in bodies:
        for headers in (gateway.receipt({})[1], {"x-signature": "00", "x-timestamp": "1"}, {}):
            r = api.post(URL, content=body, headers={**headers, "content-type": "application/json"})
            assert r.status_code in (400, 401, 422), (body, headers, r.status_code)


def test_only_the_configured_provider_with_a_secret_takes_receipts(
    api: TestClient, client: TestClient, gateway: FakeSmsGateway
) -> None:
    body, headers = gateway.receipt({"message_id": "SMS1", "status": "delivered"})
    assert_refused(
        api.post("/api/notifications/sms/log/receipts", content=body, headers=headers), 404, "not the portal's"
    )
    # The test app's provider is the log, which takes no receipts.
    assert_refused(
        client.post("/api/notifications/sms/log/receipts", content=body, headers=headers), 404, "no delivery"
    )
    assert_refused(client.post(URL, content=body, headers=headers), 404, "not the portal's")
    assert client.post("/api/notifications/sms/" + "x" * 21 + "/receipts", content=body).status_code == 422


def test_the_callback_is_in_the_openapi_document(api: TestClient) -> None:
    spec = api.get("/api/openapi.json").json()
    operation = spec["paths"]["/api/notifications/sms/{provider}/receipts"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "401", "404", "422"}
    assert operation["responses"]["401"]["content"] == {
        PROBLEM: {"schema": operation["responses"]["401"]["content"][PROBLEM]["schema"]}
    }
    body = operation["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(body)
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"X-Signature", "X-Timestamp"}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["$ref"].endswith("/ReceiptsAnswer")
