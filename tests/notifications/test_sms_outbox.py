"""SMS end to end: a notification fanned out by the outbox, sent by the http plugin to the fake gateway over real
HTTP, and its signed delivery receipt posted back to the portal; a gateway that fails is retried and then the
delivery fails with the message dead; a refused number fails at once; a timeout sends no second SMS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.kernel.outbox import WorkerContext, list_messages
from portal.kernel.settings import Settings
from portal.notifications import templates
from portal.notifications.sms_text import encoding_of, fit, segments
from tests.notifications.fake_sms import FakeSmsGateway
from tests.notifications.test_deliveries import KIND, mobile, notify_by_template, prefer
from tests.notifications.test_notifications import (
    PARAMS,
    deliver_messages,
    deliveries_of,
    drain_all,
    make_account,
    make_due,
)

pytestmark = pytest.mark.db

RECEIPTS = "/api/notifications/sms/http/receipts"


def expected_text(*, plain: bool, max_segments: int = 2) -> str:
    """The template file's SMS for the notification tests.notifications sends, fitted as the worker fits it."""
    text = templates.sms_text(KIND, {**PARAMS, templates.LINK: "http://testserver/dossiers/d-1"}, "vi")
    return fit(text, plain=plain, max_segments=max_segments).text


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeSmsGateway]:
    fake = FakeSmsGateway(auth="basic", body_format="form").start()
    yield fake
    fake.stop()


def sms_settings(settings: Settings, gateway: FakeSmsGateway, **over: Any) -> Settings:
    return settings.model_copy(update={"sms_provider": "http", "sms_options": gateway.options(), **over})


def sms_ctx(app: Any, settings: Settings, gateway: FakeSmsGateway, **over: Any) -> WorkerContext:
    return WorkerContext(settings=sms_settings(settings, gateway, **over), storage=app.state.storage)


def sms_citizen(engine: Any, **choice: Any) -> tuple[str, str]:
    """An account that chose SMS only; returns (account id, its number as the gateway receives it)."""
    phone = mobile()
    account_id = make_account(engine, phone=phone)
    prefer(engine, account_id, sms=True, **choice)
    return account_id, "84" + phone[1:]


def test_an_sms_goes_through_the_outbox_to_the_gateway_and_its_receipt_comes_back(
    app: Any, settings: Settings, gateway: FakeSmsGateway
) -> None:
    engine = app.state.engine
    account_id, number = sms_citizen(engine)
    nid = notify_by_template(engine, account_id)
    drain_all(engine, sms_ctx(app, settings, gateway))

    sms = deliveries_of(engine, nid)["sms"]
    (sent,) = [s for s in gateway.sent if s.reference == sms.id]
    assert (sent.phone, sent.sender, sent.text) == (number, "DVC-TINH", expected_text(plain=False))
    assert "STP-261122-0001" in sent.text and "http://testserver/dossiers/d-1" in sent.text
    assert sms.status == "sent" and sms.provider == "http" and sms.recipient == number
    assert sms.provider_message_id == sent.message_id
    # The record is exactly what went out.
    assert sms.content["text"] == sent.text
    assert sms.content["encoding"] == encoding_of(sent.text) == "ucs2"
    assert sms.content["segments"] == segments(sent.text) <= settings.sms_max_segments

    receipt_app = _receipt_app(app, settings, gateway)
    with TestClient(receipt_app) as api:
        r = gateway.post_receipt(api, RECEIPTS, {"message_id": sent.message_id, "status": "DELIVRD"})
    assert r.status_code == 200 and r.json()["applied"] == 1
    assert deliveries_of(engine, nid)["sms"].status == "delivered"


def _receipt_app(app: Any, settings: Settings, gateway: FakeSmsGateway) -> Any:
    from portal.app import create_app

    return create_app(sms_settings(settings, gateway))


def test_sms_without_diacritics_reaches_the_gateway_as_gsm7(
    app: Any, settings: Settings, gateway: FakeSmsGateway
) -> None:
    engine = app.state.engine
    account_id, _ = sms_citizen(engine, sms_plain=True)
    nid = notify_by_template(engine, account_id)
    drain_all(engine, sms_ctx(app, settings, gateway))
    sms = deliveries_of(engine, nid)["sms"]
    (sent,) = [s for s in gateway.sent if s.reference == sms.id]
    assert sent.text == expected_text(plain=True)
    assert "STP-261122-0001" in sent.text and sent.text.isascii()
    assert sms.content["encoding"] == "gsm7" and sms.content["segments"] == segments(sent.text) == 1


def test_a_gateway_failing_is_retried_then_the_delivery_fails_and_the_message_is_dead(
    app: Any, settings: Settings, gateway: FakeSmsGateway
) -> None:
    engine = app.state.engine
    ctx = sms_ctx(app, settings, gateway, outbox_max_attempts=3)
    account_id, _ = sms_citizen(engine)
    nid = notify_by_template(engine, account_id)
    gateway.fail_next(3, status=503)
    drain_all(engine, ctx)
    delivery = deliveries_of(engine, nid)["sms"]
    (message,) = deliver_messages(engine, delivery.id)
    for attempt in (1, 2):
        row = deliveries_of(engine, nid)["sms"]
        assert row.status == "queued" and row.attempts == attempt
        assert "HTTP 503" in (row.last_error or "")
        make_due(engine, message.id)
        drain_all(engine, ctx)
    failed = deliveries_of(engine, nid)["sms"]
    assert failed.status == "failed" and failed.attempts == 3
    assert (failed.last_error or "").startswith("gave up: sms ") and "HTTP 503" in (failed.last_error or "")
    assert not [s for s in gateway.sent if s.reference == delivery.id]
    with Session(engine) as s:  # `portal outbox list --dead`
        assert message.id in [m.id for m in list_messages(s, dead=True, topic="notification.deliver")]


def test_a_refused_number_fails_at_once(app: Any, settings: Settings, gateway: FakeSmsGateway) -> None:
    engine = app.state.engine
    account_id, number = sms_citizen(engine)
    gateway.blocked.add(number)
    nid = notify_by_template(engine, account_id)
    drain_all(engine, sms_ctx(app, settings, gateway))
    sms = deliveries_of(engine, nid)["sms"]
    assert sms.status == "failed" and sms.attempts == 1
    assert (sms.last_error or "").startswith("rejected: ") and "number_blocked" in (sms.last_error or "")
    (message,) = deliver_messages(engine, sms.id)
    assert message.processed_at is not None and not message.dead  # done: never retried


def test_a_timeout_is_retried_and_the_sms_is_sent_once(app: Any, settings: Settings, gateway: FakeSmsGateway) -> None:
    engine = app.state.engine
    options = {**gateway.options(), "timeout_seconds": 0.3}
    ctx = WorkerContext(
        settings=settings.model_copy(update={"sms_provider": "http", "sms_options": options}),
        storage=app.state.storage,
    )
    account_id, _ = sms_citizen(engine)
    nid = notify_by_template(engine, account_id)
    gateway.delay_next(1.0)  # the gateway takes it, but answers too late
    drain_all(engine, ctx)
    sms = deliveries_of(engine, nid)["sms"]
    assert sms.status == "queued" and "no answer within 0.3 s" in (sms.last_error or "")
    (message,) = deliver_messages(engine, sms.id)
    time.sleep(1.0)  # the slow answer is over; the gateway kept the message
    make_due(engine, message.id)
    drain_all(engine, ctx)
    sms = deliveries_of(engine, nid)["sms"]
    taken = [s for s in gateway.sent if s.reference == sms.id]
    assert len(taken) == 1  # the retry carried the same reference: the gateway did not send a second SMS
    assert sms.status == "sent" and sms.provider_message_id == taken[0].message_id
