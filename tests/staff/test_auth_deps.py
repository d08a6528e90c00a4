"""The console's access dependency (portal/staff/deps.py) and the test factories others build on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.staff_models import StaffMember, StaffRole, StaffSession
from portal.kernel.clock import utcnow
from portal.staff.deps import StaffViewer, current_staff, staff_roles
from tests.conftest import signup
from tests.staff_factories import make_staff, open_session, staff_client, staff_csrf

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def probe(app: Any) -> Any:
    """Two routes guarded by the dependencies, added once to the test app."""
    fastapi_app: FastAPI = app

    @fastapi_app.get("/staff/_probe/any")
    def any_role(viewer: StaffViewer = Depends(current_staff)) -> dict[str, object]:
        return {
            "name": viewer.name,
            "role": viewer.role,
            "ubxa": viewer.sees_agency("UBXA"),
            "stp": viewer.sees_agency("STP"),
            "scope": sorted(viewer.agency_scope) if viewer.agency_scope is not None else None,
            "nav": [item.path for item in viewer.nav],
        }

    @fastapi_app.get("/staff/_probe/centre")
    def centre(viewer: StaffViewer = Depends(staff_roles(StaffRole.SUPERVISOR))) -> dict[str, str]:
        return {"name": viewer.name}

    return app


def test_supervisor_sees_every_agency(probe: Any) -> None:
    client = staff_client(probe, role="supervisor", full_name="Nguyễn Giám Sát")
    body = client.get("/staff/_probe/any").json()
    assert body["name"] == "Nguyễn Giám Sát"
    assert body["ubxa"] and body["stp"] and body["scope"] is None
    assert "/staff/checks" in body["nav"] and "/staff/outbox" in body["nav"]
    assert client.get("/staff/_probe/centre").status_code == 200


def test_officer_sees_own_agency_and_is_refused_centre_pages(probe: Any) -> None:
    client = staff_client(probe, role="officer", agency_code="UBXA", full_name="Trần Cán Bộ")
    body = client.get("/staff/_probe/any").json()
    assert body["name"] == "Trần Cán Bộ (UBXA)"
    assert body["ubxa"] and not body["stp"] and body["scope"] == ["UBXA"]
    assert "/staff/checks" not in body["nav"] and "/staff/feedback" in body["nav"]
    refused = client.get("/staff/_probe/centre")
    assert refused.status_code == 403
    assert "role" in refused.text.lower() or "vai trò" in refused.text.lower()


def test_postal_desk_sees_no_agency(probe: Any) -> None:
    client = staff_client(probe, role="postal")
    body = client.get("/staff/_probe/any").json()
    assert not body["ubxa"] and body["scope"] == []
    assert body["nav"] == ["/staff/dossiers"]


def test_signed_out_goes_to_login_with_next(probe: Any) -> None:
    client = TestClient(probe, follow_redirects=False)
    r = client.get("/staff/_probe/any?x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/staff/login?next=%2Fstaff%2F_probe%2Fany%3Fx%3D1"
    htmx = client.get("/staff/_probe/any", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/staff/login?next=")


def test_citizen_session_gets_the_staff_console_403(probe: Any) -> None:
    client = TestClient(probe, follow_redirects=False)
    signup(client)
    r = client.get("/staff/_probe/any")
    assert r.status_code == 403
    assert "/staff/login" in r.text


def test_half_signed_in_goes_to_totp(probe: Any) -> None:
    login = make_staff(probe, role="supervisor")
    client = TestClient(probe, follow_redirects=False)
    open_session(probe, client, login)
    with Session(probe.state.engine) as s:  # back to the first factor only
        row = s.exec(select(StaffSession).where(StaffSession.staff_id == login.member_id)).one()
        row.stage = "first_factor"
        s.add(row)
        s.commit()
    r = client.get("/staff/_probe/any")
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/totp?next=")


def test_disabled_member_and_revoked_or_expired_session_are_signed_out(probe: Any) -> None:
    for change in ("disabled", "revoked", "expired"):
        client = staff_client(probe, role="supervisor")
        assert client.get("/staff/_probe/any").status_code == 200
        with Session(probe.state.engine) as s:
            if change == "disabled":
                member = s.get(StaffMember, client.staff.member_id)
                assert member is not None
                member.active = False
                s.add(member)
            else:
                row = s.exec(select(StaffSession).where(StaffSession.staff_id == client.staff.member_id)).one()
                if change == "revoked":
                    row.revoked_at = utcnow()
                else:
                    row.expires_at = utcnow() - timedelta(seconds=1)
                s.add(row)
            s.commit()
        r = client.get("/staff/_probe/any")
        assert r.status_code == 303, change
        assert r.headers["location"].startswith("/staff/login"), change


def test_factory_client_has_a_csrf_token_for_console_forms(probe: Any) -> None:
    client = staff_client(probe, role="officer")
    assert len(staff_csrf(client)) > 20
