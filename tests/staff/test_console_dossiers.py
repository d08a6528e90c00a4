"""The console's dossier pages over HTTP: /staff/dossiers (filters, scope, CSV), /staff/dossiers/{id} (read only,
audited, 404 out of scope), file downloads, and the daily payment report /staff/payments."""

from __future__ import annotations

import csv
import io
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from payments.models import PaymentStatus
from portal.dossiers.models import DossierStatus
from portal.kernel.audit import AuditEvent
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.deps import app_storage
from postal.models import PostalOrder
from tests import factories
from tests.conftest import signup
from tests.staff_factories import staff_client

pytestmark = pytest.mark.db

UBXA_PROC = factories.MARITAL  # 1.004873, agency UBXA
CAT_PROC = "3.000333"  # Lý lịch tư pháp, agency CAT


@dataclass
class Seeded:
    ubxa: str  # id of a UBXA dossier being processed, overdue, with a file
    ubxa_code: str
    cat: str  # id of a CAT dossier due this week, with a postal pickup of vnpost
    cat_code: str
    parent: str  # a linked application's parent (UBXA)
    parent_code: str
    file_id: str
    tag: str  # a part common to the codes, for the code search


def _code(agency: str, tag: str) -> str:
    return f"{agency}-{tag}-{secrets.token_hex(3).upper()}"


@pytest.fixture(scope="module")
def seeded(app: Any) -> Seeded:
    tag = secrets.token_hex(3).upper()
    today = local_date(utcnow())
    monday = today - timedelta(days=today.weekday())
    with Session(app.state.engine) as session:
        ubxa = factories.dossier(
            session,
            procedure_code=UBXA_PROC,
            submitted=True,
            code=_code("UBXA", tag),
            status=DossierStatus.IN_PROCESS,
            received_at=utcnow() - timedelta(days=20),
            official_due_date=today - timedelta(days=3),
            due_date=today - timedelta(days=3),
            files=(),
        )
        data = factories.pdf_bytes("ho so console")
        key = app_storage(app).put(data, prefix=f"dossiers/{ubxa.id}", suffix=".pdf")
        file = factories.dossier_file(
            session, ubxa, component_id="to_khai", filename="to-khai-console.pdf", storage_key=key, size=len(data)
        )
        cat = factories.dossier(
            session,
            procedure_code=CAT_PROC,
            submitted=True,
            code=_code("CAT", tag),
            status=DossierStatus.RECEIVED,
            received_at=utcnow() - timedelta(days=1),
            official_due_date=monday + timedelta(days=6),
            due_date=monday + timedelta(days=6),
        )
        session.add(
            PostalOrder(
                number=f"T{secrets.token_hex(6).upper()}",
                kind="pickup",
                operator="vnpost",
                owner_id=cat.id,
                reference=cat.code or "",
                province_code="01",
                sender={"name": "Nguyễn Văn Gửi", "street": "1 Tràng Tiền"},
                recipient={"name": "Công an tỉnh", "street": "2 Lý Thường Kiệt"},
                weight_class="document",
            )
        )
        parent = factories.dossier(
            session,
            procedure_code=UBXA_PROC,
            submitted=True,
            code=_code("UBXA", tag),
            status=DossierStatus.IN_PROCESS,
            linked_role="parent",
            received_at=utcnow(),
        )
        session.commit()
        return Seeded(
            ubxa=ubxa.id,
            ubxa_code=ubxa.code or "",
            cat=cat.id,
            cat_code=cat.code or "",
            parent=parent.id,
            parent_code=parent.code or "",
            file_id=file.id,
            tag=tag,
        )


def _listed(client: TestClient, **params: str) -> str:
    r = client.get("/staff/dossiers", params=params)
    assert r.status_code == 200, r.text
    return r.text


def test_officer_sees_only_own_agency_in_list_detail_and_csv(app: Any, seeded: Seeded) -> None:
    officer = staff_client(app, role="officer", agency_code="UBXA")
    page = _listed(officer, q=seeded.tag)
    assert seeded.ubxa_code in page
    assert seeded.cat_code not in page
    assert seeded.parent_code not in page  # a linked application's parent is never an agency's
    assert officer.get(f"/staff/dossiers/{seeded.cat}").status_code == 404
    assert officer.get(f"/staff/dossiers/{seeded.parent}").status_code == 404
    assert officer.get(f"/staff/dossiers/{seeded.ubxa}").status_code == 200
    body = officer.get("/staff/dossiers.csv", params={"q": seeded.tag}).text
    assert seeded.ubxa_code in body and seeded.cat_code not in body
    refused = officer.get("/staff/dossiers", params={"agency": "CAT"})
    assert refused.status_code == 422
    assert 'href="#f-agency"' in refused.text and seeded.cat_code not in refused.text


def test_supervisor_sees_every_agency_and_linked_parents(app: Any, seeded: Seeded) -> None:
    supervisor = staff_client(app, role="supervisor")
    page = _listed(supervisor, q=seeded.tag)
    for code in (seeded.ubxa_code, seeded.cat_code, seeded.parent_code):
        assert code in page
    only_cat = _listed(supervisor, q=seeded.tag, agency="CAT")
    assert seeded.cat_code in only_cat and seeded.ubxa_code not in only_cat
    assert supervisor.get(f"/staff/dossiers/{seeded.parent}").status_code == 200


def test_filters_status_overdue_week_received_and_procedure(app: Any, seeded: Seeded) -> None:
    supervisor = staff_client(app, role="supervisor")
    in_process = _listed(supervisor, q=seeded.tag, status="in_process")
    assert seeded.ubxa_code in in_process and seeded.cat_code not in in_process
    overdue = _listed(supervisor, q=seeded.tag, overdue="1")
    assert seeded.ubxa_code in overdue and seeded.cat_code not in overdue
    assert seeded.parent_code not in overdue  # counted as the statistics do: parents never
    week = _listed(supervisor, q=seeded.tag, due_week="1")
    assert seeded.cat_code in week and seeded.ubxa_code not in week
    today = local_date(utcnow())
    recent = _listed(supervisor, q=seeded.tag, received_from=(today - timedelta(days=5)).isoformat())
    assert seeded.cat_code in recent and seeded.ubxa_code not in recent
    vn_dates = _listed(supervisor, q=seeded.tag, received_to=(today - timedelta(days=10)).strftime("%d/%m/%Y"))
    assert seeded.ubxa_code in vn_dates and seeded.cat_code not in vn_dates
    by_procedure = _listed(supervisor, q=seeded.tag, procedure=CAT_PROC)
    assert seeded.cat_code in by_procedure and seeded.ubxa_code not in by_procedure


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"status": "draft"}, "f-status"),
        ({"status": "nonsense"}, "f-status"),
        ({"agency": "NOPE"}, "f-agency"),
        ({"procedure": "9.999999"}, "f-procedure"),
        ({"received_from": "31/02/2026"}, "f-received_from"),
        ({"received_from": "2026-03-01", "received_to": "2026-02-01"}, "f-received_from"),
        ({"overdue": "maybe"}, "f-overdue"),
        ({"q": "<script>"}, "f-q"),
        ({"page": "-1"}, "filters"),
    ],
)
def test_bad_filters_are_a_422_page_naming_the_filter(app: Any, params: dict[str, str], named: str) -> None:
    supervisor = staff_client(app, role="supervisor")
    r = supervisor.get("/staff/dossiers", params=params)
    assert r.status_code == 422
    assert f'href="#{named}"' in r.text
    for name, value in params.items():
        if name not in ("overdue", "page") and value != "<script>":  # a checkbox and the pager keep no text
            assert f'value="{value}"' in r.text  # the value as typed is kept
    assert "<script>" not in r.text


def test_csv_is_utf8_with_bom_and_every_row_of_the_scope(app: Any, seeded: Seeded) -> None:
    supervisor = staff_client(app, role="supervisor")
    r = supervisor.get("/staff/dossiers.csv", params={"q": seeded.tag})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "ma_ho_so",
        "ma_thu_tuc",
        "thu_tuc",
        "co_quan",
        "trang_thai",
        "ngay_tiep_nhan",
        "han_tra",
        "so_ngay_qua_han",
        "kenh",
        "nguoi_nop",
    ]
    by_code = {row[0]: row for row in rows[1:]}
    assert set(by_code) == {seeded.ubxa_code, seeded.cat_code, seeded.parent_code}
    assert by_code[seeded.ubxa_code][7] == "3"  # three days past the official date
    assert by_code[seeded.ubxa_code][1] == UBXA_PROC
    assert by_code[seeded.cat_code][7] == "0"
    bad = supervisor.get("/staff/dossiers.csv", params={"status": "nonsense"})
    assert bad.status_code == 422


def test_viewing_a_dossier_is_audited_with_purpose_supervision(app: Any, seeded: Seeded) -> None:
    officer = staff_client(app, role="officer", agency_code="UBXA")
    r = officer.get(f"/staff/dossiers/{seeded.ubxa}")
    assert r.status_code == 200
    assert seeded.ubxa_code in r.text
    assert "to-khai-console.pdf" in r.text  # the files list
    assert 'id="dossier-audit"' in r.text
    with Session(app.state.engine) as session:
        events = session.exec(
            select(AuditEvent).where(
                col(AuditEvent.dossier_id) == seeded.ubxa,
                col(AuditEvent.kind) == "dossier.read",
                col(AuditEvent.actor) == officer.staff.name,
            )
        ).all()
    assert len(events) == 1
    assert events[0].actor_kind == "staff" and events[0].purpose == "supervision"
    assert events[0].agency_code == "UBXA"
    # The next view lists that read among the dossier's audit events.
    again = officer.get(f"/staff/dossiers/{seeded.ubxa}")
    assert officer.staff.name in again.text and "dossier.read" in again.text


def test_file_download_is_audited_and_only_for_the_agency(app: Any, seeded: Seeded) -> None:
    supervisor = staff_client(app, role="supervisor")
    r = supervisor.get(f"/staff/dossiers/{seeded.ubxa}/files/{seeded.file_id}")
    assert r.status_code == 200
    assert r.content.startswith(b"%PDF")
    with Session(app.state.engine) as session:
        found = session.exec(
            select(AuditEvent).where(
                col(AuditEvent.dossier_id) == seeded.ubxa,
                col(AuditEvent.kind) == "dossier.file_downloaded",
                col(AuditEvent.actor) == supervisor.staff.name,
            )
        ).one()
    assert found.detail["name"] == "to-khai-console.pdf" and found.purpose == "supervision"
    other = staff_client(app, role="officer", agency_code="CAT")
    assert other.get(f"/staff/dossiers/{seeded.ubxa}/files/{seeded.file_id}").status_code == 404
    assert other.get(f"/staff/dossiers/{seeded.cat}/files/{seeded.file_id}").status_code == 404  # not its file
    postal = staff_client(app, role="postal", postal_operator="vnpost")
    assert postal.get(f"/staff/dossiers/{seeded.ubxa}/files/{seeded.file_id}").status_code == 403


def test_postal_desk_sees_its_orders_dossiers_without_files_or_timeline(app: Any, seeded: Seeded) -> None:
    postal = staff_client(app, role="postal", postal_operator="vnpost")
    page = _listed(postal, q=seeded.tag)
    assert seeded.cat_code in page and seeded.ubxa_code not in page
    detail = postal.get(f"/staff/dossiers/{seeded.cat}")
    assert detail.status_code == 200
    assert 'id="postal-orders"' in detail.text and "Nguyễn Văn Gửi" in detail.text
    assert 'id="dossier-files"' not in detail.text and 'id="timeline-heading"' not in detail.text
    assert 'id="dossier-audit"' not in detail.text
    assert postal.get(f"/staff/dossiers/{seeded.ubxa}").status_code == 404
    other_operator = staff_client(app, role="postal", postal_operator="ghn")
    assert other_operator.get(f"/staff/dossiers/{seeded.cat}").status_code == 404
    assert postal.get("/staff/payments").status_code == 403


@pytest.mark.parametrize("dossier_id", ["nope", "x" * 200, "..%2F..%2Fetc", "00000000000000000000000000000000"])
def test_malformed_or_unknown_ids_are_404(app: Any, dossier_id: str) -> None:
    supervisor = staff_client(app, role="supervisor")
    assert supervisor.get(f"/staff/dossiers/{dossier_id}").status_code == 404


def test_refusals_for_citizen_and_signed_out(app: Any, seeded: Seeded) -> None:
    anonymous = TestClient(app, follow_redirects=False)
    for path in ("/staff/dossiers", f"/staff/dossiers/{seeded.ubxa}", "/staff/dossiers.csv", "/staff/payments"):
        r = anonymous.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next=")
    citizen = TestClient(app, follow_redirects=False)
    signup(citizen)
    for path in ("/staff/dossiers", f"/staff/dossiers/{seeded.ubxa}", "/staff/payments.csv"):
        assert citizen.get(path).status_code == 403


def test_dossier_pages_render_in_english(app: Any, seeded: Seeded) -> None:
    supervisor = staff_client(app, role="supervisor")
    supervisor.get("/lang/en")
    listed = supervisor.get("/staff/dossiers", params={"q": seeded.tag})
    assert listed.status_code == 200 and "Days overdue" in listed.text and 'lang="en"' in listed.text
    detail = supervisor.get(f"/staff/dossiers/{seeded.ubxa}")
    assert "Audit log of this dossier" in detail.text and "Overdue: 3 days past the official date" in detail.text


# -- the daily payment report


@pytest.fixture(scope="module")
def paid_day(app: Any) -> date:
    """A day of its own (far from other tests' payments) with fees of UBXA and CAT."""
    day = date(2040, 1, 1) + timedelta(days=random.randrange(20000))
    settled = datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
    with Session(app.state.engine) as session:
        ubxa = factories.dossier(session, procedure_code=UBXA_PROC, submitted=True)
        cat = factories.dossier(session, procedure_code=CAT_PROC, submitted=True)
        factories.payment(session, dossier=ubxa, amount=30000, settled_at=settled, status=PaymentStatus.SUCCEEDED)
        factories.payment(session, dossier=ubxa, amount=20000, settled_at=settled, status=PaymentStatus.SUCCEEDED)
        factories.payment(session, dossier=cat, amount=200000, settled_at=settled, status=PaymentStatus.SUCCEEDED)
        session.commit()
    return day


def test_payment_report_per_role(app: Any, paid_day: date) -> None:
    supervisor = staff_client(app, role="supervisor")
    page = supervisor.get("/staff/payments", params={"day": paid_day.isoformat()})
    assert page.status_code == 200
    assert 'data-agency="UBXA"' in page.text and 'data-agency="CAT"' in page.text
    assert f"/staff/payments.csv?day={paid_day.isoformat()}" in page.text
    rows = list(
        csv.reader(io.StringIO(supervisor.get(f"/staff/payments.csv?day={paid_day}").content.decode("utf-8-sig")))
    )
    assert rows[0][0] == "ngay"
    by_agency = {row[1]: row for row in rows[1:]}
    assert by_agency["UBXA"][3:5] == ["2", "50000"] and by_agency["CAT"][3:5] == ["1", "200000"]

    officer = staff_client(app, role="officer", agency_code="UBXA")
    mine = officer.get("/staff/payments", params={"day": paid_day.strftime("%d/%m/%Y"), "agency": "CAT"})
    assert mine.status_code == 200
    assert 'data-agency="UBXA"' in mine.text and 'data-agency="CAT"' not in mine.text
    rows = list(
        csv.reader(io.StringIO(officer.get(f"/staff/payments.csv?day={paid_day}&agency=CAT").text.lstrip("\ufeff")))
    )
    assert [row[1] for row in rows[1:]] == ["UBXA"]


def test_payment_report_bad_day_is_422_and_default_is_today(app: Any) -> None:
    supervisor = staff_client(app, role="supervisor")
    bad = supervisor.get("/staff/payments", params={"day": "2026-13-40"})
    assert bad.status_code == 422 and 'value="2026-13-40"' in bad.text and 'href="#f-day"' in bad.text
    assert supervisor.get("/staff/payments.csv", params={"day": "yesterday"}).status_code == 422
    today = supervisor.get("/staff/payments")
    assert today.status_code == 200
    assert local_date(utcnow()).strftime("%d/%m/%Y") in today.text
    assert supervisor.get("/staff/payments", params={"agency": "NOPE"}).status_code == 422
