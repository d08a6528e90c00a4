"""Two real `portal worker` processes on PostgreSQL: every push delivered once, never twice at the same time;
a worker SIGKILLed mid-delivery loses nothing (its message is redelivered with the same webhook-id)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from portal.kernel.settings import Settings
from tests.webhooks.conftest import agency, messages, publish_many
from tests.webhooks.receiver import Receiver, serve

pytestmark = [
    pytest.mark.db,
    pytest.mark.skipif(
        not os.environ.get("PORTAL_TEST_DATABASE_URL", "").startswith("postgresql"),
        reason="concurrent workers need PostgreSQL (PORTAL_TEST_DATABASE_URL)",
    ),
]
ROOT = Path(__file__).resolve().parents[2]
# `portal worker`, as an operator starts it. The "restarted" worker of the SIGKILL test imports everything
# first (seconds), then waits for a gate file before it runs the same command: it is ready when its
# predecessor dies.
WORKER = ["-m", "portal.cli", "worker"]
GATED_WORKER = """
import os, time
import portal.app
from portal.cli import main
while not os.path.exists(os.environ["TEST_WORKER_GATE"]):
    time.sleep(0.02)
main(["worker"])
"""


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Workers:
    def __init__(self, settings: Settings, tmp: Path, endpoints: dict[str, object]) -> None:
        self.settings, self.tmp, self.endpoints = settings, tmp, endpoints
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, gate: Path | None = None) -> subprocess.Popen[bytes]:
        sep = "&" if "?" in self.settings.database_url else "?"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PORTAL_ENVIRONMENT": "test",
            "PORTAL_SECRET_KEY": self.settings.secret_key,
            "PORTAL_DATABASE_URL": f"{self.settings.database_url}{sep}application_name={name}",
            "PORTAL_STORAGE_DIR": str(self.settings.storage_dir),
            "PORTAL_WORKER_POLL_SECONDS": "0.05",
            "PORTAL_WEBHOOK_ENDPOINTS": json.dumps(self.endpoints),
            "PORTAL_WEBHOOK_TIMEOUT_SECONDS": "10",
            "TEST_WORKER_GATE": str(gate or ""),
        }
        log = (self.tmp / f"{name}.log").open("wb")
        args = ["-c", GATED_WORKER] if gate else WORKER
        proc = subprocess.Popen([sys.executable, *args], cwd=self.tmp, env=env, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def connected(self, engine, *names: str) -> bool:
        with Session(engine) as s:
            found = {r[0] for r in s.execute(text("SELECT application_name FROM pg_stat_activity"))}
        return set(names) <= found

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@pytest.fixture()
def workers(app, settings: Settings, tmp_path: Path) -> Iterator[Callable[[dict[str, object]], Workers]]:
    made: list[Workers] = []

    def make(endpoints: dict[str, object]) -> Workers:
        made.append(Workers(settings, tmp_path, endpoints))
        return made[-1]

    yield make
    for w in made:
        w.stop()


def test_two_workers_deliver_each_message_once_and_never_at_the_same_time(app, secret: str, workers) -> None:
    code, n = agency(), 200
    # 20 ms per answer: long enough that two workers that both poll overlap even on a loaded machine (at 5 ms a
    # busy CI once let one worker take every message before the other's poll came round).
    receiver = Receiver(answer=lambda i, r: (200, {}, 0.02))
    with serve(receiver):
        pool = workers({code: {"url": receiver.url, "secrets": [secret]}})
        pool.start("worker-a"), pool.start("worker-b")
        wait_for(lambda: pool.connected(app.state.engine, "worker-a", "worker-b"), 30, "both workers to poll")
        event_ids = publish_many(app.state.engine, code, n)
        wait_for(lambda: len(receiver.requests) >= n, 30, f"{n} deliveries")
        wait_for(lambda: all(m.processed_at for m in messages(app.state.engine, event_ids)), 10, "the outbox to commit")
        time.sleep(0.3)  # a duplicate would arrive now
    got = receiver.ids()
    assert sorted(got) == sorted(event_ids)  # each delivered exactly once
    spans = sorted((r.started, r.ended) for r in receiver.requests)
    overlapping = sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)
    assert overlapping > 0  # the two workers did deliver in parallel (other messages), never the same one twice
    assert all(m.attempts == 0 for m in messages(app.state.engine, event_ids))


def test_worker_killed_mid_delivery_loses_nothing(app, secret: str, workers, tmp_path: Path) -> None:
    code, n, kill_at = agency(), 60, 20
    in_flight, release = threading.Event(), threading.Event()

    def answer(i: int, r) -> tuple[int, dict[str, str], float]:
        if i == kill_at:
            in_flight.set()
            release.wait(10)  # the worker is killed while this request is open
        return 200, {}, 0.0

    receiver = Receiver(answer=answer)
    with serve(receiver):
        pool = workers({code: {"url": receiver.url, "secrets": [secret]}})
        first = pool.start("worker-k")
        gate = tmp_path / "restart"
        pool.start("worker-r", gate=gate)  # imports now, runs after the kill
        wait_for(lambda: pool.connected(app.state.engine, "worker-k"), 30, "the worker to poll")
        event_ids = publish_many(app.state.engine, code, n)
        assert in_flight.wait(30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        release.set()
        killed_id = receiver.requests[kill_at].headers["webhook-id"]
        gate.touch()  # the restart
        wait_for(
            lambda: all(m.processed_at for m in messages(app.state.engine, event_ids)), 30, "every message processed"
        )
    seen: set[str] = set()
    deduped = []
    for event_id in receiver.ids():
        if event_id not in seen:  # the receiver dedupes by webhook-id
            seen.add(event_id)
            deduped.append(event_id)
    assert sorted(deduped) == sorted(event_ids)  # all delivered, each processed once by the receiver
    assert receiver.ids().count(killed_id) == 2  # the killed delivery came again with the same webhook-id
    assert len(receiver.ids()) == n + 1
