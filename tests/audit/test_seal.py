"""Daily seals (`portal audit export --day`): the day's range, the signed statement, the files an outsider
checks with openssl and a few lines of Python, the same statement when exported twice, the periodic job, and a
chain rewritten after sealing caught by `verify`."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.audit.chain import verify
from portal.audit.cli import audit
from portal.audit.seal import GRACE, SealRefused, day_start, seal_day, seal_finished_days, signature_valid
from portal.kernel import outbox
from portal.kernel.audit import AuditEvent, AuditSeal, event_hash
from portal.kernel.clock import LOCAL_TZ, local, utcnow
from portal.kernel.migrations import upgrade
from portal.kernel.settings import Settings, get_settings
from portal.kernel.uow import unit_of_work
from tests.audit.chain_helpers import cli_env, engine_for, private_url, settings_for

pytestmark = pytest.mark.db

DAY = date(2026, 3, 10)


def _at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=LOCAL_TZ).astimezone(UTC)


def _write(engine: Engine, *stamps: datetime) -> None:
    for at in stamps:
        with unit_of_work(engine, write=True) as session:
            session.add(AuditEvent(kind="test.seal", at=at, detail={"local": local(at).isoformat()}))


@dataclass
class Sealed:
    settings: Settings
    engine: Engine

    def export(self, *args: str) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(audit, ["export", *args], env=cli_env(self.settings))
        finally:
            get_settings.cache_clear()


@pytest.fixture()
def sealed(settings: Settings, tmp_path: Path) -> Iterator[Sealed]:
    """A database of its own: 2 events the day before DAY, 4 on DAY (one stamped before midnight but committed
    after an event of the next day), 2 the day after."""
    with private_url(tmp_path, "chain_seal") as url:
        own = settings_for(settings, url, audit_export_dir=tmp_path / "export")
        upgrade(url)
        engine = engine_for(own)
        before, after = DAY - timedelta(days=1), DAY + timedelta(days=1)
        _write(engine, _at(before, 9), _at(before, 23, 59))  # seq 1, 2
        _write(engine, _at(DAY, 0), _at(DAY, 12), _at(DAY, 18))  # seq 3, 4, 5
        _write(engine, _at(after, 0, 0, 1), _at(DAY, 23, 59, 59), _at(after, 10))  # seq 6 (next day), 7 (late), 8
        try:
            yield Sealed(own, engine)
        finally:
            engine.dispose()


def test_export_writes_a_signed_statement_an_outsider_can_check(sealed: Sealed, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = sealed.export("--day", DAY.isoformat(), "--out", str(out))
    assert result.exit_code == 0, result.output
    name = DAY.isoformat()
    statement = (out / f"{name}.json").read_bytes()
    doc = json.loads(statement)
    with Session(sealed.engine) as session:
        hashes = {e.seq: e.hash for e in session.exec(select(AuditEvent)).all()}
    # The range: after the day before's last event (seq 2) up to the last event stamped before midnight (seq 7,
    # committed after seq 6, an event of the next day, which the range therefore holds too).
    assert doc == {
        "portal": sealed.settings.base_url,
        "encoding": "v1",
        "day": name,
        "first_seq": 3,
        "last_seq": 7,
        "count": 5,
        "head_hash": hashes[7],
        "sealed_at": doc["sealed_at"],
    }
    assert result.stdout.splitlines()[0] == f"sealed {name}: events 3 to 7 (5), head {hashes[7]}"

    # The outsider's check of the signature (docs/AUDIT.md).
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed for the outsider's check"
    check = subprocess.run(
        [
            openssl,
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(out / f"{name}.json.p7s"),
            "-content",
            str(out / f"{name}.json"),
            "-CAfile",
            str(out / f"{name}.chain.pem"),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert "Verification successful" in check.stderr
    forged = out / "forged.json"
    forged.write_bytes(statement.replace(b'"count":5', b'"count":4'))
    check = subprocess.run(
        [
            openssl,
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(out / f"{name}.json.p7s"),
            "-content",
            str(forged),
            "-CAfile",
            str(out / f"{name}.chain.pem"),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode != 0

    # The outsider's recomputation of the chain from the JSON lines (docs/AUDIT.md).
    prev = None
    seqs = []
    with (out / f"{name}.events.jsonl").open("rb") as lines:
        for line in lines:
            line = line.rstrip(b"\n")
            event = json.loads(line)
            assert prev is None or event["prev_hash"] == prev
            prev = hashlib.sha256(line).hexdigest()
            seqs.append(event["seq"])
    assert prev == doc["head_hash"]
    assert seqs == list(range(doc["first_seq"], doc["last_seq"] + 1))
    first = json.loads((out / f"{name}.events.jsonl").read_bytes().splitlines()[0])
    assert first["prev_hash"] == hashes[2]  # the day before's head: the days chain together

    # Exporting the day again gives the same statement, signature and events.
    again = tmp_path / "again"
    assert sealed.export("--day", name, "--out", str(again)).exit_code == 0
    for suffix in (".json", ".json.p7s", ".events.jsonl", ".chain.pem"):
        assert (again / f"{name}{suffix}").read_bytes() == (out / f"{name}{suffix}").read_bytes()


def test_a_day_not_over_is_refused(sealed: Sealed) -> None:
    today = local(utcnow()).date()
    result = sealed.export("--day", today.isoformat())
    assert result.exit_code == 2
    assert "not over yet" in result.stderr
    bad = sealed.export("--day", "10/03/2026")
    assert bad.exit_code == 2 and "%Y-%m-%d" in bad.output
    with Session(sealed.engine) as session, pytest.raises(SealRefused):
        seal_day(session, sealed.settings, DAY, now=day_start(DAY + timedelta(days=1)) + GRACE / 2)


def test_the_job_seals_each_finished_day_once(sealed: Sealed) -> None:
    assert "audit.seal" in outbox.registry.jobs()
    now = _at(DAY + timedelta(days=3), 1)
    days = seal_finished_days(sealed.engine, sealed.settings, now=now)
    assert days == [DAY - timedelta(days=i) for i in (1, 0, -1, -2)]  # the last one has no events: sealed empty
    assert seal_finished_days(sealed.engine, sealed.settings, now=now) == []
    with Session(sealed.engine) as session:
        seals = session.exec(select(AuditSeal).order_by(col(AuditSeal.day))).all()
    assert [(s.first_seq, s.last_seq, s.count) for s in seals] == [(1, 2, 2), (3, 7, 5), (8, 8, 1), (None, 8, 0)]
    for seal in seals:
        assert signature_valid(seal.statement.encode(), base64.b64decode(seal.signature))
        assert (Path(sealed.settings.audit_export_dir) / f"{seal.day.isoformat()}.json").read_text() == seal.statement
    with Session(sealed.engine) as session:
        assert verify(session).intact


def _rewrite_from(engine: Engine, seq: int) -> None:
    """What an insider who knows the encoding does after editing event `seq`: every hash from it on recomputed,
    and the head moved."""
    with Session(engine) as session:
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.seq) >= seq - 1).order_by(col(AuditEvent.seq))
        ).all()
        prev = events[0].hash if seq > 1 else "0" * 64
        rows = [
            dict((name, getattr(e, name)) for name in AuditEvent.model_fields) for e in events[1 if seq > 1 else 0 :]
        ]
    with engine.begin() as connection:
        for row in rows:
            row["prev_hash"] = prev
            row["hash"] = prev = event_hash(row)
            connection.execute(
                text("UPDATE auditevent SET prev_hash = :p, hash = :h WHERE id = :id"),
                {"p": row["prev_hash"], "h": row["hash"], "id": row["id"]},
            )
        connection.execute(text("UPDATE audithead SET hash = :h"), {"h": prev})


def test_a_chain_rewritten_after_sealing_is_caught_by_the_seal(sealed: Sealed) -> None:
    seal_finished_days(sealed.engine, sealed.settings, now=_at(DAY + timedelta(days=2), 1))
    with sealed.engine.begin() as connection:
        connection.execute(text("UPDATE auditevent SET outcome = 'refused' WHERE seq = 4"))
    _rewrite_from(sealed.engine, 4)
    with Session(sealed.engine) as session:
        problem = verify(session).problem
        ids = {e.seq: e.id for e in session.exec(select(AuditEvent)).all()}
    assert problem is not None and problem.what == "seal"
    assert problem.message.startswith(
        f"sealed day {DAY.isoformat()}: event seq 7 (id {ids[7]}) no longer has the sealed hash"
    )


def test_an_edited_seal_is_caught(sealed: Sealed) -> None:
    seal_finished_days(sealed.engine, sealed.settings, now=_at(DAY + timedelta(days=2), 1))
    with Session(sealed.engine) as session:
        seal = session.get(AuditSeal, DAY)
        assert seal is not None
        forged = seal.statement.replace('"count":5', '"count":4')
    with sealed.engine.begin() as connection:
        connection.execute(
            text("UPDATE auditseal SET statement = :s, count = 4 WHERE day = :d"), {"s": forged, "d": DAY}
        )
    with Session(sealed.engine) as session:
        problem = verify(session).problem
    assert problem is not None and problem.what == "seal"
    assert problem.message == f"sealed day {DAY.isoformat()}: the statement's signature does not verify"
