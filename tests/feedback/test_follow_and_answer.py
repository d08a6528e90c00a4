"""Following an item by its tracking code, the public list, and the agency's answer (the console's service API):
answered once, the published version required when the filer agreed, the filer told, overdue items flagged."""

from __future__ import annotations

import secrets
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from portal.feedback import codes, notify, service
from portal.feedback.models import Feedback, FeedbackStatus
from portal.kernel.errors import Conflict
from portal.kernel.outbox import OutboxMessage, WorkerContext, drain
from portal.notifications.channels import OutgoingMessage, SmsMessage
from tests.feedback.helpers import file_ok

pytestmark = pytest.mark.db


def _item(db: Session, code: str) -> Feedback:
    db.commit()
    return db.exec(select(Feedback).where(Feedback.code == code)).one()


def _answer(db: Session, item: Feedback, **over: object) -> Feedback:
    values: dict[str, object] = {
        "text": "Cơ quan đã kiểm tra và trả kết quả cho ông ngày 12/12.\nXin lỗi vì sự chậm trễ.",
        "public_title": "Chậm trả kết quả xác nhận tình trạng hôn nhân",
        "public_body": "Người dân phản ánh hồ sơ quá hạn hai tuần mà chưa có kết quả.",
        "staff_name": "Phạm Minh Đức",
        "staff_id": None,
    }
    values.update(over)
    answered = service.answer(db, item, **values)  # type: ignore[arg-type]
    db.commit()
    return answered


def test_codes_are_unguessable_and_typed_codes_are_normalized() -> None:
    code = codes.new_code(date(2026, 12, 7))
    assert codes.CODE_RE.match(code) and code.startswith("PA-2612-")
    assert len({codes.new_code(date(2026, 12, 7)) for _ in range(200)}) == 200
    assert codes.normalize(f"  {code.lower()} ") == code
    assert codes.normalize("PA-2612-0O1IL0") is None  # look-alikes are not in the alphabet
    assert codes.normalize("STP-261122-0001") is None


def test_lookup_by_code_and_unknown_codes(fb_client: TestClient) -> None:
    code = file_ok(fb_client)
    assert fb_client.get("/feedback/lookup").status_code == 200
    found = fb_client.get("/feedback/lookup", params={"code": code.lower()})
    assert found.status_code == 303 and found.headers["location"] == f"/feedback/{code}"
    for unknown in ("PA-2612-ZZZZZZ", "garbage<script>"):
        r = fb_client.get("/feedback/lookup", params={"code": unknown})
        assert r.status_code == 404 and 'id="code-error"' in r.text and "<script>" not in r.text
    assert fb_client.get("/feedback/PA-0101-ZZZZZZ").status_code == 404


def test_the_status_page_shows_no_contact_data(fb_client: TestClient, fb_db: Session) -> None:
    name, email, phone = "Đỗ Thị Riêng Tư", f"rieng-{secrets.token_hex(4)}@example.vn", "0987654321"
    code = file_ok(fb_client, name=name, email=email, phone=phone)
    page = TestClient(fb_client.app).get(f"/feedback/{code}")  # another browser, with only the code
    assert page.status_code == 200 and code in page.text
    assert name not in page.text and email not in page.text and phone not in page.text
    item = _item(fb_db, code)
    assert item.due_on.strftime("%d/%m/%Y") in page.text


def test_answer_once_publishes_only_the_reviewed_version(fb_client: TestClient, fb_db: Session) -> None:
    name, email = "Vũ Văn Công Khai", f"ck-{secrets.token_hex(4)}@example.vn"
    original = f"Nội dung gốc có tên Vũ Văn Công Khai và số nhà riêng {secrets.token_hex(3)}."
    code = file_ok(fb_client, name=name, email=email, body=original, public_consent="yes")
    item = _item(fb_db, code)
    with pytest.raises(service.AnswerRefused) as missing:
        service.answer(
            fb_db, item, text="Một câu trả lời đủ dài.", public_title="", public_body="", staff_name="A", staff_id=None
        )
    assert set(missing.value.errors) == {"public_title", "public_body"}
    fb_db.rollback()
    title = f"Phản ánh đã ẩn danh {secrets.token_hex(3)}"
    answered = _answer(fb_db, item, public_title=title)
    assert answered.status == FeedbackStatus.ANSWERED and answered.answered_by == "Phạm Minh Đức"
    with pytest.raises(Conflict) as twice:
        service.answer(
            fb_db,
            item,
            text="Trả lời lần thứ hai.",
            public_title=title,
            public_body="x" * 30,
            staff_name="B",
            staff_id=None,
        )
    assert twice.value.status_code == 409
    fb_db.rollback()
    # The filer is told: a second message, of the answer.
    events = [
        m.payload["event"]
        for m in fb_db.exec(select(OutboxMessage).where(OutboxMessage.topic == "feedback.message")).all()
        if m.payload.get("id") == item.id
    ]
    assert sorted(events) == ["answered", "filed"]
    page = fb_client.get(f"/feedback/{code}")
    assert "Xin lỗi vì sự chậm trễ." in page.text
    listed = fb_client.get("/feedback/public", params={"agency": item.agency_code, "procedure": item.procedure_code})
    assert listed.status_code == 200 and title in listed.text and "Xin lỗi vì sự chậm trễ." in listed.text
    for private in (name, email, original, code):
        assert private not in listed.text


def test_items_without_consent_or_unanswered_are_never_public(fb_client: TestClient, fb_db: Session) -> None:
    code = file_ok(fb_client)  # no consent
    item = _item(fb_db, code)
    answered = _answer(fb_db, item, public_title=None, public_body=None)
    assert answered.public_title is None  # nothing published without consent
    page = service.public_items(fb_db, agency=item.agency_code, per_page=1000)
    assert all(i.answer != answered.answer or i.title for i in page.items)
    assert item.title not in fb_client.get("/feedback/public", params={"agency": item.agency_code}).text
    waiting = _item(fb_db, file_ok(fb_client, public_consent="yes"))
    assert waiting.title not in fb_client.get("/feedback/public", params={"agency": waiting.agency_code}).text


def test_overdue_flag_and_the_consoles_list(fb_client: TestClient, fb_db: Session) -> None:
    item = _item(fb_db, file_ok(fb_client))
    assert not service.is_overdue(item, item.due_on)
    assert service.is_overdue(item, item.due_on + timedelta(days=1))
    late_day = item.due_on + timedelta(days=1)
    scope = {item.agency_code}
    late = service.list_items(fb_db, agency_codes=scope, overdue=True, q=item.code, today=late_day)
    assert [i.id for i in late.items] == [item.id]
    assert service.list_items(fb_db, agency_codes=scope, overdue=False, q=item.code, today=late_day).total == 0
    assert service.list_items(fb_db, agency_codes={"OTHER"}, q=item.code).total == 0
    assert service.list_items(fb_db, agency_codes=set(), q=item.code).total == 0
    everyone = service.list_items(fb_db, agency_codes=None, status=FeedbackStatus.OPEN, q=item.code)
    assert [i.id for i in everyone.items] == [item.id]
    assert service.get(fb_db, item.id).code == item.code
    page = TestClient(fb_client.app).get(f"/feedback/{item.code}")
    assert 'id="overdue"' not in page.text
    # Once answered, it is no longer overdue, even after its day.
    answered = _answer(fb_db, item)
    assert not service.is_overdue(answered, late_day)


def test_the_filer_is_sent_the_code_by_email_or_sms(fb_client: TestClient, fb_db: Session, fb_app: FastAPI) -> None:
    settings = fb_app.state.settings
    by_mail = _item(fb_db, file_ok(fb_client))
    job = notify.render(by_mail, notify.FILED, settings)
    assert job is not None and isinstance(job.message, OutgoingMessage)
    assert job.message.recipient == by_mail.email and by_mail.code in job.message.subject
    assert by_mail.code in job.message.text and f"/feedback/{by_mail.code}" in job.message.link
    by_sms = _item(fb_db, file_ok(fb_client, email="", phone="0912345678"))
    sms = notify.render(by_sms, notify.FILED, settings)
    assert sms is not None and isinstance(sms.message, SmsMessage)
    assert sms.message.phone == "84912345678" and by_sms.code in sms.message.text
    # The worker sends it (the log notifier in tests) and the message is done.
    ctx = WorkerContext(settings=settings, storage=fb_app.state.storage)
    drain(fb_app.state.engine, ctx, limit=500, topics=["feedback.message"])
    fb_db.commit()
    mine = [
        m
        for m in fb_db.exec(select(OutboxMessage).where(OutboxMessage.topic == "feedback.message")).all()
        if m.payload.get("id") in (by_mail.id, by_sms.id)
    ]
    assert len(mine) == 2 and all(m.processed_at is not None and not m.dead for m in mine)
