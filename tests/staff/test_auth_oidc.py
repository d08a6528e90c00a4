"""Staff sign-in through the OpenID provider (the built-in development one, in-process): the role claim."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.staff import StaffSignInFailed, current_step, member_for_provider, parse_role_claim
from auth.staff_models import StaffMember, StaffRole
from portal.app import create_app
from portal.kernel.audit import AuditEvent
from portal.kernel.settings import Settings

pytestmark = pytest.mark.db
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
REQUEST_ID_RE = re.compile(r'name="request_id" value="([^"]+)"')
LOA2 = "urn:dvc:loa:2"


@pytest.fixture(scope="module")
def idp_app(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    app = create_app(settings.model_copy(update={"storage_dir": tmp_path_factory.mktemp("staff-idp")}))
    with TestClient(app):
        yield app


def through_provider(app: FastAPI, sub: str) -> tuple[TestClient, Any]:
    """Start at the console's button, choose `sub` at the provider, come back: (browser, callback response)."""
    browser = TestClient(app, follow_redirects=False)
    start = browser.get("/staff/oidc/login", params={"next": "/staff/stats"})
    assert start.status_code == 302, start.text
    authorize = urlsplit(start.headers["location"])
    assert "redirect_uri=http%3A%2F%2Ftestserver%2Fstaff%2Foidc%2Fcallback" in authorize.query
    page = browser.get(authorize.path + "?" + authorize.query)
    csrf, request_id = CSRF_RE.search(page.text), REQUEST_ID_RE.search(page.text)
    assert csrf and request_id, page.text
    answer = browser.post(
        "/dev-idp/authorize",
        data={"csrf_token": csrf.group(1), "request_id": request_id.group(1), "citizen": sub, "acr": LOA2,
              "action": "signin"},
    )  # fmt: skip
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert back.path == "/staff/oidc/callback"
    return browser, browser.get(back.path + "?" + back.query)


def staff_of(app: Any, sub: str) -> StaffMember:
    with Session(app.state.engine) as s:
        row = s.exec(select(StaffMember).where(StaffMember.oidc_subject == sub)).one()
        s.expunge(row)
        return row


def test_officer_claim_makes_a_member_then_totp_opens_the_console(idp_app: FastAPI) -> None:
    with Session(idp_app.state.engine) as s:  # a fixed demo identity: another test may have enrolled it
        for row in s.exec(select(StaffMember).where(StaffMember.oidc_subject == "dev-staff-002")):
            row.totp_secret, row.totp_confirmed_at, row.totp_last_step = None, None, None
            s.add(row)
        s.commit()
    browser, callback = through_provider(idp_app, "dev-staff-002")
    assert callback.status_code == 200, callback.text
    assert 'http-equiv="refresh"' in callback.text and "/staff/totp?next=/staff/stats" in callback.text
    assert "staff_session=" in callback.headers["set-cookie"]
    member = staff_of(idp_app, "dev-staff-002")
    assert member.role == StaffRole.OFFICER and member.agency_code == "UBXA" and member.full_name == "Vũ Thị Cán"
    assert browser.get("/staff").status_code == 303  # no TOTP yet
    page = browser.get("/staff/totp?next=/staff/stats")
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page.text)
    token = CSRF_RE.search(page.text)
    assert secret and token
    code = pyotp.TOTP(secret.group(1)).generate_otp(current_step())
    done = browser.post("/staff/totp", data={"csrf_token": token.group(1), "code": code, "next": "/staff/stats"})
    assert done.status_code == 303 and done.headers["location"] == "/staff/stats"
    assert "Vũ Thị Cán (UBXA)" in browser.get("/staff").text
    with Session(idp_app.state.engine) as s:
        kinds = [
            (e.kind, e.outcome, e.detail.get("step"))
            for e in s.exec(select(AuditEvent).where(col(AuditEvent.kind).startswith("staff.")))
            if e.detail.get("staff_id") == member.id
        ]
    assert ("staff.signin", "ok", "oidc") in kinds and ("staff.signin", "ok", "totp") in kinds


def test_citizen_without_the_claim_is_refused(idp_app: FastAPI) -> None:
    _, callback = through_provider(idp_app, "dev-citizen-001")
    assert callback.status_code == 403
    assert "staff" in callback.text.lower() or "cán bộ" in callback.text.lower()
    assert "staff_session=" not in callback.headers.get("set-cookie", "")
    with Session(idp_app.state.engine) as s:
        assert s.exec(select(StaffMember).where(StaffMember.oidc_subject == "dev-citizen-001")).first() is None


def test_a_member_disabled_by_the_cli_stays_disabled(idp_app: FastAPI) -> None:
    through_provider(idp_app, "dev-staff-001")
    with Session(idp_app.state.engine) as s:
        member = s.exec(select(StaffMember).where(StaffMember.oidc_subject == "dev-staff-001")).one()
        member.active = False
        s.add(member)
        s.commit()
    _, callback = through_provider(idp_app, "dev-staff-001")
    assert callback.status_code == 403
    assert not staff_of(idp_app, "dev-staff-001").active
    with Session(idp_app.state.engine) as s:  # back on for the next run against the same database
        member = s.exec(select(StaffMember).where(StaffMember.oidc_subject == "dev-staff-001")).one()
        member.active = True
        s.add(member)
        s.commit()


def test_role_claims() -> None:
    assert parse_role_claim("supervisor").role is StaffRole.SUPERVISOR
    officer = parse_role_claim("officer:ubxa")
    assert officer.role is StaffRole.OFFICER and officer.agency_code == "UBXA"
    postal = parse_role_claim("postal:vnpost")
    assert postal.role is StaffRole.POSTAL and postal.postal_operator == "vnpost"
    for bad in (None, "", "officer", "officer:", "admin", "postal:", "supervisor:UBXA", 42, "officer:A B"):
        with pytest.raises(StaffSignInFailed):
            parse_role_claim(bad)


def test_claims_update_the_member(db: Session, settings: Settings) -> None:
    claims = {settings.staff_role_claim: "officer:STP", "name": "Ngô Văn Đổi"}
    member = member_for_provider(db, issuer="https://idp.example", subject="s-update", claims=claims, settings=settings)
    assert member.agency_code == "STP"
    claims = {settings.staff_role_claim: "supervisor", "name": "Ngô Văn Đổi"}
    again = member_for_provider(db, issuer="https://idp.example", subject="s-update", claims=claims, settings=settings)
    assert again.id == member.id and again.role == StaffRole.SUPERVISOR and again.agency_code is None
    db.rollback()
