"""One delivery per chosen channel: the fan-out by preference and language, bounces, retries until failed and
dead, provider receipts (replays, never backwards), the statuses on /notifications and the development page."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from auth.models import Account
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.outbox import WorkerContext, list_messages, replay
from portal.kernel.settings import Settings
from portal.notifications.deliveries import record_receipt
from portal.notifications.models import NotificationDelivery, ProviderCallback
from portal.notifications.preferences import PreferenceForm, save
from portal.notifications.service import notify
from portal.notifications.sms_text import fit, strip_diacritics
from portal.notifications.templates import sms_text, texts, zalo_template
from tests.conftest import signup
from tests.notifications.test_notifications import (
    PARAMS,
    Sink,
    account_of,
    deliver_messages,
    deliveries_of,
    drain_all,
    free_port,
    make_account,
    make_due,
    smtp_ctx,
    start_sink,
)

pytestmark = pytest.mark.db

KIND = "payment.succeeded"  # its template file: portal/notifications/templates/payment.succeeded.yaml
LINK = "http://testserver/dossiers/d-1"


def mobile() -> str:
    return "09" + "".join(secrets.choice("0123456789") for _ in range(8))


def notify_by_template(engine: Engine, account_id: str, link: str = "/dossiers/d-1") -> str:
    with Session(writer(engine)) as s:
        row = notify(s, account_id=account_id, kind=KIND, dedupe_key=secrets.token_hex(12), params=PARAMS, link=link)
        s.commit()
        assert row is not None
        return row.id


def prefer(engine: Engine, account_id: str, **choice: Any) -> None:
    form = {"email": False, "sms": False, "zalo": False, "phone": "", "language": "vi", "sms_plain": False, **choice}
    with Session(writer(engine)) as s:
        account = s.get(Account, account_id)
        assert account is not None
        save(s, account=account, form=PreferenceForm(**form))
        s.commit()


def log_ctx(app: Any, settings: Settings) -> WorkerContext:
    return WorkerContext(settings=settings, storage=app.state.storage)


# --------------------------------------------------------------------------- fan-out, language, content


def test_defaults_email_and_sms_when_the_account_has_both(app, settings: Settings) -> None:
    engine = app.state.engine
    phone = mobile()
    account_id = make_account(engine, email=f"mac-dinh-{secrets.token_hex(4)}@example.vn", phone=phone)
    nid = notify_by_template(engine, account_id)
    drain_all(engine, log_ctx(app, settings))

    sent = deliveries_of(engine, nid)
    assert set(sent) == {"email", "sms"}  # Zalo is off until chosen
    email, sms = sent["email"], sent["sms"]
    assert email.status == sms.status == "sent" and email.provider == sms.provider == "log"
    vi, en = texts(KIND, PARAMS, "vi"), texts(KIND, PARAMS, "en")
    assert email.content["language"] == "vi" and email.content["subject"] == vi.subject
    assert "200.000" in vi.subject and "đồng" in vi.subject
    text = email.content["text"]
    assert text.startswith(vi.body) and text.index(vi.body) < text.index("-- English --") < text.index(en.body)
    assert sms.recipient == "84" + phone[1:]
    assert sms.content["text"] == sms_text(KIND, {**PARAMS, "link": LINK}, "vi")
    assert "STP-261122-0001" in sms.content["text"] and sms.content["text"].endswith(LINK)
    fitted = fit(sms_text(KIND, {**PARAMS, "link": LINK}, "vi"), plain=False, max_segments=settings.sms_max_segments)
    assert sms.content["encoding"] == "ucs2" and sms.content["segments"] == fitted.segments
    assert sms.content["shortened"] is fitted.shortened
    assert sms.provider_message_id == f"log-{sms.id}"


def test_the_chosen_channels_in_the_chosen_language(app, settings: Settings) -> None:
    engine = app.state.engine
    phone = mobile()
    account_id = make_account(engine, email=f"tieng-anh-{secrets.token_hex(4)}@example.vn")
    prefer(engine, account_id, email=True, sms=True, zalo=True, phone="+84 " + phone[1:], language="en")
    nid = notify_by_template(engine, account_id)
    drain_all(engine, log_ctx(app, settings))

    sent = deliveries_of(engine, nid)
    assert set(sent) == {"email", "sms", "zalo"}
    email, sms, zalo = sent["email"], sent["sms"], sent["zalo"]
    assert email.content["subject"] == texts(KIND, PARAMS, "en").subject == "Payment of 200.000\u00a0VND received"
    assert email.content["text"].startswith(texts(KIND, PARAMS, "en").body)
    assert (
        "-- Tiếng Việt --" in email.content["text"]
        and "Xem chi tiết: http://testserver/dossiers/d-1" in (email.content["text"])
    )
    assert sms.content["text"] == sms_text(KIND, {**PARAMS, "link": LINK}, "en")
    assert sms.content["text"].startswith("Payment of 200.000 VND")
    assert sms.content["encoding"] == "gsm7" and sms.content["segments"] >= 1
    assert zalo.recipient == sms.recipient == "84" + phone[1:]
    zns = zalo_template(KIND, {**PARAMS, "link": LINK})
    assert zalo.content["template_id"] == zns.template_id and zalo.content["data"] == zns.data
    assert "200.000" in zalo.content["data"].values() and "STP-261122-0001" in zalo.content["data"].values()
    assert all(d.status == "sent" and d.provider_message_id for d in (sms, zalo))


def test_sms_without_diacritics_and_no_email_when_unticked(app, settings: Settings) -> None:
    engine = app.state.engine
    account_id = make_account(engine, email=f"khong-dau-{secrets.token_hex(4)}@example.vn", phone=mobile())
    prefer(engine, account_id, sms=True, sms_plain=True)
    nid = notify_by_template(engine, account_id)
    drain_all(engine, log_ctx(app, settings))
    sent = deliveries_of(engine, nid)
    assert set(sent) == {"sms"}
    assert sent["sms"].content["text"] == strip_diacritics(sms_text(KIND, {**PARAMS, "link": LINK}, "vi"))
    assert sent["sms"].content["text"].isascii() and "200.000 dong" in sent["sms"].content["text"]
    assert sent["sms"].content["encoding"] == "gsm7" and sent["sms"].content["plain"] is True


def test_a_fan_out_run_twice_adds_no_delivery(app, settings: Settings) -> None:
    from portal.notifications.deliveries import fan_out
    from portal.notifications.models import Notification

    engine = app.state.engine
    account_id = make_account(engine, email=f"hai-lan-{secrets.token_hex(4)}@example.vn", phone=mobile())
    nid = notify_by_template(engine, account_id)
    drain_all(engine, log_ctx(app, settings))
    with Session(writer(engine)) as s:
        notification = s.get(Notification, nid)
        assert notification is not None
        assert fan_out(s, notification, settings) == []
        s.commit()
    assert len(deliveries_of(engine, nid)) == 2


# --------------------------------------------------------------------------- bounce, retries, dead


class Refusing(Sink):
    """An SMTP server that knows no such mailbox: RCPT TO is refused with 550."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


@pytest.fixture()
def refusing_smtp() -> Iterator[tuple[int, Refusing]]:
    port = free_port()
    sink = Refusing()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


def test_a_bouncing_address_fails_at_once_without_retry(
    app, settings: Settings, client: TestClient, refusing_smtp: tuple[int, Refusing]
) -> None:
    engine = app.state.engine
    port, sink = refusing_smtp
    login = signup(client, login=f"khong-ton-tai-{secrets.token_hex(4)}@example.vn")
    nid = notify_by_template(engine, account_of(engine, login))
    drain_all(engine, smtp_ctx(app, settings, port))

    delivery = deliveries_of(engine, nid)["email"]
    assert delivery.status == "failed" and delivery.attempts == 1 and delivery.status_at is not None
    assert (delivery.last_error or "").startswith("rejected: smtp 127.0.0.1") and "550" in (delivery.last_error or "")
    (message,) = deliver_messages(engine, delivery.id)
    assert message.processed_at is not None and not message.dead and message.attempts == 0  # done: no retry
    assert sink.received == []

    client.get("/lang/en?next=/notifications")
    page = client.get("/notifications").text
    assert "Email: <strong>failed</strong> — The mail server refused this address. Check your email address." in page


def test_a_provider_down_is_retried_then_failed_and_dead(app, settings: Settings, client: TestClient) -> None:
    engine = app.state.engine
    port = free_port()  # no server: every try fails
    ctx = smtp_ctx(app, settings.model_copy(update={"outbox_max_attempts": 3}), port)
    login = signup(client, login=f"may-chu-hong-{secrets.token_hex(4)}@example.vn")
    nid = notify_by_template(engine, account_of(engine, login))
    drain_all(engine, ctx)
    delivery = deliveries_of(engine, nid)["email"]
    (message,) = deliver_messages(engine, delivery.id)
    for attempt in (1, 2):
        row = deliveries_of(engine, nid)["email"]
        assert row.status == "queued" and row.attempts == attempt
        make_due(engine, message.id)
        drain_all(engine, ctx)

    failed = deliveries_of(engine, nid)["email"]
    assert failed.status == "failed" and failed.attempts == 3 and failed.status_at is not None
    assert (failed.last_error or "").startswith("gave up: smtp 127.0.0.1")
    (dead,) = deliver_messages(engine, delivery.id)
    assert dead.dead and dead.attempts == 3 and dead.processed_at is None
    with Session(engine) as s:  # what `portal outbox list --dead` shows
        assert dead.id in [m.id for m in list_messages(s, dead=True, topic="notification.deliver")]

    client.get("/lang/en?next=/notifications")
    page = client.get("/notifications").text
    assert "Email: <strong>failed</strong> — We could not reach the provider after several tries." in page

    # The operator replays it once the server is back: sent, once.
    controller, sink = start_sink(port)
    try:
        with Session(writer(engine)) as s:
            replay(s, dead.id, by="operator")  # type: ignore[arg-type]
            s.commit()
        drain_all(engine, ctx)
        with Session(writer(engine)) as s:
            replay(s, dead.id, by="operator")  # type: ignore[arg-type]  # again: a sent delivery is not resent
            s.commit()
        drain_all(engine, ctx)
    finally:
        controller.stop()
    assert len(sink.to(login)) == 1
    resent = deliveries_of(engine, nid)["email"]
    assert resent.status == "sent" and resent.attempts == 1 and resent.status_at is None


# --------------------------------------------------------------------------- receipts


def sent_delivery(engine: Engine, provider: str = "http") -> tuple[str, str]:
    """A delivery the provider took (as the worker leaves it): its id and the provider's message id."""
    account_id = make_account(engine, email=f"bien-nhan-{secrets.token_hex(4)}@example.vn")
    nid = notify_by_template(engine, account_id)
    message_id = f"SMS{secrets.token_hex(6)}"
    with Session(writer(engine)) as s:
        delivery = NotificationDelivery(
            notification_id=nid,
            account_id=account_id,
            channel="sms",
            provider=provider,
            recipient="84912345678",
            status="sent",
            provider_message_id=message_id,
            sent_at=utcnow(),
        )
        s.add(delivery)
        s.commit()
        return delivery.id, message_id


def receipt(engine: Engine, **kwargs: Any) -> bool:
    with Session(writer(engine)) as s:
        applied = record_receipt(s, **{"provider": "http", "at": utcnow(), **kwargs})
        s.commit()
        return applied


def delivery_row(engine: Engine, delivery_id: str) -> NotificationDelivery:
    with Session(engine) as s:
        row = s.get(NotificationDelivery, delivery_id)
        assert row is not None
        return row


def test_a_receipt_is_applied_once_and_never_backwards(app) -> None:
    engine = app.state.engine
    delivery_id, message_id = sent_delivery(engine)
    at = utcnow() - timedelta(minutes=1)
    first = f"cb-{secrets.token_hex(6)}"
    assert receipt(engine, callback_id=first, provider_message_id=message_id, status="delivered", at=at)
    row = delivery_row(engine, delivery_id)
    assert row.status == "delivered" and row.status_at is not None and abs((row.status_at - at).total_seconds()) < 1

    # The same callback again (a replay): refused, nothing changes.
    assert not receipt(engine, callback_id=first, provider_message_id=message_id, status="failed")
    # A later "failed" for a delivered message: recorded, but a delivery never moves backwards.
    assert receipt(engine, callback_id=f"cb-{secrets.token_hex(6)}", provider_message_id=message_id, status="failed")
    row = delivery_row(engine, delivery_id)
    assert row.status == "delivered" and row.last_error is None

    # Another provider's message of the same id is not this one.
    assert not receipt(engine, provider="other", callback_id=first, provider_message_id=message_id, status="failed")


def test_an_undelivered_receipt_fails_the_delivery_with_its_reason(app, client: TestClient) -> None:
    engine = app.state.engine
    delivery_id, message_id = sent_delivery(engine)
    cb = f"cb-{secrets.token_hex(6)}"
    assert receipt(engine, callback_id=cb, provider_message_id=message_id, status="failed", detail="EXPIRED")
    row = delivery_row(engine, delivery_id)
    assert row.status == "failed" and row.last_error == "receipt: EXPIRED"
    # delivered after failed: never backwards either
    assert receipt(engine, callback_id=cb + "x", provider_message_id=message_id, status="delivered")
    assert delivery_row(engine, delivery_id).status == "failed"


def test_a_receipt_for_an_unknown_message_is_not_recorded(app) -> None:
    engine = app.state.engine
    cb = f"cb-{secrets.token_hex(6)}"
    assert not receipt(engine, callback_id=cb, provider_message_id="SMS-unknown", status="delivered")
    with Session(engine) as s:  # not burnt: the provider may send it again once the delivery knows its id
        assert s.exec(select(ProviderCallback).where(ProviderCallback.callback_id == cb)).first() is None
    with pytest.raises(ValueError), Session(writer(engine)) as s:
        record_receipt(s, provider="http", callback_id=cb, provider_message_id="x", status="sent", at=utcnow())
    with pytest.raises(ValueError), Session(writer(engine)) as s:
        record_receipt(s, provider="http", callback_id="", provider_message_id="x", status="failed", at=utcnow())


# --------------------------------------------------------------------------- pages


def test_the_notifications_page_shows_each_channels_status(app, settings: Settings, client: TestClient) -> None:
    engine = app.state.engine
    login = signup(client, login=f"trang-{secrets.token_hex(4)}@example.vn")
    account_id = account_of(engine, login)
    prefer(engine, account_id, email=True, sms=True, phone=mobile())
    nid = notify_by_template(engine, account_id)
    drain_all(engine, log_ctx(app, settings))
    sms = deliveries_of(engine, nid)["sms"]
    assert sms.provider_message_id
    with Session(writer(engine)) as s:
        assert record_receipt(
            s,
            provider="log",
            callback_id="cb-" + sms.id,
            provider_message_id=sms.provider_message_id,
            status="delivered",
            at=utcnow(),
        )
        s.commit()
    client.get("/lang/en?next=/notifications")
    page = client.get("/notifications")
    assert page.status_code == 200
    assert "Email: <strong>sent</strong>" in page.text and "SMS: <strong>delivered</strong>" in page.text
    assert 'href="/notifications/preferences"' in page.text

    # Another citizen sees none of it.
    other = TestClient(app, follow_redirects=False)
    signup(other)
    assert "SMS: <strong>delivered</strong>" not in other.get("/notifications").text


def test_the_development_page_shows_what_each_channel_sent(app, settings: Settings) -> None:
    engine = app.state.engine
    account_id = make_account(engine, email=f"dev-{secrets.token_hex(4)}@example.vn")
    prefer(engine, account_id, email=True, sms=True, zalo=True, phone=mobile())
    earlier = notify_by_template(engine, account_id)
    drain_all(engine, log_ctx(app, settings))
    later = notify_by_template(engine, account_id, link="/dossiers/d-2")
    drain_all(engine, log_ctx(app, settings))
    sent = deliveries_of(engine, later)
    browser = TestClient(app)
    browser.get("/lang/en?next=/")
    page = browser.get("/dev/notifications")
    assert page.status_code == 200
    text = page.text
    assert f'id="delivery-{sent["email"].id}"' in text and texts(KIND, PARAMS, "vi").subject in text
    assert sent["sms"].content["text"] in text and "ucs2" in text and "Segments" in text
    zns = zalo_template(KIND, {**PARAMS, "link": LINK})
    assert zns.template_id in text and all(f"<code>{name}</code>" in text for name in zns.data)
    # newest first
    assert text.index(f'id="delivery-{sent["sms"].id}"') < text.index(
        f'id="delivery-{deliveries_of(engine, earlier)["sms"].id}"'
    )


def test_the_development_page_does_not_exist_in_production(app) -> None:
    development = app.state.settings
    app.state.settings = development.model_copy(update={"environment": "production"})
    try:
        page = TestClient(app).get("/dev/notifications")
    finally:
        app.state.settings = development
    assert page.status_code == 404 and "delivery-" not in page.text
    assert TestClient(app).get("/dev/notifications").status_code == 200


def test_a_worker_process_knows_every_channels_plugins() -> None:
    """`portal worker` imports portal.wiring and no router: the SMS and Zalo plugins must register anyway."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import portal.wiring\n"
        "from portal.notifications.channels import registry, sms_registry, zalo_registry\n"
        "print(registry.ids(), sms_registry.ids(), zalo_registry.ids())\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "('log', 'smtp') ('http', 'log') ('log', 'zns')"
