"""The chain writer: events get seq, prev_hash and hash when their transaction commits, in commit order, and an
event in the chain is never changed or deleted through the application (docs/AUDIT.md)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.audit.chain import verify
from portal.kernel.audit import (
    GENESIS,
    AuditEvent,
    AuditHead,
    ChainedEventChanged,
    canonical,
    event_hash,
    fields_of,
    record,
)
from portal.kernel.migrations import upgrade
from portal.kernel.uow import unit_of_work
from tests.audit.chain_helpers import engine_for, private_url, settings_for, write_events

pytestmark = pytest.mark.db


def _mine(engine: Engine, tag: str) -> list[AuditEvent]:
    with Session(engine) as session:
        rows = session.exec(select(AuditEvent).where(col(AuditEvent.kind).like("test.chain%"))).all()
        return sorted((e for e in rows if e.detail.get("tag") == tag), key=lambda e: e.seq or 0)


def test_the_encoding_is_the_documented_one() -> None:
    fields: dict[str, Any] = {
        "seq": 1,
        "prev_hash": GENESIS,
        "at": datetime(2026, 12, 7, 2, 30, 0, 5, tzinfo=UTC),
        "kind": "signin",
        "outcome": "ok",
        "account_id": "acc1",
        "client_id": None,
        "ip": "203.0.113.9",
        "user_agent": None,
        "detail": {"method": "password", "tên": "Hường"},
        "dossier_id": None,
        "actor_kind": "citizen",
        "actor": "Nguyễn Thị Hường",
        "agency_code": None,
        "purpose": None,
    }
    expected = (
        '{"account_id":"acc1","actor":"Nguyễn Thị Hường","actor_kind":"citizen","agency_code":null,'
        '"at":"2026-12-07T02:30:00.000005Z","client_id":null,"detail":{"method":"password","tên":"Hường"},'
        '"dossier_id":null,"ip":"203.0.113.9","kind":"signin","outcome":"ok","prev_hash":"' + GENESIS + '",'
        '"purpose":null,"seq":1,"user_agent":null,"v":"v1"}'
    )
    assert canonical(fields) == expected.encode()
    # The example of docs/AUDIT.md.
    assert event_hash(fields) == "28dc2dac5fe79878dc2f7ca39d6f2a2b6cfd31d581929a6178a9b5fe5f3b0792"


def test_events_are_chained_at_commit_in_order(engine: Engine) -> None:
    tag = secrets.token_hex(6)
    with unit_of_work(engine, write=True) as session:
        for n in range(3):
            event = record(session, "test.chain", tag=tag, n=n, pair=(1, "hai"), actor="Trần Văn Ba")
            assert event.seq is None  # not before the commit
        session.flush()
        assert event.seq is None and event.id is not None
    events = _mine(engine, tag)
    assert [e.detail["n"] for e in events] == [0, 1, 2]
    seqs = [e.seq or 0 for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    for event in events:  # read back from the database: the hash is over what is stored
        assert event.hash == event_hash(fields_of(event))
        assert event.detail["pair"] == [1, "hai"]
    with Session(engine) as session:
        before = session.exec(select(AuditEvent).where(AuditEvent.seq == seqs[0] - 1)).first()
        assert events[0].prev_hash == (before.hash if before else GENESIS)
        head = session.get(AuditHead, 1)
        assert head is not None and head.seq >= seqs[-1]


def test_a_chained_event_cannot_be_changed_or_deleted(engine: Engine) -> None:
    tag = secrets.token_hex(6)
    write_events(engine, tag, 1)
    (event,) = _mine(engine, tag)
    with Session(engine) as session:
        stored = session.get(AuditEvent, event.id)
        assert stored is not None
        stored.outcome = "refused"
        with pytest.raises(ChainedEventChanged, match="cannot be changed"):
            session.commit()
        session.rollback()
        stored = session.get(AuditEvent, event.id)
        session.delete(stored)
        with pytest.raises(ChainedEventChanged, match="cannot be deleted"):
            session.commit()
        session.rollback()
        session.add(AuditEvent(kind="test.chain", seq=10**9, detail={"tag": tag}))
        with pytest.raises(ChainedEventChanged, match="from the chain writer"):
            session.commit()
    assert [e.outcome for e in _mine(engine, tag)] == ["ok"]


def test_savepoints_and_rollbacks_leave_no_gap(engine: Engine) -> None:
    tag = secrets.token_hex(6)
    with unit_of_work(engine, write=True) as session:
        record(session, "test.chain", tag=tag, n=0)
        with session.begin_nested():
            record(session, "test.chain", tag=tag, n=1)
        nested = session.begin_nested()
        record(session, "test.chain", tag=tag, n=2)
        session.flush()
        nested.rollback()
        record(session, "test.chain", tag=tag, n=3)
    with pytest.raises(RuntimeError), unit_of_work(engine, write=True) as session:
        record(session, "test.chain", tag=tag, n=4)
        session.flush()
        raise RuntimeError("the request failed")
    write_events(engine, tag, 1, last=True)
    events = _mine(engine, tag)
    assert [e.detail["n"] for e in events] == [0, 1, 3, 0]
    seqs = [e.seq or 0 for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + 4))  # nothing else committed meanwhile in this process


def test_the_head_row_is_made_when_missing(settings: Any, tmp_path: Any) -> None:
    with private_url(tmp_path, "chain_head") as url:
        own = settings_for(settings, url)
        upgrade(url)
        engine = engine_for(own)
        try:
            write_events(engine, "before", 2)
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM audithead"))
            write_events(engine, "after", 2)
            with Session(engine) as session:
                head = session.get(AuditHead, 1)
                assert head is not None and head.seq == 4
                assert verify(session).intact
        finally:
            engine.dispose()
