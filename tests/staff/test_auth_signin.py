"""Staff sign-in over HTTP: password, TOTP enrolment and codes, lockouts, replay, sessions, logout, audit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.staff import current_step
from auth.staff_models import StaffMember, StaffSession
from portal.app import create_app
from portal.kernel.audit import AuditEvent
from portal.kernel.settings import Settings
from tests.conftest import signup
from tests.staff_factories import (
    StaffLogin,
    make_staff,
    sign_in_through_pages,
    staff_client,
    staff_csrf,
    totp_code,
)

pytestmark = pytest.mark.db
GENEROUS = {b: "100000/60" for b in ("staff_signin:ip", "staff_signin:login", "staff_totp:member")}


@pytest.fixture(scope="module")
def console(settings: Settings) -> Iterator[FastAPI]:
    """An app of its own whose staff rate limits do not trip across these tests (one test checks them)."""
    app = create_app(settings.model_copy(update={"rate_limits": {**settings.rate_limits, **GENEROUS}}))
    with TestClient(app):
        yield app


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, follow_redirects=False)


def events(app: Any, staff_id: str, kind: str | None = None) -> list[AuditEvent]:
    with Session(app.state.engine) as s:
        rows = s.exec(select(AuditEvent).where(col(AuditEvent.kind).startswith("staff.")).order_by(col(AuditEvent.id)))
        found = [e for e in rows if e.detail.get("staff_id") == staff_id]
    return [e for e in found if kind is None or e.kind == kind]


def post_login(client: TestClient, login: StaffLogin, password: str | None = None, next: str = "/staff") -> Any:
    token = staff_csrf(client, "/staff/login")
    data = {"csrf_token": token, "username": login.username, "password": password or login.password, "next": next}
    return client.post("/staff/login", data=data)


def post_code(client: TestClient, code: str, next: str = "/staff") -> Any:
    page = client.get("/staff/totp")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return client.post("/staff/totp", data={"csrf_token": token.group(1), "code": code, "next": next})


def test_password_then_code_opens_the_console(console: FastAPI) -> None:
    login = make_staff(console, role="officer", agency_code="UBXA", full_name="Lê Văn Cán")
    client = browser(console)
    r = post_login(client, login, next="/staff/dossiers")
    assert r.status_code == 303 and r.headers["location"] == "/staff/totp?next=/staff/dossiers"
    cookie = r.headers["set-cookie"]
    assert (
        "staff_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    )
    assert "Path=/staff" in cookie
    assert client.get("/staff").status_code == 303  # half signed in: the console stays shut
    r = post_code(client, totp_code(login), next="/staff/dossiers")
    assert r.status_code == 303 and r.headers["location"] == "/staff/dossiers"
    home = client.get("/staff")
    assert home.status_code == 200
    assert "Lê Văn Cán (UBXA)" in home.text
    assert 'href="/staff/checks"' not in home.text and 'href="/staff/feedback"' in home.text
    kinds = [(e.kind, e.outcome, e.detail.get("step")) for e in events(console, login.member_id)]
    assert kinds == [("staff.signin", "ok", "password"), ("staff.signin", "ok", "totp")]
    ok = events(console, login.member_id)[-1]
    assert ok.actor_kind == "staff" and ok.actor == "Lê Văn Cán (UBXA)" and ok.agency_code == "UBXA"


def test_the_half_open_token_is_replaced_when_the_code_is_accepted(console: FastAPI) -> None:
    login = make_staff(console)
    client = browser(console)
    post_login(client, login)
    first = client.cookies.get("staff_session")
    post_code(client, totp_code(login))
    assert client.cookies.get("staff_session") != first
    stolen = browser(console)
    stolen.cookies.set("staff_session", first or "", domain="testserver.local", path="/staff")
    assert stolen.get("/staff").status_code == 303


def test_first_sign_in_enrols_the_second_factor(console: FastAPI) -> None:
    login = make_staff(console, role="supervisor", enrolled=False)
    client = browser(console)
    assert post_login(client, login).status_code == 303
    page = client.get("/staff/totp")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "<svg" in page.text and "otpauth://" not in page.text.split("<svg")[0]
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page.text)
    assert secret
    assert client.get("/staff/totp").text.count(secret.group(1)) >= 1  # the same key until it is confirmed
    assert secret.group(1) in client.get("/staff/totp").text
    login.totp_secret = secret.group(1)
    right = pyotp.TOTP(login.totp_secret).now()
    r = post_code(client, f"{(int(right) + 1) % 1000000:06d}")
    assert r.status_code == 401 and "data-secret" in r.text  # still the enrolment page, with the same key
    assert client.get("/staff").status_code == 303
    r = post_code(client, totp_code(login))
    assert r.status_code == 303
    assert client.get("/staff").status_code == 200
    with Session(console.state.engine) as s:
        member = s.get(StaffMember, login.member_id)
        assert member and member.totp_confirmed_at is not None
        assert member.totp_secret and login.totp_secret not in member.totp_secret  # sealed, not in clear
    assert [e.kind for e in events(console, login.member_id, "staff.totp_enrol")] == ["staff.totp_enrol"]
    # The next sign-in asks for a code, no enrolment page.
    again = browser(console)
    post_login(again, login)
    assert "data-secret" not in again.get("/staff/totp").text


def test_wrong_and_replayed_codes_are_refused(console: FastAPI) -> None:
    login = make_staff(console)
    client = browser(console)
    post_login(client, login)
    assert login.totp_secret
    totp = pyotp.TOTP(login.totp_secret)
    wrong = f"{(int(totp.now()) + 1) % 1000000:06d}"
    r = post_code(client, wrong)
    assert r.status_code == 401 and ("not correct" in r.text or "không đúng" in r.text)
    r = post_code(client, "12ab")
    assert r.status_code == 422
    code = totp.generate_otp(current_step())
    assert post_code(client, code).status_code == 303
    # The same code in another browser is a replay.
    other = browser(console)
    post_login(other, login)
    r = post_code(other, code)
    assert r.status_code == 401 and ("replayed" in r.text or "đã được dùng" in r.text)
    refused = [e.detail.get("reason") for e in events(console, login.member_id, "staff.signin") if e.outcome != "ok"]
    assert len(refused) == 3


def test_a_code_of_the_previous_step_is_accepted_older_is_not(console: FastAPI) -> None:
    login = make_staff(console)
    assert login.totp_secret
    totp = pyotp.TOTP(login.totp_secret)
    client = browser(console)
    post_login(client, login)
    assert post_code(client, totp.generate_otp(current_step() - 3)).status_code == 401
    assert post_code(client, totp.generate_otp(current_step() - 1)).status_code == 303


def test_too_many_wrong_codes_lock_the_second_factor(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"rate_limits": {**settings.rate_limits, "staff_signin:ip": "1000/60"}})
    )
    with TestClient(app):
        login = make_staff(app)
        client = browser(app)
        post_login(client, login)
        assert login.totp_secret
        wrong = f"{(int(pyotp.TOTP(login.totp_secret).now()) + 7) % 1000000:06d}"
        for _ in range(5):
            assert post_code(client, wrong).status_code == 401
        r = post_code(client, totp_code(login))  # even the right code waits now
        assert r.status_code == 429 and "Retry-After" in r.headers
        assert client.get("/staff/totp").status_code == 303  # the half-open session ended
        assert events(app, login.member_id, "staff.lockout")


def test_wrong_passwords_lock_the_account(console: FastAPI) -> None:
    login = make_staff(console)
    client = browser(console)
    for _ in range(5):
        r = post_login(client, login, password="not-the-password-at-all")
        assert r.status_code == 401
        assert "not correct" in r.text or "không đúng" in r.text
        assert login.username in r.text  # what was typed is kept
    r = post_login(client, login)  # even the right password waits now
    assert r.status_code == 429
    assert events(console, login.member_id, "staff.lockout")
    unknown = post_login(client, StaffLogin("x", "no-such-staff", "", "", None, None, "whatever-long-pw", None))
    assert unknown.status_code == 401


def test_signin_rate_limit_by_ip(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limits": {**settings.rate_limits, "staff_signin:ip": "3/300"}}))
    with TestClient(app):
        login = make_staff(app)
        client = browser(app)
        codes = [post_login(client, login, password="wrong-password-123").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]


def test_disabled_member_cannot_sign_in(console: FastAPI) -> None:
    login = make_staff(console)
    with Session(console.state.engine) as s:
        member = s.get(StaffMember, login.member_id)
        assert member
        member.active = False
        s.add(member)
        s.commit()
    r = post_login(browser(console), login)
    assert r.status_code == 403


def test_logout_ends_the_session(console: FastAPI) -> None:
    client = staff_client(console, role="supervisor")
    token = staff_csrf(client)
    cookie = client.cookies.get("staff_session")
    r = client.post("/staff/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/staff/login"
    assert client.get("/staff").status_code == 303
    replay = browser(console)
    replay.cookies.set("staff_session", cookie or "", domain="testserver.local", path="/staff")
    assert replay.get("/staff").status_code == 303
    assert events(console, client.staff.member_id, "staff.logout")
    with Session(console.state.engine) as s:
        rows = s.exec(select(StaffSession).where(StaffSession.staff_id == client.staff.member_id)).all()
        assert rows and all(row.revoked_at is not None for row in rows)


def test_logout_without_csrf_is_refused(console: FastAPI) -> None:
    client = staff_client(console)
    assert client.post("/staff/logout").status_code == 403
    assert client.get("/staff").status_code == 200


def test_citizen_cannot_open_the_console(console: FastAPI) -> None:
    client = browser(console)
    signup(client)
    r = client.get("/staff")
    assert r.status_code == 403
    assert "/staff/login" in r.text


def test_next_stays_inside_the_console(console: FastAPI) -> None:
    login = make_staff(console)
    client = browser(console)
    r = post_login(client, login, next="https://evil.example/")
    assert r.headers["location"] == "/staff/totp?next=/staff"
    r = sign_in_through_pages(browser(console), make_staff(console), next="//evil.example")
    assert r.headers["location"] == "/staff"


def test_sign_in_through_pages_helper_with_enrolment(console: FastAPI) -> None:
    login = make_staff(console, role="postal", enrolled=False)
    client = browser(console)
    r = sign_in_through_pages(client, login)
    assert r.headers["location"] == "/staff"
    home = client.get("/staff")
    assert home.status_code == 200 and 'href="/staff/dossiers"' in home.text and 'href="/staff/stats"' not in home.text


def test_signed_in_login_page_goes_to_the_console(console: FastAPI) -> None:
    client = staff_client(console)
    r = client.get("/staff/login?next=/staff/stats")
    assert r.status_code == 303 and r.headers["location"] == "/staff/stats"


def test_pages_are_in_vietnamese_first(console: FastAPI) -> None:
    page = browser(console).get("/staff/login")
    assert page.status_code == 200
    assert 'lang="vi"' in page.text
