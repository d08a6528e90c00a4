"""Migration 0013 chains the events written before it, in id order, with the encoding the app uses, and sets the
head: the chain verifies and the app appends after it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlmodel import Session, col, select

from portal.audit.chain import verify
from portal.kernel.audit import GENESIS, AuditEvent, AuditHead
from portal.kernel.migrations import alembic_config, upgrade
from portal.kernel.settings import Settings
from tests.audit.chain_helpers import engine_for, private_url, settings_for, write_events

pytestmark = pytest.mark.db


def test_events_before_0013_are_chained(settings: Settings, tmp_path: Path) -> None:
    with private_url(tmp_path, "chain_migration") as url:
        command.upgrade(alembic_config(url), "0012")
        engine = engine_for(settings_for(settings, url))
        try:
            sqlite = engine.dialect.name == "sqlite"
            old = [
                (datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "signin", {"method": "password"}),
                (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "signin", {}),
                (
                    datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC),
                    "client.created",
                    {"tên": "Ủy ban", "n": [1, 2]},
                ),
            ]
            with engine.begin() as connection:
                for at, kind, detail in old:
                    connection.execute(
                        text(
                            "INSERT INTO auditevent (at, kind, outcome, account_id, ip, detail)"
                            " VALUES (:at, :kind, 'ok', 'acc', '198.51.100.7', :detail)"
                        ),
                        {
                            "at": at.replace(tzinfo=None).isoformat(sep=" ") if sqlite else at,
                            "kind": kind,
                            "detail": json.dumps(detail, ensure_ascii=False),
                        },
                    )
            upgrade(url)
            with Session(engine) as session:
                events = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
                assert [e.seq for e in events] == [1, 2, 3]
                assert events[0].prev_hash == GENESIS and events[1].prev_hash == events[0].hash
                head = session.get(AuditHead, 1)
                assert head is not None and (head.seq, head.hash) == (3, events[2].hash)
                verdict = verify(session)
                assert verdict.intact and verdict.checked == 3, verdict.problem
            write_events(engine, "after-0013", 2)
            with Session(engine) as session:
                verdict = verify(session)
                assert verdict.intact and verdict.checked == 5, verdict.problem
        finally:
            engine.dispose()
