"""Notifications: once per event, sent by the outbox through a real SMTP server, listed for their citizen only."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from auth.models import Account
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.outbox import OutboxMessage, WorkerContext, drain
from portal.kernel.settings import Settings
from portal.notifications.channels import SmtpNotifier, SmtpOptions, compose
from portal.notifications.models import Notification, NotificationDelivery
from portal.notifications.service import notify
from tests.conftest import csrf, signup

pytestmark = pytest.mark.db

# Notifications carry message ids of the catalogue and their parameters; SUBJECT and BODY are what the
# citizen reads in each language.
SUBJECT_ID = "Payment of {amount}\u00a0VND received"
BODY_ID = "{amount}\u00a0VND of payment {reference} was refunded through the payment gateway."
PARAMS = {"amount": "200.000", "reference": "STP-261122-0001"}
SUBJECT = {"vi": "Đã thanh toán 200.000\u00a0đồng", "en": "Payment of 200.000\u00a0VND received"}
BODY = {
    "vi": "Khoản phí 200.000\u00a0đồng của giao dịch STP-261122-0001 đã được hoàn trả qua cổng thanh toán.",
    "en": "200.000\u00a0VND of payment STP-261122-0001 was refunded through the payment gateway.",
}


# --------------------------------------------------------------------------- a real SMTP server


class Sink:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        """The messages for one address, parsed (other tests' notifications may pass through too)."""
        return [message_from_bytes(raw, policy=policy.default) for rcpt, raw in self.received if address in rcpt]

    def raw_to(self, address: str) -> list[bytes]:
        return [raw for rcpt, raw in self.received if address in rcpt]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink(port: int) -> tuple[Controller, Sink]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, sink


@pytest.fixture()
def smtp() -> Iterator[tuple[int, Sink]]:
    port = free_port()
    controller, sink = start_sink(port)
    try:
        yield port, sink
    finally:
        controller.stop()


def smtp_ctx(app: Any, settings: Settings, port: int) -> WorkerContext:
    smtp_settings = settings.model_copy(
        update={"notify_channel": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout_seconds": 5}
    )
    return WorkerContext(settings=smtp_settings, storage=app.state.storage)


# --------------------------------------------------------------------------- helpers


def drain_all(engine: Engine, ctx: WorkerContext) -> None:
    """Run the worker until nothing is due (failed messages wait for their back-off)."""
    while drain(engine, ctx):
        pass


def make_account(engine: Engine, *, email: str | None = None, phone: str | None = None) -> str:
    with Session(writer(engine)) as s:
        account = Account(email=email, phone=phone, full_name="Trần Văn Bình")
        s.add(account)
        s.commit()
        return account.id


def notify_in_own_transaction(engine: Engine, account_id: str, key: str, link: str = "/dossiers/abc") -> str | None:
    with Session(writer(engine)) as s:
        row = notify(
            s,
            account_id=account_id,
            kind="payment.succeeded",
            dedupe_key=key,
            subject=SUBJECT_ID,
            body=BODY_ID,
            params=PARAMS,
            link=link,
        )
        s.commit()
        return row.id if row else None


def send_messages(engine: Engine, notification_id: str) -> list[OutboxMessage]:
    """The fan-out messages of one notification."""
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.topic == "notification.send")).all()
        return [m for m in rows if m.payload.get("id") == notification_id]


def deliveries_of(engine: Engine, notification_id: str) -> dict[str, NotificationDelivery]:
    """The notification's deliveries by channel."""
    with Session(engine) as s:
        rows = s.exec(select(NotificationDelivery).where(NotificationDelivery.notification_id == notification_id))
        return {d.channel: d for d in rows}


def deliver_messages(engine: Engine, delivery_id: str) -> list[OutboxMessage]:
    """The sending messages of one delivery."""
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.topic == "notification.deliver")).all()
        return [m for m in rows if m.payload.get("id") == delivery_id]


def get_notification(engine: Engine, notification_id: str) -> Notification:
    with Session(engine) as s:
        row = s.get(Notification, notification_id)
        assert row is not None
        return row


def make_due(engine: Engine, message_id: int | None) -> None:
    with Session(writer(engine)) as s:
        msg = s.get(OutboxMessage, message_id)
        assert msg is not None
        msg.available_at = utcnow()
        s.add(msg)
        s.commit()


def account_of(engine: Engine, login: str) -> str:
    with Session(engine) as s:
        return s.exec(select(Account.id).where(Account.email == login)).one()


# --------------------------------------------------------------------------- once per event, by email


def test_same_event_notifies_once_with_one_email(app, settings: Settings, smtp: tuple[int, Sink]) -> None:
    port, sink = smtp
    engine = app.state.engine
    email = f"nguoi-nop-{secrets.token_hex(4)}@example.vn"
    account_id = make_account(engine, email=email)
    key = f"payment.succeeded:{secrets.token_hex(8)}"

    first = notify_in_own_transaction(engine, account_id, key, link="/dossiers/d123")
    assert first is not None
    assert notify_in_own_transaction(engine, account_id, key, link="/dossiers/d123") is None
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(Notification.dedupe_key == key)).all()
    assert [r.id for r in rows] == [first]
    assert rows[0].channel == "email" and rows[0].recipient == email and rows[0].sent_at is None
    assert len(send_messages(engine, first)) == 1

    ctx = smtp_ctx(app, settings, port)
    drain_all(engine, ctx)
    drain_all(engine, ctx)
    mails = sink.to(email)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["Subject"] == SUBJECT["vi"]
    assert mail["From"] == settings.smtp_from and mail["To"] == email
    assert mail["Message-ID"] == f"<{first}@dichvucong.local>"
    assert mail.get_content_type() == "text/plain" and mail.get_content_charset() == "utf-8"
    text = mail.get_content()
    assert BODY["vi"] in text and BODY["en"] in text
    assert "http://testserver/dossiers/d123" in text
    raw = sink.raw_to(email)[0]
    headers = raw.split(b"\r\n\r\n", 1)[0]
    subject_line = next(line for line in headers.split(b"\r\n") if line.startswith(b"Subject:"))
    assert b"=?utf-8?" in subject_line and headers.isascii()  # RFC 2047: the Vietnamese subject as UTF-8

    assert get_notification(engine, first).sent_at is not None  # fanned out
    assert all(m.processed_at is not None for m in send_messages(engine, first))
    (delivery,) = deliveries_of(engine, first).values()
    assert (delivery.channel, delivery.provider, delivery.recipient) == ("email", "smtp", email)
    assert delivery.status == "sent" and delivery.attempts == 1 and delivery.last_error is None
    assert delivery.content["subject"] == SUBJECT["vi"] and delivery.content["text"] == text.replace("\r\n", "\n")
    assert all(m.processed_at is not None for m in deliver_messages(engine, delivery.id))


def test_smtp_down_is_retried_and_sends_once_when_back(app, settings: Settings) -> None:
    engine = app.state.engine
    port = free_port()  # nothing listens here yet
    ctx = smtp_ctx(app, settings, port)
    email = f"cho-gui-lai-{secrets.token_hex(4)}@example.vn"
    account_id = make_account(engine, email=email)
    nid = notify_in_own_transaction(engine, account_id, f"refund:{secrets.token_hex(8)}")
    assert nid is not None

    drain_all(engine, ctx)
    (delivery,) = deliveries_of(engine, nid).values()
    (message,) = deliver_messages(engine, delivery.id)
    assert message.attempts == 1 and message.processed_at is None and not message.dead
    assert "NotifierError" not in (message.last_error or "") and "smtp 127.0.0.1" in (message.last_error or "")
    assert message.available_at > utcnow()  # backed off, not retried at once
    # The try's record survives the rolled-back handler: attempts and the error, still queued.
    delivery = deliveries_of(engine, nid)["email"]
    assert delivery.status == "queued" and delivery.attempts == 1 and "smtp 127.0.0.1" in (delivery.last_error or "")
    assert get_notification(engine, nid).sent_at is not None  # the fan-out itself is done, once

    make_due(engine, message.id)
    drain_all(engine, ctx)
    assert deliver_messages(engine, delivery.id)[0].attempts == 2
    assert deliveries_of(engine, nid)["email"].attempts == 2

    controller, sink = start_sink(port)
    try:
        make_due(engine, message.id)
        drain_all(engine, ctx)
        make_due(engine, message.id)  # even if asked again, a sent delivery is not sent twice
        drain_all(engine, ctx)
    finally:
        controller.stop()
    assert len(sink.to(email)) == 1
    (done,) = deliver_messages(engine, delivery.id)
    assert done.processed_at is not None and done.attempts == 2
    sent = deliveries_of(engine, nid)["email"]
    assert sent.status == "sent" and sent.attempts == 3 and sent.sent_at is not None
    assert "smtp 127.0.0.1" in (sent.last_error or "")  # the last failure stays on record


def test_concurrent_notifications_of_one_event_make_one_row(app) -> None:
    engine = app.state.engine
    account_id = make_account(engine, email=f"dong-thoi-{secrets.token_hex(4)}@example.vn")
    key = f"payment.succeeded:{secrets.token_hex(8)}"
    barrier = threading.Barrier(2)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(notify_in_own_transaction(engine, account_id, key))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(results) == 2 and results.count(None) == 1
    with Session(engine) as s:
        rows = s.exec(select(Notification).where(Notification.dedupe_key == key)).all()
    assert len(rows) == 1
    assert len(send_messages(engine, rows[0].id)) == 1


# --------------------------------------------------------------------------- the log channel


def test_log_channel_logs_emails_and_accounts_without_email_get_the_inbox_only(
    app, settings: Settings, smtp: tuple[int, Sink], caplog: pytest.LogCaptureFixture
) -> None:
    engine = app.state.engine
    caplog.set_level(logging.INFO, logger="portal.notifications")
    email = f"nhat-ky-{secrets.token_hex(4)}@example.vn"
    with_email = notify_in_own_transaction(engine, make_account(engine, email=email), f"k:{secrets.token_hex(8)}")
    assert with_email is not None
    # The embedded default (PORTAL_NOTIFY_CHANNEL=log): the email is written to the log.
    drain_all(engine, WorkerContext(settings=settings, storage=app.state.storage))
    logged = [r.getMessage() for r in caplog.records if r.name == "portal.notifications"]
    assert any(
        with_email in m and email in m and SUBJECT["vi"] in m and "http://testserver/dossiers/abc" in m for m in logged
    )
    delivery = deliveries_of(engine, with_email)["email"]
    assert delivery.provider == "log" and delivery.status == "sent" and delivery.content["subject"] == SUBJECT["vi"]

    # No email address, no phone: the inbox only, even when SMTP is configured; nothing reaches the SMTP server.
    port, sink = smtp
    no_email = notify_in_own_transaction(
        engine, make_account(engine, phone=f"+1555{secrets.randbelow(10**7):07d}"), f"k:{secrets.token_hex(8)}"
    )
    assert no_email is not None
    drain_all(engine, smtp_ctx(app, settings, port))
    row = get_notification(engine, no_email)
    assert row.sent_at is not None and row.channel == "log" and row.recipient == ""
    assert deliveries_of(engine, no_email) == {}
    assert not any(no_email.encode() in raw for _, raw in sink.received)


def test_notify_refuses_links_out_of_the_portal(app) -> None:
    engine = app.state.engine
    account_id = make_account(engine, email=f"lien-ket-{secrets.token_hex(4)}@example.vn")
    for link in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        with pytest.raises(ValueError), Session(writer(engine)) as s:
            notify(
                s,
                account_id=account_id,
                kind="x",
                dedupe_key=secrets.token_hex(8),
                subject=SUBJECT_ID,
                body=BODY_ID,
                params=PARAMS,
                link=link,
            )


def test_smtp_options_are_checked() -> None:
    from portal.notifications.channels import NotifierConfigError

    for options in (
        SmtpOptions(host=""),
        SmtpOptions(host="mail", ssl=True, starttls=True),
        SmtpOptions(host="m", from_address="x"),
    ):
        with pytest.raises(NotifierConfigError):
            SmtpNotifier(options).check_config()
    SmtpNotifier(SmtpOptions(host="mail.example.vn", port=587, starttls=True)).check_config()
    message = compose(
        notification_id="n1",
        kind="k",
        recipient="a@b.vn",
        subject=SUBJECT,
        body=BODY,
        link="/x",
        base_url="https://dvc.vn/",
    )
    assert message.link == "https://dvc.vn/x" and message.subject == SUBJECT["vi"]


# --------------------------------------------------------------------------- the page


def test_page_lists_only_the_citizens_own_notifications(app, client: TestClient) -> None:
    engine = app.state.engine
    login = signup(client, name="Lê Thị Mai")
    other = TestClient(app, follow_redirects=False)
    other_login = signup(other, name="Phạm Văn Đức")
    mine = notify_in_own_transaction(
        engine, account_of(engine, login), f"page:{secrets.token_hex(8)}", "/dossiers/cua-toi"
    )
    theirs_key = f"page:{secrets.token_hex(8)}"
    with Session(writer(engine)) as s:
        notify(
            s,
            account_id=account_of(engine, other_login),
            kind="payment.refunded",
            dedupe_key=theirs_key,
            subject="{amount}\u00a0VND refunded",
            body=BODY_ID,
            params={"amount": "999.000", "reference": "KHAC-0001"},
            link="/dossiers/cua-nguoi-khac",
        )
        s.commit()

    page = client.get("/notifications")
    assert page.status_code == 200
    assert "<h1>Thông báo</h1>" in page.text
    assert SUBJECT["vi"] in page.text and BODY["vi"] in page.text and 'href="/dossiers/cua-toi"' in page.text
    assert "Đã hoàn trả 999.000\u00a0đồng" not in page.text and "cua-nguoi-khac" not in page.text
    assert "Chưa đọc" in page.text and f'action="/notifications/{mine}/read"' in page.text
    assert 'href="/notifications" aria-current="page"' in page.text and "(1 chưa đọc)" in page.text

    client.get("/lang/en?next=/notifications")
    english = client.get("/notifications").text
    assert SUBJECT["en"] in english and BODY["en"] in english and "(1 unread)" in english

    # The header link is there for signed-in visitors only.
    assert 'href="/notifications"' in client.get("/dossiers").text
    assert 'href="/notifications"' not in TestClient(app).get("/").text


def test_marking_read_is_the_owners_only_and_needs_csrf(app, client: TestClient) -> None:
    engine = app.state.engine
    login = signup(client, name="Võ Thị Lan")
    nid = notify_in_own_transaction(engine, account_of(engine, login), f"read:{secrets.token_hex(8)}")
    assert nid is not None

    stranger = TestClient(app, follow_redirects=False)
    signup(stranger, name="Người Lạ")
    r = stranger.post(f"/notifications/{nid}/read", data={"csrf_token": csrf(stranger, "/notifications")})
    assert r.status_code == 404
    r = stranger.post("/notifications/khong-ton-tai/read", data={"csrf_token": csrf(stranger, "/notifications")})
    assert r.status_code == 404
    assert get_notification(engine, nid).read_at is None

    assert client.post(f"/notifications/{nid}/read", data={}).status_code == 403
    assert get_notification(engine, nid).read_at is None

    r = client.post(f"/notifications/{nid}/read", data={"csrf_token": csrf(client, "/notifications")})
    assert r.status_code == 303 and r.headers["location"] == "/notifications"
    assert get_notification(engine, nid).read_at is not None
    page = client.get("/notifications").text
    assert f'action="/notifications/{nid}/read"' not in page and "Đã đọc lúc" in page
    assert "chưa đọc)" not in page


def test_marking_read_with_htmx_returns_the_list(app, client: TestClient) -> None:
    engine = app.state.engine
    login = signup(client)
    account_id = account_of(engine, login)
    first = notify_in_own_transaction(engine, account_id, f"hx:{secrets.token_hex(8)}")
    notify_in_own_transaction(engine, account_id, f"hx:{secrets.token_hex(8)}")
    token = csrf(client, "/notifications")
    r = client.post(f"/notifications/{first}/read", headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert r.status_code == 200 and "HX-Request" in r.headers["vary"]
    assert r.text.lstrip().startswith('<div id="notification-list">') and "<h1>" not in r.text
    assert 'id="unread-notifications" hx-swap-oob="true"' in r.text and "(1 chưa đọc)" in r.text
    with Session(engine) as s:
        unread = s.exec(
            select(Notification).where(Notification.account_id == account_id, col(Notification.read_at).is_(None))
        ).all()
    assert len(unread) == 1


# --------------------------------------------------------------------------- texts through the catalogue


def test_notify_refuses_a_text_that_cannot_be_shown(app) -> None:
    engine = app.state.engine
    account_id = make_account(engine, email=f"thieu-{secrets.token_hex(4)}@example.vn")
    for params in ({"amount": "1.000"}, {}):  # a placeholder without its value
        with pytest.raises(ValueError, match="cannot be formatted"), Session(writer(engine)) as s:
            notify(
                s,
                account_id=account_id,
                kind="x",
                dedupe_key=secrets.token_hex(8),
                subject=SUBJECT_ID,
                body=BODY_ID,
                params=params,
                link="/dossiers/x",
            )


def test_notifications_written_before_the_catalogue_still_show(app, client: TestClient) -> None:
    engine = app.state.engine
    account_id = account_of(engine, signup(client, name="Đỗ Văn Cũ"))
    texts = {
        "subject": {"vi": "Thông báo cũ", "en": "An old notification"},
        "body": {"vi": "Viết trước khi có danh mục bản dịch.", "en": "Written before the catalogue."},
    }
    with Session(writer(engine)) as s:
        s.add(Notification(account_id=account_id, kind="old", dedupe_key=secrets.token_hex(8), texts=texts, link="/"))
        s.commit()
    page = client.get("/notifications").text
    assert "Thông báo cũ" in page and "Viết trước khi có danh mục bản dịch." in page
    client.get("/lang/en?next=/notifications")
    english = client.get("/notifications").text
    assert "An old notification" in english and "Written before the catalogue." in english


def test_migration_keeps_the_texts_of_earlier_notifications(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine as sa_engine
    from sqlalchemy import text

    from portal.kernel.migrations import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0005")
    engine = sa_engine(url)
    with engine.begin() as conn:  # a notification as revision 0005 stored it (foreign keys are not enforced here)
        conn.execute(
            text(
                "INSERT INTO notification (id, account_id, kind, dedupe_key, subject_vi, subject_en, body_vi, body_en,"
                " link, channel, recipient, created_at, attempts)"
                " VALUES ('n-old', 'a1', 'payment.refunded', 'k-old', 'Đã hoàn trả 1.000 đồng', '1.000 VND refunded',"
                " 'Nội dung cũ.', 'Old body.', '/dossiers/d1', 'log', '', '2026-12-01 00:00:00', 1)"
            )
        )
    command.upgrade(config, "head")
    with Session(engine) as s:
        old = s.get(Notification, "n-old")
        assert old is not None and old.texts is not None
        assert (old.subject_vi, old.subject_en, old.body_vi, old.body_en) == (
            "Đã hoàn trả 1.000 đồng",
            "1.000 VND refunded",
            "Nội dung cũ.",
            "Old body.",
        )
        s.add(
            Notification(
                id="n-new",
                account_id="a1",
                kind="payment.succeeded",
                dedupe_key="k-new",
                subject=SUBJECT_ID,
                body=BODY_ID,
                params=PARAMS,
                link="/dossiers/d1",
            )
        )
        s.commit()
    command.downgrade(config, "0005")  # and back: each row gets its texts in both languages again
    with engine.connect() as conn:
        rows = {str(r[0]): str(r[1]) for r in conn.execute(text("SELECT id, subject_vi FROM notification"))}
    assert rows == {"n-old": "Đã hoàn trả 1.000 đồng", "n-new": SUBJECT["vi"]}
    engine.dispose()


def test_a_parameter_written_in_both_languages_reads_in_the_readers() -> None:
    from portal.notifications.models import translate

    msgid = "Your dossier {code} is at a new step of processing: {step}."
    params = {"code": "UBXA-1", "step": "Chờ lãnh đạo phê duyệt", "step@vi": "Chờ lãnh đạo phê duyệt"}
    params["step@en"] = "Awaiting approval"
    assert translate(msgid, params, "en").endswith("processing: Awaiting approval.")
    assert translate(msgid, params, "vi").endswith("Chờ lãnh đạo phê duyệt.")
    assert "Awaiting" not in translate(msgid, params, "vi")
