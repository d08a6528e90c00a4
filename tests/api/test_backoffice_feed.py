"""The change feed and the dossier whole of the back-office API: order, cursor, no miss, no repeat, agency."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from portal.api.backoffice import decode_cursor, encode_cursor
from portal.dossiers.models import Dossier, DossierFile, DossierStatus
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.errors import Invalid
from tests.api.helpers import bump
from tests.api.test_token_and_api import STC_PROC, bearer, get_token, make_dossier, new_client

pytestmark = pytest.mark.db


def _token(client: TestClient, app, agency: str = "UBXA") -> dict[str, str]:
    client_id, secret = new_client(app, agency=agency)
    return bearer(get_token(client, client_id, secret))


def _change(app, *dossier_ids: str) -> list[int]:
    with Session(writer(app.state.engine)) as s:
        seqs = [bump(s, d) for d in dossier_ids]
        s.commit()
    return seqs


def _poll(client: TestClient, headers: dict[str, str], cursor: str | None, **params: object) -> tuple[list[str], str]:
    query = {**params, **({"cursor": cursor} if cursor else {})}
    r = client.get("/api/v1/backoffice/changes", params=query, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"]
    return [i["code"] for i in body["items"]], body["next_cursor"]


def _drain(client: TestClient, headers: dict[str, str], cursor: str | None, limit: int = 2) -> tuple[list[str], str]:
    seen: list[str] = []
    for _ in range(100):
        codes, cursor = _poll(client, headers, cursor, limit=limit)
        seen += codes
        if not codes:
            return seen, cursor or ""
    raise AssertionError("the feed never ended")


def test_cursor_is_opaque_and_checked() -> None:
    assert decode_cursor(encode_cursor(42)) == 42
    assert decode_cursor(encode_cursor(0)) == 0
    for bad in ("42", "c1.", "c1.!!", "c2.NDI", "c1." + base64.urlsafe_b64encode(b"-1").decode(), "c1.YWJj"):
        with pytest.raises(Invalid):
            decode_cursor(bad)


def test_feed_orders_by_change_and_never_misses_or_repeats(client: TestClient, app) -> None:
    headers = _token(client, app)
    # Start at the present: whatever earlier tests changed is behind this cursor.
    _, cursor = _drain(client, headers, None, limit=100)
    a, b, c = (make_dossier(app) for _ in range(3))
    theirs = make_dossier(app, procedure=STC_PROC, agency="STC")
    _change(app, a.id, b.id, theirs.id, c.id)
    seen, cursor = _drain(client, headers, cursor)
    assert seen == [a.code, b.code, c.code]  # change order; another agency's change is not there

    # Interleaved: b changes again, then a; each comes once more, in the order of its latest change.
    _change(app, b.id)
    codes, cursor = _poll(client, headers, cursor, limit=1)
    assert codes == [b.code]
    _change(app, a.id, c.id)
    _change(app, b.id)
    seen, cursor = _drain(client, headers, cursor)
    assert seen == [a.code, c.code, b.code]
    assert _poll(client, headers, cursor) == ([], cursor)  # nothing new: the same cursor again


def test_a_change_still_in_flight_is_not_skipped(client: TestClient, app) -> None:
    headers = _token(client, app)
    _, cursor = _drain(client, headers, None, limit=100)
    a, b = make_dossier(app), make_dossier(app)
    with Session(writer(app.state.engine)) as open_tx:
        seq = bump(open_tx, a.id)  # given a change number, not committed yet (holds the counter)
        codes, during = _poll(client, headers, cursor)
        assert codes == []
        assert decode_cursor(during) < seq  # the next read still covers the change in flight
        open_tx.commit()
    _change(app, b.id)
    seen, _ = _drain(client, headers, during)
    assert seen == [a.code, b.code]


def test_changed_since_and_agency(client: TestClient, app) -> None:
    headers = _token(client, app)
    old = make_dossier(app)
    new = make_dossier(app)
    with Session(writer(app.state.engine)) as s:
        bump(s, old.id, at=utcnow() - timedelta(days=3))
        bump(s, new.id)
        s.commit()
    since = (utcnow() - timedelta(hours=1)).isoformat()
    r = client.get("/api/v1/backoffice/changes", params={"changed_since": since, "limit": 100}, headers=headers)
    assert r.status_code == 200, r.text
    codes = [i["code"] for i in r.json()["items"]]
    assert new.code in codes and old.code not in codes
    item = next(i for i in r.json()["items"] if i["code"] == new.code)
    assert item["status"] == "submitted" and item["national_status"] == "1" and item["change_seq"] > 0
    stc = _token(client, app, agency="STC")
    r = client.get("/api/v1/backoffice/changes", params={"changed_since": since, "limit": 100}, headers=stc)
    assert new.code not in [i["code"] for i in r.json()["items"]]


@pytest.mark.parametrize(
    "params",
    [
        {"changed_since": "0.5"},
        {"changed_since": "0"},
        {"changed_since": "2026-01-05"},
        {"changed_since": "2026-01-05T00:00:00"},  # no time zone
        {"cursor": "nope"},
        {"limit": "0"},
        {"limit": "101"},
    ],
)
def test_feed_refuses_bad_parameters(client: TestClient, app, params: dict[str, str]) -> None:
    r = client.get("/api/v1/backoffice/changes", params=params, headers=_token(client, app))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_dossier_whole_and_downloads(client: TestClient, app, settings) -> None:
    headers = _token(client, app)
    dossier = make_dossier(app, files=1)
    with Session(writer(app.state.engine)) as s:
        row = s.exec(select(DossierFile).where(DossierFile.dossier_id == dossier.id)).one()
        row.storage_key = app.state.storage.put(b"%PDF-1.7 test", prefix=f"dossiers/{dossier.id}")
        row.signature, row.signature_report = "uploaded", {"ok": True, "signatures": []}
        s.add(row)
        s.commit()
        file_id = row.id
    r = client.get(f"/api/v1/backoffice/dossiers/{dossier.code}", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["national_status"] == {"code": "1", "name_vi": "Mới đăng ký", "name_en": "Newly registered"}
    assert body["channel"] == "online" and body["supplements"] == [] and body["rating"] is None
    assert body["fee"]["payments"] == [] and isinstance(body["fee"]["total"], int)
    [info] = body["files"]
    assert info["signature"] == {"kind": "uploaded", "report": {"ok": True, "signatures": []}}
    assert info["download_url"].endswith(f"/api/v1/backoffice/dossiers/{dossier.code}/files/{file_id}")
    assert any(c["files"] == [info] for c in body["components"])
    assert body["receipt"]["download_url"].endswith(f"/dossiers/{dossier.code}/receipt.pdf")

    r = client.get(info["download_url"], headers=headers)
    assert r.status_code == 200 and r.content == b"%PDF-1.7 test"
    assert r.headers["content-disposition"].startswith("attachment;")
    r = client.get(body["receipt"]["download_url"], headers=headers)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")

    stc = _token(client, app, agency="STC")
    for url in (f"/api/v1/backoffice/dossiers/{dossier.code}", info["download_url"], body["receipt"]["download_url"]):
        assert client.get(url, headers=stc).status_code == 404
    lost = make_dossier(app, files=1)  # a row whose bytes are not in storage
    lost_body = client.get(f"/api/v1/backoffice/dossiers/{lost.code}", headers=headers).json()
    r = client.get(lost_body["files"][0]["download_url"], headers=headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    missing = f"/api/v1/backoffice/dossiers/{dossier.code}/files/nope"
    assert client.get(missing, headers=headers).status_code == 404
    assert client.get(f"/api/v1/backoffice/dossiers/{dossier.code}/results/nope", headers=headers).status_code == 404


def test_rejected_dossier_national_status_depends_on_reception(client: TestClient, app) -> None:
    headers = _token(client, app)
    early = make_dossier(app, status=DossierStatus.REJECTED)
    r = client.get(f"/api/v1/backoffice/dossiers/{early.code}", headers=headers)
    assert r.json()["national_status"]["code"] == "3"
    late = make_dossier(app, status=DossierStatus.REJECTED)
    with Session(writer(app.state.engine)) as s:
        row = s.get(Dossier, late.id)
        assert row is not None
        row.received_at = utcnow()
        s.add(row)
        s.commit()
    r = client.get(f"/api/v1/backoffice/dossiers/{late.code}", headers=headers)
    assert r.json()["national_status"]["code"] == "8"


def test_concurrent_changes_become_visible_in_their_order(client: TestClient, app) -> None:
    """On PostgreSQL a second change waits for the first one's commit (the counter row), so a poller reading
    between them never moves its cursor past a change still in flight."""
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises all writers: nothing can interleave")
    headers = _token(client, app)
    _, cursor = _drain(client, headers, None, limit=100)
    a, b = make_dossier(app), make_dossier(app)
    second_done = threading.Event()

    def second_change() -> None:
        with Session(writer(app.state.engine)) as s:
            bump(s, b.id)  # waits here until the first change commits
            s.commit()
        second_done.set()

    with Session(writer(app.state.engine)) as first:
        seq_a = bump(first, a.id)
        worker = threading.Thread(target=second_change)
        worker.start()
        assert not second_done.wait(0.5)  # blocked behind the first change's counter lock
        codes, during = _poll(client, headers, cursor)
        assert codes == [] and decode_cursor(during) < seq_a
        first.commit()
    worker.join(10)
    assert second_done.is_set()
    seen, _ = _drain(client, headers, during)
    assert seen == [a.code, b.code]
