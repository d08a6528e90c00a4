"""QA of a linked application's pages as a citizen on a 360 px phone without JavaScript (issue 15), what the
journey (test_linked_journey.py, desktop, JavaScript on) and the axe checks (test_linked_pages_axe.py,
test_linked_catalogue.py) do not reach:

- the composed form of LT.KS through every step: validation errors; the optional member not ticked (its two
  steps say there is nothing to answer, its documents are not asked) then ticked (its questions appear, with
  their own errors); each document once; keep an upload in the store; sign; review; the payment page split per
  agency by name, in Vietnamese and English; the sandbox bank; the application's page (members waiting); the
  receipt's text (pdftotext: diacritics, the members' table); the public lookup of the application's and of a
  member's code;
- the store: a kept document picked for a second application's component without a new upload, shown expired
  once past its date (not offered, refused with a message), deleted after a confirmation (no JavaScript);
- the application's page with a member's supplement request, a rejected member, then every member ended and the
  one rating given, in Vietnamese and English.

On every page: nothing scrolls sideways at 360 px, every POST form has its CSRF token, axe-core finds nothing
serious or critical. About 30-45 s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import Session, select

from auth.models import Account
from e2e.conftest import VIEWPORTS, check_axe
from e2e.journey_helpers import sign_in, sign_up
from e2e.test_journey import _jpeg, _pdf, _pdf_text, _ui
from portal.documents.models import StoredDocument
from portal.dossiers import lifecycle, service
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import make_engine, writer
from portal.kernel.settings import Settings
from tests.dossiers.test_linked_pages import BY, ask_for_the_form, linked_application

pytestmark = pytest.mark.e2e

PHONE = {"width": 360, "height": 640}
LINKED = "/procedures/LT.KS"
RESIDENCE = "1.004222"
WARD = {"province": "01", "ward": "00004"}
NO_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
POST_WITHOUT_CSRF = """() => [...document.querySelectorAll('form')]
  .filter((f) => (f.getAttribute('method') || 'get').toLowerCase() === 'post')
  .filter((f) => !f.querySelector('input[name=csrf_token]'))
  .map((f) => f.getAttribute('action'))"""
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)


def fits(page: Page, name: str) -> None:
    """Nothing scrolls sideways on the phone, every POST form carries its CSRF token, axe finds nothing blocking."""
    assert page.evaluate(NO_SCROLL), f"{name} ({page.url}): the page scrolls sideways on a 360 px phone"
    assert page.evaluate(POST_WITHOUT_CSRF) == [], f"{name} ({page.url}): a POST form without its CSRF token"
    check_axe(page, f"linked-qa/{name}")


@pytest.fixture()
def db(server_settings: Settings) -> Iterator[Session]:
    engine = make_engine(server_settings)
    with Session(writer(engine), expire_on_commit=False) as session:  # the write lock first: the server writes too
        yield session
    engine.dispose()


def phone_without_js(new_context: Callable[..., BrowserContext], server_url: str, signed_in: BrowserContext) -> Page:
    """A 360 px phone with JavaScript off, signed in as `signed_in` (its session cookie copied)."""
    context = new_context(java_script_enabled=False, viewport=PHONE)
    context.add_cookies([{"name": c["name"], "value": c["value"], "url": server_url} for c in signed_in.cookies()])
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def lang(page: Page, server_url: str, value: str) -> None:
    page.context.add_cookies([{"name": "lang", "value": value, "url": server_url}])


def save(page: Page) -> None:
    page.locator("form.dossier-form .actions button[value=next]").click()
    page.wait_for_load_state()


def ward(page: Page, field: str) -> None:
    """An address without JavaScript: the province, its wards brought by the button beside them, the street."""
    page.locator(f"#f-{field}-province").select_option(WARD["province"])
    page.locator(f"#f-{field}-ward + button").click()  # saves nothing: the page comes back with the wards
    page.locator(f"#f-{field}-ward").select_option(WARD["ward"])
    page.locator(f"#f-{field}-street").fill("25 Phan Đình Phùng")


def errors_listed(page: Page, name: str) -> str:
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    fits(page, name)
    return summary.inner_text()


def new_draft(page: Page) -> str:
    page.goto(LINKED)
    page.locator("form.start button[type=submit]").click()
    page.wait_for_url(re.compile(r"/steps/applicant$"))
    match = re.search(r"/dossiers/([0-9a-f]{32})/", page.url)
    assert match
    return match.group(1)


def fill_shared_steps(page: Page, draft: str, *, tick: bool) -> None:
    """Steps 1-3 (asked once for every member); the residence member ticked or not."""
    page.goto(f"/dossiers/{draft}/steps/applicant")
    box = page.locator(f"input[name=thu_tuc_lien_thong][value='{RESIDENCE}']")
    box.check() if tick else box.uncheck()
    page.locator("[name=full_name]").fill("Nguyễn Văn An")
    page.locator("[name=cccd]").fill("001090000001")
    ward(page, "address")
    expect(box).to_be_checked(checked=tick)  # the ward list's round trip keeps what was typed and ticked
    page.locator("[name=phone]").fill("0912345678")
    page.locator("[name=relationship]").select_option("father")
    save(page)
    page.wait_for_url(re.compile(r"/steps/child$"))
    page.locator("[name=child_name]").fill("Nguyễn Minh Khang")
    page.locator("input[name=child_gender][value=male]").check()
    page.locator("[name=child_birth_date]").fill(str(local_date(utcnow()) - timedelta(days=10)))
    page.locator("input[name=birth_place_type][value=health_facility]").check()
    page.locator("[name=birth_facility]").fill("Bệnh viện Sản Nhi tỉnh Ninh Bình")
    page.locator("[name=birth_place]").fill("Phường Hoa Lư, tỉnh Ninh Bình")
    for name, value in (("child_ethnicity", "Kinh"), ("child_nationality", "Việt Nam")):
        page.locator(f"[name={name}]").fill(value)
    page.locator("[name=child_hometown]").fill("Xã Gia Viễn, tỉnh Ninh Bình")
    page.locator("[name=kcb_facility]").fill("Trạm Y tế phường Hoa Lư")
    save(page)
    page.wait_for_url(re.compile(r"/steps/parents$"))
    for who, cccd in (("mother", "001193012345"), ("father", "001090000001")):
        if who == "father":
            page.locator("input[name=father_known][value=yes]").check()
        page.locator(f"[name={who}_name]").fill("Lê Thị Mai" if who == "mother" else "Nguyễn Văn An")
        page.locator(f"[name={who}_birth_date]").fill("1993-02-11" if who == "mother" else "1990-01-15")
        page.locator(f"[name={who}_ethnicity]").fill("Kinh")
        page.locator(f"[name={who}_nationality]").fill("Việt Nam")
        page.locator(f"[name={who}_cccd]").fill(cccd)
        ward(page, f"{who}_address")
    page.locator("[name=copies]").fill("1")
    page.locator("[name=declaration]").check()
    save(page)
    # Not chosen, the residence member's two steps have nothing to answer: "Next" goes past them.
    page.wait_for_url(re.compile(r"/steps/registrant$" if tick else r"/files$"))


def upload(page: Page, component: str, path: Path) -> None:
    section = page.locator(f"#c-{component}")
    section.locator("input[type=file]").set_input_files(path)
    section.locator("form.upload button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(f"#c-{component} .file-list")).to_contain_text(path.stem)


def test_linked_application_on_a_phone_without_javascript(
    new_context: Callable[..., BrowserContext], server_url: str, db: Session, tmp_path: Path
) -> None:
    started = time.monotonic()
    desktop = new_context(java_script_enabled=True, viewport=VIEWPORTS["desktop"])
    sso = desktop.new_page()
    sign_in(sso, lambda page, name: tmp_path / name)  # VNeID level 2: LT.KS asks for it
    page = phone_without_js(new_context, server_url, desktop)

    # ---- the catalogue entry and the header's link to the store
    page.goto(LINKED)
    fits(page, "catalogue-LT.KS")
    store_link = page.get_by_role("banner").locator("a[href='/documents']")
    expect(store_link).to_have_text(_ui("Giấy tờ của tôi", "My documents"))

    # ---- step 1 sent empty: the errors, nothing lost
    draft = new_draft(page)
    page.locator("[name=phone]").fill("0912345678")
    save(page)
    errors_listed(page, "step-applicant-errors")
    expect(page.locator("[name=phone]")).to_have_value("0912345678")

    # ---- the residence member not chosen: its steps have nothing to ask, its documents are not asked for
    fill_shared_steps(page, draft, tick=False)
    for step in ("registrant", "residence"):
        page.goto(f"/dossiers/{draft}/steps/{step}")
        expect(page.locator("#nothing-to-answer")).to_be_visible()
        expect(page.locator("form.dossier-form .field")).to_have_count(0)
    fits(page, "step-nothing-to-answer")
    page.goto(f"/dossiers/{draft}/files")
    expect(page.locator(".actions a.secondary")).to_have_attribute("href", f"/dossiers/{draft}/steps/parents")
    expect(page.locator("#c-giay_to_cho_o form.upload")).to_have_count(0)
    expect(page.locator("section.component")).to_have_count(6)  # each composed component once
    fits(page, "files-residence-not-chosen")

    # ---- chosen: its questions appear, with their own errors
    page.goto(f"/dossiers/{draft}/steps/applicant")
    page.locator(f"input[name=thu_tuc_lien_thong][value='{RESIDENCE}']").check()
    save(page)
    page.goto(f"/dossiers/{draft}/steps/registrant")
    expect(page.locator("#nothing-to-answer")).to_have_count(0)
    save(page)
    assert page.locator("#f-relation_to_declarant-error").inner_text().strip()
    errors_listed(page, "step-registrant-errors")
    page.locator("[name=relation_to_declarant]").select_option("child")
    save(page)
    page.wait_for_url(re.compile(r"/steps/residence$"))
    save(page)
    errors_listed(page, "step-residence-errors")
    ward(page, "residence_address")
    page.locator("input[name=residence_basis][value=with_family]").check()
    page.locator("[name=household_head_name]").fill("Nguyễn Văn An")
    page.locator("[name=household_head_cccd]").fill("001090000001")
    page.locator("[name=relation_to_head]").fill("Con")
    page.locator("[name=head_consent]").check()
    save(page)
    page.wait_for_url(re.compile(rf"/dossiers/{draft}/files$"))

    # ---- the documents: each once; one kept in the store; the one application signed
    upload(page, "giay_chung_sinh", _jpeg(tmp_path / "giay-chung-sinh.jpg"))
    marriage = _pdf(tmp_path / "giay-ket-hon-qa.pdf")
    upload(page, "giay_chung_nhan_ket_hon", marriage)
    upload(page, "giay_to_cho_o", _pdf(tmp_path / "so-do-nha.pdf"))
    page.locator("#c-giay_chung_nhan_ket_hon form[action$='/keep'] button").click()
    page.wait_for_load_state()
    expect(page.locator("#c-giay_chung_nhan_ket_hon .file-list .tag-muted")).to_have_text(
        _ui("Đã lưu trong giấy tờ của bạn", "Kept in your documents")
    )
    fits(page, "files-kept")
    page.goto(f"/dossiers/{draft}/sign/to_khai")
    setup = page.locator("form").filter(has=page.locator("input[name=_action][value=setup]"))
    if setup.count():
        setup.locator("button[type=submit]").click()
        page.wait_for_load_state()
    page.locator("#code").fill(page.locator("#dev-otp").inner_text())
    fits(page, "sign")
    page.locator("form.narrow button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/dossiers/{draft}/files#c-to_khai$"))
    expect(page.locator("#c-to_khai .file-list .tag-ok")).to_be_visible()

    # ---- review, then the payment split per agency (by name) in both languages
    page.goto(f"/dossiers/{draft}/review")
    fits(page, "review")
    page.locator("input[name=delivery_method][value=online]").check()
    page.locator("form[action$='/submit'] button[type=submit]").last.click()
    page.wait_for_url(re.compile(rf"/dossiers/{draft}/payment$"))
    for language in ("en", "vi"):
        lang(page, server_url, language)
        page.reload()
        fees = page.locator("table.fees")
        expect(fees.locator("tr.agency")).to_have_count(2)  # UBXA's copies, CAXA's residence fee (exempt)
        subtotals = fees.locator("tr.subtotal th").all_inner_texts()
        assert subtotals and not any(re.search(r"\b(UBXA|CAXA)\b", s) for s in subtotals), subtotals
        fits(page, f"payment-{language}")
    page.locator("form.pay-form input[name=gateway]").first.check()
    page.locator("form.pay-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/sandbox-bank/pay\?order="))
    page.get_by_role("button", name=_ui("Thanh toán", "Pay")).click()
    page.wait_for_url(re.compile(rf"/dossiers/{draft}/payment\?payment="))

    # ---- the application's page: three members, two waiting for the birth certificate
    page.goto(f"/dossiers/{draft}")
    code = page.locator("dl.facts dd.code")
    expect(code).to_have_text(re.compile(r"^UBXA-\d{6}-\d{4}$"), timeout=30_000)
    parent_code = code.inner_text().strip()
    rows = page.locator("#linked-members tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#linked-members .status-waiting")).to_have_count(2)
    member_codes = [c.strip() for c in page.locator("#linked-members td.code").all_inner_texts()]
    fits(page, "application-waiting-vi")
    lang(page, server_url, "en")
    page.reload()
    fits(page, "application-waiting-en")
    lang(page, server_url, "vi")

    # ---- the receipt: Vietnamese intact, the members' table readable
    receipt = page.context.request.get(f"{server_url}/dossiers/{draft}/receipt.pdf")
    assert receipt.ok and receipt.body().startswith(b"%PDF-")
    (tmp_path / "receipt.pdf").write_bytes(receipt.body())
    text = _pdf_text(tmp_path / "receipt.pdf")
    for expected in (
        "GIẤY TIẾP NHẬN HỒ SƠ",
        parent_code,
        *member_codes,
        "Đăng ký khai sinh",
        "Đăng ký thường trú",
        "Công an phường Hoa Lư",
        "Bảo hiểm xã hội tỉnh Ninh Bình",
        "Ngày hẹn trả",
    ):
        assert expected in text, f"{expected!r} is not in the receipt:\n{text}"
    assert text.count("(dự kiến)") >= 2, text

    # ---- the public lookup: the application lists its members, a member's code shows that member
    for language in ("vi", "en"):
        lang(page, server_url, language)
        page.goto(f"/lookup?code={parent_code}")
        expect(page.locator(".linked-members tbody tr")).to_have_count(3)
        fits(page, f"lookup-application-{language}")
    page.goto(f"/lookup?code={member_codes[1]}")
    expect(page.locator("#lookup-result, main")).to_contain_text(member_codes[1])
    expect(page.locator(".linked-members")).to_have_count(0)
    fits(page, "lookup-member-en")
    lang(page, server_url, "vi")

    # ---- the store: the kept document picked for a second application, without a new upload
    kept = db.exec(
        select(StoredDocument).where(
            StoredDocument.filename == marriage.name, StoredDocument.doc_type == "giay_chung_nhan_ket_hon"
        )
    ).first()
    assert kept is not None
    kept_id = kept.id
    db.rollback()  # no transaction left open (its write lock) beside the server's writes
    second = new_draft(page)
    page.goto(f"/dossiers/{second}/files")
    offer = page.locator(f"#store-giay_chung_nhan_ket_hon form:has(input[value='{kept_id}'])")
    expect(offer).to_have_count(1)
    fits(page, "files-store-offer")
    offer.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator("#c-giay_chung_nhan_ket_hon .file-list")).to_contain_text(marriage.name)
    expect(page.locator("#c-giay_chung_nhan_ket_hon .file-list .tag-muted")).to_have_text(
        _ui("Lấy từ kho giấy tờ của bạn", "From your documents")
    )

    # ---- expired: shown so, no longer offered, refused with a message when picked from a stale page
    third = new_draft(page)
    page.goto(f"/dossiers/{third}/files")
    stale = page.locator(f"#store-giay_chung_nhan_ket_hon form:has(input[value='{kept_id}']) button[type=submit]")
    expect(stale).to_have_count(1)
    row = db.get(StoredDocument, kept_id)
    assert row is not None
    row.expires_on = local_date(utcnow()) - timedelta(days=1)
    db.add(row)
    db.commit()
    stale.click()
    page.wait_for_load_state()
    expect(page.locator("#error-summary")).to_be_visible()
    fits(page, "files-store-expired-refused")
    page.goto(f"/dossiers/{third}/files")
    expect(page.locator(f"#store-giay_chung_nhan_ket_hon input[value='{kept_id}']")).to_have_count(0)
    page.goto("/documents")
    document = page.locator(f"#document-{kept_id}")
    expect(document.locator(".tag-bad")).to_be_visible()
    expect(page.locator("a[href='/documents/archive.zip']")).to_be_visible()
    expect(store_link).to_have_attribute("aria-current", "page")
    fits(page, "documents-expired")

    # ---- deleted after a confirmation, and the page says so
    expect(document.locator("details.confirm-delete form")).to_be_hidden()
    document.locator("details.confirm-delete summary").click()
    fits(page, "documents-confirm-delete")
    document.locator("details.confirm-delete form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/documents\?deleted=1$"))
    expect(page.locator("#document-deleted")).to_be_visible()
    expect(page.locator(f"#document-{kept_id}")).to_have_count(0)
    fits(page, "documents-deleted")
    desktop.close()
    page.context.close()
    print(f"linked QA on a phone: {time.monotonic() - started:.1f} s")


def test_linked_application_states_on_a_phone(
    new_context: Callable[..., BrowserContext], server_url: str, db: Session
) -> None:
    """The application's page with a member's supplement request and a rejected member, then every member ended
    and the one rating given without JavaScript; Vietnamese and English; 360 px."""
    context = new_context(java_script_enabled=False, viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(20_000)
    email = sign_up(page, "linked-qa-states")
    account = db.exec(select(Account).where(Account.email == email)).one()
    app = linked_application(db, account)
    first = db.get(Dossier, app.first.id)
    assert first is not None
    ask_for_the_form(db, first, "Bản chụp bị mờ, không đọc được.", "Đề nghị ông/bà bổ sung tờ khai rõ nét.")
    work = db.get(Dossier, app.work.id)
    assert work is not None
    lifecycle.receive(session=db, dossier=work, officer="Trần Văn Bình", by=BY)
    db.commit()
    service.reject(session=db, dossier=work, reason="Hồ sơ không đủ điều kiện cấp giấy phép lao động.", by=BY)
    db.commit()
    parent_id = app.parent.id
    for language in ("vi", "en"):
        lang(page, server_url, language)
        page.goto(f"/dossiers/{parent_id}")
        expect(page.locator("#linked-supplements")).to_be_visible()
        expect(page.locator("#linked-failed")).to_contain_text("không đủ điều kiện")
        fits(page, f"application-supplement-rejected-{language}")
        if language == "en":
            headings = " ".join(page.locator("main h2").all_inner_texts())
            assert not VIETNAMESE.search(headings), headings
        page.goto("/dossiers")
        fits(page, f"list-supplement-{language}")

    # Every member ended (as the agencies would leave them), one completed: the one rating, without JavaScript.
    for child_id, status in ((app.first.id, DossierStatus.COMPLETED), (app.waiting.id, DossierStatus.REJECTED)):
        child = db.get(Dossier, child_id)
        assert child is not None
        child.status = status
        db.add(child)
    db.commit()
    lang(page, server_url, "vi")
    page.goto(f"/dossiers/{parent_id}")
    form = page.locator("#rating-form")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator("#rating-form .error-summary, #error-summary").first).to_be_visible()
    fits(page, "rating-errors")
    form = page.locator("#rating-form")
    for criterion in ("reception", "guidance", "result_correct", "on_time", "fees_as_announced"):
        form.locator(f"#rating-{criterion}-4").check()
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/dossiers/{parent_id}\?rated=1"))
    expect(page.locator("#rated")).to_be_visible()
    fits(page, "application-rated-vi")
    lang(page, server_url, "en")
    page.reload()
    fits(page, "application-rated-en")
    context.close()
