"""QA of issue 16's console (/staff): every page as signed out, a citizen, an officer of another agency, the postal
desk and a supervisor; malformed and out-of-scope ids, odd filters, HTMX requests. Never a 500, never a page of
another agency's data."""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.models import Account
from portal.dossiers.models import Dossier
from portal.feedback.models import Feedback
from portal.kernel.audit import AuditEvent
from portal.kernel.outbox import OutboxMessage
from tests import factories
from tests.conftest import signup
from tests.staff_factories import staff_client, staff_csrf

pytestmark = pytest.mark.db

# Ids no page may crash on: NUL, control characters, very long, unicode (letters, digits that int() refuses),
# path tricks (encoded), SQL-looking text.
WEIRD_IDS = [
    "%00",
    "abc%00def",
    "%0d%0aSet-Cookie:x=1",
    "x" * 5000,
    "9" * 40,
    "9" * 12,  # past PostgreSQL's integer
    "2147483648",
    "%C2%B2",  # "²": str.isdigit() says yes, int() says no
    "%D9%A1%D9%A2",  # Arabic-Indic "١٢"
    "h%E1%BB%93s%C6%A1",  # "hồsơ"
    "%E2%80%AE",  # right-to-left override
    "..%2F..%2Fetc%2Fpasswd",
    "%2E%2E",
    "1%27%20OR%20%271%27%3D%271",
    "-1",
    "0",
    "1e9",
    "%F0%9F%98%80",  # emoji
]

GET_PAGES = [
    "/staff/dossiers/{id}",
    "/staff/dossiers/{id}/files/{id}",
    "/staff/feedback/{id}",
    "/staff/feedback/{id}/attachment",
    "/staff/checks/{id}",
    "/staff/checks/{id}/results/{id}",
]
POST_PAGES = [
    "/staff/feedback/{id}/answer",
    "/staff/outbox/{id}/replay",
    "/staff/checks/{id}/confirm",
    "/staff/checks/{id}/send-back",
]
LISTS = [
    "/staff",
    "/staff/dossiers",
    "/staff/dossiers.csv",
    "/staff/payments",
    "/staff/payments.csv",
    "/staff/stats",
    "/staff/feedback",
    "/staff/outbox",
    "/staff/checks",
]


@pytest.fixture(scope="module")
def staff(app: Any) -> dict[str, TestClient]:
    return {
        "supervisor": staff_client(app, role="supervisor"),
        "officer": staff_client(app, role="officer", agency_code="UBXA"),
        "other_officer": staff_client(app, role="officer", agency_code="QA16X"),
        "postal": staff_client(app, role="postal"),
    }


def _citizen(app: Any) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    signup(client)
    return client


@pytest.mark.parametrize("role", ["supervisor", "officer", "other_officer", "postal"])
def test_malformed_ids_are_404_never_500(staff: dict[str, TestClient], role: str) -> None:
    client = staff[role]
    token = staff_csrf(client)
    for weird in WEIRD_IDS:
        for page in GET_PAGES:
            r = client.get(page.replace("{id}", weird))
            assert r.status_code in (403, 404), (page, weird, r.status_code)
        for page in POST_PAGES:
            r = client.post(page.replace("{id}", weird), data={"csrf_token": token, "reason": "x", "text": "x"})
            assert r.status_code in (403, 404), (page, weird, r.status_code)


@pytest.mark.parametrize("role", ["supervisor", "officer"])
def test_query_parameters_that_int_refuses_are_4xx(staff: dict[str, TestClient], role: str) -> None:
    client = staff[role]
    for weird in ("%C2%B2", "99999999999999999999999", "%00", "x" * 3000):
        for page in LISTS:
            for name in ("page", "replayed", "done", "day", "state", "topic", "status", "agency", "q", "overdue"):
                r = client.get(f"{page}?{name}={weird}")
                assert r.status_code < 500, (page, name, weird, r.status_code)


def test_signed_out_and_citizen_reach_nothing(app: Any) -> None:
    signed_out = TestClient(app, follow_redirects=False)
    citizen = _citizen(app)
    for page in LISTS + [p.replace("{id}", "abc") for p in GET_PAGES]:
        r = signed_out.get(page)
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next="), page
        htmx = signed_out.get(page, headers={"HX-Request": "true"})
        assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/staff/login"), page
        r = citizen.get(page)
        assert r.status_code == 403, (page, r.status_code)
    for page in POST_PAGES:
        r = signed_out.post(page.replace("{id}", "abc"), data={})
        assert r.status_code in (303, 403), (page, r.status_code)


def test_a_citizen_cookie_under_the_staff_name_opens_nothing(app: Any) -> None:
    citizen = _citizen(app)
    session_cookie = next(iter(citizen.cookies.jar))
    forged = TestClient(app, follow_redirects=False)
    forged.cookies.set("staff_session", session_cookie.value or "", domain="testserver.local", path="/staff")
    for page in LISTS:
        r = forged.get(page)
        assert r.status_code == 303 and "/staff/login" in r.headers["location"], page


def _dossier_of(app: Any, db: Session, agency_procedure: str = "1.004873") -> Dossier:
    account = factories.account(db)
    dossier = factories.dossier(db, applicant=account, submitted=True, procedure_code=agency_procedure)
    db.commit()
    return dossier


def test_out_of_scope_dossier_is_404_everywhere_for_the_other_officer(
    app: Any, db: Session, staff: dict[str, TestClient]
) -> None:
    dossier = _dossier_of(app, db)
    assert dossier.agency_code != "QA16X"
    other = staff["other_officer"]
    assert other.get(f"/staff/dossiers/{dossier.id}").status_code == 404
    listed = other.get(f"/staff/dossiers?q={dossier.code}")
    assert listed.status_code == 200 and f"/staff/dossiers/{dossier.id}" not in listed.text
    body = other.get("/staff/dossiers.csv").content.decode("utf-8-sig")
    assert dossier.code not in body
    # An officer asking for another agency is told so, not shown it.
    r = other.get(f"/staff/dossiers?agency={dossier.agency_code}")
    assert r.status_code == 422 and f"/staff/dossiers/{dossier.id}" not in r.text
    r = other.get(f"/staff/stats?agency={dossier.agency_code}")
    assert r.status_code == 422
    # The postal desk sees no dossier without an order of its operator.
    assert staff["postal"].get(f"/staff/dossiers/{dossier.id}").status_code == 404
    # No read was recorded for the refused views.
    db.rollback()
    reads = db.exec(
        select(AuditEvent).where(col(AuditEvent.dossier_id) == dossier.id, col(AuditEvent.kind) == "dossier.read")
    ).all()
    assert reads == []


def test_csv_cannot_carry_a_formula_from_the_applicant_name(
    app: Any, db: Session, staff: dict[str, TestClient]
) -> None:
    tag = secrets.token_hex(3)
    names = [f'=HYPERLINK("http://x","{tag}")', f"+{tag}", f"-{tag}", f"@{tag}", f"\t={tag}", f"\r={tag}"]
    codes = []
    for name in names:
        account = factories.account(db, full_name=name)
        dossier = factories.dossier(db, applicant=account, submitted=True, procedure_code="1.004873")
        codes.append(dossier.code)
    db.commit()
    agency = db.exec(select(Dossier.agency_code).where(Dossier.code == codes[0])).one()
    body = staff["supervisor"].get(f"/staff/dossiers.csv?agency={agency}").content.decode("utf-8-sig")
    rows = [row for row in csv.reader(io.StringIO(body)) if row and row[0] in codes]
    assert len(rows) == len(names)
    for row in rows:
        assert row[-1][:1] not in ("=", "+", "-", "@", "\t", "\r"), row[-1]


def test_csv_filters_refused_like_the_page(staff: dict[str, TestClient]) -> None:
    client = staff["supervisor"]
    for query in ("status=nope", "agency=%00", "received_from=2026-13-01", "q=%27%3B--", "page=0", "status=a&status=b"):
        r = client.get(f"/staff/dossiers.csv?{query}")
        assert r.status_code == 422, (query, r.status_code)


def test_htmx_fragments_of_lists_still_scoped(staff: dict[str, TestClient]) -> None:
    for role in ("supervisor", "officer"):
        for page in ("/staff/feedback", "/staff/dossiers"):
            r = staff[role].get(page, headers={"HX-Request": "true"})
            assert r.status_code == 200
    for page in ("/staff/outbox", "/staff/checks", "/staff/outbox?state=dead", "/staff/feedback?status=nope"):
        r = staff["supervisor"].get(page, headers={"HX-Request": "true"})
        assert r.status_code in (200, 422) and "<html" not in r.text, page
    r = staff["officer"].get("/staff/outbox", headers={"HX-Request": "true"})
    assert r.status_code == 403
    r = staff["postal"].get("/staff/feedback", headers={"HX-Request": "true"})
    assert r.status_code == 403


def test_roles_refused_where_they_do_not_belong(staff: dict[str, TestClient]) -> None:
    for page in ("/staff/outbox", "/staff/checks"):
        for role in ("officer", "other_officer", "postal"):
            assert staff[role].get(page).status_code == 403, (role, page)
    for page in ("/staff/feedback", "/staff/payments", "/staff/payments.csv", "/staff/stats"):
        assert staff["postal"].get(page).status_code == 403, page


def test_officer_of_another_agency_cannot_answer_or_read_feedback(
    app: Any, db: Session, staff: dict[str, TestClient]
) -> None:
    item = Feedback(
        code=f"PA-2612-{secrets.token_hex(3).upper()}",
        kind="complaint",
        about="agency",
        agency_code="UBXA",
        title="Phản ánh thử QA",
        body="Nội dung phản ánh đủ dài để lưu thử nghiệm.",
        name="Người Thử",
        email="qa16@example.vn",
        filed_at=__import__("portal.kernel.clock", fromlist=["utcnow"]).utcnow(),
        due_on=__import__("datetime").date(2030, 1, 1),
    )
    db.add(item)
    db.commit()
    other = staff["other_officer"]
    assert other.get(f"/staff/feedback/{item.id}").status_code == 404
    assert other.get(f"/staff/feedback/{item.id}/attachment").status_code == 404
    token = staff_csrf(other)
    r = other.post(f"/staff/feedback/{item.id}/answer", data={"csrf_token": token, "text": "Trả lời từ nơi khác."})
    assert r.status_code == 404
    assert "qa16@example.vn" not in other.get(f"/staff/feedback?q={item.code}").text
    db.rollback()
    assert db.get(Feedback, item.id).status == "open"  # type: ignore[union-attr]
    # The outbox stays the supervisor's.
    msg = OutboxMessage(topic="qa16.test", payload={"id": item.id}, attempts=9, dead=True)
    db.add(msg)
    db.commit()
    r = staff["officer"].post(f"/staff/outbox/{msg.id}/replay", data={"csrf_token": staff_csrf(staff["officer"])})
    assert r.status_code == 403
    db.rollback()
    assert db.get(OutboxMessage, msg.id).dead  # type: ignore[union-attr]


def test_a_csrf_less_post_changes_nothing(app: Any, db: Session, staff: dict[str, TestClient]) -> None:
    msg = OutboxMessage(topic="qa16.test", payload={"n": 1}, attempts=9, dead=True)
    db.add(msg)
    db.commit()
    r = staff["supervisor"].post(f"/staff/outbox/{msg.id}/replay", data={})
    assert r.status_code == 403
    r = staff["supervisor"].post(f"/staff/outbox/{msg.id}/replay", data={"csrf_token": "forged"})
    assert r.status_code == 403
    db.rollback()
    assert db.get(OutboxMessage, msg.id).dead  # type: ignore[union-attr]
    r = staff["supervisor"].post("/staff/logout", data={})
    assert r.status_code == 403
    assert staff["supervisor"].get("/staff").status_code == 200


def test_applicant_name_of_other_agency_never_listed_to_officer(
    app: Any, db: Session, staff: dict[str, TestClient]
) -> None:
    tag = f"Người Ngoài {secrets.token_hex(3)}"
    account = factories.account(db, full_name=tag)
    factories.dossier(db, applicant=account, submitted=True, procedure_code="1.004873")
    db.commit()
    agency = db.exec(select(Dossier.agency_code).where(Dossier.applicant_id == account.id)).one()
    assert agency != "QA16X"
    assert tag not in staff["other_officer"].get("/staff/dossiers.csv").content.decode("utf-8-sig")
    assert db.exec(select(Account).where(Account.id == account.id)).one()
