"""The back-office drives a dossier's life over HTTP: every transition, its refusals (409, 422, 404), the
result upload with signed PDFs, and Idempotency-Key."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from portal.api.idempotency import KEEP_HOURS, purge_expired
from portal.dossiers import lifecycle
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.idempotency import IdempotencyRecord
from portal.kernel.outbox import WorkerContext
from signing.pki import get_pki
from tests import factories
from tests.api.helpers import committed_dossier, signed_by
from tests.api.test_token_and_api import bearer, get_token, new_client

pytestmark = pytest.mark.db
OFFICER = "Trần Văn Một Cửa"


def _headers(client: TestClient, app, agency: str = "UBXA") -> dict[str, str]:
    client_id, secret = new_client(app, agency=agency)
    return bearer(get_token(client, client_id, secret))


def _url(dossier: Dossier, step: str) -> str:
    return f"/api/v1/backoffice/dossiers/{dossier.code}/{step}"


def _post(client: TestClient, headers: dict[str, str], dossier: Dossier, step: str, body: Any = None, **kw: Any):
    return client.post(_url(dossier, step), json=body, headers=headers, **kw)


def _problem(r, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"]
    return dict(body)


def _answer_supplement(app, dossier: Dossier) -> None:
    """The citizen uploads the asked document again and sends the answer (the pages' use case)."""
    with Session(writer(app.state.engine)) as s:
        row = s.get(Dossier, dossier.id)
        account = s.get(Account, dossier.applicant_id)
        assert row is not None and account is not None
        factories.dossier_file(s, row, component_id="to_khai")
        lifecycle.answer_supplement(session=s, dossier=row, by=account)
        s.commit()


def test_the_whole_life(client: TestClient, app, settings) -> None:
    h = _headers(client, app)
    dossier = committed_dossier(app)

    r = _post(client, h, dossier, "receive", {"officer": OFFICER})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "received" and body["received_by"] == OFFICER
    assert body["official_due_date"] == body["due_date"] and body["national_status"]["code"] == "2"
    assert [e["kind"] for e in body["timeline"]][-1] == "received"
    assert _post(client, h, dossier, "receive", {"officer": OFFICER}).json()["status"] == "received"  # a retry

    _problem(_post(client, h, dossier, "complete", {"handover": "centre"}), 409)
    r = _post(client, h, dossier, "start-processing", {})
    assert r.status_code == 200 and r.json()["status"] == "in_process"
    r = _post(
        client,
        h,
        dossier,
        "sub-status",
        {"code": "cho-phe-duyet", "text_vi": "Chờ phê duyệt", "text_en": "Awaiting approval"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["sub_status"] == {
        "code": "cho-phe-duyet",
        "text_vi": "Chờ phê duyệt",
        "text_en": "Awaiting approval",
    }

    # Supplement: no items, an unknown component, then a real one.
    ask: dict[str, Any] = {"message": "Xin bổ sung tờ khai có chữ ký.", "items": []}
    _problem(_post(client, h, dossier, "request-supplement", ask), 422)
    ask["items"] = [{"kind": "component", "target": "khong-co", "reason": "?"}]
    assert "khong-co" in _problem(_post(client, h, dossier, "request-supplement", ask), 422)["detail"]
    ask["items"] = [{"kind": "component", "target": "to_khai", "reason": "Tờ khai chưa ký."}]
    r = _post(client, h, dossier, "request-supplement", ask)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "supplement_requested" and r.json()["national_status"]["code"] == "5"
    [supplement] = r.json()["supplements"]
    assert supplement["items"] == ask["items"] and supplement["answered_at"] is None
    _problem(_post(client, h, dossier, "start-processing", {}), 409)

    _answer_supplement(app, dossier)
    assert client.get(f"/api/v1/backoffice/dossiers/{dossier.code}", headers=h).json()["status"] == "in_process"

    # Results: not a PDF, unsigned, then signed by the agency.
    def upload(*files: tuple[str, bytes]):
        return client.post(
            _url(dossier, "result"), files=[("files", (n, d, "application/pdf")) for n, d in files], headers=h
        )

    _problem(upload(("ket-qua.pdf", b"not a pdf at all")), 422)
    _problem(upload(("ket-qua.pdf", factories.pdf_bytes("Ket qua"))), 422)
    agency = get_pki(app).issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA")
    signed = signed_by(agency, factories.pdf_bytes("Giay xac nhan tinh trang hon nhan"))
    r = upload(("giay-xac-nhan.pdf", signed))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "result_ready" and body["national_status"]["code"] == "9"
    [result] = body["results"]
    assert result["filename"] == "giay-xac-nhan.pdf" and result["signature_report"]
    original = client.get(result["download_url"], params={"copy": "original"}, headers=h)
    assert original.status_code == 200 and original.content == signed
    sealed = client.get(result["download_url"], headers=h)
    assert sealed.status_code == 200 and sealed.content.startswith(b"%PDF")

    _problem(_post(client, h, dossier, "complete", {"handover": "by-pigeon"}), 422)
    r = _post(client, h, dossier, "complete", {"handover": "centre"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "completed" and body["handover"] == "centre" and body["national_status"]["code"] == "10"
    assert body["timeliness"] in ("early", "on_time", "late")
    _problem(_post(client, h, dossier, "receive", {"officer": OFFICER}), 409)
    _problem(_post(client, h, dossier, "apologise", {"reason": "Trễ", "new_date": "2099-01-01"}), 409)


def test_apology_only_when_late_and_with_a_strict_future_date(client: TestClient, app) -> None:
    h = _headers(client, app)
    on_time = committed_dossier(app)
    assert _post(client, h, on_time, "receive", {"officer": OFFICER}).status_code == 200
    tomorrow = (local_date(utcnow()) + timedelta(days=30)).isoformat()
    _problem(_post(client, h, on_time, "apologise", {"reason": "Trễ", "new_date": tomorrow}), 409)

    late = committed_dossier(app, due_date=date(2020, 1, 6))
    for bad in ("2099-1-1", "0", 0, "2099-01-01T00:00:00Z", "01/01/2099"):
        _problem(_post(client, h, late, "apologise", {"reason": "Trễ", "new_date": bad}), 422)
    _problem(_post(client, h, late, "apologise", {"reason": "Trễ", "new_date": "2020-02-01"}), 422)  # past
    r = _post(client, h, late, "apologise", {"reason": "Cần xác minh thêm.", "new_date": tomorrow})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["due_date"] == tomorrow
    [apology] = body["apologies"]
    assert apology["previous_date"] == "2020-01-06" and apology["new_date"] == tomorrow


def test_another_agency_gets_404_on_every_route(client: TestClient, app) -> None:
    dossier = committed_dossier(app)
    stc = _headers(client, app, agency="STC")
    for step, body in [
        ("receive", {"officer": OFFICER}),
        ("start-processing", {}),
        ("sub-status", {"code": "x", "text_vi": "x", "text_en": "x"}),
        ("request-supplement", {"message": "m", "items": [{"kind": "component", "target": "to_khai", "reason": "r"}]}),
        ("apologise", {"reason": "r", "new_date": "2099-01-01"}),
        ("complete", {"handover": "online"}),
        ("reject", {"reason": "Không thuộc thẩm quyền."}),
    ]:
        _problem(_post(client, stc, dossier, step, body), 404)
    r = client.post(_url(dossier, "result"), files=[("files", ("a.pdf", b"%PDF-1.4", "application/pdf"))], headers=stc)
    _problem(r, 404)
    with Session(app.state.engine) as s:
        assert s.get(Dossier, dossier.id).status == DossierStatus.SUBMITTED  # type: ignore[union-attr]


def test_idempotency_key_replays_the_first_answer(client: TestClient, app) -> None:
    h = _headers(client, app)
    dossier = committed_dossier(app)
    key = {"Idempotency-Key": "8a1f3c1e-receive-1"}
    first = _post(client, {**h, **key}, dossier, "receive", {"officer": OFFICER})
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    # Moved on meanwhile: a replay still answers what the first request answered, and does nothing.
    assert _post(client, h, dossier, "start-processing", {}).status_code == 200
    again = client.post(
        _url(dossier, "receive"),
        content=b'{ "officer" :  "' + OFFICER.encode() + b'" }',
        headers={**h, **key, "Content-Type": "application/json"},
    )
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json() and again.json()["status"] == "received"

    other = _post(client, {**h, **key}, dossier, "receive", {"officer": "Người khác"})
    assert "Idempotency-Key" in _problem(other, 422)["detail"]
    elsewhere = client.post(_url(dossier, "start-processing"), json={}, headers={**h, **key})
    _problem(elsewhere, 422)  # same key, another path

    # Keys are per client: another client of the same agency may use the same key.
    h2 = _headers(client, app)
    r = _post(client, {**h2, **key}, dossier, "sub-status", {"code": "a", "text_vi": "b", "text_en": "c"})
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers


def test_idempotency_of_multipart_ignores_the_boundary(client: TestClient, app) -> None:
    h = _headers(client, app)
    dossier = committed_dossier(app)
    _post(client, h, dossier, "receive", {"officer": OFFICER})
    agency = get_pki(app).issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA")
    signed = signed_by(agency, factories.pdf_bytes("Ket qua"))
    key = {"Idempotency-Key": "result-upload-1"}

    def upload(data: bytes, boundary: str):
        from urllib3 import encode_multipart_formdata

        body, content_type = encode_multipart_formdata(
            [("files", ("kq.pdf", data, "application/pdf"))], boundary=boundary
        )
        return client.post(_url(dossier, "result"), content=body, headers={**h, **key, "Content-Type": content_type})

    first = upload(signed, "aaaaaaaaaaaa")
    assert first.status_code == 200, first.text
    again = upload(signed, "bbbbbbbbbbbbbbbb")
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    _problem(upload(signed + b"\n", "aaaaaaaaaaaa"), 422)


def test_a_refused_request_keeps_no_answer(client: TestClient, app) -> None:
    h = _headers(client, app)
    dossier = committed_dossier(app)
    key = {"Idempotency-Key": "too-early-complete"}
    _problem(_post(client, {**h, **key}, dossier, "complete", {"handover": "online"}), 409)
    with Session(app.state.engine) as s:
        assert s.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == "too-early-complete")).first() is None
    r = _post(client, {**h, **key}, dossier, "receive", {"officer": OFFICER})
    assert r.status_code == 200  # the key was not taken by the refusal


@pytest.mark.parametrize("key", ["", "with space", "é", "x" * 256])
def test_bad_idempotency_keys_are_422(client: TestClient, app, key: str) -> None:
    h = _headers(client, app)
    dossier = committed_dossier(app)
    r = client.post(_url(dossier, "receive"), json={"officer": OFFICER}, headers={**h, "Idempotency-Key": key.encode()})
    _problem(r, 422)


def test_a_kept_answer_expires(client: TestClient, app, settings) -> None:
    h = _headers(client, app)
    dossier = committed_dossier(app)
    key = {"Idempotency-Key": f"old-key-{dossier.id}"}
    assert _post(client, {**h, **key}, dossier, "receive", {"officer": OFFICER}).status_code == 200
    with Session(writer(app.state.engine)) as s:
        record = s.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == key["Idempotency-Key"])).one()
        record.created_at = utcnow() - timedelta(hours=KEEP_HOURS, minutes=1)
        s.add(record)
        s.commit()
    # Expired: the key is free again (another body is not refused, it is a new request).
    r = _post(client, {**h, **key}, dossier, "sub-status", {"code": "a", "text_vi": "b", "text_en": "c"})
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers, r.text
    with Session(writer(app.state.engine)) as s:
        record = s.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == key["Idempotency-Key"])).one()
        assert record.path.endswith("/sub-status")
        record.created_at = utcnow() - timedelta(hours=KEEP_HOURS + 1)
        s.add(record)
        s.commit()
    purge_expired(app.state.engine, WorkerContext(settings=settings, storage=app.state.storage, gateways={}))
    with Session(app.state.engine) as s:
        assert s.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == key["Idempotency-Key"])).first() is None


def test_start_processing_takes_no_body(client: TestClient, app) -> None:
    h = _headers(client, app)
    dossier = committed_dossier(app)
    assert _post(client, h, dossier, "receive", {"officer": OFFICER}).status_code == 200
    r = client.post(_url(dossier, "start-processing"), headers=h)
    assert r.status_code == 200 and r.json()["status"] == "in_process", r.text
    _problem(_post(client, h, dossier, "start-processing", {"unexpected": 1}), 422)
