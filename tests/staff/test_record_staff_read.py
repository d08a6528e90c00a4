"""The console's reads go through one helper (`portal.staff.deps.record_staff_read`): every read names the member
(`staff_id`, `role`), and a feedback item about a dossier is read *of that dossier* (the citizen sees it)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlmodel import Session, col, select

from portal.audit.access import Actor, accesses_of, record_apart
from portal.kernel.audit import AuditEvent
from tests.staff.test_console_dossiers import Seeded, seeded  # noqa: F401 (the fixture)
from tests.staff.test_console_feedback import item
from tests.staff_factories import staff_client

pytestmark = pytest.mark.db


def _events(app: Any, dossier_id: str) -> list[AuditEvent]:
    with Session(app.state.engine) as session:
        return list(session.exec(select(AuditEvent).where(col(AuditEvent.dossier_id) == dossier_id)).all())


def test_a_feedback_item_about_a_dossier_is_read_of_that_dossier(app: Any) -> None:
    dossier_id = "fb" + secrets.token_hex(8)
    row = item(app, about="dossier", dossier_id=dossier_id, dossier_code="HS-" + secrets.token_hex(4).upper())
    officer = staff_client(app, role="officer", agency_code="UBXA", full_name="Lê Đọc Hồ Sơ")
    assert officer.get(f"/staff/feedback/{row.id}").status_code == 200

    [event] = _events(app, dossier_id)
    assert (event.kind, event.actor_kind, event.actor, event.agency_code, event.purpose) == (
        "feedback.read",
        "staff",
        "Lê Đọc Hồ Sơ (UBXA)",
        "UBXA",
        "feedback",
    )
    assert event.detail["code"] == row.code and event.detail["role"] == "officer"
    assert event.detail["staff_id"] == officer.staff.member_id
    with Session(app.state.engine) as session:
        [shown] = accesses_of(session, [dossier_id])
    assert shown.kind == "feedback.read" and shown.params["code"] == row.code


def test_a_feedback_item_about_no_dossier_is_still_recorded(app: Any) -> None:
    row = item(app)
    supervisor = staff_client(app, role="supervisor")
    assert supervisor.get(f"/staff/feedback/{row.id}").status_code == 200
    with Session(app.state.engine) as session:
        events = session.exec(select(AuditEvent).where(col(AuditEvent.kind) == "feedback.read")).all()
    [event] = [e for e in events if e.detail.get("code") == row.code]
    assert event.dossier_id is None and event.detail["role"] == "supervisor" and event.detail["staff_id"]


def test_a_dossier_page_read_names_the_member(app: Any, seeded: Seeded) -> None:  # noqa: F811
    """The dossier page's read and a file's download carry staff_id and role like the console's other reads."""
    officer = staff_client(app, role="officer", agency_code="UBXA")
    assert officer.get(f"/staff/dossiers/{seeded.ubxa}").status_code == 200
    assert officer.get(f"/staff/dossiers/{seeded.ubxa}/files/{seeded.file_id}").status_code == 200
    mine = [e for e in _events(app, seeded.ubxa) if e.actor == officer.staff.name]
    assert sorted(e.kind for e in mine) == ["dossier.file_downloaded", "dossier.read"]
    for event in mine:
        assert event.detail["staff_id"] == officer.staff.member_id and event.detail["role"] == "officer"
        assert (event.agency_code, event.purpose) == ("UBXA", "supervision")
    with Session(app.state.engine) as session:
        shown = {a.kind: a for a in accesses_of(session, [seeded.ubxa]) if a.actor == officer.staff.name}
    assert shown["dossier.file_downloaded"].params["name"] == "to-khai-console.pdf"
    missing = "zz" + secrets.token_hex(8)
    assert officer.get(f"/staff/dossiers/{missing}").status_code == 404
    assert _events(app, missing) == []


def test_record_apart_refuses_an_unknown_purpose(app: Any) -> None:
    with pytest.raises(ValueError, match="unknown audit purpose"):
        record_apart(app.state.engine, "dossier.read", actor=Actor(kind="staff", name="x", purpose="curiosity"))
