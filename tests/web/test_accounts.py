"""Local accounts: sign-up checks, sign-in with email or phone, lockout, sign-out, session rotation."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from tests.conftest import csrf, signup

pytestmark = pytest.mark.db


def _signin(client: TestClient, login: str, password: str):
    token = csrf(client, "/signin")
    return client.post("/signin", data={"csrf_token": token, "login": login, "password": password, "next": "/dossiers"})


def test_signup_validation(client: TestClient) -> None:
    token = csrf(client, "/signup")
    r = client.post(
        "/signup",
        data={"csrf_token": token, "login": "not-an-email", "full_name": "", "password": "short", "password2": "other"},
    )
    assert r.status_code == 422
    for anchor in ('href="#login"', 'href="#full_name"', 'href="#password"', 'href="#password2"'):
        assert anchor in r.text
    assert 'value="not-an-email"' in r.text


def test_password_is_hashed_with_argon2(client: TestClient, db: Session) -> None:
    login = signup(client, password="mot-mat-khau-dai")
    account = db.exec(select(Account).where(Account.email == login)).one()
    assert account.password_hash is not None and account.password_hash.startswith("$argon2id$")
    assert "mot-mat-khau-dai" not in account.password_hash


def test_signin_by_phone_and_duplicate(app) -> None:
    a = TestClient(app, follow_redirects=False)
    signup(a, login="0987 654 321", password="mat-khau-dien-thoai")
    b = TestClient(app, follow_redirects=False)
    token = csrf(b, "/signup")
    r = b.post(
        "/signup",
        data={
            "csrf_token": token,
            "login": "+84987654321",
            "full_name": "Người Khác",
            "password": "mat-khau-dien-thoai",
            "password2": "mat-khau-dien-thoai",
        },
    )
    assert r.status_code == 422
    r = _signin(b, "+84 987 654 321", "mat-khau-dien-thoai")
    assert r.status_code == 303 and r.headers["location"] == "/dossiers"


def test_session_rotates_and_signout_ends_it(client: TestClient, app) -> None:
    login = signup(client, password="mat-khau-rat-dai-2026")
    client.post("/signout", data={"csrf_token": csrf(client)})
    assert client.get("/dossiers").status_code == 303
    before = client.cookies.get("portal_session")
    assert _signin(client, login, "mat-khau-rat-dai-2026").status_code == 303
    assert client.cookies.get("portal_session") != before
    assert client.get("/dossiers").status_code == 200


def test_wrong_password_then_lockout(client: TestClient, app) -> None:
    login = signup(client, password="mat-khau-dung-roi")
    attacker = TestClient(app, follow_redirects=False)
    for _ in range(5):
        r = _signin(attacker, login, "sai-mat-khau")
        assert r.status_code == 401
    r = _signin(attacker, login, "mat-khau-dung-roi")
    assert r.status_code == 429
    r = _signin(attacker, f"nobody-{secrets.token_hex(4)}@example.vn", "whatever-password")
    assert r.status_code == 401


def test_next_parameter_cannot_leave_the_site(client: TestClient) -> None:
    login = signup(client, password="mat-khau-rat-dai-2026")
    client.post("/signout", data={"csrf_token": csrf(client)})
    token = csrf(client, "/signin")
    r = client.post(
        "/signin",
        data={"csrf_token": token, "login": login, "password": "mat-khau-rat-dai-2026", "next": "//evil.example/x"},
    )
    assert r.headers["location"] == "/dossiers"
