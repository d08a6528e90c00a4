"""Signed pushes to a real HTTP receiver: signatures checked by independent implementations, failures retried
with the same webhook-id until delivered, timeouts, redirects, dead letters and their replay, rotation."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
import svix.webhooks
from sqlmodel import Session, col, select

from portal.kernel.audit import AuditEvent
from portal.kernel.db import writer
from portal.kernel.outbox import OutboxError, drain, list_messages, message_state, replay
from portal.webhooks.endpoints import finish_rotation, rotate, set_endpoint
from portal.webhooks.models import WebhookAttempt
from portal.webhooks.signing import new_secret, sign, verify
from tests.webhooks.conftest import (
    TOPIC,
    agency,
    context,
    drain_all,
    endpoint_settings,
    messages,
    publish_many,
    time_travel,
)
from tests.webhooks.receiver import Receiver, serve

pytestmark = pytest.mark.db


def attempts(app, event_ids: list[str]) -> list[WebhookAttempt]:
    with Session(app.state.engine) as s:
        rows = s.exec(
            select(WebhookAttempt).where(col(WebhookAttempt.event_id).in_(event_ids)).order_by(col(WebhookAttempt.id))
        )
        return list(rows)


def test_sign_matches_the_reference_implementation() -> None:
    secret = new_secret()
    body = '{"type":"dossier.received","data":{"tên":"Hường"}}'.encode()
    at = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    ours = sign(secret, "msg_1", int(at.timestamp()), body)
    assert ours == standardwebhooks.Webhook(secret).sign("msg_1", at, body)
    assert verify(secret, "msg_1", int(at.timestamp()), body, f"v1,AAAA {ours}")
    assert not verify(new_secret(), "msg_1", int(at.timestamp()), body, ours)
    assert not verify(secret, "msg_1", int(at.timestamp()), body + b" ", ours)
    with pytest.raises(ValueError, match="whsec_"):
        sign("not-a-secret", "msg_1", 0, body)


def test_push_is_signed_and_verified_by_svix_and_standardwebhooks(app, settings, secret: str) -> None:
    code = agency()
    with serve(Receiver()) as receiver:
        ctx = context(settings, webhook_endpoints={code: endpoint_settings(receiver.url, secret)})
        [event_id] = publish_many(app.state.engine, code, 1)
        [row] = drain_all(app.state.engine, ctx, [event_id])
    assert message_state(row) == "processed"
    [got] = receiver.requests
    assert got.headers["webhook-id"] == event_id and event_id.startswith("msg_") and len(event_id) == 36
    assert got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    assert len(got.headers["webhook-signature"].split()) == 1
    payload = standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    svix.webhooks.Webhook(secret).verify(got.body, got.headers)  # raises when the signature is wrong
    assert payload["type"] == "dossier.received" and payload["data"] == {"code": "X-0", "n": 0}
    assert datetime.fromisoformat(payload["timestamp"]).tzinfo is not None
    assert set(payload) == {"type", "timestamp", "data"}
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new_secret()).verify(got.body, got.headers)
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(secret).verify(got.body.replace(b"X-0", b"X-9"), got.headers)
    [attempt] = attempts(app, [event_id])
    assert (attempt.status_code, attempt.error, attempt.message_id, attempt.agency_code) == (200, None, row.id, code)


def test_receiver_failing_then_recovering_gets_every_message_once(app, settings, secret: str) -> None:
    code = agency()
    failures = 7
    receiver = Receiver(answer=lambda n, r: (500 if n < failures else 200, {}, 0.0))
    with serve(receiver):
        ctx = context(settings, webhook_endpoints={code: endpoint_settings(receiver.url, secret)})
        event_ids = publish_many(app.state.engine, code, 12)
        rows = drain_all(app.state.engine, ctx, event_ids)
    assert [message_state(m) for m in rows] == ["processed"] * 12
    delivered = receiver.ids(status=200)
    assert sorted(delivered) == sorted(event_ids)  # every message, none twice, none lost
    assert len(receiver.requests) == 12 + failures
    for got in receiver.requests:  # every try, failed or not, is signed for the same id
        standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    tries = attempts(app, event_ids)
    assert len(tries) == 12 + failures
    assert sorted(t.status_code or 0 for t in tries).count(500) == failures
    assert all(t.error == "HTTP 500" for t in tries if t.status_code == 500)
    retried = [m for m in rows if m.attempts]
    assert sum(m.attempts for m in retried) == failures and all("HTTP 500" in (m.last_error or "") for m in retried)


def test_receiver_hanging_past_the_timeout_is_retried(app, settings, secret: str) -> None:
    code = agency()
    receiver = Receiver(answer=lambda n, r: (200, {}, 1.5 if n == 0 else 0.0))
    with serve(receiver):
        ctx = context(
            settings, webhook_endpoints={code: endpoint_settings(receiver.url, secret)}, webhook_timeout_seconds=0.3
        )
        [event_id] = publish_many(app.state.engine, code, 1)
        started = time.monotonic()
        [row] = drain_all(app.state.engine, ctx, [event_id])
        assert time.monotonic() - started < 1.4  # the worker did not wait for the hanging receiver
    assert message_state(row) == "processed" and row.attempts == 1
    assert receiver.ids() == [event_id, event_id]
    first, second = attempts(app, [event_id])
    assert first.status_code is None and first.error == "no answer within 0.3 s" and 250 <= first.duration_ms < 1400
    assert (second.status_code, second.error) == (200, None)


def test_redirect_is_a_failure_and_is_not_followed(app, settings, secret: str) -> None:
    code = agency()
    receiver = Receiver(
        answer=lambda n, r: (302, {"location": "/elsewhere"}, 0.0) if r.path == "/hooks" else (200, {}, 0)
    )
    with serve(receiver):
        ctx = context(
            settings, webhook_endpoints={code: endpoint_settings(receiver.url, secret)}, outbox_max_attempts=2
        )
        [event_id] = publish_many(app.state.engine, code, 1)
        [row] = drain_all(app.state.engine, ctx, [event_id])
    assert [r.path for r in receiver.requests] == ["/hooks", "/hooks"]  # never /elsewhere
    assert message_state(row) == "dead" and row.attempts == 2
    tries = attempts(app, [event_id])
    assert [t.status_code for t in tries] == [302, 302]
    assert tries[0].error == "HTTP 302: redirect to /elsewhere not followed"


def test_no_endpoint_is_processed_and_skipped(app, settings) -> None:
    [event_id] = publish_many(app.state.engine, agency(), 1)
    [row] = drain_all(app.state.engine, context(settings), [event_id])
    assert message_state(row) == "processed" and row.attempts == 0
    assert attempts(app, [event_id]) == []


def test_dead_letter_after_max_attempts_then_replay(app, settings, secret: str) -> None:
    code = agency()
    down = {"on": True}
    receiver = Receiver(answer=lambda n, r: (503 if down["on"] else 204, {}, 0.0))
    with serve(receiver):
        ctx = context(
            settings, webhook_endpoints={code: endpoint_settings(receiver.url, secret)}, outbox_max_attempts=3
        )
        [event_id] = publish_many(app.state.engine, code, 1)
        [row] = drain_all(app.state.engine, ctx, [event_id])
        assert message_state(row) == "dead" and row.attempts == 3 and "HTTP 503" in (row.last_error or "")
        assert len(receiver.requests) == 3
        drain_all(app.state.engine, ctx, [event_id])  # a dead message is left alone
        assert len(receiver.requests) == 3
        with Session(app.state.engine) as s:
            assert row.id in [m.id for m in list_messages(s, dead=True, topic="webhook.deliver", limit=10_000)]
            assert row.id not in [m.id for m in list_messages(s, dead=True, topic="other.topic")]

        down["on"] = False
        with Session(writer(app.state.engine)) as s:
            assert row.id is not None
            again = replay(s, row.id, by="cli:operator")
            assert (message_state(again), again.attempts) == ("pending", 0)
            with pytest.raises(OutboxError, match="pending"):
                replay(s, row.id, by="cli:operator")
            s.commit()
        [row] = drain_all(app.state.engine, ctx, [event_id])
    assert message_state(row) == "processed"
    assert receiver.ids() == [event_id] * 4 and receiver.requests[-1].status == 204
    with Session(app.state.engine) as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.kind == "outbox.replay")).all()
        assert any(
            a.detail == {"message_id": row.id, "topic": "webhook.deliver", "was": "dead", "by": "cli:operator"}
            for a in audit
        )
        with pytest.raises(OutboxError, match="no outbox message"):
            replay(s, 10**9, by="x")


def test_rotation_signs_with_both_secrets_then_only_the_new_one(app, settings) -> None:
    code = agency()
    with serve(Receiver()) as receiver:
        ctx = context(settings)
        with Session(writer(app.state.engine)) as s:
            _, old = set_endpoint(s, code, receiver.url, by="test")
            s.commit()
        assert old and old.startswith("whsec_")
        first = publish_many(app.state.engine, code, 1)
        drain_all(app.state.engine, ctx, first)
        with Session(writer(app.state.engine)) as s:
            new = rotate(s, code, by="test")
            s.commit()
        during = publish_many(app.state.engine, code, 1)
        drain_all(app.state.engine, ctx, during)
        with Session(writer(app.state.engine)) as s:
            finish_rotation(s, code, by="test")
            s.commit()
        after = publish_many(app.state.engine, code, 1)
        drain_all(app.state.engine, ctx, after)
    before_req, during_req, after_req = receiver.requests
    assert len(during_req.headers["webhook-signature"].split()) == 2
    for secret in (old, new):  # a receiver holding either secret accepts during the rotation
        standardwebhooks.Webhook(secret).verify(during_req.body, during_req.headers)
        svix.webhooks.Webhook(secret).verify(during_req.body, during_req.headers)
    standardwebhooks.Webhook(old).verify(before_req.body, before_req.headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new).verify(before_req.body, before_req.headers)
    assert len(after_req.headers["webhook-signature"].split()) == 1
    standardwebhooks.Webhook(new).verify(after_req.body, after_req.headers)
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(old).verify(after_req.body, after_req.headers)


def test_database_endpoint_wins_over_settings_and_disabled_skips(app, settings, secret: str) -> None:
    code = agency()
    with serve(Receiver()) as from_settings, serve(Receiver()) as from_db:
        ctx = context(settings, webhook_endpoints={code: endpoint_settings(from_settings.url, secret)})
        drain_all(app.state.engine, ctx, publish_many(app.state.engine, code, 1))
        with Session(writer(app.state.engine)) as s:
            set_endpoint(s, code, from_db.url, secret=secret, by="test")
            s.commit()
        drain_all(app.state.engine, ctx, publish_many(app.state.engine, code, 1))
    assert (len(from_settings.requests), len(from_db.requests)) == (1, 1)
    assert json.loads(from_db.requests[0].body)["type"] == "dossier.received"


def test_a_slow_receiver_does_not_hold_the_database(app, settings, secret: str) -> None:
    code = agency()
    entered, release = threading.Event(), threading.Event()

    def answer(n: int, r) -> tuple[int, dict[str, str], float]:
        entered.set()
        release.wait(5)
        return 200, {}, 0.0

    with serve(Receiver(answer=answer)) as receiver:
        ctx = context(
            settings, webhook_endpoints={code: endpoint_settings(receiver.url, secret)}, webhook_timeout_seconds=8
        )
        [event_id] = publish_many(app.state.engine, code, 1)
        worker = threading.Thread(target=drain, args=(app.state.engine, ctx), kwargs={"topics": [TOPIC]})
        worker.start()
        try:
            assert entered.wait(10)
            started = time.monotonic()
            publish_many(app.state.engine, agency(), 1)  # another writer, while the receiver holds the push
            wrote_in = time.monotonic() - started
        finally:
            release.set()
            worker.join(10)
    assert wrote_in < 1.0
    [row] = messages(app.state.engine, [event_id])
    assert message_state(row) == "processed" and [a.status_code for a in attempts(app, [event_id])] == [200]


@pytest.mark.skipif(
    os.environ.get("PORTAL_TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="SQLite leases a message during the call; PostgreSQL keeps it locked",
)
def test_a_lease_that_ends_during_the_call_leaves_the_record_to_the_next_try(app, settings, secret: str) -> None:
    code = agency()
    entered, release = threading.Event(), threading.Event()

    def answer(n: int, r) -> tuple[int, dict[str, str], float]:
        if n == 0:
            entered.set()
            release.wait(5)
        return 200, {}, 0.0

    with serve(Receiver(answer=answer)) as receiver:
        ctx = context(settings, webhook_endpoints={code: endpoint_settings(receiver.url, secret)})
        [event_id] = publish_many(app.state.engine, code, 1)
        slow = threading.Thread(target=drain, args=(app.state.engine, ctx), kwargs={"topics": [TOPIC]})
        slow.start()
        try:
            assert entered.wait(10)
            [row] = messages(app.state.engine, [event_id])
            assert row.id is not None and row.available_at > row.created_at  # leased
            time_travel(app.state.engine, [row.id])  # as if the lease had ended
            drain(app.state.engine, ctx, topics=[TOPIC])  # another worker delivers it
        finally:
            release.set()
            slow.join(10)
    assert receiver.ids() == [event_id, event_id]
    [row] = messages(app.state.engine, [event_id])
    assert message_state(row) == "processed" and row.attempts == 0
    assert len(attempts(app, [event_id])) == 1  # the late answer of the first try is not recorded over it
