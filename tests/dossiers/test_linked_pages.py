"""The citizen's side of a linked application (issue 15, points 2 and 6): one dossier on the pages.

The linked catalogue entry and the parent and child dossiers are written as rows (as B1's submission would
leave them); the agencies act through `portal.dossiers.lifecycle` on the app's own database, committed like
the back-office API; the citizen reads over HTTP as a browser without JavaScript, in Vietnamese and English.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from portal.catalog.models import Procedure
from portal.dossiers import lifecycle
from portal.dossiers.models import (
    Dossier,
    DossierEvent,
    DossierRating,
    DossierResult,
    DossierStatus,
)
from portal.dossiers.receipt import render_receipt_pdf
from portal.dossiers.tasks import receipt_data
from portal.kernel.calendar import appointment_date
from portal.kernel.clock import local, utcnow
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from tests import factories
from tests.conftest import csrf
from tests.pdftools import extract_text
from tests.web import test_lifecycle_pages as lifecycle_pages
from tests.web.flow import upload

pytestmark = pytest.mark.db

BY = "api:test-backoffice"
MARITAL = factories.MARITAL  # UBXA: the first member (its answers are complete in the factory)
CRIMINAL = "3.000333"  # CAT: waits for the first member's result
WORK = "1.014199"  # SNV: independent


person, other = lifecycle_pages.person, lifecycle_pages.other


def linked_procedure(db: Session) -> Procedure:
    """A linked catalogue entry over three real procedures, as the loader stores one (A1's format)."""
    token = secrets.token_hex(4)
    base = db.get(Procedure, MARITAL)
    assert base is not None
    members: list[dict[str, Any]] = [
        {"procedure": MARITAL, "depends_on": [], "from_result": {}, "optional": None, "fields": {}, "components": {}},
        {
            "procedure": CRIMINAL,
            "depends_on": [MARITAL],
            "from_result": {},
            "optional": None,
            "fields": {},
            "components": {},
        },
        {"procedure": WORK, "depends_on": [], "from_result": {}, "optional": None, "fields": {}, "components": {}},
    ]
    proc = Procedure(
        code=f"LT.{token}",
        slug=f"lien-thong-thu-{token}",
        agency_code="UBXA",
        name_vi="Liên thông thử nghiệm",
        name_en="Test linked procedure",
        field_vi="Liên thông",
        field_en="Linked",
        level="full",
        deadline_days=13,
        fees=[],
        components=base.components,
        delivery=["online", "centre"],
        form_id=base.form_id,
        form_version=base.form_version,
        kind="linked",
        members=members,
        refundable=False,
    )
    db.add(proc)
    db.flush()
    return proc


@dataclass
class Linked:
    parent: Dossier
    first: Dossier  # marital status, UBXA, received
    waiting: Dossier  # criminal record, CAT, waiting for the first
    work: Dossier  # work permit, SNV, submitted


def code(agency: str) -> str:
    """A dossier code of the real shape (the lookup checks it): six digits of sequence, random."""
    return f"{agency}-{local(utcnow()):%y%m%d}-{secrets.randbelow(10**6):06d}"


def linked_application(db: Session, account: Account) -> Linked:
    """A submitted linked application: the parent and its three children, committed."""
    db.rollback()
    proc = linked_procedure(db)
    now = utcnow()
    parent = factories.dossier(
        db,
        applicant=account,
        procedure_code=proc.code,
        submitted=True,
        linked_role="parent",
        files=("to_khai",),
        code=code(proc.agency_code),
    )

    def child(member: str, **over: Any) -> Dossier:
        member_proc = db.get(Procedure, member)
        assert member_proc is not None
        return factories.dossier(
            db,
            applicant=account,
            procedure_code=member,
            submitted=True,
            linked_role="child",
            parent_id=parent.id,
            submitted_at=parent.submitted_at,
            files=("to_khai",) if member == MARITAL else (),
            code=code(member_proc.agency_code),
            **over,
        )

    first = child(MARITAL)
    waiting = child(
        CRIMINAL, status=DossierStatus.WAITING, waiting_on=[MARITAL], due_date=appointment_date(now, 3 + 10)
    )
    work = child(WORK)
    parent.due_date = max(d.due_date for d in (first, waiting, work) if d.due_date)
    db.add(parent)
    db.commit()
    lifecycle.receive(session=db, dossier=first, officer="Trần Văn Bình", by=BY)
    db.commit()
    return Linked(parent, first, waiting, work)


def ask_for_the_form(
    db: Session, dossier: Dossier, reason: str = "Bản chụp bị mờ.", message: str = "Đề nghị bổ sung tờ khai."
) -> None:
    """The member's agency asks for its application form (`to_khai`) again: an open supplement request."""
    lifecycle.request_supplement(
        session=db,
        dossier=dossier,
        items=[lifecycle.SupplementItem(kind="component", target="to_khai", reason=reason)],
        message=message,
        by=BY,
    )


def fresh(db: Session, dossier: Dossier) -> Dossier:
    db.rollback()
    row = db.get(Dossier, dossier.id)
    assert row is not None
    return row


def english(client: TestClient) -> None:
    client.cookies.set("lang", "en")


def section(page: str, marker: str) -> str:
    return page.split(marker, 1)[1].split("</section>", 1)[0]


def post(client: TestClient, url: str, page: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": csrf(client, page), **data})


# -- the list and the child's page ------------------------------------------------------------------------------


def test_list_shows_the_application_once_and_a_child_page_leads_to_it(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    app = linked_application(db, account)
    listing = client.get("/dossiers").text
    assert f"/dossiers/{app.parent.id}" in listing and app.parent.code in listing
    for child in (app.first, app.waiting, app.work):
        assert f"/dossiers/{child.id}" not in listing and str(child.code) not in listing
    # A child's own page is its application's (a flag of the page survives the redirect).
    r = client.get(f"/dossiers/{app.first.id}?resubmitted=1")
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{app.parent.id}?resubmitted=1"
    assert client.get(f"/dossiers/{app.work.id}").headers["location"] == f"/dossiers/{app.parent.id}"


def test_parent_page_lists_every_member_with_its_agency_code_status_and_date(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    app = linked_application(db, account)
    for lang in ("vi", "en"):
        client.cookies.set("lang", lang)
        page = client.get(f"/dossiers/{app.parent.id}")
        assert page.status_code == 200, page.text
        members = section(page.text, 'id="linked-members"')
        rows = members.split("<tbody>", 1)[1]
        # In the catalogue's order: UBXA's, CAT's, SNV's.
        positions = [rows.index(str(d.code)) for d in (app.first, app.waiting, app.work)]
        assert positions == sorted(positions)
        for d in (app.first, app.waiting, app.work):
            row = rows.split(f'id="member-{d.id}"', 1)[1].split("</tr>", 1)[0]
            assert f'class="status status-{fresh(db, d).status}"' in row
            due = fresh(db, d).due_date
            assert due is not None and due.strftime("%d/%m/%Y") in row
        waiting_row = rows.split(f'id="member-{app.waiting.id}"', 1)[1].split("</tr>", 1)[0]
        assert 'class="sub-status waiting-for"' in waiting_row and 'class="meta estimated"' in waiting_row
        marital = db.get(Procedure, MARITAL)
        assert marital is not None
        assert (marital.name_vi if lang == "vi" else marital.name_en) in waiting_row
        cat = "Công an tỉnh" if lang == "vi" else "Police"
        assert cat in waiting_row
    english(client)
    page = client.get(f"/dossiers/{app.parent.id}").text
    assert "Waiting for the result of:" in page and "Parts of this linked application" in page


def test_merged_timeline_labels_each_event_with_its_agency(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    app = linked_application(db, account)
    page = client.get(f"/dossiers/{app.parent.id}").text
    timeline = page.split('class="timeline"', 1)[1].split("</ol>", 1)[0]
    # The first member's reception (an agency's event on a child) is on the parent's timeline, named.
    received = timeline.split('class="event-received"', 1)[1].split("</li>", 1)[0]
    assert str(app.first.code) in received and "Trần Văn Bình" in received
    events = db.exec(
        select(DossierEvent).where(
            DossierEvent.dossier_id.in_([app.parent.id, app.first.id, app.waiting.id, app.work.id])  # type: ignore[attr-defined]
        )
    ).all()
    # Every event of every member appears once, in time order.
    assert timeline.count("<li ") == len(events)
    times = [chunk.split('datetime="', 1)[1].split('"', 1)[0] for chunk in timeline.split("<li ")[1:]]
    assert times == sorted(times)


# -- results, supplement, rating ---------------------------------------------------------------------------------


def issued(db: Session, settings: Settings, child: Dossier) -> DossierResult:
    """A result of the child as issue_result leaves it (the sealed copy in storage), the child RESULT_READY."""
    storage = LocalStorage(Path(settings.storage_dir))
    data = factories.pdf_bytes("Ket qua")
    key = storage.put(data, prefix=f"dossiers/{child.id}", suffix=".pdf")
    digest = secrets.token_hex(32)
    row = DossierResult(
        dossier_id=child.id,
        filename="ket-qua.pdf",
        storage_key=key,
        sha256=digest,
        size=len(data),
        pages=1,
        sealed_key=key,
        sealed_sha256=digest,
        signature_report={"ok": True, "signatures": [{"signer": "UBND xã", "ok": True}]},
        uploaded_by=BY,
    )
    child = fresh(db, child)
    child.status = DossierStatus.RESULT_READY
    db.add_all([row, child])
    db.commit()
    return row


def test_parent_shows_every_members_results_downloadable_by_the_owner_only(
    person: tuple[TestClient, Account], other: TestClient, db: Session, settings: Settings
) -> None:
    client, account = person
    app = linked_application(db, account)
    first = issued(db, settings, app.first)
    work = issued(db, settings, app.work)
    page = client.get(f"/dossiers/{app.parent.id}").text
    results = section(page, 'id="results"')
    for result, child in ((first, app.first), (work, app.work)):
        link = f"/dossiers/{child.id}/results/{result.id}"
        assert f'href="{link}"' in results
        assert str(child.code) in results.split(f'id="result-{result.id}"', 1)[1].split("</article>", 1)[0]
        download = client.get(link)
        assert download.status_code == 200 and download.content.startswith(b"%PDF")
        assert other.get(link).status_code == 404
    # Another citizen gets the same 404 for the application, each part, its files and its receipt.
    for d in (app.parent, app.first, app.waiting, app.work):
        assert other.get(f"/dossiers/{d.id}").status_code == 404
        assert other.get(f"/dossiers/{d.id}/receipt.pdf").status_code == 404
        assert other.get(f"/dossiers/{d.id}/supplement").status_code == 404
    # A result of one part is not served under another part's address.
    assert client.get(f"/dossiers/{app.work.id}/results/{first.id}").status_code == 404


def test_a_members_supplement_request_is_shown_and_answered_from_the_application(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    app = linked_application(db, account)
    first = fresh(db, app.first)
    ask_for_the_form(db, first)
    db.commit()
    page = client.get(f"/dossiers/{app.parent.id}").text
    panel = section(page, 'id="linked-supplements"')
    assert "Đề nghị bổ sung tờ khai." in panel and "Bản chụp bị mờ." in panel and str(app.first.code) in panel
    assert f'href="/dossiers/{app.first.id}/supplement"' in panel
    # The application's own "answer" address (the list links it) leads to the one part awaiting an answer.
    r = client.get(f"/dossiers/{app.parent.id}/supplement")
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{app.first.id}/supplement"
    # The usual answer flow, on the part's own pages.
    answer = client.get(f"/dossiers/{app.first.id}/supplement")
    assert answer.status_code == 200 and "Bản chụp bị mờ." in answer.text
    done = upload(client, app.first.id, "to_khai", "to-khai-ro.pdf", factories.pdf_bytes(), "application/pdf")
    assert done.status_code == 303, done.text
    sent = post(client, f"/dossiers/{app.first.id}/supplement", f"/dossiers/{app.first.id}/supplement")
    assert sent.status_code == 303 and sent.headers["location"] == f"/dossiers/{app.first.id}?resubmitted=1"
    assert fresh(db, app.first).status == DossierStatus.RECEIVED
    back = client.get(sent.headers["location"])
    assert back.headers["location"] == f"/dossiers/{app.parent.id}?resubmitted=1"
    page = client.get(back.headers["location"]).text
    assert 'id="resubmitted"' in page and 'id="linked-supplements"' not in page
    # With nothing awaited, the application's "answer" address is its page.
    r = client.get(f"/dossiers/{app.parent.id}/supplement")
    assert r.headers["location"] == f"/dossiers/{app.parent.id}#linked-supplements"


def ended(db: Session, child: Dossier, status: DossierStatus) -> None:
    row = fresh(db, child)
    if status == DossierStatus.COMPLETED:
        row.status = DossierStatus.RESULT_READY
        db.add(row)
        db.commit()
        lifecycle.complete(session=db, dossier=row, handover="online", by=BY)
    else:
        row.status = status
        db.add(row)
        db.add(DossierEvent(dossier_id=row.id, kind="rejected", actor=BY, details={"reason": "Thiếu giấy tờ."}))
    db.commit()


def scores(value: str = "4") -> dict[str, str]:
    return {f"score-{c.value}": value for c in lifecycle.RATING_CRITERIA}


def test_one_rating_once_every_part_ended_copied_to_each_completed_part(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    app = linked_application(db, account)
    url = f"/dossiers/{app.parent.id}"
    ended(db, app.first, DossierStatus.COMPLETED)
    # One part still open: no rating form, and a hand-made rating is refused.
    assert 'id="rating-form"' not in client.get(url).text
    early = post(client, f"{url}/rating", url, **scores())
    assert early.status_code == 409
    ended(db, app.waiting, DossierStatus.REJECTED)
    ended(db, app.work, DossierStatus.COMPLETED)
    page = client.get(url).text
    assert 'id="rating-form"' in page
    failed = section(page, 'id="linked-failed"')
    assert "Thiếu giấy tờ." in failed and str(app.waiting.code) in failed
    # A part cannot be rated on its own.
    assert post(client, f"/dossiers/{app.first.id}/rating", url, **scores()).status_code == 409
    bad = post(client, f"{url}/rating", url, **scores("9"))
    assert bad.status_code == 422 and db.get(DossierRating, app.parent.id) is None
    ok = post(client, f"{url}/rating", url, **scores("5"), comment="Nhanh gọn.")
    assert ok.status_code == 303 and ok.headers["location"] == f"{url}?rated=1#rating"
    db.rollback()
    for d in (app.parent, app.first, app.work):
        rating = db.get(DossierRating, d.id)
        assert rating is not None and set(rating.scores.values()) == {5} and rating.comment == "Nhanh gọn."
    assert db.get(DossierRating, app.waiting.id) is None  # the rejected part is not rated
    # One entry on the merged timeline (the members' copies are not shown again).
    assert client.get(url).text.count('class="event-rated"') == 1
    again = post(client, f"{url}/rating", url, **scores("1"))
    assert again.status_code == 409
    english(client)
    assert "Your rating of the service" in client.get(url).text


# -- the receipt and the public lookup ---------------------------------------------------------------------------


def test_receipt_lists_every_member_with_its_code_agency_and_date(
    person: tuple[TestClient, Account], db: Session, settings: Settings
) -> None:
    _client, account = person
    app = linked_application(db, account)
    parent = fresh(db, app.parent)
    data = receipt_data(db, parent, settings)
    assert [m.code for m in data.members] == [app.first.code, app.waiting.code, app.work.code]
    assert [m.estimated for m in data.members] == [False, True, False]
    assert data.dossier_code == parent.code and data.lookup_url.endswith(f"code={parent.code}")
    text = " ".join(extract_text(render_receipt_pdf(data)).split())
    for m in data.members:
        assert m.code in text and m.agency_name in text, text
        assert m.appointment_date is not None and m.appointment_date.strftime("%d/%m/%Y") in text
    assert "(dự kiến)" in text and "Hồ sơ liên thông" in text
    # A single dossier's receipt has no members table.
    single = factories.dossier(db, applicant=account, submitted=True)
    assert receipt_data(db, single, settings).members == ()
    db.rollback()


def test_public_lookup_of_a_parent_shows_its_members_of_a_child_its_own_state(client: TestClient, db: Session) -> None:
    account = factories.account(db)
    db.commit()
    app = linked_application(db, account)
    for lang in ("vi", "en"):
        client.cookies.set("lang", lang)
        page = client.get(f"/lookup?code={app.parent.code}")
        assert page.status_code == 200, page.text
        for d in (app.first, app.waiting, app.work):
            assert str(d.code) in page.text
        assert "status-waiting" in page.text
        assert "Nguyễn Thị Hường" not in page.text  # no personal data
    child = client.get(f"/lookup?code={app.work.code}")
    assert child.status_code == 200 and str(app.work.code) in child.text
    assert str(app.first.code) not in child.text and "result-members" not in child.text
