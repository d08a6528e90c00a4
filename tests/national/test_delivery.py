"""Reports reach a fake national receiver through the real outbox: authenticated, in the documented format,
deduplicated; refused or failing tries are retried, then dead-lettered and replayable; the dossier is never
touched."""

from __future__ import annotations

import logging
import secrets
import socket
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

import portal.national.tasks  # noqa: F401  (registers the national.report handler)
from portal.dossiers import lifecycle
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.outbox import OutboxMessage, WorkerContext, drain, list_messages, replay
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.national.reporters import ReportingConfigError, check_config, reporter_from_settings
from tests import factories
from tests.national.fake_receiver import FakeReceiver, serve

pytestmark = pytest.mark.db
TOPIC = "national.report"
BY = "api:test-backoffice"


def context(settings: Settings, url: str, **options: Any) -> WorkerContext:
    opts = {"url": url, "province_code": "37", "system_code": "DVC-NB", "timeout_seconds": 2, **options}
    changed = settings.model_copy(
        update={"national_reporting": "http", "national_options": opts, "outbox_max_attempts": 3}
    )
    return WorkerContext(settings=changed, storage=LocalStorage(settings.storage_dir))


def received_dossier(engine: Engine) -> str:
    """A dossier submitted, then received by the agency (committed); its code."""
    with Session(writer(engine)) as s:
        dossier = factories.dossier(s, submitted=True)
        lifecycle.receive(session=s, dossier=dossier, officer="Trần Văn Nam", by=BY)
        code = dossier.code
        s.commit()
    assert code
    return code


def messages(engine: Engine, code: str) -> list[OutboxMessage]:
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(col(OutboxMessage.topic) == TOPIC).order_by(col(OutboxMessage.id)))
        return [m for m in rows if m.payload.get("dossier_code") == code]


def drain_until_settled(engine: Engine, ctx: WorkerContext, code: str, *, rounds: int = 10) -> list[OutboxMessage]:
    """The real drain loop, time-travelling the dossier's retries, until its reports are processed or dead."""
    for _ in range(rounds):
        drain(engine, ctx, topics=[TOPIC], limit=1000)
        waiting = [m.id for m in messages(engine, code) if m.processed_at is None and not m.dead]
        if not waiting:
            break
        with Session(writer(engine)) as s:
            s.execute(update(OutboxMessage).where(col(OutboxMessage.id).in_(waiting)).values(available_at=utcnow()))
            s.commit()
    return messages(engine, code)


def test_reports_arrive_authenticated_and_as_documented(app, settings: Settings) -> None:
    token, key = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    with serve(FakeReceiver(token=token, hmac_secret=key)) as receiver:
        code = received_dossier(app.state.engine)
        rows = drain_until_settled(
            app.state.engine, context(settings, receiver.url, token=token, hmac_secret=key), code
        )
    assert [m.processed_at is not None for m in rows] == [True]  # the factory submits without a push
    got = receiver.reports_of(code)
    assert [r["SuKien"] for r in got] == ["dossier.received"]
    assert got[0]["MaBaoCao"] == rows[0].payload["report_id"]
    assert receiver.current(code)["TrangThaiHoSo"] == "2"
    assert all(r["MaTinh"] == "37" and r["MaHeThong"] == "DVC-NB" for r in got)
    mine = [r for r in receiver.requests if code.encode() in r.body]
    assert mine and all(r.status == 200 and not r.problems for r in mine)
    assert mine[0].headers["authorization"] == f"Bearer {token}" and mine[0].headers["x-dvc-signature"].startswith(
        "v1="
    )


def test_a_forged_or_unsigned_request_is_what_the_receiver_refuses(app, settings: Settings) -> None:
    """The fake really checks the signature: the portal signing with another key is refused (401) and retried."""
    with serve(FakeReceiver(hmac_secret="the-real-key")) as receiver:
        code = received_dossier(app.state.engine)
        rows = drain_until_settled(app.state.engine, context(settings, receiver.url, hmac_secret="wrong"), code)
    assert rows and all(m.dead for m in rows)
    assert all("refused" in (m.last_error or "") and "401" in (m.last_error or "") for m in rows)
    assert receiver.reports_of(code) == []


def test_refused_reports_are_retried_then_dead_lettered_and_replayable(app, settings: Settings) -> None:
    refusing = True

    def answer(report: dict[str, Any]) -> tuple[int, float]:
        return (422, 0.0) if refusing and report["HoSo"]["MaHoSo"] == code else (200, 0.0)

    with serve(FakeReceiver(token="t0k3n", answer=answer)) as receiver:
        code = received_dossier(app.state.engine)
        ctx = context(settings, receiver.url, token="t0k3n")
        rows = drain_until_settled(app.state.engine, ctx, code)
        assert rows and all(m.dead and m.attempts == 3 for m in rows)
        assert all("refused" in (m.last_error or "") and "HTTP 422" in (m.last_error or "") for m in rows)
        with Session(app.state.engine) as s:
            dead_ids = {m.id for m in list_messages(s, dead=True, topic=TOPIC, limit=1000)}
            dossier = s.exec(select(Dossier).where(Dossier.code == code)).one()
            assert dossier.status == DossierStatus.RECEIVED  # the dossier is unaffected
        assert {m.id for m in rows} <= dead_ids
        tries = len([r for r in receiver.requests if code.encode() in r.body])
        assert tries == 3 * len(rows)
        # The receiver is fixed; the operator replays (`portal outbox replay ID`): nothing was lost.
        refusing = False
        with Session(writer(app.state.engine)) as s:
            for m in rows:
                assert m.id is not None
                replay(s, m.id, by="test-operator")
            s.commit()
        rows = drain_until_settled(app.state.engine, ctx, code)
    assert all(m.processed_at is not None and not m.dead for m in rows)
    assert receiver.current(code)["TrangThaiHoSo"] == "2"


def test_a_500_and_a_timeout_are_retried_until_accepted(app, settings: Settings) -> None:
    tries: list[int] = []

    def answer(report: dict[str, Any]) -> tuple[int, float]:
        if report["HoSo"]["MaHoSo"] != code:
            return 200, 0.0
        tries.append(1)
        return [(500, 0.0), (200, 3.0), (200, 0.0)][min(len(tries) - 1, 2)]  # a 500, then too slow, then fine

    with serve(FakeReceiver(token="t", answer=answer)) as receiver:
        code = received_dossier(app.state.engine)
        ctx = context(settings, receiver.url, token="t", timeout_seconds=1)
        drain(app.state.engine, ctx, topics=[TOPIC], limit=1000)
        [first] = [m for m in messages(app.state.engine, code) if m.payload["document"]["SuKien"] == "dossier.received"]
        assert first.attempts == 1 and "HTTP 500" in (first.last_error or "") and first.processed_at is None
        rows = drain_until_settled(app.state.engine, ctx, code)
    [done] = [m for m in rows if m.id == first.id]
    assert done.processed_at is not None and done.attempts == 2 and not done.dead
    assert len(tries) == 3
    # The slow try's report did arrive (the receiver stored it) and was sent again: stored once.
    assert len([r for r in receiver.reports_of(code) if r["SuKien"] == "dossier.received"]) == 1


def test_an_unreachable_receiver_is_a_failed_try(app, settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    code = received_dossier(app.state.engine)
    ctx = context(settings, f"http://127.0.0.1:{port}/x", token="t")
    drain(app.state.engine, ctx, topics=[TOPIC], limit=1000)
    rows = messages(app.state.engine, code)
    assert rows and all(m.attempts == 1 and "failed" in (m.last_error or "") for m in rows)
    assert all(m.processed_at is None and not m.dead for m in rows)
    drain_until_settled(app.state.engine, ctx, code)  # leave them dead, not pending for other tests


def test_a_replayed_delivered_report_is_stored_once(app, settings: Settings) -> None:
    with serve(FakeReceiver(token="t")) as receiver:
        code = received_dossier(app.state.engine)
        ctx = context(settings, receiver.url, token="t")
        [row] = [m for m in drain_until_settled(app.state.engine, ctx, code) if m.processed_at is not None][-1:]
        with Session(writer(app.state.engine)) as s:
            assert row.id is not None
            replay(s, row.id, by="test-operator")
            s.commit()
        drain_until_settled(app.state.engine, ctx, code)
    report_id = row.payload["report_id"]
    sent = [r for r in receiver.requests if report_id.encode() in r.body]
    assert len(sent) == 2 and len([r for r in receiver.reports_of(code) if r["MaBaoCao"] == report_id]) == 1


def test_the_log_reporter_writes_the_report(app, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    code = received_dossier(app.state.engine)
    ctx = WorkerContext(settings=settings, storage=LocalStorage(settings.storage_dir))
    assert settings.national_reporting == "log"
    with caplog.at_level(logging.INFO, logger="portal.national"):
        rows = drain_until_settled(app.state.engine, ctx, code)
    assert rows and all(m.processed_at is not None for m in rows)
    assert any(code in r.getMessage() and '"TrangThaiHoSo": "2"' in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("plugin", "options", "message"),
    [
        ("carrier-pigeon", {}, "unknown national reporter"),
        ("http", {"url": "https://x/y", "province_code": "37"}, "system_code"),
        ("http", {"url": "https://x/y", "province_code": "Ninh Bình", "system_code": "A", "token": "t"}, "province"),
        ("http", {"url": "https://x/y", "province_code": "37", "system_code": "A", "tokn": "t"}, "tokn"),
        ("http", {"url": "https://x/y", "province_code": "37", "system_code": "A"}, "token, an hmac_secret"),
        ("http", {"url": "ftp://x/y", "province_code": "37", "system_code": "A", "token": "t"}, "not an http"),
        ("log", {"level": "loud"}, "level"),
    ],
)
def test_wrong_settings_are_refused_with_a_clear_message(
    settings: Settings, plugin: str, options: dict[str, Any], message: str
) -> None:
    wrong = settings.model_copy(update={"national_reporting": plugin, "national_options": options})
    with pytest.raises(ReportingConfigError, match=message):
        check_config(wrong)


def test_good_settings_pass_and_the_reporter_is_reused(settings: Settings) -> None:
    good = settings.model_copy(
        update={
            "national_reporting": "http",
            "national_options": {
                "url": "https://dvc.example/api",
                "province_code": "37",
                "system_code": "A",
                "token": "t",
            },
        }
    )
    check_config(good)
    assert reporter_from_settings(good) is reporter_from_settings(good.model_copy())
