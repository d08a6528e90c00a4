"""A dossier is its applicant's only: every other account gets the same 404 as for a missing one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from portal.dossiers.models import DossierFile
from tests.conftest import csrf, signup
from tests.factories import marital_step1, pdf_bytes
from tests.web.flow import fill_marital, submit

pytestmark = pytest.mark.db


@pytest.fixture()
def owned(app) -> tuple[TestClient, str, str]:
    owner = TestClient(app, follow_redirects=False)
    signup(owner, name="Trần Văn Chủ")
    dossier_id = fill_marital(owner)
    with Session(app.state.engine) as s:
        file_id = s.exec(select(DossierFile.id).where(DossierFile.dossier_id == dossier_id)).first()
    assert file_id
    return owner, dossier_id, file_id


def test_other_citizen_gets_404_everywhere(owned, app) -> None:
    owner, dossier_id, file_id = owned
    other = TestClient(app, follow_redirects=False)
    signup(other, name="Kẻ Lạ")
    gets = [
        f"/dossiers/{dossier_id}",
        f"/dossiers/{dossier_id}/steps/applicant",
        f"/dossiers/{dossier_id}/files",
        f"/dossiers/{dossier_id}/files/{file_id}",
        f"/dossiers/{dossier_id}/review",
        f"/dossiers/{dossier_id}/continue",
    ]
    for url in gets:
        r = other.get(url)
        assert r.status_code == 404, url
        assert "Trần Văn Chủ" not in r.text
    token = csrf(other)
    posts = [
        (f"/dossiers/{dossier_id}/steps/applicant", marital_step1()),
        (f"/dossiers/{dossier_id}/submit", {"delivery_method": "online"}),
        (f"/dossiers/{dossier_id}/files/{file_id}/delete", {}),
        (f"/dossiers/{dossier_id}/validate", {"_field": "cccd", "cccd": "1"}),
    ]
    for url, data in posts:
        r = other.post(url, data={**data, "csrf_token": token})
        assert r.status_code == 404, url
    r = other.post(
        f"/dossiers/{dossier_id}/files/to_khai",
        data={"csrf_token": token},
        files=[("files", ("a.pdf", pdf_bytes(), "application/pdf"))],
    )
    assert r.status_code == 404
    assert dossier_id not in other.get("/dossiers").text
    # The owner still has everything, and submits; the receipt is theirs only.
    assert submit(owner, dossier_id).status_code == 303
    assert other.get(f"/dossiers/{dossier_id}/receipt.pdf").status_code == 404
    assert owner.get(f"/dossiers/{dossier_id}/receipt.pdf").status_code == 200
    assert owner.get(f"/dossiers/{dossier_id}/files/{file_id}").status_code == 200


def test_anonymous_is_sent_to_sign_in(owned, app) -> None:
    _, dossier_id, file_id = owned
    anon = TestClient(app, follow_redirects=False)
    for url in (
        f"/dossiers/{dossier_id}",
        f"/dossiers/{dossier_id}/receipt.pdf",
        f"/dossiers/{dossier_id}/files/{file_id}",
        "/dossiers",
    ):
        r = anon.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next="), url
    r = anon.get("/dossiers", headers={"HX-Request": "true"})
    assert r.headers.get("HX-Redirect", "").startswith("/signin")


def test_unknown_ids_are_404(citizen: TestClient) -> None:
    for url in ("/dossiers/0123456789abcdef0123456789abcdef", "/dossiers/'%20OR%201=1", "/dossiers/x/receipt.pdf"):
        assert citizen.get(url).status_code == 404, url


def test_csrf_is_required_on_every_post(owned, app) -> None:
    owner, dossier_id, _ = owned
    for url, data in [
        (f"/dossiers/{dossier_id}/submit", {"delivery_method": "online"}),
        ("/signout", {}),
        ("/procedures/1.004873/start", {}),
    ]:
        assert owner.post(url, data=data).status_code == 403, url
        assert owner.post(url, data={**data, "csrf_token": "forged"}).status_code == 403, url
    r = owner.post(
        f"/dossiers/{dossier_id}/submit", data={"delivery_method": "online"}, headers={"X-CSRF-Token": "nope"}
    )
    assert r.status_code == 403
    # The draft is untouched and still submittable.
    assert submit(owner, dossier_id).status_code == 303
    anon = TestClient(app, follow_redirects=False)
    assert anon.post("/signin", data={"login": "a@b.vn", "password": "x"}).status_code == 403
