"""Staff members and signed-in console browsers for tests (docs/STAFF.md).

    make_staff(app, role="supervisor"|"officer"|"postal", agency_code=None, postal_operator=None,
               full_name=None, username=None, password=DEFAULT_PASSWORD, enrolled=True) -> StaffLogin
    staff_client(app, role="supervisor", agency_code=None, postal_operator=None, full_name=None)
        -> StaffTestClient     # a TestClient (follow_redirects=False) signed in, second factor done; .staff: StaffLogin
    staff_csrf(client) -> str  # the CSRF token for the console's forms
    totp_code(login) -> str    # a code the portal accepts now (never one it saw already)
    sign_in_through_pages(client, login, next="/staff") -> Response   # password + TOTP over HTTP (pyotp)
    sign_in_with_playwright(page, base_url, login, next="/staff") -> None   # the same in a browser

Officers default to agency UBXA, postal desks to operator "vnpost". Every member gets a unique username.
`staff_client` opens the session in the database (no sign-in pages, so no rate limit is spent: every test
request comes from one address); `sign_in_through_pages` goes through /staff/login and /staff/totp.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import pyotp
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from auth.staff import (
    COOKIE_NAME,
    COOKIE_PATH,
    TOTP_PERIOD,
    activate,
    create_member,
    current_step,
    seal_secret,
    start_session,
)
from auth.staff_models import StaffMember
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.settings import Settings

DEFAULT_PASSWORD = "mat-khau-can-bo-2026"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
DEFAULTS = {"officer": ("UBXA", None), "postal": (None, "vnpost"), "supervisor": (None, None)}


@dataclass
class StaffLogin:
    """A staff member made for a test, with what signing in needs."""

    member_id: str
    username: str
    full_name: str
    role: str
    agency_code: str | None
    postal_operator: str | None
    password: str
    totp_secret: str | None  # None: not enrolled yet (the first sign-in enrols)
    used_steps: set[int] = field(default_factory=set)

    @property
    def name(self) -> str:
        """As audit events and StaffViewer.name write it."""
        scope = self.agency_code or self.postal_operator
        return f"{self.full_name} ({scope})" if scope else self.full_name


class StaffTestClient(TestClient):
    staff: StaffLogin


def _settings(app: Any) -> Settings:
    settings: Settings = app.state.settings
    return settings


def make_staff(
    app: Any,
    *,
    role: str = "supervisor",
    agency_code: str | None = None,
    postal_operator: str | None = None,
    full_name: str | None = None,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    enrolled: bool = True,
) -> StaffLogin:
    """A committed staff member (TOTP enrolled unless `enrolled=False`)."""
    default_agency, default_operator = DEFAULTS[role]
    agency_code = agency_code or default_agency
    postal_operator = postal_operator or default_operator
    username = username or f"staff-{role}-{secrets.token_hex(5)}"
    full_name = full_name or f"Cán bộ Thử {secrets.token_hex(3)}"
    secret = pyotp.random_base32() if enrolled else None
    with Session(writer(app.state.engine)) as session:
        member = create_member(
            session,
            username=username,
            full_name=full_name,
            role=role,
            agency_code=agency_code,
            postal_operator=postal_operator,
            password=password,
        )
        if secret is not None:
            member.totp_secret = seal_secret(_settings(app), secret)
            member.totp_confirmed_at = utcnow()
        session.add(member)
        session.commit()
        return StaffLogin(
            member_id=member.id,
            username=member.username,
            full_name=member.full_name,
            role=member.role,
            agency_code=member.agency_code,
            postal_operator=member.postal_operator,
            password=password,
            totp_secret=secret,
        )


def open_session(app: Any, client: TestClient, login: StaffLogin) -> None:
    """Give `client` an active staff session of `login` (as if it had signed in with both factors)."""
    with Session(writer(app.state.engine)) as session:
        member = session.get(StaffMember, login.member_id)
        assert member is not None
        token, row = start_session(session, member, method="password", settings=_settings(app))
        activate(session, row)
        session.commit()
    # The same cookie the server sets (httpx keeps a dot-less host's cookies under "<host>.local").
    client.cookies.set(COOKIE_NAME, token, domain="testserver.local", path=COOKIE_PATH)


def staff_client(
    app: Any,
    *,
    role: str = "supervisor",
    agency_code: str | None = None,
    postal_operator: str | None = None,
    full_name: str | None = None,
) -> StaffTestClient:
    """A browser signed in to the console as a new member of `role` (second factor done)."""
    login = make_staff(app, role=role, agency_code=agency_code, postal_operator=postal_operator, full_name=full_name)
    client = StaffTestClient(app, follow_redirects=False)
    open_session(app, client, login)
    client.staff = login
    return client


def staff_csrf(client: TestClient, path: str = "/staff") -> str:
    """The CSRF token of this browser, read off a console page (the sign-in page when signed out)."""
    page = client.get(path)
    match = CSRF_RE.search(page.text) or CSRF_RE.search(client.get("/staff/login").text)
    assert match, f"no csrf token on {path}"
    return match.group(1)


def totp_code(login: StaffLogin) -> str:
    """A code for the current time step, or the next one (accepted too) when this one was used already."""
    assert login.totp_secret, "the member is not enrolled"
    step = current_step()
    if step in login.used_steps or max(login.used_steps, default=-1) >= step:
        step = max(login.used_steps) + 1
        if step > current_step() + 1:  # both accepted steps are spent: wait for the clock
            time.sleep(TOTP_PERIOD - time.time() % TOTP_PERIOD + 0.1)
            step = current_step()
    login.used_steps.add(step)
    return pyotp.TOTP(login.totp_secret).generate_otp(step)


def sign_in_through_pages(client: TestClient, login: StaffLogin, *, next: str = "/staff") -> Response:
    """Password, then (enrolment and) TOTP, through the pages; returns the last response (303 to `next`)."""
    token = staff_csrf(client, "/staff/login")
    r = client.post(
        "/staff/login",
        data={"csrf_token": token, "username": login.username, "password": login.password, "next": next},
    )
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    if login.totp_secret is None:
        found = re.search(r'data-secret="([A-Z2-7]+)"', page.text)
        assert found, page.text
        login.totp_secret = found.group(1)
    token = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/staff/totp", data={"csrf_token": token, "code": totp_code(login), "next": next})
    assert r.status_code == 303, r.text
    return r


def sign_in_with_playwright(page: Any, base_url: str, login: StaffLogin, *, next: str = "/staff") -> None:
    """The same in a browser (Playwright's sync Page): ends on `next`."""
    page.goto(f"{base_url}/staff/login?next={next}")
    page.fill("input[name=username]", login.username)
    page.fill("input[name=password]", login.password)
    page.click("form.staff-signin button[type=submit]")
    if login.totp_secret is None:
        login.totp_secret = page.get_attribute("[data-secret]", "data-secret")
    page.fill("input[name=code]", totp_code(login))
    page.click("form.staff-totp button[type=submit]")
    page.wait_for_url(f"{base_url}{next}")
