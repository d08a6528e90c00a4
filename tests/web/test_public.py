"""Public lookup, language switch, health checks, security headers, HTMX fragments."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import signup
from tests.web.flow import fill_marital, start, submit

pytestmark = pytest.mark.db


def test_lookup_shows_status_but_no_personal_data(app) -> None:
    owner = TestClient(app, follow_redirects=False)
    signup(owner, name="Lê Thị Riêng Tư")
    dossier_id = fill_marital(owner)
    page = owner.get(submit(owner, dossier_id).headers["location"])
    code = page.text.split('class="code">', 1)[1].split("<", 1)[0].strip()
    anon = TestClient(app)
    r = anon.get("/lookup", params={"code": code.lower()})
    assert r.status_code == 200
    assert code in r.text and "Đã nộp" in r.text and "Ngày hẹn trả kết quả" in r.text
    for private in ("Lê Thị Riêng Tư", "001190012345", "0912", "huong@example.vn", "Lý Thái Tổ"):
        assert private not in r.text


def test_lookup_bad_codes(client: TestClient) -> None:
    r = client.get("/lookup", params={"code": "abc<script>"})
    assert r.status_code == 422 and "<script>" not in r.text and 'aria-invalid="true"' in r.text
    r = client.get("/lookup", params={"code": "STP-991231-9999"})
    assert r.status_code == 404 and "STP-991231-9999" in r.text
    assert client.get("/lookup", params={"code": "x" * 500}).status_code == 422
    assert client.get("/lookup").status_code == 200


def test_draft_codes_are_not_looked_up(citizen: TestClient) -> None:
    start(citizen)
    assert citizen.get("/lookup", params={"code": "UBXA-000000-0000"}).status_code == 404


def test_language_switch(client: TestClient) -> None:
    assert 'lang="vi"' in client.get("/").text
    r = client.get("/lang/en", params={"next": "/procedures?q=khai"})
    assert r.status_code == 303 and r.headers["location"] == "/procedures?q=khai"
    page = client.get("/procedures")
    assert 'lang="en"' in page.text and "Administrative procedures" in page.text
    assert "Issuance of a certificate of marital status" in page.text
    assert client.get("/lang/fr", params={"next": "https://evil.example"}).headers["location"] == "/"
    client.get("/lang/vi")
    assert "Thủ tục hành chính" in client.get("/procedures").text


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_security_headers(client: TestClient) -> None:
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert [v.strip() for v in r.headers["vary"].split(",")].count("Cookie") == 1
    assert "set-cookie" not in r.headers  # anonymous pages start no session
    cookie = client.get("/signin").headers.get("set-cookie", "")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "<script>" not in r.text  # no inline scripts anywhere


def test_inline_validation_fragment(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    from tests.conftest import csrf

    token = csrf(citizen, f"/dossiers/{dossier_id}/steps/applicant")
    r = citizen.post(
        f"/dossiers/{dossier_id}/validate",
        data={"_field": "cccd", "cccd": "12345"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert r.status_code == 200 and 'id="f-cccd-error"' in r.text and "12" in r.text and "<html" not in r.text
    r = citizen.post(
        f"/dossiers/{dossier_id}/validate",
        data={"_field": "cccd", "cccd": "001190012345"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert "hidden" in r.text
    r = citizen.post(f"/dossiers/{dossier_id}/validate", data={"_field": "nope"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 404


def test_ward_options(client: TestClient) -> None:
    r = client.get("/forms/wards", params={"province": "01"})
    assert "Phường Ba Đình" in r.text and 'value="00004"' in r.text
    assert "Phường Ba Đình" not in client.get("/forms/wards", params={"province": "79"}).text
    assert client.get("/forms/wards", params={"province": "zz"}).status_code == 200
    htmx = client.get("/forms/wards", params={"home.province": "01", "name": "home.province"})
    assert 'value="00004"' in htmx.text


def test_not_found_page_is_localised(client: TestClient) -> None:
    r = client.get("/khong-co-trang-nay")
    assert r.status_code == 404 and "Không tìm thấy" in r.text
    assert client.post("/healthz").status_code in (403, 405)


def test_readyz_refuses_an_unmigrated_database(settings, tmp_path) -> None:
    from portal.app import create_app

    fresh = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'empty.db'}"})
    with TestClient(create_app(fresh)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "migrations pending"
        assert c.get("/healthz").status_code == 200
