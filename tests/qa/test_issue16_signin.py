"""QA of the console's sign-in (issue 16: "a wrong or replayed TOTP code"): odd codes, codes of other time steps,
the same code twice (also by two requests at once), half-open sessions, sessions after logout or disabling."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from auth import staff as staff_auth
from auth.staff import current_step
from auth.staff_models import StaffMember
from portal.app import create_app
from portal.kernel.outbox import OutboxMessage
from portal.kernel.settings import Settings
from tests.staff_factories import StaffLogin, make_staff, open_session, staff_client, staff_csrf

pytestmark = pytest.mark.db
GENEROUS = {b: "100000/60" for b in ("staff_signin:ip", "staff_signin:login", "staff_totp:member")}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def console(settings: Settings) -> Iterator[FastAPI]:
    app = create_app(settings.model_copy(update={"rate_limits": {**settings.rate_limits, **GENEROUS}}))
    with TestClient(app):
        yield app


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, follow_redirects=False)


def password_step(client: TestClient, login: StaffLogin, password: str | None = None, **extra: str) -> Any:
    token = CSRF.search(client.get("/staff/login").text).group(1)  # type: ignore[union-attr]
    data = {"csrf_token": token, "username": login.username, "password": password or login.password, **extra}
    return client.post("/staff/login", data=data)


def code_step(client: TestClient, code: str) -> Any:
    page = client.get("/staff/totp")
    token = CSRF.search(page.text)
    assert token, page.text
    return client.post("/staff/totp", data={"csrf_token": token.group(1), "code": code})


def test_codes_that_are_not_six_ascii_digits_are_a_422(console: FastAPI) -> None:
    login = make_staff(console)
    client = browser(console)
    password_step(client, login)
    # "١٢٣٤٥٦" and "²²²²²²" pass str.isdigit(); hmac.compare_digest refuses non-ASCII text (was a 500).
    for odd in ("١٢٣٤٥٦", "²²²²²²", "１２３４５６", "12345\x00", "", "       ", "1" * 20, "-12345", "+12345"):
        r = code_step(client, odd)
        assert r.status_code == 422, (odd, r.status_code)
    assert client.get("/staff").status_code == 303  # still only half signed in
    assert code_step(client, pyotp.TOTP(login.totp_secret or "").now()).status_code == 303


def test_too_long_form_values_are_refused_not_crashed(console: FastAPI) -> None:
    login = make_staff(console)
    client = browser(console)
    r = password_step(client, login, password="x" * 5000)
    assert r.status_code == 422
    r = password_step(client, StaffLogin("x", "u" * 500, "", "", None, None, "p" * 20, None))
    assert r.status_code == 422
    r = password_step(client, login, next="/staff/" + "a" * 5000)
    assert r.status_code == 422
    assert (
        password_step(client, login, next="/staff/\r\nSet-Cookie: x=1")
        .headers["location"]
        .startswith("/staff/totp?next=/staff/%0D%0A")
    )


def _early_in_a_step() -> int:
    """The current time step, waiting for the next one when this one ends within 8 seconds."""
    left = staff_auth.TOTP_PERIOD - time.time() % staff_auth.TOTP_PERIOD
    if left < 8:
        time.sleep(left + 0.1)
    return current_step()


def test_next_and_previous_steps_accepted_once_older_and_later_refused(console: FastAPI) -> None:
    login = make_staff(console)
    totp = pyotp.TOTP(login.totp_secret or "")
    here = _early_in_a_step()
    client = browser(console)
    password_step(client, login)
    assert code_step(client, totp.generate_otp(here + 2)).status_code == 401
    assert code_step(client, totp.generate_otp(here - 2)).status_code == 401
    assert code_step(client, totp.generate_otp(here + 1)).status_code == 303
    # The next step was used: this step's code (older) is refused as a replay in another browser.
    again = browser(console)
    password_step(again, login)
    r = code_step(again, totp.generate_otp(here))
    assert r.status_code == 401 and ("replayed" in r.text or "đã được dùng" in r.text)
    assert again.get("/staff").status_code == 303


def test_the_same_code_twice_at_once_opens_one_console_only(console: FastAPI) -> None:
    """Two sign-ins of one member send the same code at the same moment: one is accepted, the other is a replay
    (the last step is claimed by a conditional update, not read then written)."""
    login = make_staff(console)
    code = pyotp.TOTP(login.totp_secret or "").generate_otp(_early_in_a_step())
    engine = console.state.engine
    settings = console.state.settings
    outcomes: list[str] = []
    first_flushed = threading.Event()

    def attempt(hold: threading.Event | None) -> None:
        with Session(engine) as session:
            member = session.get(StaffMember, login.member_id)
            assert member is not None
            if hold is not None:
                hold.wait(10)  # read the member before the other attempt commits
            try:
                staff_auth.verify_code(session, member, code, settings)
            except staff_auth.StaffSignInFailed:
                outcomes.append("refused")
                session.rollback()
                return
            except Exception as exc:  # a database refusing the second writer counts as refused too
                outcomes.append(f"error {type(exc).__name__}")
                session.rollback()
                return
            if hold is None:
                first_flushed.set()
                threading.Event().wait(0.3)  # the other attempt reads meanwhile
            session.commit()
            outcomes.append("ok")

    second = threading.Thread(target=attempt, args=(first_flushed,))
    second.start()
    attempt(None)
    second.join(15)
    assert len(outcomes) == 2 and outcomes.count("ok") == 1, outcomes


def test_a_half_open_session_reaches_no_console_page_nor_action(console: FastAPI, db: Session) -> None:
    login = make_staff(console)
    client = browser(console)
    password_step(client, login)
    msg = OutboxMessage(topic="qa16.halfopen", payload={"n": 1}, attempts=9, dead=True)
    db.add(msg)
    db.commit()
    for page in ("/staff", "/staff/dossiers", "/staff/feedback", "/staff/outbox", "/staff/checks", "/staff/stats"):
        r = client.get(page)
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/totp?next="), page
        htmx = client.get(page, headers={"HX-Request": "true"})
        assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/staff/totp"), page
    token = CSRF.search(client.get("/staff/login").text).group(1)  # type: ignore[union-attr]
    r = client.post(f"/staff/outbox/{msg.id}/replay", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/totp")
    db.rollback()
    assert db.get(OutboxMessage, msg.id).dead  # type: ignore[union-attr]


def test_the_totp_step_needs_its_csrf_token(console: FastAPI) -> None:
    login = make_staff(console)
    client = browser(console)
    password_step(client, login)
    r = client.post("/staff/totp", data={"code": pyotp.TOTP(login.totp_secret or "").now()})
    assert r.status_code == 403
    assert client.get("/staff").status_code == 303


def test_disabling_a_member_ends_an_open_console(console: FastAPI) -> None:
    client = staff_client(console, role="supervisor")
    assert client.get("/staff").status_code == 200
    with Session(console.state.engine) as s:
        member = s.get(StaffMember, client.staff.member_id)
        assert member is not None
        staff_auth.disable(s, member)
        s.commit()
    assert client.get("/staff").status_code == 303
    assert client.get("/staff/dossiers", headers={"HX-Request": "true"}).status_code == 204
    # Another session opened for the member (as a stolen token would be) opens nothing either.
    other = browser(console)
    with Session(console.state.engine) as s:
        member = s.get(StaffMember, client.staff.member_id)
        assert member is not None and not member.active
    open_session(console, other, client.staff)
    assert other.get("/staff").status_code == 303
    # Nor a sign-in with the right password and a right code.
    r = password_step(browser(console), client.staff)
    assert r.status_code == 403


def test_a_session_after_logout_and_the_logout_of_a_stranger(console: FastAPI) -> None:
    client = staff_client(console)
    token = staff_csrf(client)
    cookie = client.cookies.get("staff_session") or ""
    assert client.post("/staff/logout", data={"csrf_token": token}).status_code == 303
    ghost = browser(console)
    ghost.cookies.set("staff_session", cookie, domain="testserver.local", path="/staff")
    for page in ("/staff", "/staff/dossiers.csv", "/staff/payments.csv"):
        assert ghost.get(page).status_code == 303
    # Logging out twice, or with a made-up cookie, is harmless.
    ghost_token = staff_csrf(ghost, "/staff/login")
    assert ghost.post("/staff/logout", data={"csrf_token": ghost_token}).status_code == 303
    ghost.cookies.set("staff_session", "x" * 5000, domain="testserver.local", path="/staff")
    assert ghost.get("/staff").status_code == 303
    assert ghost.post("/staff/logout", data={"csrf_token": ghost_token}).status_code == 303


def test_wrong_password_of_a_disabled_member_says_nothing_more(console: FastAPI) -> None:
    login = make_staff(console)
    with Session(console.state.engine) as s:
        member = s.get(StaffMember, login.member_id)
        assert member is not None
        staff_auth.disable(s, member)
        s.commit()
    r = password_step(browser(console), login, password="wrong-password-1234")
    assert r.status_code == 401 and "disabled" not in r.text and "vô hiệu" not in r.text
