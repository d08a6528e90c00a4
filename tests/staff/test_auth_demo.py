"""The console's demo staff (portal/demo.py): development only, with the published passwords and TOTP keys."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from auth.staff import DEMO_USERNAMES, find_member, open_secret
from portal.demo import DEMO_STAFF, load_demo_staff
from portal.kernel.settings import Settings
from tests.staff_factories import staff_csrf

pytestmark = pytest.mark.db


def test_demo_staff_only_in_development_and_refused_elsewhere(app: Any, settings: Settings) -> None:
    assert {row[0] for row in DEMO_STAFF} == DEMO_USERNAMES
    with Session(app.state.engine) as s:
        assert load_demo_staff(s, settings) == ["demo staff: not created outside development"]
        lines = load_demo_staff(s, settings.model_copy(update={"environment": "development"}))
        s.commit()
        assert len(lines) == 2 and all("development only" in line for line in lines)
        for username, _, role, agency, _, secret in DEMO_STAFF:
            member = find_member(s, username)
            assert member and member.role == role and member.agency_code == agency
            assert member.totp_secret and open_secret(settings, member.totp_secret) == secret
        again = load_demo_staff(s, settings.model_copy(update={"environment": "development"}))
        assert again == lines  # idempotent
    # This app runs as "test": the published credentials do not open the console.
    username, _, _, _, password, _ = DEMO_STAFF[0]
    client = TestClient(app, follow_redirects=False)
    token = staff_csrf(client, "/staff/login")
    r = client.post("/staff/login", data={"csrf_token": token, "username": username, "password": password})
    assert r.status_code == 403
    assert "Tài khoản cán bộ mẫu này chỉ dùng được trên cổng thử nghiệm." in r.text  # development portal only
    assert "staff_session=" not in r.headers.get("set-cookie", "")
