"""Bad input of a back-office integrator, found from the outside (issue 12, "Bad input"): each is a 4xx
problem, never a 500, and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.api.backoffice import decode_cursor, encode_cursor
from portal.dossiers.models import Dossier, DossierStatus
from portal.dossiers.partner_reads import last_change
from portal.kernel.db import writer
from signing.pki import get_pki
from tests import factories
from tests.api.helpers import committed_dossier, signed_by
from tests.api.test_token_and_api import bearer, get_token, new_client
from tests.lifecycle_factories import sign

pytestmark = pytest.mark.db
PROBLEM = "application/problem+json"


def _headers(client: TestClient, app) -> dict[str, str]:
    client_id, secret = new_client(app)
    return bearer(get_token(client, client_id, secret))


def _problem(r, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    return dict(r.json())


def _status(app, dossier: Dossier) -> tuple[str, int]:
    with Session(writer(app.state.engine)) as s:
        row = s.get(Dossier, dossier.id)
        assert row is not None
        return str(row.status), row.change_seq


@pytest.mark.parametrize(
    ("step", "body"),
    [
        ("receive", {"officer": "Trần\u0000Văn"}),
        ("sub-status", {"code": "x", "text_vi": "Chờ\u0000", "text_en": "Wait"}),
        ("reject", {"reason": "Thiếu\u0000 giấy tờ"}),
        ("receive", {"officer": "A", "\u0000": "x"}),
    ],
)
def test_a_nul_character_in_a_json_body_is_422_not_stored(client: TestClient, app, step: str, body: Any) -> None:
    """PostgreSQL cannot store (nor compare with) U+0000 in text: it was a 500 there, and stored on SQLite."""
    headers = _headers(client, app)
    dossier = committed_dossier(app)
    before = _status(app, dossier)
    r = client.post(f"/api/v1/backoffice/dossiers/{dossier.code}/{step}", json=body, headers=headers)
    problem = _problem(r, 422)
    assert problem["errors"][0]["type"] == "nul_character" and problem["errors"][0]["loc"][0] == "body"
    assert _status(app, dossier) == before == (DossierStatus.SUBMITTED, before[1])


def test_a_nul_character_in_the_path_or_query_is_422(client: TestClient, app) -> None:
    headers = _headers(client, app)
    for url in (
        "/api/v1/backoffice/dossiers/UBXA%00",
        "/api/v1/backoffice/dossiers/UBXA%00/receipt.pdf",
        "/api/v1/backoffice/changes?cursor=c1.M%00A",
        "/api/v1/backoffice/dossiers?status=%00",
    ):
        problem = _problem(client.get(url, headers=headers), 422)
        assert problem["errors"][0]["type"] == "nul_character", url
    r = client.post("/api/v1/backoffice/dossiers/UBXA%00/receive", json={"officer": "A"}, headers=headers)
    _problem(r, 422)


def test_a_nul_character_in_multipart_is_422(client: TestClient, app) -> None:
    headers = _headers(client, app)
    dossier = committed_dossier(app, status=DossierStatus.RECEIVED)
    pdf = factories.pdf_bytes("Ket qua")
    body = (
        b'--b\r\nContent-Disposition: form-data; name="files"; filename="ket\x00qua.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + pdf + b"\r\n--b--\r\n"
    )
    r = client.post(
        f"/api/v1/backoffice/dossiers/{dossier.code}/result",
        content=body,
        headers={**headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert _problem(r, 422)["errors"][0]["loc"] == ["body", "files", "filename"]
    intake = {
        "procedure_code": factories.MARITAL,
        "applicant": {"cccd": "001190012399", "full_name": "Lê Văn Tám"},
        "answers": factories.marital_answers(purpose_other="Vay\u0000vốn"),
        "officer": "Nguyễn Thị Một Cửa",
        "files": ["to_khai"],
    }
    r = client.post(
        "/api/v1/backoffice/intake",
        data={"dossier": json.dumps(intake)},
        files=[("files", ("scan.pdf", pdf, "application/pdf"))],
        headers=headers,
    )
    assert _problem(r, 422)["errors"][0]["loc"] == ["body", "dossier", "answers", "purpose_other"]


def test_an_escaped_backslash_is_not_a_nul(client: TestClient, app) -> None:
    headers = _headers(client, app)
    dossier = committed_dossier(app)
    r = client.post(
        f"/api/v1/backoffice/dossiers/{dossier.code}/receive", json={"officer": "A\\u0000 B"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["received_by"] == "A\\u0000 B"


def test_a_cursor_ahead_of_the_feed_is_refused(client: TestClient, app) -> None:
    """A cursor past the feed's counter was never given out: answering it with empty pages (and itself as the
    next cursor) would hide every change up to it from the poller, silently."""
    headers = _headers(client, app)
    r = client.get("/api/v1/backoffice/changes", params={"limit": 1}, headers=headers)
    assert r.status_code == 200, r.text
    current = decode_cursor(r.json()["next_cursor"])
    with Session(writer(app.state.engine)) as s:
        horizon = last_change(s)
    assert current <= horizon
    for ahead in (horizon + 1, 10**17):
        r = client.get("/api/v1/backoffice/changes", params={"cursor": encode_cursor(ahead)}, headers=headers)
        assert "cursor" in _problem(r, 422)["detail"]
    r = client.get("/api/v1/backoffice/changes", params={"cursor": encode_cursor(horizon)}, headers=headers)
    assert r.status_code == 200 and decode_cursor(r.json()["next_cursor"]) >= horizon


def _intake(headers: dict[str, str], client: TestClient, scan: bytes):
    dossier = {
        "procedure_code": factories.MARITAL,
        "applicant": {"cccd": "001190012398", "full_name": "Lê Văn Tám"},
        "answers": factories.marital_answers(),
        "officer": "Nguyễn Thị Một Cửa",
        "files": ["to_khai"],
    }
    return client.post(
        "/api/v1/backoffice/intake",
        data={"dossier": json.dumps(dossier)},
        files=[("files", ("scan.pdf", scan, "application/pdf"))],
        headers=headers,
    )


def test_counter_intake_documents_every_refusal_it_gives(client: TestClient, app, settings) -> None:
    """A scan that is not a PDF/JPEG/PNG is 415, one over the file limit 413: both were missing from the
    OpenAPI document, as was 409 (the same Idempotency-Key still running), so a generated client could not
    read them."""
    headers = _headers(client, app)
    documented = client.get("/api/openapi.json").json()["paths"]["/api/v1/backoffice/intake"]["post"]["responses"]
    wrong_type = _problem(_intake(headers, client, b"GIF89a not a scan"), 415)
    too_large = _problem(_intake(headers, client, b"%PDF-1.7\n" + b"0" * settings.max_file_bytes), 413)
    for status in (wrong_type["status"], too_large["status"], 409):
        assert PROBLEM in documented[str(status)]["content"], status


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"kind": "field", "target": "x" * 100_000, "reason": "Ghi rõ."}, "target"),
        ({"kind": "component", "target": "", "reason": "Ghi rõ."}, "target"),
        ({"kind": "component", "target": "to_khai", "reason": "r" * 100_000}, "reason"),
    ],
)
def test_supplement_items_are_bounded(client: TestClient, app, item: dict[str, str], field: str) -> None:
    """An item's target and reason had no bound: a 100 000-character unknown target came back whole in the
    problem's detail. Now each is a field error, like the message's own limit."""
    headers = _headers(client, app)
    dossier = committed_dossier(app, status=DossierStatus.RECEIVED)
    r = client.post(
        f"/api/v1/backoffice/dossiers/{dossier.code}/request-supplement",
        json={"message": "Đề nghị bổ sung.", "items": [item]},
        headers=headers,
    )
    problem = _problem(r, 422)
    assert problem["errors"][0]["loc"] == ["body", "items", 0, field] and len(r.content) < 2000
    assert _status(app, dossier)[0] == DossierStatus.RECEIVED


def test_the_sealed_and_the_original_result_download_under_different_names(client: TestClient, app) -> None:
    """BACKOFFICE.md downloads both with `curl -OJ`: under one name, curl refused to overwrite the first file
    (exit 23) and the original was never saved."""
    headers = _headers(client, app)
    dossier = committed_dossier(app, status=DossierStatus.RECEIVED)
    agency = get_pki(app).issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA")
    signed = signed_by(agency, factories.pdf_bytes("Giay xac nhan"))
    r = client.post(
        f"/api/v1/backoffice/dossiers/{dossier.code}/result",
        files=[("files", ("giay-xac-nhan.pdf", signed, "application/pdf"))],
        headers=headers,
    )
    assert r.status_code == 200, r.text
    url = r.json()["results"][0]["download_url"]
    sealed = client.get(url, headers=headers)
    original = client.get(url, params={"copy": "original"}, headers=headers)
    assert original.content == signed and sealed.content != signed
    assert 'filename="giay-xac-nhan.pdf"' in sealed.headers["content-disposition"]
    assert 'filename="giay-xac-nhan-original.pdf"' in original.headers["content-disposition"]


def test_reject_refuses_unknown_fields_like_every_other_body(client: TestClient, app) -> None:
    """`{"reason": …, "refund": false}` was accepted and `refund` silently dropped; the other bodies forbid it."""
    headers = _headers(client, app)
    dossier = committed_dossier(app)
    r = client.post(
        f"/api/v1/backoffice/dossiers/{dossier.code}/reject",
        json={"reason": "Thiếu giấy tờ.", "refund": False},
        headers=headers,
    )
    assert _problem(r, 422)["errors"][0]["loc"] == ["body", "refund"]
    assert _status(app, dossier)[0] == DossierStatus.SUBMITTED


def test_an_empty_body_is_the_same_request_as_an_empty_object(client: TestClient, app) -> None:
    """`start-processing` takes no body, `{}` or `null`: a retry that adds `{}` (as many HTTP libraries do)
    was refused as "this Idempotency-Key was already used for another request"."""
    headers = {**_headers(client, app), "Idempotency-Key": "start-1"}
    dossier = committed_dossier(app, status=DossierStatus.RECEIVED)
    url = f"/api/v1/backoffice/dossiers/{dossier.code}/start-processing"
    first = client.post(url, headers=headers)
    assert first.status_code == 200, first.text
    for body in (b"{}", b"null"):
        again = client.post(url, content=body, headers={**headers, "Content-Type": "application/json"})
        assert again.status_code == 200, (body, again.text)
        assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    other = client.post(url, json={"x": 1}, headers=headers)
    assert "another request" in _problem(other, 422)["detail"]


def test_a_result_signed_only_by_a_person_is_refused(client: TestClient, app) -> None:
    """A result must be signed by the agency: a citizen's (or an officer's own) certificate from a trusted CA,
    which names a CCCD, was accepted as the agency's result. With the agency's signature beside it, it is."""
    headers = _headers(client, app)
    pki = get_pki(app)
    person = pki.issue_person(full_name="Nguyễn Văn Công Dân", cccd="001190099999")
    agency = pki.issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA")
    dossier = committed_dossier(app, status=DossierStatus.RECEIVED)
    url = f"/api/v1/backoffice/dossiers/{dossier.code}/result"

    def upload(pdf: bytes):
        return client.post(url, files=[("files", ("ket-qua.pdf", pdf, "application/pdf"))], headers=headers)

    detail = _problem(upload(signed_by(person, factories.pdf_bytes("Ket qua"))), 422)["detail"]
    assert "Nguyễn Văn Công Dân" in detail and "organisation certificate" in detail
    assert _status(app, dossier)[0] == DossierStatus.RECEIVED
    both = sign(agency, signed_by(person, factories.pdf_bytes("Ket qua")), field="ChuKyCoQuan2")
    r = upload(both)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "result_ready"


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_a_json_body_without_its_media_type_says_so(client: TestClient, app, content_type: str | None) -> None:
    """`curl -d '{…}'` without `-H 'Content-Type: application/json'` sends a form: the 422 read "Some parameters
    are not valid" with pydantic's "Input should be a valid dictionary or object to extract fields from"."""
    headers = _headers(client, app)
    sent = {**headers, "Content-Type": content_type} if content_type else headers
    dossier = committed_dossier(app)
    r = client.post(f"/api/v1/backoffice/dossiers/{dossier.code}/receive", content=b'{"officer": "A"}', headers=sent)
    assert "Content-Type: application/json" in _problem(r, 422)["detail"]
    r = client.post(f"/api/v1/backoffice/dossiers/{dossier.code}/receive", json={"officer": 5}, headers=headers)
    assert _problem(r, 422)["detail"] == "Some parameters are not valid."


def test_a_lone_surrogate_in_json_is_422(client: TestClient, app) -> None:
    """JSON may escape a lone surrogate (\\ud800), which no UTF-8 text can hold: refused by the body's model,
    never a 500 while the request is fingerprinted for Idempotency-Key."""
    headers = {**_headers(client, app), "Content-Type": "application/json"}
    dossier = committed_dossier(app)
    for body in (b'{"officer": "A\\ud800"}', b'{"\\udfff": 1}'):
        r = client.post(f"/api/v1/backoffice/dossiers/{dossier.code}/receive", content=body, headers=headers)
        _problem(r, 422)
    assert _status(app, dossier)[0] == DossierStatus.SUBMITTED


def test_unknown_api_paths_and_methods_are_english_problems(client: TestClient) -> None:
    for method, path, status in (("GET", "/api/v1/nothing-here", 404), ("DELETE", "/api/v1/backoffice/changes", 405)):
        r = client.request(method, path, cookies={"portal_lang": "vi"})
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["status"] == status and body["title"] in ("Not Found", "Method Not Allowed")
        assert body["detail"].isascii(), body  # English, whatever the browser's language
