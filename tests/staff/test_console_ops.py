"""The console's outbox page and the replay of dead letters (portal/staff/ops_views.py), over HTTP."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from portal.kernel.audit import AuditEvent
from portal.kernel.clock import utcnow
from portal.kernel.outbox import OutboxMessage
from tests.conftest import signup
from tests.staff_factories import staff_client, staff_csrf

pytestmark = pytest.mark.db


def _message(app: Any, topic: str, **fields: Any) -> int:
    with Session(app.state.engine) as session:
        msg = OutboxMessage(topic=topic, payload={"agency_code": "UBXA", "type": "dossier.received", "data": {"x": 1}})
        for key, value in fields.items():
            setattr(msg, key, value)
        session.add(msg)
        session.commit()
        assert msg.id is not None
        return msg.id


def _dead(app: Any, topic: str) -> int:
    max_attempts = app.state.settings.outbox_max_attempts
    return _message(
        app,
        topic,
        attempts=max_attempts,
        dead=True,
        last_error="Traceback ...\nHandlerFailed: receiver answered 503",
    )


def _topic() -> str:
    return f"test.console2.{secrets.token_hex(4)}"


def _get(app: Any, message_id: int) -> OutboxMessage:
    with Session(app.state.engine) as session:
        msg = session.get(OutboxMessage, message_id)
        assert msg is not None
        return msg


def test_supervisor_sees_messages_by_state(app: Any) -> None:
    topic = _topic()
    pending = _message(app, topic)
    retrying = _message(app, topic, attempts=2, last_error="boom", available_at=utcnow() + timedelta(minutes=5))
    dead = _dead(app, topic)
    done = _message(app, topic, attempts=1, processed_at=utcnow())
    client = staff_client(app, role="supervisor")

    page = client.get(f"/staff/outbox?topic={topic}")
    assert page.status_code == 200
    for shown in (pending, retrying, dead):
        assert f'id="message-{shown}"' in page.text
    assert f'id="message-{done}"' not in page.text  # the default lists what is not processed yet

    for state, wanted in (("pending", pending), ("retrying", retrying), ("dead", dead), ("processed", done)):
        listed = client.get(f"/staff/outbox?state={state}&topic={topic}")
        assert listed.status_code == 200
        assert f'id="message-{wanted}" data-state="{state}"' in listed.text
        others = {pending, retrying, dead, done} - {wanted}
        assert not any(f'id="message-{o}"' in listed.text for o in others), state

    dead_page = client.get(f"/staff/outbox?state=dead&topic={topic}").text
    assert "HandlerFailed: receiver answered 503" in dead_page  # the last line of the error
    assert "agency_code=UBXA · type=dossier.received" in dead_page  # the target, not the pushed data
    assert f'action="/staff/outbox/{dead}/replay"' in dead_page
    assert 'name="csrf_token"' in dead_page


def test_replay_a_dead_letter_then_again_is_409(app: Any) -> None:
    topic = _topic()
    dead = _dead(app, topic)
    client = staff_client(app, role="supervisor", full_name="Lê Giám Sát")
    token = staff_csrf(client, "/staff/outbox")

    r = client.post(f"/staff/outbox/{dead}/replay", data={"csrf_token": token})
    assert r.status_code == 303
    assert r.headers["location"] == f"/staff/outbox?state=pending&replayed={dead}"
    msg = _get(app, dead)
    assert not msg.dead and msg.attempts == 0 and msg.processed_at is None
    shown = client.get(r.headers["location"] + f"&topic={topic}").text
    assert 'id="replayed"' in shown and f'id="message-{dead}" data-state="pending"' in shown

    with Session(app.state.engine) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.kind == "outbox.replay").order_by(col(AuditEvent.id).desc()).limit(200)
        ).all()
    mine = [e for e in events if e.detail.get("message_id") == dead]
    assert len(mine) == 1
    assert mine[0].detail["by"] == "Lê Giám Sát" and mine[0].detail["was"] == "dead"
    assert (mine[0].actor_kind, mine[0].actor) == ("staff", "Lê Giám Sát")

    again = client.post(f"/staff/outbox/{dead}/replay", data={"csrf_token": token})
    assert again.status_code == 409
    assert "dead letter" in again.text or "thư chết" in again.text.lower() or "Replay refused" in again.text
    assert _get(app, dead).attempts == 0


def test_replay_refuses_pending_processed_unknown_and_malformed(app: Any) -> None:
    topic = _topic()
    pending = _message(app, topic)
    done = _message(app, topic, attempts=1, processed_at=utcnow())
    client = staff_client(app, role="supervisor")
    token = staff_csrf(client, "/staff/outbox")

    assert client.post(f"/staff/outbox/{pending}/replay", data={"csrf_token": token}).status_code == 409
    assert client.post(f"/staff/outbox/{done}/replay", data={"csrf_token": token}).status_code == 409
    assert _get(app, done).processed_at is not None  # untouched
    assert client.post("/staff/outbox/999999999/replay", data={"csrf_token": token}).status_code == 404
    assert client.post("/staff/outbox/abc/replay", data={"csrf_token": token}).status_code == 404
    assert client.post("/staff/outbox/-1/replay", data={"csrf_token": token}).status_code == 404


def test_replay_needs_the_csrf_token(app: Any) -> None:
    dead = _dead(app, _topic())
    client = staff_client(app, role="supervisor")
    staff_csrf(client, "/staff/outbox")
    r = client.post(f"/staff/outbox/{dead}/replay", data={})
    assert r.status_code == 403
    assert _get(app, dead).dead


def test_bad_filters_get_a_message_not_a_500(app: Any) -> None:
    client = staff_client(app, role="supervisor")
    bad_state = client.get("/staff/outbox?state=exploded")
    assert bad_state.status_code == 422 and "exploded" in bad_state.text
    bad_topic = client.get("/staff/outbox?topic=no.such.topic.here")
    assert bad_topic.status_code == 422 and "no.such.topic.here" in bad_topic.text
    assert client.get("/staff/outbox?page=abc").status_code == 422
    assert client.get("/staff/outbox?page=99999").status_code == 200  # past the end: the last page


def test_htmx_gets_the_list_only(app: Any) -> None:
    topic = _topic()
    dead = _dead(app, topic)
    client = staff_client(app, role="supervisor")
    r = client.get(f"/staff/outbox?state=dead&topic={topic}", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert f'id="message-{dead}"' in r.text and "<html" not in r.text


@pytest.mark.parametrize("role", ["officer", "postal"])
def test_other_roles_are_refused(app: Any, role: str) -> None:
    dead = _dead(app, _topic())
    client = staff_client(app, role=role)
    assert client.get("/staff/outbox").status_code == 403
    token = staff_csrf(client)
    assert client.post(f"/staff/outbox/{dead}/replay", data={"csrf_token": token}).status_code == 403
    assert _get(app, dead).dead


def test_citizen_and_signed_out_are_refused(app: Any) -> None:
    dead = _dead(app, _topic())
    citizen = TestClient(app, follow_redirects=False)
    signup(citizen)
    assert citizen.get("/staff/outbox").status_code == 403
    anonymous = TestClient(app, follow_redirects=False)
    r = anonymous.get("/staff/outbox?state=dead")
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next=")
    assert _get(app, dead).dead
