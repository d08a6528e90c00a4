"""Dossier codes stay unique when submissions race (SQLite here, PostgreSQL in CI)."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from portal.dossiers.models import Dossier, DossierEvent
from portal.dossiers.service import next_sequence
from portal.kernel.db import writer
from tests.conftest import signup
from tests.web.flow import fill_marital, submit

pytestmark = pytest.mark.db


def test_sequence_is_atomic_across_connections(app) -> None:
    engine = writer(app.state.engine)
    barrier = threading.Barrier(8)

    def take(_: int) -> list[int]:
        barrier.wait()
        got = []
        for _ in range(5):
            with Session(engine) as s:
                got.append(next_sequence(s, "ZZTEST", "991231"))
                s.commit()
        return got

    with ThreadPoolExecutor(8) as pool:
        numbers = [n for batch in pool.map(take, range(8)) for n in batch]
    assert sorted(numbers) == list(range(1, 41))


def test_parallel_submits_of_one_dossier_make_one(app) -> None:
    owner = TestClient(app, follow_redirects=False)
    signup(owner)
    dossier_id = fill_marital(owner)
    token = re.search(r'name="csrf_token" value="([^"]+)"', owner.get(f"/dossiers/{dossier_id}/review").text).group(1)  # type: ignore[union-attr]
    barrier = threading.Barrier(6)

    def tab(_: int) -> tuple[int, str]:
        c = TestClient(app, follow_redirects=False, cookies=dict(owner.cookies))
        barrier.wait()
        r = c.post(f"/dossiers/{dossier_id}/submit", data={"csrf_token": token, "delivery_method": "online"})
        return r.status_code, r.headers.get("location", "")

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(tab, range(6)))
    assert {status for status, _ in results} == {303}, results
    assert len({loc for _, loc in results}) == 1
    with Session(app.state.engine) as s:
        events = s.exec(
            select(DossierEvent).where(DossierEvent.dossier_id == dossier_id, DossierEvent.kind == "submitted")
        ).all()
        assert len(events) == 1
        assert s.get(Dossier, dossier_id).code  # type: ignore[union-attr]


def test_parallel_submits_of_many_dossiers_get_distinct_codes(app) -> None:
    clients, ids = [], []
    for _ in range(6):
        c = TestClient(app, follow_redirects=False)
        signup(c)
        clients.append(c)
        ids.append(fill_marital(c))
    barrier = threading.Barrier(len(ids))

    def go(i: int) -> int:
        barrier.wait()
        return submit(clients[i], ids[i]).status_code

    with ThreadPoolExecutor(len(ids)) as pool:
        assert set(pool.map(go, range(len(ids)))) == {303}
    with Session(app.state.engine) as s:
        codes = [s.get(Dossier, i).code for i in ids]  # type: ignore[union-attr]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"UBXA-\d{6}-\d{4}", c or "") for c in codes)
