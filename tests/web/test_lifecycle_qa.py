"""What a citizen hit on the pages of a dossier's life (issue 12), found by walking them in a real browser with
JavaScript on and off, in both languages: each test here failed before its fix.

The agency's side is driven through `portal.dossiers.lifecycle` on the app's own database, the citizen's over
HTTP, as in test_lifecycle_pages.py (whose helpers these tests use).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from portal.dossiers import lifecycle, service
from portal.dossiers.models import Dossier, DossierEvent, DossierFile, DossierRating, DossierStatus
from tests import factories
from tests.conftest import csrf, signup
from tests.web.flow import upload
from tests.web.test_lifecycle_pages import BY, fresh, post, received, submitted, with_result

pytestmark = pytest.mark.db


@pytest.fixture()
def person(client: TestClient, db: Session) -> tuple[TestClient, Account]:
    """A signed-in citizen and their account."""
    login = signup(client)
    account = db.exec(select(Account).where(Account.email == login)).one()
    db.rollback()  # end the read: on SQLite a stale snapshot cannot write after the app's commits
    return client, account


def _ask(db: Session, dossier: Dossier, *items: tuple[str, str], why: str = "Chưa rõ.") -> None:
    lifecycle.request_supplement(
        session=db,
        dossier=dossier,
        items=[lifecycle.SupplementItem.model_validate({"kind": k, "target": t, "reason": why}) for k, t in items],
        message="Đề nghị bổ sung.",
        by=BY,
    )
    db.commit()


def test_an_asked_field_shown_only_under_a_condition_stays_shown_with_javascript(
    person: tuple[TestClient, Account], db: Session
) -> None:
    """`purpose_other` is shown when `purpose` is loan, property or other; `purpose` is not asked, so it is text,
    not an input, and portal.js (which reads the form's inputs) hid the asked field: the citizen could not answer.
    The page now carries the stored `purpose`, disabled (never sent), for the script to read."""
    client, account = person
    dossier = received(db, submitted(db, account))
    _ask(db, dossier, ("field", "purpose_other"))
    page = client.get(f"/dossiers/{dossier.id}/steps/status")
    assert page.status_code == 200
    form = page.text.split('class="dossier-form"', 1)[1].split("</form>", 1)[0]
    assert 'data-show-if="purpose"' in form  # the asked field depends on `purpose`
    assert '<input type="hidden" name="purpose" value="loan" disabled>' in form
    assert 'name="marital_status"' not in form  # nothing else is carried
    # What the browser sends (disabled inputs are not sent) changes only the asked field.
    saved = post(
        client,
        f"/dossiers/{dossier.id}/steps/status",
        f"/dossiers/{dossier.id}/steps/status",
        purpose_other="Vay vốn ngân hàng để mua nhà",
        _action="next",
    )
    assert saved.status_code == 303, saved.text
    row = fresh(db, dossier)
    assert row.data["purpose_other"] == "Vay vốn ngân hàng để mua nhà" and row.data["purpose"] == "loan"
    assert row.status == DossierStatus.SUPPLEMENT_REQUESTED


def _summary_text(html: str) -> str:
    """The error summary as the citizen reads it (without its markup, so links' targets do not count)."""
    summary = html.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", summary))


def test_a_refused_answer_names_what_is_missing_by_its_label_not_its_code(
    person: tuple[TestClient, Account], db: Session
) -> None:
    """Sending before uploading the asked document said "…before sending: giay_to_ly_hon." (the lifecycle's
    message names components and fields by their codes); an answer not asked but invalid was named by its code
    too, and could not be corrected. Both are now named by their labels, in the page's language."""
    client, account = person
    dossier = received(db, submitted(db, account))
    _ask(db, dossier, ("component", "giay_to_ly_hon"))
    row = fresh(db, dossier)
    row.data = {**row.data, "phone": "12"}  # saved before a rule changed, say: not valid, and not asked
    db.add(row)
    db.commit()
    url = f"/dossiers/{dossier.id}/supplement"
    refused = post(client, url, url)
    assert refused.status_code == 422
    text = _summary_text(refused.text)
    assert "giay_to_ly_hon" not in text and "phone" not in text, text
    assert "Bản sao bản án" in text and "Số điện thoại" in text, text
    assert 'href="#item-component-giay_to_ly_hon"' in refused.text  # still linked to the item

    client.cookies.set("lang", "en")
    refused = post(client, url, url)
    text = _summary_text(refused.text)
    assert "giay_to_ly_hon" not in text and "Copy of the final divorce judgment" in text, text
    assert "Phone number" in text, text
    assert fresh(db, dossier).status == DossierStatus.SUPPLEMENT_REQUESTED


def _completed(db: Session, account: Account) -> Dossier:
    dossier = received(db, submitted(db, account))
    row = fresh(db, dossier)
    row.status = DossierStatus.RESULT_READY  # the result itself is tested in test_lifecycle_pages.py
    db.add(row)
    db.commit()
    lifecycle.complete(session=db, dossier=row, handover="online", by=BY)
    db.commit()
    return row


def _scores(value: str = "4") -> dict[str, str]:
    return {f"score-{c.value}": value for c in lifecycle.RATING_CRITERIA}


def _anchors_exist(html: str) -> None:
    """Every link of the error summary leads to something on the page."""
    summary = html.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    targets = re.findall(r'href="#([^"]+)"', summary)
    assert targets
    for target in targets:
        assert f'id="{target}"' in html, f"the error summary links to #{target}, which is not on the page"


def test_a_score_is_one_of_the_digits_1_to_5(person: tuple[TestClient, Account], db: Session) -> None:
    """An Arabic-Indic three ("٣") passed str.isdigit() and int() and was recorded as 3."""
    client, account = person
    dossier = _completed(db, account)
    url = f"/dossiers/{dossier.id}"
    for odd in ("٣", "³", "０4", "+4", "4.0"):
        r = post(client, f"{url}/rating", url, **_scores(odd))
        assert r.status_code == 422, odd
    db.rollback()  # a new snapshot
    assert db.get(DossierRating, dossier.id) is None


def test_rating_a_dossier_not_completed_says_why(person: tuple[TestClient, Account], db: Session) -> None:
    """The refusal was put in the rating section, which a dossier not completed does not have: a 409 page with
    no message at all. It is now the error page, with the status by its label."""
    client, account = person
    dossier = received(db, submitted(db, account))
    url = f"/dossiers/{dossier.id}"
    r = post(client, f"{url}/rating", url, **_scores())
    assert r.status_code == 409
    main = r.text.split('id="main"', 1)[1]
    assert "Đã tiếp nhận" in main and ">received<" not in main and " received." not in main, main
    r = post(client, f"{url}/rating", url, **_scores("9"))  # whatever the form held
    assert r.status_code == 409


def test_a_second_rating_is_refused_above_the_first_and_the_same_one_twice_is_not_an_error(
    person: tuple[TestClient, Account], db: Session
) -> None:
    """A form sent from another tab after the rating, with a missing score or a long comment, was answered with
    field errors whose links led to a form no longer on the page; the same rating sent twice (a double click
    without JavaScript, the back button) was an error."""
    client, account = person
    dossier = _completed(db, account)
    url = f"/dossiers/{dossier.id}"
    first = post(client, f"{url}/rating", url, **_scores("5"), comment="Tốt.")
    assert first.status_code == 303
    twice = post(client, f"{url}/rating", url, **_scores("5"), comment="Tốt.")
    assert twice.status_code == 303 and twice.headers["location"] == f"{url}?rated=1#rating"
    for form in ({**_scores("1"), "comment": "x" * 2001}, {**_scores("2"), "score-guidance": ""}, _scores("3")):
        again = post(client, f"{url}/rating", url, **form)
        assert again.status_code == 409
        assert "Hồ sơ này đã được đánh giá" in _summary_text(again.text) or "already been rated" in again.text
        _anchors_exist(again.text)
    db.rollback()  # a new snapshot
    rating = db.get(DossierRating, dossier.id)
    assert rating is not None and set(rating.scores.values()) == {5}
    events = db.exec(select(DossierEvent).where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "rated"))
    assert len(events.all()) == 1


def test_the_rating_and_the_answer_forms_are_sent_once_with_javascript(
    person: tuple[TestClient, Account], db: Session
) -> None:
    """portal.js keeps a `data-once` form from being sent twice by a double click; these two had no mark."""
    client, account = person
    dossier = _completed(db, account)
    form = client.get(f"/dossiers/{dossier.id}").text.split('id="rating-form"', 1)[1].split(">", 1)[0]
    assert "data-once" in form
    waiting = received(db, submitted(db, account))
    _ask(db, waiting, ("component", "giay_to_ly_hon"))
    page = client.get(f"/dossiers/{waiting.id}/supplement").text
    assert "data-once" in page.split('class="resubmit-form"', 1)[1].split(">", 1)[0]


def test_after_the_answer_is_sent_a_page_left_open_neither_uploads_nor_turns_into_a_draft(
    person: tuple[TestClient, Account], db: Session
) -> None:
    """Back to the documents page after sending the answer, then an upload: the refusal came back as the
    documents page of a draft (the draft's progress steps, an upload form for every component, "Continue to
    check your answers"). It is now the error page; nothing is stored."""
    client, account = person
    dossier = received(db, submitted(db, account))
    _ask(db, dossier, ("component", "giay_to_ly_hon"))
    token = csrf(client, f"/dossiers/{dossier.id}/files")  # the page, open before the answer was sent
    assert upload(client, dossier.id, "giay_to_ly_hon", "moi.pdf", factories.pdf_bytes(), "application/pdf").is_redirect
    sent = post(client, f"/dossiers/{dossier.id}/supplement", f"/dossiers/{dossier.id}/supplement")
    assert sent.status_code == 303
    files = [("files", ("muon.pdf", factories.pdf_bytes(), "application/pdf"))]
    late = client.post(f"/dossiers/{dossier.id}/files/giay_to_ly_hon", data={"csrf_token": token}, files=files)
    assert late.status_code == 409
    main = late.text.split('id="main"', 1)[1]
    assert 'type="file"' not in main and "progress-steps" not in main and "/review" not in main, main
    db.rollback()  # a new snapshot
    names = db.exec(select(DossierFile.filename).where(DossierFile.dossier_id == dossier.id)).all()
    assert "muon.pdf" not in names


def test_answering_a_request_the_agency_closed_meanwhile_says_the_status_by_its_label(
    person: tuple[TestClient, Account], db: Session
) -> None:
    """The request page open, the agency rejects the dossier, the citizen sends: the error page said "it is
    rejected" (the status's code) in both languages."""
    client, account = person
    dossier = received(db, submitted(db, account))
    _ask(db, dossier, ("component", "giay_to_ly_hon"))
    url = f"/dossiers/{dossier.id}/supplement"
    token = csrf(client, url)
    service.reject(session=db, dossier=fresh(db, dossier), reason="Không thuộc thẩm quyền.", by=BY)
    db.commit()
    late = client.post(url, data={"csrf_token": token})
    assert late.status_code == 409
    main = late.text.split('id="main"', 1)[1]
    assert "rejected" not in main and "Đã từ chối" in main, main
    client.cookies.set("lang", "en")
    main = client.post(url, data={"csrf_token": token}).text.split('id="main"', 1)[1]
    assert "it is rejected" not in main and "it is Rejected" in main, main


def test_the_receipt_link_still_looks_like_a_button_beside_a_result(
    app: Any, person: tuple[TestClient, Account], db: Session
) -> None:
    """With a result on the page the receipt's link lost its `primary` class and kept none: a bare `.button`
    has no border, background nor underline, so on a phone it read as plain text."""
    client, account = person
    dossier = received(db, submitted(db, account))
    with_result(app, db, fresh(db, dossier))
    page = client.get(f"/dossiers/{dossier.id}").text
    link = re.search(r'<a class="([^"]*)" href="/dossiers/[0-9a-f]{32}/receipt.pdf"', page)
    assert link is not None and link.group(1).split() == ["button", "secondary"], link


def test_the_pages_of_what_was_not_asked_do_not_say_it_was(person: tuple[TestClient, Account], db: Session) -> None:
    """A request for a document only: the form's steps said "The agency asked you to change some of your
    answers"; a request for an answer only: the documents page said "The agency asked you for some documents
    again"."""
    client, account = person
    client.cookies.set("lang", "en")
    documents_only = received(db, submitted(db, account))
    _ask(db, documents_only, ("component", "giay_to_ly_hon"))
    step = client.get(f"/dossiers/{documents_only.id}/steps/applicant").text
    note = step.split('id="supplement-note">', 1)[1].split("</p>", 1)[0]
    assert note == "The agency did not ask you to change any answer: they are shown as you sent them.", note
    files = client.get(f"/dossiers/{documents_only.id}/files").text
    assert "The agency asked you for some documents again." in files
    answers_only = received(db, submitted(db, account))
    _ask(db, answers_only, ("field", "phone"))
    files = client.get(f"/dossiers/{answers_only.id}/files").text
    note = files.split('id="supplement-note">', 1)[1].split("</p>", 1)[0]
    assert note == "The agency did not ask for any document again: they stay as you sent them.", note
    step = client.get(f"/dossiers/{answers_only.id}/steps/applicant").text
    assert "The agency asked you to change some of your answers." in step


def test_a_dossier_rejected_while_a_supplement_was_awaited_does_not_ask_for_it(
    person: tuple[TestClient, Account], db: Session
) -> None:
    """Rejected with a supplement request unanswered, the page still said "The agency asks for additional
    information … The processing time is paused until you send your answer" with an "Answer the request" button
    (which led back to the same page)."""
    client, account = person
    dossier = received(db, submitted(db, account))
    _ask(db, dossier, ("component", "giay_to_ly_hon"))
    service.reject(session=db, dossier=fresh(db, dossier), reason="Không thuộc thẩm quyền.\nNộp tại Sở.", by=BY)
    db.commit()
    page = client.get(f"/dossiers/{dossier.id}").text
    assert 'id="rejection"' in page and "Không thuộc thẩm quyền." in page
    assert 'id="supplement"' not in page and f"/dossiers/{dossier.id}/supplement" not in page
    assert '<p class="rejection-reason">' in page  # its lines kept (white-space: pre-line)
