"""Filing feedback over HTTP: signed out and in, about a procedure, a dossier or an agency; contacts, the
attachment's checks, the per-address limit; nothing typed is lost on a mistake."""

from __future__ import annotations

import io
import secrets

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject
from sqlmodel import Session, col, select

from auth.models import Account
from portal.app import create_app
from portal.catalog.models import Procedure
from portal.feedback import service
from portal.feedback.models import Feedback
from portal.kernel.calendar import add_working_days, local_date
from portal.kernel.outbox import OutboxMessage
from portal.kernel.settings import Settings
from tests import factories
from tests.conftest import signup
from tests.feedback.helpers import PROCEDURE, file_ok, form, post

pytestmark = pytest.mark.db


def _item(db: Session, code: str) -> Feedback:
    db.commit()  # a new read transaction: SQLite shows a transaction the database as it began
    return db.exec(select(Feedback).where(Feedback.code == code)).one()


def test_signed_out_filing_about_a_procedure_gives_a_tracking_code(
    fb_client: TestClient, fb_db: Session, fb_app: FastAPI
) -> None:
    email = f"an-{secrets.token_hex(4)}@example.vn"
    r = post(fb_client, form(email=email.upper(), public_consent="yes"))
    assert r.status_code == 303
    code = r.headers["location"].rsplit("/", 1)[1]
    page = fb_client.get(r.headers["location"])
    assert page.status_code == 200
    assert code in page.text and 'id="filed"' in page.text
    item = _item(fb_db, code)
    procedure = fb_db.get(Procedure, PROCEDURE)
    assert procedure is not None
    assert (item.about, item.procedure_code, item.agency_code) == ("procedure", PROCEDURE, procedure.agency_code)
    assert item.email == email and item.account_id is None and item.public_consent
    settings = fb_app.state.settings
    assert item.due_on == add_working_days(local_date(item.filed_at), settings.feedback_answer_days)
    queued = fb_db.exec(select(OutboxMessage).where(OutboxMessage.topic == "feedback.message")).all()
    assert any(m.payload.get("id") == item.id and m.payload.get("event") == "filed" for m in queued)
    # The confirmation is shown once; the page itself stays reachable by its code.
    again = fb_client.get(f"/feedback/{code}")
    assert again.status_code == 200 and 'id="filed"' not in again.text


def test_no_contact_is_refused_and_what_was_typed_is_kept(fb_client: TestClient, fb_db: Session) -> None:
    data = form(email="", phone="", title="Tiêu đề riêng của tôi 42", name="Lê Thị Cúc")
    r = post(fb_client, data)
    assert r.status_code == 422
    assert "Tiêu đề riêng của tôi 42" in r.text and "Lê Thị Cúc" in r.text and data["body"] in r.text
    assert 'id="error-summary"' in r.text and 'aria-invalid="true"' in r.text
    assert fb_db.exec(select(Feedback).where(Feedback.title == "Tiêu đề riêng của tôi 42")).first() is None


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": "", "phone": "12345"}, "phone"),
        ({"title": "ab"}, "title"),
        ({"body": "short"}, "body"),
        ({"kind": "praise"}, "kind"),
        ({"about": "weather"}, "about"),
        ({"procedure_code": "9.999999"}, "procedure_code"),
        ({"about": "agency", "agency_code": "NOPE"}, "agency_code"),
    ],
)
def test_each_mistake_is_named_on_its_field(fb_client: TestClient, over: dict[str, str], field: str) -> None:
    r = post(fb_client, form(**over))
    assert r.status_code == 422
    assert f'id="{field}-error"' in r.text


def test_a_mobile_number_alone_is_a_contact(fb_client: TestClient, fb_db: Session) -> None:
    code = file_ok(fb_client, email="", phone="+84 912 345 678")
    item = _item(fb_db, code)
    assert (item.email, item.phone) == (None, "0912345678")


def test_about_an_agency(fb_client: TestClient, fb_db: Session) -> None:
    procedure = fb_db.get(Procedure, PROCEDURE)
    assert procedure is not None
    code = file_ok(fb_client, about="agency", agency_code=procedure.agency_code, procedure_code="")
    item = _item(fb_db, code)
    assert (item.about, item.agency_code, item.procedure_code) == ("agency", procedure.agency_code, None)


def _dossier_of(db: Session, **account: str) -> tuple[str, str]:
    owner = factories.account(db, **account)
    dossier = factories.dossier(db, applicant=owner, procedure_code=PROCEDURE, submitted=True)
    db.commit()
    assert dossier.code is not None
    return dossier.code, dossier.id


def test_signed_out_dossier_needs_the_dossiers_contact_and_never_tells_whether_a_code_exists(
    fb_client: TestClient, fb_db: Session
) -> None:
    email = f"owner-{secrets.token_hex(4)}@example.vn"
    code, dossier_id = _dossier_of(fb_db, email=email, phone=f"09{secrets.randbelow(10**8):08d}")
    wrong = post(fb_client, form(about="dossier", dossier_code=code, procedure_code=""))
    unknown = post(fb_client, form(about="dossier", dossier_code="STP-010101-99999999", procedure_code=""))
    assert wrong.status_code == unknown.status_code == 422
    message = "Không có hồ sơ nào mang mã này được nộp bằng email hoặc số điện thoại bạn đã nhập"  # the same for both
    assert message in wrong.text and message in unknown.text
    tracking = file_ok(fb_client, about="dossier", dossier_code=code.lower(), procedure_code="", email=email)
    item = _item(fb_db, tracking)
    assert (item.dossier_id, item.dossier_code, item.procedure_code) == (dossier_id, code, PROCEDURE)


def test_signed_out_dossier_by_the_accounts_mobile_number(fb_client: TestClient, fb_db: Session) -> None:
    phone = f"09{secrets.randbelow(10**8):08d}"
    code, dossier_id = _dossier_of(fb_db, phone=phone)
    tracking = file_ok(
        fb_client, about="dossier", dossier_code=code, procedure_code="", email="", phone=f"+84{phone[1:]}"
    )
    assert _item(fb_db, tracking).dossier_id == dossier_id


def test_signed_in_filer_chooses_among_own_dossiers(fb_client: TestClient, fb_db: Session) -> None:
    login = signup(fb_client)
    account = fb_db.exec(select(Account).where(Account.email == login)).one()
    own = factories.dossier(fb_db, applicant=account, procedure_code=PROCEDURE, submitted=True)
    fb_db.commit()
    other_code, _ = _dossier_of(fb_db)
    page = fb_client.get("/feedback/new")
    assert f'<option value="{own.code}"' in page.text and other_code not in page.text
    assert f'value="{login}"' in page.text  # the contact is filled in from the account
    refused = post(fb_client, form(about="dossier", dossier_code=other_code, procedure_code=""))
    assert refused.status_code == 422 and "Hãy chọn một hồ sơ của bạn." in refused.text  # Choose one of your dossiers
    tracking = file_ok(fb_client, about="dossier", dossier_code=own.code, procedure_code="")
    item = _item(fb_db, tracking)
    assert (item.account_id, item.dossier_id) == (account.id, own.id)


def _pdf_with_javascript() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(factories.pdf_bytes())))
    action = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")}
    )
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_checked_attachment_is_kept(fb_client: TestClient, fb_db: Session, fb_app: FastAPI) -> None:
    files = {"attachment": ("bien-nhan.jpg", factories.jpeg_bytes(), "image/jpeg")}
    r = post(fb_client, form(), files=files)
    assert r.status_code == 303, r.text
    item = _item(fb_db, r.headers["location"].rsplit("/", 1)[1])
    assert item.attachment_name == "bien-nhan.jpg" and item.attachment_type == "application/pdf"
    assert item.attachment_key is not None
    kept = service.attachment(fb_app.state.storage, item)
    assert kept is not None and kept[0] == "bien-nhan.jpg"
    assert kept[1].startswith(b"%PDF-") and len(kept[1]) == item.attachment_size


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("script.pdf", _pdf_with_javascript(), 422, "active content"),
        ("setup.pdf", b"MZ\x90\x00" + b"\x00" * 2000, 415, "Only PDF, JPEG and PNG files are accepted."),
        ("big.pdf", b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024), 413, "larger than 2 MB"),
        ("broken.pdf", factories.pdf_bytes()[:300], 422, "damaged or incomplete"),
        ("locked.pdf", factories.encrypted_pdf(), 422, "encrypted"),
    ],
)
def test_an_unsafe_attachment_is_refused_with_its_reason_and_the_form_kept(
    fb_client: TestClient, fb_db: Session, name: str, data: bytes, status: int, message: str
) -> None:
    title = f"Tệp đính kèm {secrets.token_hex(4)}"
    fb_client.cookies.set("lang", "en")
    r = post(fb_client, form(title=title), files={"attachment": (name, data, "application/pdf")})
    assert r.status_code == status
    assert message in r.text and 'id="attachment-error"' in r.text and title in r.text
    assert fb_db.exec(select(Feedback).where(col(Feedback.title) == title)).first() is None


def test_flooding_from_one_address_is_refused_with_429_and_the_form_kept(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limits": {**settings.rate_limits, "feedback:ip": "2/3600"}}))
    with TestClient(app) as client:
        client.follow_redirects = False
        client.cookies.set("lang", "en")
        assert post(client, form()).status_code == 303
        assert post(client, form()).status_code == 303
        title = f"Lần thứ ba {secrets.token_hex(4)}"
        r = post(client, form(title=title))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert "Too many attempts" in r.text and title in r.text


def test_the_procedures_page_links_to_the_form_filled_in(fb_client: TestClient) -> None:
    page = fb_client.get(f"/procedures/{PROCEDURE}")
    assert f'href="/feedback/new?procedure={PROCEDURE}"' in page.text
    form_page = fb_client.get("/feedback/new", params={"procedure": PROCEDURE})
    assert 'id="about-procedure" name="about" value="procedure" checked' in form_page.text
    assert f'value="{PROCEDURE}"' in form_page.text
    assert "/feedback/new" in fb_client.get("/").text  # the footer


def test_a_script_on_a_page_rather_than_the_document_is_found() -> None:
    from portal.feedback.attachments import has_active_content

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(factories.pdf_bytes())))
    page = writer.pages[0]
    page[NameObject("/AA")] = DictionaryObject(
        {NameObject("/O"): DictionaryObject({NameObject("/S"): NameObject("/JavaScript")})}
    )
    out = io.BytesIO()
    writer.write(out)
    assert has_active_content(out.getvalue())
    assert not has_active_content(factories.pdf_bytes())
