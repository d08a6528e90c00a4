"""Feedback and complaints in the console (portal/staff/feedback_views.py), over HTTP: scope per role, filters,
the overdue flag, the filer's contact and attachment (audited), answering once."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from portal.feedback.models import Feedback, FeedbackStatus
from portal.kernel.audit import AuditEvent
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.outbox import OutboxMessage
from tests.conftest import signup
from tests.factories import pdf_bytes
from tests.staff_factories import staff_client, staff_csrf

pytestmark = pytest.mark.db


def item(app: Any, *, agency: str = "UBXA", token: str = "", **over: Any) -> Feedback:
    """A committed item filed today (due in 10 days unless `due_on` is given)."""
    today = local_date(utcnow())
    fields: dict[str, Any] = {
        "code": f"PA-T{secrets.token_hex(5).upper()}",
        "kind": "complaint",
        "about": "agency",
        "agency_code": agency,
        "title": f"Thái độ tiếp dân {token}".strip(),
        "body": "Cán bộ tiếp nhận hồ sơ của tôi trễ hẹn ba lần, số điện thoại 0912345678.",
        "name": "Nguyễn Văn Phản Ánh",
        "email": "phananh@example.vn",
        "phone": "0912345678",
        "due_on": today + timedelta(days=10),
    }
    fields.update(over)
    with Session(app.state.engine) as session:
        row = Feedback(**fields)
        session.add(row)
        session.commit()
        session.refresh(row)
        session.expunge(row)
        return row


def fresh(app: Any, item_id: str) -> Feedback:
    with Session(app.state.engine) as session:
        row = session.get(Feedback, item_id)
        assert row is not None
        return row


def staff_events(app: Any, kind: str, code: str) -> list[AuditEvent]:
    with Session(app.state.engine) as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.kind == kind).order_by(col(AuditEvent.id).desc()).limit(500)
        ).all()
    return [e for e in rows if e.detail.get("code") == code]


def test_an_officer_sees_only_their_agency_s_items(app: Any) -> None:
    token = secrets.token_hex(4)
    own = item(app, agency="UBXA", token=token)
    other = item(app, agency="STP", token=token)
    officer = staff_client(app, role="officer", agency_code="UBXA")

    listed = officer.get(f"/staff/feedback?q={token}")
    assert listed.status_code == 200
    assert f'id="item-{own.id}"' in listed.text and f'id="item-{other.id}"' not in listed.text
    assert officer.get(f"/staff/feedback?q={other.code}").text.count('id="item-') == 0
    assert officer.get(f"/staff/feedback/{own.id}").status_code == 200
    assert officer.get(f"/staff/feedback/{other.id}").status_code == 404
    token_csrf = staff_csrf(officer)
    refused = officer.post(
        f"/staff/feedback/{other.id}/answer", data={"csrf_token": token_csrf, "text": "Chúng tôi đã xem xét."}
    )
    assert refused.status_code == 404
    assert fresh(app, other.id).status == FeedbackStatus.OPEN

    supervisor = staff_client(app, role="supervisor")
    both = supervisor.get(f"/staff/feedback?q={token}").text
    assert f'id="item-{own.id}"' in both and f'id="item-{other.id}"' in both


def test_filters_and_the_overdue_flag(app: Any) -> None:
    token = secrets.token_hex(4)
    past = local_date(utcnow()) - timedelta(days=3)
    late = item(app, token=token, kind="complaint", about="agency", due_on=past)
    suggestion = item(app, token=token, kind="suggestion", about="procedure", procedure_code="1.013225")
    answered = item(
        app, token=token, kind="feedback", status=FeedbackStatus.ANSWERED, answer="Đã trả lời.", due_on=past
    )
    client = staff_client(app, role="supervisor")

    def shown(query: str) -> set[str]:
        page = client.get(f"/staff/feedback?q={token}&{query}")
        assert page.status_code == 200, page.text
        return {i.id for i in (late, suggestion, answered) if f'id="item-{i.id}"' in page.text}

    assert shown("") == {late.id, suggestion.id, answered.id}
    assert shown("overdue=1") == {late.id}  # an answered item is never overdue
    assert shown("overdue=0") == {suggestion.id, answered.id}
    assert shown("status=answered") == {answered.id}
    assert shown("status=open") == {late.id, suggestion.id}
    assert shown("kind=suggestion") == {suggestion.id}
    assert shown("about=procedure") == {suggestion.id}
    assert shown("about=agency&kind=complaint") == {late.id}

    page = client.get(f"/staff/feedback?q={token}").text
    assert f'id="item-{late.id}" data-overdue="true"' in page
    assert f'id="item-{suggestion.id}" data-overdue' not in page
    assert 'id="overdue"' in client.get(f"/staff/feedback/{late.id}").text


def test_bad_filters_are_a_422_with_the_values_kept(app: Any) -> None:
    client = staff_client(app, role="supervisor")
    bad = client.get("/staff/feedback?status=lost&kind=suggestion")
    assert bad.status_code == 422 and "lost" in bad.text and 'id="error-summary"' in bad.text
    assert '<option value="suggestion" selected>' in bad.text
    assert client.get("/staff/feedback?overdue=maybe").status_code == 422
    assert client.get("/staff/feedback?page=-2").status_code == 422
    assert client.get("/staff/feedback?q=" + "x" * 101).status_code == 422


def test_the_item_shows_the_filer_and_its_attachment_audited(app: Any) -> None:
    pdf = pdf_bytes("tep dinh kem phan anh")
    key = app.state.storage.put(pdf, prefix="feedback", suffix=".pdf")
    row = item(
        app,
        attachment_key=key,
        attachment_name="bien-ban.pdf",
        attachment_type="application/pdf",
        attachment_size=len(pdf),
    )
    client = staff_client(app, role="officer", agency_code="UBXA", full_name="Trần Trả Lời")
    page = client.get(f"/staff/feedback/{row.id}")
    assert page.status_code == 200
    assert "Nguyễn Văn Phản Ánh" in page.text and "phananh@example.vn" in page.text and "0912345678" in page.text
    read = staff_events(app, "feedback.read", row.code)
    assert [(e.actor_kind, e.actor, e.agency_code, e.purpose) for e in read] == [
        ("staff", "Trần Trả Lời (UBXA)", "UBXA", "feedback")
    ]

    download = client.get(f"/staff/feedback/{row.id}/attachment")
    assert download.status_code == 200 and download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    [event] = staff_events(app, "feedback.attachment_downloaded", row.code)
    assert event.actor == "Trần Trả Lời (UBXA)" and event.detail["name"] == "bien-ban.pdf"

    bare = item(app)
    assert client.get(f"/staff/feedback/{bare.id}/attachment").status_code == 404


def test_answer_once_the_filer_is_told_a_second_answer_is_409(app: Any) -> None:
    row = item(app)
    client = staff_client(app, role="officer", agency_code="UBXA", full_name="Lê Văn Đáp")
    token = staff_csrf(client, f"/staff/feedback/{row.id}")
    text = "Chúng tôi đã kiểm tra và nhắc nhở cán bộ tiếp nhận."

    short = client.post(f"/staff/feedback/{row.id}/answer", data={"csrf_token": token, "text": "Ok"})
    assert short.status_code == 422 and 'id="error-summary"' in short.text and ">Ok</textarea>" in short.text
    assert fresh(app, row.id).status == FeedbackStatus.OPEN

    r = client.post(f"/staff/feedback/{row.id}/answer", data={"csrf_token": token, "text": text})
    assert r.status_code == 303 and r.headers["location"] == f"/staff/feedback/{row.id}?answered=1"
    done = fresh(app, row.id)
    assert done.status == FeedbackStatus.ANSWERED and done.answer == text
    assert done.answered_by == "Lê Văn Đáp (UBXA)" and done.public_title is None
    shown = client.get(r.headers["location"]).text
    assert 'id="answered-notice"' in shown and text in shown and 'id="answer-form"' not in shown
    assert staff_events(app, "feedback.answered", row.code)[0].actor_kind == "staff"
    with Session(app.state.engine) as session:
        messages = session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.topic == "feedback.message")
            .order_by(col(OutboxMessage.id).desc())
            .limit(200)
        ).all()
    assert any(m.payload.get("id") == row.id for m in messages)  # the filer is told (through the outbox)

    again = client.post(f"/staff/feedback/{row.id}/answer", data={"csrf_token": token, "text": "Một câu trả lời khác."})
    assert again.status_code == 409 and "Lê Văn Đáp (UBXA)" in again.text
    assert fresh(app, row.id).answer == text


def test_a_consented_item_needs_the_published_version_prefilled_with_its_text(app: Any) -> None:
    row = item(app, public_consent=True)
    client = staff_client(app, role="supervisor")
    page = client.get(f"/staff/feedback/{row.id}").text
    assert f'name="public_title" type="text" value="{row.title}"' in page
    assert "số điện thoại 0912345678.</textarea>" in page  # the filer's text, for the officer to clean
    token = staff_csrf(client, f"/staff/feedback/{row.id}")
    text = "Chúng tôi đã kiểm tra và nhắc nhở cán bộ tiếp nhận."

    missing = client.post(
        f"/staff/feedback/{row.id}/answer",
        data={"csrf_token": token, "text": text, "public_title": "", "public_body": ""},
    )
    assert missing.status_code == 422 and text in missing.text
    assert fresh(app, row.id).status == FeedbackStatus.OPEN

    r = client.post(
        f"/staff/feedback/{row.id}/answer",
        data={
            "csrf_token": token,
            "text": text,
            "public_title": "Thái độ tiếp dân",
            "public_body": "Cán bộ tiếp nhận hồ sơ trễ hẹn nhiều lần.",
        },
    )
    assert r.status_code == 303
    done = fresh(app, row.id)
    assert done.public_title == "Thái độ tiếp dân" and "0912345678" not in (done.public_body or "")


def test_answer_needs_the_csrf_token(app: Any) -> None:
    row = item(app)
    client = staff_client(app, role="supervisor")
    staff_csrf(client)
    r = client.post(f"/staff/feedback/{row.id}/answer", data={"text": "Chúng tôi đã xem xét kỹ."})
    assert r.status_code == 403
    assert fresh(app, row.id).status == FeedbackStatus.OPEN


def test_postal_desk_citizen_and_signed_out_are_refused(app: Any) -> None:
    row = item(app)
    postal = staff_client(app, role="postal")
    assert postal.get("/staff/feedback").status_code == 403
    assert postal.get(f"/staff/feedback/{row.id}").status_code == 403
    token = staff_csrf(postal)
    assert (
        postal.post(f"/staff/feedback/{row.id}/answer", data={"csrf_token": token, "text": "x" * 20}).status_code == 403
    )
    citizen = TestClient(app, follow_redirects=False)
    signup(citizen)
    assert citizen.get(f"/staff/feedback/{row.id}").status_code == 403
    anonymous = TestClient(app, follow_redirects=False)
    r = anonymous.get(f"/staff/feedback/{row.id}")
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next=")
    assert client_unknown(app) == 404
    assert fresh(app, row.id).status == FeedbackStatus.OPEN


def client_unknown(app: Any) -> int:
    client = staff_client(app, role="supervisor")
    assert client.get("/staff/feedback/not-an-id").status_code == 404
    return client.get("/staff/feedback/0123456789abcdef0123456789abcdef").status_code
