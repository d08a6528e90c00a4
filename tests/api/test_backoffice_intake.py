"""Counter intake over the API: a paper dossier registered by the back-office, received at once."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from tests import factories
from tests.api.test_token_and_api import STC_PROC, bearer, get_token, new_client

pytestmark = pytest.mark.db
URL = "/api/v1/backoffice/intake"
SCAN = factories.pdf_bytes("Trang 1")  # made once: a PDF's bytes carry the second it was made


def _headers(client: TestClient, app, agency: str = "UBXA") -> dict[str, str]:
    client_id, secret = new_client(app, agency=agency)
    return bearer(get_token(client, client_id, secret))


def _cccd() -> str:
    return f"{secrets.randbelow(10**12):012d}"


def _phone() -> str:
    # A number of its own: accounts made here are committed, and another test signs up with 0987 654 321.
    return f"0912 {secrets.randbelow(10**6):06d}"


def _dossier(**over: Any) -> dict[str, Any]:
    answers = factories.marital_answers()
    return {
        "procedure_code": factories.MARITAL,
        "applicant": {"cccd": _cccd(), "full_name": "Lê Văn Tám", "phone": _phone()},
        "answers": answers,
        "officer": "Nguyễn Thị Một Cửa",
        "delivery_method": "centre",
        "files": ["to_khai"],
        **over,
    }


def _send(client: TestClient, headers: dict[str, str], dossier: dict[str, Any] | str, files: int = 1, **kw: Any):
    part = dossier if isinstance(dossier, str) else json.dumps(dossier, ensure_ascii=False)
    uploads = [("files", (f"scan-{i}.pdf", SCAN, "application/pdf")) for i in range(files)]
    return client.post(URL, data={"dossier": part}, files=uploads, headers=headers, **kw)


def test_counter_intake_registers_and_receives(client: TestClient, app) -> None:
    h = _headers(client, app)
    given = _dossier()
    r = _send(client, h, given)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["channel"] == "counter" and body["intake_officer"] == "Nguyễn Thị Một Cửa"
    assert body["status"] == "received" and body["national_status"]["code"] == "2"
    assert body["code"].startswith("UBXA-") and body["due_date"] == body["official_due_date"]
    assert body["applicant_name"] == "Lê Văn Tám" and body["delivery_method"] == "centre"
    assert [f["component"] for f in body["files"]] == ["to_khai"]
    assert [e["kind"] for e in body["timeline"]] == ["registered_at_counter"]
    with Session(app.state.engine) as s:
        account = s.exec(select(Account).where(Account.cccd == given["applicant"]["cccd"])).one()
        assert account.full_name == "Lê Văn Tám"
    # It is in the feed and readable like any other.
    assert client.get(f"/api/v1/backoffice/dossiers/{body['code']}", headers=h).status_code == 200

    # The same CCCD again: the same account, a new dossier.
    again = _send(client, h, {**given, "officer": "Người khác"})
    assert again.status_code == 201 and again.json()["code"] != body["code"]
    assert again.json()["applicant_name"] == "Lê Văn Tám"


def test_counter_intake_is_idempotent(client: TestClient, app) -> None:
    h = {**_headers(client, app), "Idempotency-Key": f"intake-{secrets.token_hex(4)}"}
    given = _dossier()
    first = _send(client, h, given)
    assert first.status_code == 201, first.text
    again = _send(client, h, given)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["code"] == first.json()["code"]
    assert _send(client, h, {**given, "officer": "Khác"}).status_code == 422


@pytest.mark.parametrize(
    ("change", "files", "status"),
    [
        ({"procedure_code": STC_PROC}, 1, 404),  # another agency's procedure
        ({"procedure_code": "0.000000"}, 1, 404),
        ({"files": ["khong-co"]}, 1, 422),  # no such component
        ({"files": []}, 0, 422),  # the mandatory form missing
        ({"files": ["to_khai", "to_khai"]}, 1, 422),  # a component for a file not sent
        ({"answers": {"full_name": ""}}, 1, 422),
        ({"answers": {"nope": 1}}, 1, 422),
        ({"applicant": {"cccd": "123", "full_name": "A"}}, 1, 422),
        ({"officer": ""}, 1, 422),
        ({"delivery_method": "drone"}, 1, 422),
    ],
)
def test_counter_intake_refusals(client: TestClient, app, change: dict[str, Any], files: int, status: int) -> None:
    r = _send(client, _headers(client, app), _dossier(**change), files=files)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_counter_intake_needs_a_json_dossier_part(client: TestClient, app) -> None:
    h = _headers(client, app)
    r = _send(client, h, "not json")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][:2] == ["body", "dossier"]
    r = client.post(URL, json=_dossier(), headers=h)
    assert r.status_code == 422


def test_answers_in_error_are_named(client: TestClient, app) -> None:
    answers = factories.marital_answers(birth_date="not a date")
    r = _send(client, _headers(client, app), _dossier(answers=answers))
    assert r.status_code == 422, r.text
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["body", "dossier", "answers", "birth_date"] in locs, locs


def test_the_dossier_part_may_carry_its_json_media_type(client: TestClient, app) -> None:
    """As `curl -F 'dossier={…};type=application/json'` sends it (docs/BACKOFFICE.md)."""
    part = json.dumps(_dossier(), ensure_ascii=False)
    r = client.post(
        URL,
        files=[("dossier", (None, part, "application/json")), ("files", ("scan.pdf", SCAN, "application/pdf"))],
        headers=_headers(client, app),
    )
    assert r.status_code == 201, r.text
