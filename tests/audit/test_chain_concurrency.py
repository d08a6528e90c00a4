"""Two real processes append to the chain at once: it never forks (seqs 1..N without a gap or a duplicate, every
link right), SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.audit.chain import verify
from portal.kernel.audit import AuditEvent
from portal.kernel.settings import Settings

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
TRANSACTIONS = 120

WRITER = """
import sys, time
from portal.kernel.audit import record
from portal.kernel.db import make_engine
from portal.kernel.settings import Settings
from portal.kernel.uow import unit_of_work

url, tag, count, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
engine = make_engine(Settings(environment="test", database_url=url, secret_key="k" * 48, _env_file=None))
while time.time() < start:
    time.sleep(0.005)
for n in range(count):
    # Reading sessions too (a GET that records a refusal): their write starts with the event's insert.
    with unit_of_work(engine, write=n % 2 == 0) as session:
        for part in range(1 + n % 3):
            record(session, "test.chain.concurrent", tag=tag, n=n, part=part)
engine.dispose()
"""


def test_two_processes_never_fork_the_chain(engine: Engine, settings: Settings) -> None:
    tags = [secrets.token_hex(6) for _ in range(2)]
    start = time.time() + 4  # both have imported the portal by then
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, settings.database_url, tag, str(TRANSACTIONS), str(start)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
        )
        for tag in tags
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]

    with Session(engine) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.kind == "test.chain.concurrent")).all()
        mine = sorted((e for e in rows if e.detail.get("tag") in tags), key=lambda e: e.seq or 0)
        per_process = sum(1 + n % 3 for n in range(TRANSACTIONS))
        assert len(mine) == 2 * per_process
        seqs = [e.seq for e in mine]
        assert None not in seqs and len(set(seqs)) == len(seqs)
        # Each transaction's events are consecutive, and the two processes' transactions interleave.
        order = [e.detail["tag"] for e in mine]
        switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
        assert switches > 10, f"the two writers did not overlap ({switches} switches)"
        for tag in tags:
            own = [e for e in mine if e.detail["tag"] == tag]
            assert [(e.detail["n"], e.detail["part"]) for e in own] == [
                (n, part) for n in range(TRANSACTIONS) for part in range(1 + n % 3)
            ]
        first = min(e.seq or 0 for e in mine)
        # The whole chain: every hash and link, seqs 1..N without gaps, the head on the last event.
        verdict = verify(session)
        assert verdict.intact, verdict.problem
        assert verdict.last_seq >= first + len(mine) - 1
        assert session.exec(select(AuditEvent.id).where(col(AuditEvent.seq).is_(None))).first() is None
