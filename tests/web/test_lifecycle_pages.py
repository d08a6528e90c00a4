"""The citizen's pages of a dossier's life after submission (issue 12): the agency's steps on the timeline,
the sub-status, a supplement request answered in the same form and upload pages, results with their
signature report, the apology, the rating.

The agency's side is driven through `portal.dossiers.lifecycle` on the app's own database (committed, like
the back-office API would), and the citizen's side over HTTP, as a browser without JavaScript.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.models import Account
from portal.dossiers import deadline, lifecycle, lifecycle_views, service
from portal.dossiers.models import Dossier, DossierEvent, DossierFile, DossierRating, DossierStatus
from portal.kernel.calendar import local_date
from portal.kernel.clock import local, utcnow
from signing.pki import get_pki
from signing.verify_service import trust_setup
from tests import factories
from tests.conftest import csrf, signup
from tests.signing.helpers import make_test_pdf, sign_with
from tests.web.flow import upload

pytestmark = pytest.mark.db
OFFICER = "Trần Văn Bình"
BY = "api:test-backoffice"


@pytest.fixture()
def person(client: TestClient, db: Session) -> tuple[TestClient, Account]:
    """A signed-in citizen and their account."""
    login = signup(client)
    account = db.exec(select(Account).where(Account.email == login)).one()
    db.rollback()  # end the read: on SQLite a stale snapshot cannot write after the app's commits
    return client, account


@pytest.fixture()
def other(app: Any) -> Iterator[TestClient]:
    """Another signed-in citizen, in a browser of their own."""
    browser = TestClient(app, follow_redirects=False)
    signup(browser, name="Lê Văn Khác")
    yield browser


def submitted(db: Session, account: Account) -> Dossier:
    """A submitted marital-status dossier of the account, with both documents attached."""
    db.rollback()  # a new snapshot
    dossier = factories.dossier(db, applicant=account, submitted=True, files=("to_khai", "giay_to_ly_hon"))
    db.commit()
    return dossier


def fresh(db: Session, dossier: Dossier) -> Dossier:
    """The dossier as the database has it now (the app's requests committed in between)."""
    db.rollback()  # a new snapshot
    row = db.get(Dossier, dossier.id)
    assert row is not None
    return row


def received(db: Session, dossier: Dossier) -> Dossier:
    lifecycle.receive(session=db, dossier=dossier, officer=OFFICER, by=BY)
    db.commit()
    return dossier


def post(client: TestClient, url: str, page: str, **data: str):
    return client.post(url, data={"csrf_token": csrf(client, page), **data})


def day(d: Any) -> str:
    return d.strftime("%d/%m/%Y")


def english(client: TestClient) -> None:
    client.cookies.set("lang", "en")


# -- timeline and sub-status -----------------------------------------------------------------------------------


def test_timeline_shows_each_step_with_its_time_officer_and_appointment_date(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    lifecycle.start_processing(session=db, dossier=dossier, by=BY)
    lifecycle.set_sub_status(
        session=db, dossier=dossier, code="approval", text_vi="Chờ phê duyệt", text_en="Awaiting approval", by=BY
    )
    db.commit()
    dossier = fresh(db, dossier)
    assert dossier.official_due_date is not None

    page = client.get(f"/dossiers/{dossier.id}")
    assert page.status_code == 200, page.text
    # The main status, and under it the agency's own step in the page's language (Vietnamese first).
    status = r'<span class="status status-in_process">[^<]+</span>\s*<span class="sub-status" id="sub-status">'
    assert re.search(status + "Chờ phê duyệt</span>", page.text), page.text
    assert "Awaiting approval" not in page.text
    timeline = page.text.split('class="timeline"', 1)[1]
    # The receiving officer by name, the official appointment date it set, in Vietnam time.
    received_event = db.exec(
        select(DossierEvent).where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "received")
    ).one()
    item = timeline.split('class="event-received"', 1)[1].split("</li>", 1)[0]
    assert local(received_event.at).strftime("%H:%M %d/%m/%Y") in item
    assert OFFICER in item
    assert day(dossier.official_due_date) in item
    # A step without an officer's name names the agency; the back-office client's label is never shown.
    started = timeline.split('class="event-processing_started"', 1)[1].split("</li>", 1)[0]
    assert "Ủy ban nhân dân phường Hoa Lư" in started, started
    assert BY not in page.text
    step = timeline.split('class="event-sub_status"', 1)[1].split("</li>", 1)[0]
    assert "Chờ phê duyệt" in step
    assert dossier.received_at is not None
    assert f'id="received">{local(dossier.received_at).strftime("%H:%M %d/%m/%Y")}' in page.text

    english(client)
    page = client.get(f"/dossiers/{dossier.id}")
    assert '<span class="sub-status" id="sub-status">Awaiting approval</span>' in page.text
    assert "Chờ phê duyệt</span>" not in page.text.split('class="timeline"', 1)[0]


def test_timeline_entries_say_only_what_the_citizen_should_read() -> None:
    def event(kind: str, actor: str, **details: Any) -> DossierEvent:
        return DossierEvent(dossier_id="x", kind=kind, actor=actor, details=details)

    refused, rejected, completed_, answered, overdue = lifecycle_views.timeline_entries(
        [
            event("signature_refused", "a1b2", reason="one-time code"),  # an internal code, not words for people
            event("rejected", "api:client-1", reason="Thiếu giấy tờ."),
            event("completed", "Lê Thị Hoa", handover="online"),
            event("supplement_answered", "Nguyễn Thị Hường", due="2026-12-21"),
            event("overdue", "system", due="2026-12-10"),
        ]
    )
    assert refused.reason is None and not refused.agency_side
    assert rejected.reason == "Thiếu giấy tờ." and rejected.agency_side and rejected.officer is None
    assert completed_.officer == "Lê Thị Hoa"
    assert not answered.agency_side and answered.due is not None and answered.due.isoformat() == "2026-12-21"
    assert overdue.officer is None and overdue.due is not None


def test_the_sub_status_goes_with_a_change_of_main_status(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    lifecycle.set_sub_status(
        session=db, dossier=dossier, code="check", text_vi="Đang kiểm tra", text_en="Checking", by=BY
    )
    db.commit()
    assert 'id="sub-status">Đang kiểm tra<' in client.get(f"/dossiers/{dossier.id}").text
    lifecycle.start_processing(session=db, dossier=fresh(db, dossier), by=BY)
    db.commit()
    page = client.get(f"/dossiers/{dossier.id}")
    assert 'id="sub-status"' not in page.text
    assert "Đang kiểm tra" in page.text.split('class="timeline"', 1)[1]  # still in the history


def test_rejection_reason_is_shown(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    service.reject(session=db, dossier=dossier, reason="Giấy tờ ly hôn không hợp lệ.", by=BY)
    db.commit()
    page = client.get(f"/dossiers/{dossier.id}")
    rejection = page.text.split('id="rejection"', 1)[1].split("</section>", 1)[0]
    assert "Giấy tờ ly hôn không hợp lệ." in rejection
    assert 'id="rating"' not in page.text and 'id="supplement"' not in page.text


# -- supplement: asked items only, then resubmit ---------------------------------------------------------------


def asked(db: Session, dossier: Dossier) -> None:
    lifecycle.request_supplement(
        session=db,
        dossier=dossier,
        items=[
            lifecycle.SupplementItem(kind="field", target="phone", reason="Số điện thoại không liên lạc được."),
            lifecycle.SupplementItem(kind="component", target="giay_to_ly_hon", reason="Bản chụp bị mờ."),
        ],
        message="Đề nghị bổ sung trong 5 ngày làm việc.",
        by=BY,
    )
    db.commit()


def test_supplement_request_lists_its_items_and_links_to_the_answer(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    asked(db, dossier)
    page = client.get(f"/dossiers/{dossier.id}")
    panel = page.text.split('id="supplement"', 1)[1].split("</section>", 1)[0]
    assert "Đề nghị bổ sung trong 5 ngày làm việc." in panel
    assert "Số điện thoại không liên lạc được." in panel and "Bản chụp bị mờ." in panel
    assert "Số điện thoại" in panel  # the field by its form label, not its name
    assert f'href="/dossiers/{dossier.id}/supplement"' in panel
    answer = client.get(f"/dossiers/{dossier.id}/supplement")
    assert answer.status_code == 200
    assert f'href="/dossiers/{dossier.id}/steps/applicant#f-phone-wrap"' in answer.text
    assert f'href="/dossiers/{dossier.id}/files#c-giay_to_ly_hon"' in answer.text
    assert f'action="/dossiers/{dossier.id}/supplement"' in answer.text
    assert BY not in answer.text and BY not in page.text
    # "Continue" on a dossier awaiting a supplement leads to the request.
    cont = client.get(f"/dossiers/{dossier.id}/continue")
    assert cont.headers["location"] == f"/dossiers/{dossier.id}/supplement"


def test_my_dossiers_lead_to_the_request_and_show_the_agency_step(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    waiting = received(db, submitted(db, account))
    asked(db, waiting)
    stepping = received(db, submitted(db, account))
    lifecycle.set_sub_status(
        session=db, dossier=stepping, code="approval", text_vi="Chờ phê duyệt", text_en="Awaiting approval", by=BY
    )
    db.commit()
    listing = client.get("/dossiers").text
    assert f'href="/dossiers/{waiting.id}/supplement"' in listing
    assert f'href="/dossiers/{stepping.id}/supplement"' not in listing
    assert '<span class="sub-status">Chờ phê duyệt</span>' in listing


def test_only_the_asked_answer_can_be_changed(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    asked(db, dossier)
    step = client.get(f"/dossiers/{dossier.id}/steps/applicant")
    assert step.status_code == 200, step.text
    assert 'name="phone"' in step.text
    assert "Số điện thoại không liên lạc được." in step.text  # why it was asked, beside it
    # The other answers are shown as text, not as inputs.
    assert 'name="full_name"' not in step.text and 'name="cccd"' not in step.text
    assert 'name="address.province"' not in step.text
    readonly = step.text.split('id="f-full_name-wrap"', 1)[1].split("</dl>", 1)[0]
    assert "Nguyễn Thị Hường" in readonly
    # A step without any asked answer has no form at all.
    other_step = client.get(f"/dossiers/{dossier.id}/steps/status")
    assert other_step.status_code == 200
    assert "<form" not in other_step.text.split('<main id="main"', 1)[1]
    assert 'name="marital_status"' not in other_step.text

    # A wrong answer is refused and shown again; a forged other field is ignored.
    bad = post(
        client,
        f"/dossiers/{dossier.id}/steps/applicant",
        f"/dossiers/{dossier.id}/steps/applicant",
        phone="12",
        full_name="Kẻ Giả Mạo",
        _action="next",
    )
    assert bad.status_code == 422 and 'href="#f-phone-wrap"' in bad.text
    # What was typed is kept, so the request page says the answer must still be corrected.
    refused = post(client, f"/dossiers/{dossier.id}/supplement", f"/dossiers/{dossier.id}/supplement")
    assert refused.status_code == 422
    assert 'href="#item-field-phone"' in refused.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    good = post(
        client,
        f"/dossiers/{dossier.id}/steps/applicant",
        f"/dossiers/{dossier.id}/steps/applicant",
        phone="0987 654 321",
        full_name="Kẻ Giả Mạo",
        _action="next",
    )
    assert good.status_code == 303, re.findall(r"error-summary.*?</ul>", good.text, re.S)
    assert good.headers["location"] == f"/dossiers/{dossier.id}/supplement"
    row = fresh(db, dossier)
    assert row.data["phone"] == "0987654321"
    assert row.data["full_name"] == "Nguyễn Thị Hường"
    assert row.status == DossierStatus.SUPPLEMENT_REQUESTED


def test_only_the_asked_document_can_be_changed_then_the_answer_is_sent(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    asked(db, dossier)
    files = client.get(f"/dossiers/{dossier.id}/files")
    assert files.status_code == 200
    asked_section = files.text.split('id="c-giay_to_ly_hon"', 1)[1].split("</section>", 1)[0]
    other_section = files.text.split('id="c-to_khai"', 1)[1].split("</section>", 1)[0]
    assert f'action="/dossiers/{dossier.id}/files/giay_to_ly_hon"' in asked_section
    assert "Bản chụp bị mờ." in asked_section
    assert 'type="file"' not in other_section and "/delete" not in other_section
    # HTMX gets the components block, still read-only for the other component.
    asked_file = db.exec(
        select(DossierFile).where(DossierFile.dossier_id == dossier.id, DossierFile.component_id == "giay_to_ly_hon")
    ).one()
    token = csrf(client, f"/dossiers/{dossier.id}/files")
    fragment = client.post(
        f"/dossiers/{dossier.id}/files/{asked_file.id}/delete",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text and 'id="components"' in fragment.text
    other_part = fragment.text.split('id="c-to_khai"', 1)[1].split("</section>", 1)[0]
    assert 'type="file"' not in other_part and "/delete" not in other_part
    # The other component cannot be changed, even by a hand-made request.
    refused = upload(client, dossier.id, "to_khai", "moi.pdf", factories.pdf_bytes(), "application/pdf")
    assert refused.status_code == 409

    # Sending before the asked document was replaced is refused, with the reason, on the same page.
    early = post(client, f"/dossiers/{dossier.id}/supplement", f"/dossiers/{dossier.id}/supplement")
    assert early.status_code == 422
    assert 'class="error-summary"' in early.text
    summary = early.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    assert 'href="#item-component-giay_to_ly_hon"' in summary  # the missing document, by name, linked
    assert "Bản sao bản án" in summary
    assert fresh(db, dossier).status == DossierStatus.SUPPLEMENT_REQUESTED

    done = upload(client, dossier.id, "giay_to_ly_hon", "ban-an-ro.pdf", factories.pdf_bytes(), "application/pdf")
    assert done.status_code == 303, done.text
    ready = client.get(f"/dossiers/{dossier.id}/supplement").text
    item = ready.split('id="item-component-giay_to_ly_hon"', 1)[1].split("</li>", 1)[0]
    assert 'class="tag tag-ok"' in item and "ban-an-ro.pdf" in item and 'class="field-error"' not in item
    sent = post(client, f"/dossiers/{dossier.id}/supplement", f"/dossiers/{dossier.id}/supplement")
    assert sent.status_code == 303 and sent.headers["location"] == f"/dossiers/{dossier.id}?resubmitted=1"
    row = fresh(db, dossier)
    assert row.status == DossierStatus.RECEIVED
    page = client.get(sent.headers["location"])
    assert 'id="resubmitted"' in page.text and 'id="supplement"' not in page.text
    assert 'class="event-supplement_answered"' in page.text
    # A second click changes nothing and is not an error; the pages are read-only again.
    again = post(client, f"/dossiers/{dossier.id}/supplement", f"/dossiers/{dossier.id}")
    assert again.status_code == 303 and again.headers["location"] == f"/dossiers/{dossier.id}?resubmitted=1"
    assert client.get(f"/dossiers/{dossier.id}/steps/applicant").status_code == 303
    assert client.get(f"/dossiers/{dossier.id}/supplement").status_code == 303
    answered = db.exec(
        select(DossierEvent).where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "supplement_answered")
    ).all()
    assert len(answered) == 1


def test_there_is_nothing_to_answer_without_a_request(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    assert client.get(f"/dossiers/{dossier.id}/supplement").status_code == 303
    r = post(client, f"/dossiers/{dossier.id}/supplement", f"/dossiers/{dossier.id}")
    assert r.status_code == 409
    assert fresh(db, dossier).status == DossierStatus.RECEIVED


# -- results ----------------------------------------------------------------------------------------------------


def with_result(app: Any, db: Session, dossier: Dossier) -> str:
    """The agency issues a result signed with its development certificate; the result's id."""
    issued = get_pki(app).issue_agency("UBND xã Thử Nghiệm", dossier.agency_code)
    signed = sign_with(issued, make_test_pdf("GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN"))
    results = lifecycle.issue_result(
        session=db,
        storage=app.state.storage,
        settings=app.state.settings,
        dossier=dossier,
        files=[("giay-xac-nhan.pdf", signed)],
        by=BY,
        trust=trust_setup(app),
    )
    db.commit()
    return results[0].id


def test_results_are_downloaded_with_their_signature_report(
    app: Any, person: tuple[TestClient, Account], other: TestClient, db: Session
) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    result_id = with_result(app, db, dossier)
    page = client.get(f"/dossiers/{dossier.id}")
    results = page.text.split('id="results"', 1)[1].split("</section>", 1)[0]
    assert "giay-xac-nhan.pdf" in results
    assert "UBND xã Thử Nghiệm" in results  # the signer
    assert "Dev CA" in results  # the certificate's issuer
    assert 'class="tag tag-ok"' in results
    assert 'href="/verify"' in results
    link = f"/dossiers/{dossier.id}/results/{result_id}"
    assert f'href="{link}"' in results

    download = client.get(link)
    assert download.status_code == 200 and download.headers["content-type"] == "application/pdf"
    assert "attachment" in download.headers["content-disposition"]
    from portal.dossiers.models import DossierResult

    row = db.get(DossierResult, result_id)
    assert row is not None and hashlib.sha256(download.content).hexdigest() == row.sealed_sha256

    # Another citizen learns nothing of it.
    assert other.get(link).status_code == 404
    assert other.get(f"/dossiers/{dossier.id}").status_code == 404
    assert client.get(f"/dossiers/{dossier.id}/results/{'0' * 32}").status_code == 404


def test_the_sealed_result_is_recognised_by_verify(app: Any, person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    result_id = with_result(app, db, dossier)
    sealed = client.get(f"/dossiers/{dossier.id}/results/{result_id}").content
    token = csrf(client, "/verify")
    checked = client.post(
        "/verify", data={"csrf_token": token}, files=[("file", ("ket-qua.pdf", sealed, "application/pdf"))]
    )
    assert checked.status_code == 200, checked.text
    assert dossier.code is not None and dossier.code in checked.text


# -- lateness ---------------------------------------------------------------------------------------------------


def test_a_late_dossier_shows_the_apology_and_the_new_date(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    today = local_date(utcnow())
    official = today - timedelta(days=3)
    row = fresh(db, dossier)
    row.official_due_date = row.due_date = official
    db.add(row)
    db.commit()
    assert deadline.mark_overdue_one(db, row, now=utcnow())
    db.commit()
    late = client.get(f"/dossiers/{dossier.id}")
    assert 'id="overdue"' in late.text and 'id="apology"' not in late.text
    new_date = today + timedelta(days=7)
    lifecycle.apologise(
        session=db, dossier=row, reason="Chờ ý kiến của cơ quan phối hợp.", new_date=new_date, by="Phạm Thị Lan"
    )
    db.commit()
    page = client.get(f"/dossiers/{dossier.id}")
    apology = page.text.split('id="apology"', 1)[1].split("</section>", 1)[0]
    assert "Chờ ý kiến của cơ quan phối hợp." in apology
    assert f'id="apology-new-date"><strong>{day(new_date)}</strong>' in apology
    assert f'id="apology-official-date">{day(official)}' in apology
    # The facts keep the official date as such and show the promise beside it.
    assert f'id="official-due">{day(official)}' in page.text
    assert f'id="due">{day(new_date)}' in page.text
    assert 'id="overdue"' not in page.text
    item = page.text.split('class="event-apology"', 1)[1].split("</li>", 1)[0]
    assert day(new_date) in item and "Phạm Thị Lan" in item


# -- rating -----------------------------------------------------------------------------------------------------


def completed(db: Session, account: Account) -> Dossier:
    dossier = received(db, submitted(db, account))
    row = fresh(db, dossier)
    row.status = DossierStatus.RESULT_READY  # the result itself is tested above
    db.add(row)
    db.commit()
    lifecycle.complete(session=db, dossier=row, handover="online", by=BY)
    db.commit()
    return row


def scores(**over: str) -> dict[str, str]:
    values = {f"score-{c.value}": "4" for c in lifecycle.RATING_CRITERIA}
    values.update(over)
    return values


def test_rating_form_after_completion_refuses_bad_input_and_keeps_what_was_typed(
    person: tuple[TestClient, Account], db: Session
) -> None:
    client, account = person
    dossier = completed(db, account)
    url = f"/dossiers/{dossier.id}"
    page = client.get(url)
    form = page.text.split('id="rating-form"', 1)[1].split("</form>", 1)[0]
    criteria = [str(c.value) for c in lifecycle.RATING_CRITERIA]
    assert form.count("<fieldset") == len(criteria) and form.count("<legend>") == len(criteria)
    for c in criteria:
        assert all(f'id="rating-{c}-{n}" name="score-{c}" value="{n}"' in form for n in range(1, 6))
    assert 'name="comment"' in form

    missing = dict(scores(), **{"score-guidance": ""})
    r = post(client, f"{url}/rating", url, **missing, comment="Cán bộ nhiệt tình.")
    assert r.status_code == 422
    assert 'href="#rating-guidance"' in r.text
    assert 'id="rating-reception-4" name="score-reception" value="4" checked' in r.text
    assert "Cán bộ nhiệt tình.</textarea>" in r.text
    r = post(client, f"{url}/rating", url, **scores(**{"score-on_time": "7"}))
    assert r.status_code == 422 and 'href="#rating-on_time"' in r.text
    r = post(client, f"{url}/rating", url, **scores(**{"score-on_time": "x"}))
    assert r.status_code == 422
    db.rollback()  # a new snapshot
    assert db.get(DossierRating, dossier.id) is None

    ok = post(client, f"{url}/rating", url, **scores(**{"score-on_time": "5"}), comment="Cán bộ nhiệt tình.")
    assert ok.status_code == 303 and ok.headers["location"] == f"{url}?rated=1#rating"
    db.rollback()  # a new snapshot
    rating = db.get(DossierRating, dossier.id)
    assert rating is not None and rating.scores["on_time"] == 5 and rating.comment == "Cán bộ nhiệt tình."
    page = client.get(f"{url}?rated=1")
    assert 'id="rated"' in page.text and 'id="rating-form"' not in page.text
    assert "Cán bộ nhiệt tình." in page.text.split('id="rating"', 1)[1]

    # Once only: a second rating is refused with a clear message and the first one kept.
    again = post(client, f"{url}/rating", url, **scores(**{"score-on_time": "1"}))
    assert again.status_code == 409
    assert 'class="error-summary"' in again.text
    db.rollback()  # a new snapshot
    rating = db.get(DossierRating, dossier.id)
    assert rating is not None and rating.scores["on_time"] == 5


def test_rating_before_completion_is_refused(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = received(db, submitted(db, account))
    url = f"/dossiers/{dossier.id}"
    assert 'id="rating-form"' not in client.get(url).text
    r = post(client, f"{url}/rating", url, **scores())
    assert r.status_code == 409
    db.rollback()  # a new snapshot
    assert db.get(DossierRating, dossier.id) is None


# -- access and CSRF --------------------------------------------------------------------------------------------


def test_another_citizen_gets_404_everywhere(
    person: tuple[TestClient, Account], other: TestClient, db: Session
) -> None:
    _client, account = person
    dossier = completed(db, account)
    for path in (f"/dossiers/{dossier.id}", f"/dossiers/{dossier.id}/supplement"):
        assert other.get(path).status_code == 404, path
    r = post(other, f"/dossiers/{dossier.id}/rating", "/dossiers", **scores())
    assert r.status_code == 404
    r = post(other, f"/dossiers/{dossier.id}/supplement", "/dossiers")
    assert r.status_code == 404
    db.rollback()  # a new snapshot
    assert db.get(DossierRating, dossier.id) is None


def test_the_posts_need_the_csrf_token(person: tuple[TestClient, Account], db: Session) -> None:
    client, account = person
    dossier = completed(db, account)
    client.get(f"/dossiers/{dossier.id}")  # the session has a token
    r = client.post(f"/dossiers/{dossier.id}/rating", data=scores())
    assert r.status_code == 403
    r = client.post(f"/dossiers/{dossier.id}/rating", data={**scores(), "csrf_token": "forged"})
    assert r.status_code == 403
    r = client.post(f"/dossiers/{dossier.id}/supplement", data={})
    assert r.status_code == 403
    db.rollback()  # a new snapshot
    assert db.get(DossierRating, dossier.id) is None
    assert not db.exec(
        select(DossierEvent).where(col(DossierEvent.dossier_id) == dossier.id, DossierEvent.kind == "rated")
    ).all()
