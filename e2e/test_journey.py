"""The citizen's journey in a real browser, once with JavaScript (HTMX) and once without.

Sign in through the national SSO (JS on) or sign up and step up to level 2 through it (JS off)
→ find the procedure → fill the two form steps (one mistake, corrected) → upload two
documents (a JPEG and a PDF uploaded, the application signed online with a one-time code)
→ check the answers → submit → download the receipt → pay the fee at the sandbox bank (declined
once, then paid; download the e-receipt) → sign out → public look-up.
Every page is checked with axe-core and photographed into e2e/artifacts/<journey>/.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import VIEWPORTS, check_axe
from signing import otp

pytestmark = pytest.mark.e2e

PROCEDURE = "Cấp Giấy xác nhận tình trạng hôn nhân"
CODE_RE = re.compile(r"^[A-Z]+-\d{6}-\d{4}$")
DATE_RE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
STEP_URL = r"/dossiers/([0-9a-f]{32})/steps/"
MARKER = "__e2eSamePage"  # set on window: still there after an HTMX swap, gone after a page load


@dataclass(frozen=True)
class Mode:
    js: bool
    viewport: str
    delivery: str  # value of the delivery radio on the review page
    delivery_label: str
    fee_total: str  # what the bill comes to: the procedure's 15.000 đ, plus the postal fee when sent by post
    fee_in_words: str  # the total as the e-receipt spells it


MODES = {
    "js-on": Mode(
        js=True,
        viewport="phone",
        delivery="post",
        delivery_label="Qua bưu chính công ích",
        # 15.000 đ fee + 22.000 đ postage: a document envelope from Ninh Bình (the agency) to Hà Nội (the
        # applicant's address), "nội vùng" in postal/data/tariff.yaml.
        fee_total="37.000 đ",
        fee_in_words="Ba mươi bảy nghìn đồng",
    ),
    "js-off": Mode(
        js=False,
        viewport="desktop",
        delivery="online",
        delivery_label="Trực tuyến, trong tài khoản của tôi",
        fee_total="15.000 đ",
        fee_in_words="Mười lăm nghìn đồng",
    ),
}
FEE_NAME = "Lệ phí cấp Giấy xác nhận tình trạng hôn nhân"


def _jpeg(path: Path) -> Path:
    buf = BytesIO()
    Image.new("RGB", (800, 600), (205, 190, 160)).save(buf, "JPEG", quality=80)
    path.write_bytes(buf.getvalue())
    return path


def _pdf(path: Path) -> Path:
    pdf = FPDF()
    pdf.set_font("helvetica", size=14)
    pdf.add_page()
    pdf.cell(0, 10, "Ban sao quyet dinh cong nhan thuan tinh ly hon")
    path.write_bytes(bytes(pdf.output()))
    return path


def _no_error_summary(page: Page) -> None:
    """The page (already loaded) shows no error summary; if it does, say what it lists."""
    summary = page.locator("#error-summary")
    assert summary.count() == 0, f"unexpected error summary on {page.url}: {summary.first.inner_text()}"


def _sso_login(page: Page, shot: Callable[[Page, str], Path], *, account: str, acr: str) -> None:
    """At the national SSO (npm oidc-provider, a third-party page: photographed, not axe-checked)."""
    page.wait_for_url(re.compile(r"/interaction/"))
    page.get_by_label("Tài khoản công dân").select_option(account)
    page.get_by_label("Mức độ xác thực (acr)").select_option(acr)
    shot(page, f"sso-{account}")
    page.get_by_role("button", name="Đăng nhập", exact=True).click()


def _pdf_text(path: Path) -> str:
    """The text of a PDF (pdftotext), whitespace runs folded to one space."""
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return " ".join(text.split())


def _fits_width(page: Page, name: str) -> None:
    """Nothing makes the page scroll sideways (WCAG 1.4.10 reflow: it matters most at phone size)."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{name} ({page.url}) is {widths[0]} px wide in a {widths[1]} px viewport"


def _spaced(text: str) -> str:
    return r"\s+".join(re.escape(word) for word in text.split(" "))


def _ui(vi: str, en: str, *, whole: bool = True) -> re.Pattern[str]:
    """A UI text in Vietnamese or, while its translation is pending, as its English msgid."""
    # A space in the text matches any space: amounts keep a no-break space before their unit.
    either = f"(?:{_spaced(vi)}|{_spaced(en)})"
    return re.compile(rf"^\s*{either}\s*$" if whole else either)


def _pay_fee(
    page: Page, visit: Callable[[str], None], *, mode: Mode, dossier_id: str, code: str, tmp_path: Path
) -> None:
    """From the dossier page: pay the fee at the sandbox bank, declined once, then paid; the e-receipt.

    Plain links, forms and redirects all the way (the portal → the bank → the portal's return URL → the
    payment page), so both journeys take the same steps.
    """
    fees = page.get_by_role("region", name=_ui("Phí, lệ phí", "Fees"))
    expect(fees).to_contain_text(mode.fee_total)
    expect(fees.locator("#fee-state")).to_have_text(
        _ui(f"Còn phải nộp {mode.fee_total}", f"{mode.fee_total} still to pay")
    )
    fees.get_by_role("link", name=_ui("Nộp lệ phí", "Pay the fee")).click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/payment")
    expect(page.get_by_role("heading", level=1)).to_have_text(_ui("Phí, lệ phí và thanh toán", "Fees and payment"))
    expect(page.locator(".breadcrumb").get_by_role("link", name=code, exact=True)).to_be_visible()
    bill = page.locator("table.fees")
    expect(bill.locator("tbody tr").filter(has_text=FEE_NAME)).to_contain_text("15.000 đ")
    expect(page.locator("#fee-total")).to_have_text(mode.fee_total)
    expect(page.locator("#payment-outcome")).to_have_count(0)
    visit("payment")

    references: list[str] = []
    for attempt, choice in (("declined", _ui("Từ chối", "Decline", whole=False)), ("paid", _ui("Thanh toán", "Pay"))):
        pay_form = page.locator("form.pay-form")
        methods = pay_form.get_by_role(
            "group",
            name=_ui(f"Chọn phương thức thanh toán số tiền {mode.fee_total}", f"Choose how to pay {mode.fee_total}"),
        )
        methods.get_by_label("Ngân hàng thử nghiệm (sandbox)", exact=True).check()
        pay_form.get_by_role("button", name=_ui(f"Thanh toán {mode.fee_total}", f"Pay {mode.fee_total}")).click()

        # ---- at the sandbox bank
        page.wait_for_url(re.compile(r"/sandbox-bank/pay\?order="))
        expect(page.get_by_role("heading", level=1)).to_have_text(
            _ui("Thanh toán tại ngân hàng thử nghiệm", "Pay at the test bank")
        )
        expect(page.locator("#bank-amount")).to_have_text(mode.fee_total)
        reference = page.locator("#bank-reference").inner_text().strip()
        assert re.fullmatch(r"[A-Z0-9]{6,32}", reference), reference
        assert reference not in references, "a new attempt must be a new payment order"
        references.append(reference)
        visit(f"bank-{attempt}")
        bank = page.get_by_role("group", name=_ui("Ngân hàng cần xử lý thế nào?", "What should the bank do?"))
        bank.get_by_role("button", name=choice).click()

        # ---- back on the portal: the return URL redirects to the payment page with the outcome
        page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}/payment\?payment={re.escape(reference)}$"))
        _no_error_summary(page)
        outcome = page.locator("#payment-outcome")
        row = page.locator("table.payments tbody tr").filter(has_text=reference)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(mode.fee_total)
        if attempt == "declined":
            expect(outcome).to_have_class(re.compile(r"\bwarning\b"))
            expect(outcome.get_by_role("heading")).to_have_text(
                _ui("Giao dịch thanh toán chưa thành công", "The payment was not completed")
            )
            expect(outcome).to_contain_text(
                _ui(
                    "Hồ sơ và toàn bộ nội dung trong hồ sơ vẫn được giữ nguyên",
                    "Your dossier and everything in it are kept",
                    whole=False,
                )
            )
            expect(row.locator("td").nth(4)).to_have_text(_ui("Chưa thành công", "Not completed"))
            expect(row.get_by_role("link")).to_have_count(0)  # no e-receipt for a declined payment
            # The dossier is as it was, and the fee can be paid again.
            expect(page.locator(".breadcrumb").get_by_role("link", name=code, exact=True)).to_be_visible()
            expect(page.locator("#fee-total")).to_have_text(mode.fee_total)
            expect(page.locator("form.pay-form")).to_be_visible()
            expect(page.locator("#paid-in-full")).to_have_count(0)
        else:
            expect(outcome).to_have_class(re.compile(r"\bsuccess\b"))
            expect(outcome.get_by_role("heading")).to_have_text(_ui("Đã nhận thanh toán", "Payment received"))
            expect(outcome).to_contain_text(mode.fee_total)
            expect(outcome).to_contain_text(reference)
            expect(page.locator("#paid-in-full")).to_have_text(_ui("Đã nộp đủ phí, lệ phí.", "The fee is paid."))
            expect(page.locator("form.pay-form")).to_have_count(0)
            expect(row.locator("td").nth(4)).to_contain_text(_ui("Đã thanh toán", "Paid", whole=False))
        visit(f"payment-{attempt}")

    # ---- the e-receipt of the payment that went through
    declined_row, paid_row = (page.locator("table.payments tbody tr").filter(has_text=r) for r in references)
    expect(declined_row).to_contain_text(_ui("Chưa thành công", "Not completed", whole=False))
    with page.expect_download() as download_info:
        paid_row.get_by_role("link", name=_ui("Biên lai điện tử (PDF)", "E-receipt (PDF)", whole=False)).click()
    download = download_info.value
    assert download.suggested_filename.startswith("bien-lai-"), download.suggested_filename
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    e_receipt = tmp_path / "e-receipt.pdf"
    download.save_as(e_receipt)
    assert e_receipt.read_bytes().startswith(b"%PDF-")
    flat = _pdf_text(e_receipt)
    for expected in ("BIÊN LAI THU PHÍ, LỆ PHÍ", mode.fee_in_words, FEE_NAME, "15.000", code, references[1]):
        assert expected in flat, f"{expected!r} is not in the e-receipt:\n{flat}"

    # ---- the dossier page: paid, and the fee on the timeline (once, though the bank notified twice)
    page.locator(".breadcrumb").get_by_role("link", name=code, exact=True).click()
    page.wait_for_url(f"**/dossiers/{dossier_id}")
    fees = page.get_by_role("region", name=_ui("Phí, lệ phí", "Fees"))
    expect(fees.locator("#fee-state")).to_have_text(_ui("Đã thanh toán", "Paid"))
    expect(
        fees.get_by_role("link", name=_ui("Thanh toán và biên lai điện tử", "Payments and e-receipts"))
    ).to_be_visible()
    timeline = page.locator("ol.timeline > li")
    paid = timeline.filter(has=page.locator(".event", has_text=_ui("Đã nộp phí, lệ phí", "Fee paid")))
    expect(paid).to_have_count(1)
    expect(paid.locator(".meta")).to_have_text(mode.fee_total)
    failed = timeline.filter(
        has=page.locator(".event", has_text=_ui("Thanh toán chưa thành công", "Payment not completed"))
    )
    expect(failed).to_have_count(1)
    expect(failed.locator(".meta")).to_have_text(mode.fee_total)
    visit("dossier-paid")

    # ---- the notification of the payment, once (the bank notified twice)
    page.locator("#main-nav, nav.main-nav").get_by_role(
        "link", name=_ui("Thông báo", "Notifications", whole=False)
    ).click()
    page.wait_for_url("**/notifications")
    about_payment = page.locator("main li").filter(has_text=references[1])
    expect(about_payment).to_have_count(1)
    visit("notifications")


def _mark_page(page: Page) -> None:
    page.evaluate(f"() => {{ window.{MARKER} = true; }}")


def _assert_same_page(page: Page, what: str) -> None:
    assert page.evaluate(f"() => window.{MARKER} === true"), f"{what}: the page was reloaded instead of updated by HTMX"


@pytest.mark.parametrize("mode_id", list(MODES))
def test_citizen_journey(
    mode_id: str,
    new_context: Callable[..., BrowserContext],
    server_url: str,
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    mode = MODES[mode_id]
    context = new_context(java_script_enabled=mode.js, viewport=VIEWPORTS[mode.viewport])
    page = context.new_page()
    page.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)

    def visit(name: str) -> None:
        """Every page and every state worth seeing: accessibility and reflow checks, then a screenshot."""
        check_axe(page, f"{mode_id}/{name}")
        _fits_width(page, f"{mode_id}/{name}")
        shot(page, name)

    full_name = "Phạm Thị Thu Hà"
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.vn"
    password = "mat-khau-" + uuid.uuid4().hex[:10]

    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    visit("home")
    if mode.js:
        # ------------------------------------------------------------------ 1. sign in with the national SSO
        page.get_by_role("banner").get_by_role("link", name="Đăng nhập").click()
        page.wait_for_url("**/signin*")
        visit("signin")
        page.get_by_role("button", name="Đăng nhập bằng VNeID").click()
        _sso_login(page, shot, account="citizen-an", acr="urn:dvc:loa:2")
        page.wait_for_url("**/dossiers")
        full_name = "Nguyễn Văn An"  # from the provider's claims
    else:
        # ------------------------------------------------------------------ 1. sign up (a level-1 account)
        page.get_by_role("banner").get_by_role("link", name="Đăng ký tài khoản").click()
        page.wait_for_url("**/signup*")
        visit("signup")
        page.get_by_label("Họ và tên").fill(full_name)
        page.get_by_label("Email hoặc số điện thoại di động").fill(email)
        page.get_by_label("Mật khẩu", exact=True).fill(password)
        page.get_by_label("Nhập lại mật khẩu").fill(password)
        page.locator("main").get_by_role("button", name="Đăng ký tài khoản").click()
        page.wait_for_url("**/dossiers")
    expect(page.locator(".account .who")).to_contain_text(full_name)
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()
    visit("signed-in")

    # ------------------------------------------------------------------ 2. find the procedure
    page.get_by_role("link", name="Thủ tục hành chính").click()
    page.wait_for_url("**/procedures")
    results = page.locator("#results .result")
    expect(results.first).to_be_visible()
    before = results.count()
    visit("procedures")
    search = page.get_by_label("Tìm theo tên hoặc mã thủ tục")
    if mode.js:
        _mark_page(page)
        search.fill("xac nhan tinh trang hon nhan")  # HTMX searches as the citizen types
    else:
        search.fill("xac nhan tinh trang hon nhan")
        page.locator("form.filters").get_by_role("button", name="Tìm kiếm").click()
    page.wait_for_url(
        re.compile(r"/procedures\?(.*&)?q=xac(\+|%20)nhan(\+|%20)tinh(\+|%20)trang(\+|%20)hon(\+|%20)nhan(&|$)")
    )
    expect(page.locator("#results .count")).to_have_text("Tìm thấy 1 thủ tục")
    expect(results).to_have_count(1)
    assert before > 1, "the catalogue should list several procedures before the search"
    target = page.locator("#results").get_by_role("link", name=PROCEDURE, exact=True)
    expect(target).to_be_visible()
    if mode.js:
        _assert_same_page(page, "search")
    visit("search-results")
    target.click()
    page.wait_for_url(re.compile(r"/procedures/1\.004873$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(PROCEDURE)
    visit("procedure")
    page.get_by_role("button", name="Nộp trực tuyến").click()
    if not mode.js:
        # A full-online procedure needs assurance level 2: the portal account (level 1) is not enough.
        step_up = page.locator("#step-up")
        expect(step_up).to_contain_text("mức độ xác thực 2")
        visit("step-up")
        page.get_by_role("button", name="Đăng nhập bằng VNeID ở mức độ 2").click()
        _sso_login(page, shot, account="citizen-binh", acr="urn:dvc:loa:2")
        page.wait_for_url(re.compile(r"/procedures/1\.004873$"))
        full_name = "Trần Thị Bình"  # the SSO identity is linked to the account; its claims win
        expect(page.locator(".account .who")).to_contain_text(full_name)
        page.get_by_role("button", name="Nộp trực tuyến").click()
    page.wait_for_url(re.compile(STEP_URL + "applicant$"))
    match = re.search(STEP_URL, page.url)
    assert match
    dossier_id = match.group(1)

    # ------------------------------------------------------------------ 3a. step 1, with one mistake
    visit("step-applicant")
    form = page.locator("form.dossier-form")
    past_from = page.locator("#f-past_from-wrap")
    if mode.js:
        expect(past_from).to_be_hidden()  # show_if: only for a past period of residence
        # The no-JavaScript "show wards" buttons (one per address) are hidden: HTMX loads the wards.
        refresh = page.get_by_role(
            "button", name="Hiển thị phường/xã/đặc khu của tỉnh/thành phố này", include_hidden=True
        )
        expect(refresh).to_have_count(2)
        expect(refresh.first).to_be_hidden()
        expect(refresh.last).to_be_hidden()
    else:
        expect(past_from).to_be_visible()  # without JavaScript every question is shown, with a hint
        expect(past_from.locator(".conditional-hint")).to_be_visible()
    form.get_by_label("Họ, chữ đệm và tên").fill(full_name)
    form.get_by_role("group", name="Giới tính").get_by_label("Nữ", exact=True).check()
    form.get_by_label("Ngày, tháng, năm sinh").fill("1992-03-08")
    form.get_by_label("Dân tộc").fill("Kinh")
    form.get_by_label("Quốc tịch", exact=True).fill("Việt Nam")
    cccd = form.get_by_label("Số định danh cá nhân")
    cccd.fill("00119001234")  # 11 digits: one digit short
    if mode.js:
        # Inline check (HTMX, on change) as soon as the field loses focus.
        _mark_page(page)
        cccd.press("Tab")
        expect(page.locator("#f-cccd-error")).to_be_visible()
        expect(page.locator("#f-cccd-error")).not_to_be_empty()
        expect(cccd).to_have_accessible_description(page.locator("#f-cccd-error").inner_text())
        visit("step-applicant-inline-error")
    residence = form.get_by_role("group", name="Nơi cư trú", exact=True)
    province = residence.get_by_label("Tỉnh/thành phố", exact=True)
    ward = residence.get_by_label("Phường/xã/đặc khu", exact=True)
    province.select_option("01")
    expect(province.locator("option:checked")).to_have_text("Thành phố Hà Nội")
    if mode.js:
        # The ward options arrive by HTMX once the province is chosen.
        expect(ward.locator('option[value="00004"]')).to_be_attached()
    else:
        expect(ward.locator('option[value="00004"]')).not_to_be_attached()  # no JavaScript, no HTMX
        residence.get_by_role("button", name="Hiển thị phường/xã/đặc khu của tỉnh/thành phố này").click()
        expect(ward.locator('option[value="00004"]')).to_be_attached()
        # The step was saved and shown again: nothing typed is lost.
        expect(form.get_by_label("Họ, chữ đệm và tên")).to_have_value(full_name)
        expect(form.get_by_label("Dân tộc")).to_have_value("Kinh")
        expect(cccd).to_have_value("00119001234")
        expect(province).to_have_value("01")
        visit("step-applicant-wards")
    ward.select_option("00004")
    expect(ward.locator("option:checked")).to_have_text("Phường Ba Đình")
    residence.get_by_label("Số nhà, đường/phố, thôn/tổ dân phố").fill("25 Phan Đình Phùng")
    form.get_by_label("Số điện thoại").fill("0912 345 678")
    form.get_by_label("Thư điện tử").fill(email)
    form.get_by_role("group", name="Xác nhận cho thời gian cư trú trước đây tại nơi khác?").get_by_label(
        "Không, xác nhận tình trạng hiện tại"
    ).check()
    if mode.js:
        expect(past_from).to_be_hidden()
        _assert_same_page(page, "inline check and ward list")
    page.get_by_role("button", name="Lưu và tiếp tục").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("heading")).to_have_text("Có lỗi cần sửa")
    expect(summary.locator("li")).to_have_count(1)
    expect(summary.get_by_role("link")).to_have_attribute("href", "#f-cccd-wrap")
    expect(summary.get_by_role("link")).to_contain_text("Số định danh cá nhân")
    field_error = page.locator("#f-cccd-wrap .field-error")
    expect(field_error).to_be_visible()
    expect(field_error).not_to_be_empty()
    cccd = page.locator("form.dossier-form").get_by_label("Số định danh cá nhân")
    expect(cccd).to_have_value("00119001234")  # what was typed is shown again
    expect(cccd).to_have_attribute("aria-invalid", "true")
    expect(cccd).to_have_accessible_description(field_error.inner_text())
    expect(page.locator("#f-address-ward")).to_have_value("00004")
    visit("step-applicant-error")
    cccd.fill("001192012345")
    # Enter in a text box submits as "Save and continue" (not as the address's "show wards" button).
    cccd.press("Enter")
    page.wait_for_url(re.compile(STEP_URL + "status$"))

    # ------------------------------------------------------------------ 3b. step 2
    _no_error_summary(page)
    form = page.locator("form.dossier-form")
    spouse = page.locator("#f-spouse_name-wrap")
    other_purpose = page.locator("#f-purpose_other-wrap")
    partner = page.locator("#f-partner_name-wrap")
    if mode.js:
        for wrap in (spouse, other_purpose, partner):
            expect(wrap).to_be_hidden()
    else:
        for wrap in (spouse, other_purpose, partner):
            expect(wrap).to_be_visible()
    visit("step-status")
    form.get_by_role("group", name="Tình trạng hôn nhân").get_by_label("Đã đăng ký kết hôn nhưng đã ly hôn").check()
    expect(spouse).to_be_visible()
    form.get_by_label("Họ, chữ đệm và tên vợ/chồng").fill("Lê Văn Bình")
    form.get_by_label("Giấy tờ chứng minh").fill(
        "Quyết định số 12/2021/QĐST-HNGĐ ngày 05/03/2021 của TAND quận Ba Đình"
    )
    form.get_by_label("Mục đích sử dụng Giấy xác nhận").select_option("loan")
    expect(other_purpose).to_be_visible()
    if mode.js:
        expect(partner).to_be_hidden()
    form.get_by_label("Ghi rõ mục đích sử dụng").fill("Vay vốn mua nhà ở xã hội")
    form.get_by_label("Số lượng Giấy xác nhận đề nghị cấp").fill("2")
    form.get_by_label("Tôi xin cam đoan").check()
    visit("step-status-filled")
    page.get_by_role("button", name="Lưu và tiếp tục").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/files*")

    # ------------------------------------------------------------------ 4. documents
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    visit("documents")
    uploads = [
        ("giay_xac_nhan_cu", _jpeg(tmp_path / "giay-xac-nhan-cu.jpg"), "giay-xac-nhan-cu"),
        ("giay_to_ly_hon", _pdf(tmp_path / "quyet-dinh-ly-hon.pdf"), "quyet-dinh-ly-hon"),
    ]
    for component, path, stem in uploads:
        section = page.locator(f"#c-{component}")
        upload_form = section.locator("form.upload")
        file_input = section.get_by_label("Chọn tệp")
        expect(file_input).to_be_visible()
        progress = upload_form.locator("progress.upload-progress")
        expect(progress).to_have_count(1)
        if mode.js:
            expect(progress).to_be_hidden()
            _mark_page(page)
            page.evaluate("""() => {
              window.__e2eProgress = [];
              document.addEventListener("htmx:xhr:progress", (e) => {
                const bar = e.target.closest && e.target.closest("form.upload")
                  ? e.target.closest("form.upload").querySelector(".upload-progress") : null;
                window.__e2eProgress.push(bar ? {hidden: bar.hidden, value: bar.value} : null);
              }, {once: true});
            }""")
        file_input.set_input_files(path)
        section.get_by_role("button", name="Tải lên").click()
        files = page.locator(f"#c-{component} .file-list")
        expect(files).to_contain_text(stem)
        if mode.js:
            _assert_same_page(page, f"upload of {component}")
            seen = page.evaluate("() => window.__e2eProgress")
            assert seen and seen[0] is not None and seen[0]["hidden"] is False, (
                f"the progress bar was not shown: {seen}"
            )
        else:
            page.wait_for_url(f"**/dossiers/{dossier_id}/files#c-{component}")
        _no_error_summary(page)
        expect(page.locator(f"#c-{component} form.upload")).to_have_count(0)  # one file only: replace = remove first
        visit(f"documents-{component}")

    # ------------------------------------------------------------------ 4b. sign the application online
    page.locator("#c-to_khai").get_by_role("link", name="Ký tờ khai trực tuyến").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/sign/to_khai")
    visit("sign")
    page.get_by_role("button", name="Thiết lập chữ ký số của tôi").click()
    key = page.locator("#totp-key").inner_text().replace(" ", "")
    visit("sign-enrol")
    # The citizen's authenticator app, here: the same RFC 6238 computation.
    page.get_by_label("Mã xác thực một lần (6 chữ số)").fill(otp.code_at(key, otp.current_step()))
    page.get_by_role("button", name="Ký tờ khai").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/files#c-to_khai")
    _no_error_summary(page)
    expect(page.locator("#c-to_khai")).to_contain_text("Đã ký số: " + full_name)
    visit("signed")

    # ------------------------------------------------------------------ 5. check your answers, submit
    page.get_by_role("link", name="Tiếp tục để kiểm tra thông tin đã khai").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/review")
    main = page.locator("main")
    _no_error_summary(page)
    answers = page.locator(".summary-list")
    for expected in (
        full_name,
        "001192012345",
        "Phường Ba Đình",
        "Thành phố Hà Nội",
        "Đã đăng ký kết hôn nhưng đã ly hôn",
        "Lê Văn Bình",
        "Vay vốn ngân hàng",
        "to-khai",
        "giay-xac-nhan-cu",
        "quyet-dinh-ly-hon",
    ):
        expect(answers.filter(has_text=expected).first).to_be_visible()
    expect(main).to_contain_text("08/03/1992")
    visit("review")
    delivery = page.get_by_role("group", name="Nhận kết quả bằng hình thức nào?")
    delivery.get_by_label(mode.delivery_label).check()
    expect(page.locator(f"#delivery-{mode.delivery}")).to_be_checked()
    page.get_by_role("button", name="Nộp hồ sơ").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}?submitted=1")

    # ------------------------------------------------------------------ confirmation
    done = page.locator(".panel.success")
    expect(done).to_be_visible()
    expect(done.get_by_role("heading", level=1)).to_have_text("Hồ sơ đã được nộp thành công")
    code = done.locator("strong.code").inner_text().strip()
    assert CODE_RE.match(code), code
    due = done.locator("p", has_text="Ngày hẹn trả kết quả").locator("strong").inner_text().strip()
    assert DATE_RE.match(due), due
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(mode.delivery_label)
    status = facts.locator(".status").inner_text().strip()
    assert status, "no status shown"
    visit("submitted")

    # ------------------------------------------------------------------ 6. the receipt
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Tải giấy tiếp nhận hồ sơ (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"bien-nhan-{code}.pdf"
    receipt = tmp_path / "receipt.pdf"
    download.save_as(receipt)
    assert receipt.read_bytes().startswith(b"%PDF-")
    flat = _pdf_text(receipt)
    for expected in ("GIẤY TIẾP NHẬN HỒ SƠ", code, due, PROCEDURE):
        assert expected in flat, f"{expected!r} is not in the receipt:\n{flat}"

    # ------------------------------------------------------------------ 6b. the fee: declined once, then paid
    _pay_fee(page, visit, mode=mode, dossier_id=dossier_id, code=code, tmp_path=tmp_path)

    # ------------------------------------------------------------------ 7. sign out, public look-up
    page.get_by_role("button", name="Đăng xuất").click()
    # RP-initiated logout: the provider ends its session too, then sends the browser back home.
    page.wait_for_url(re.compile(r"/session/end|" + re.escape(server_url) + r"/(\?.*)?$"))
    if not mode.js and page.locator("#logout-confirm").count():
        page.locator("#logout-confirm").click()  # without JavaScript the provider's form does not submit itself
    page.wait_for_url(re.compile(re.escape(server_url) + r"/(\?.*)?$"))
    expect(page.get_by_role("button", name="Đăng xuất")).to_have_count(0)
    expect(page.locator(".account")).not_to_contain_text(full_name)
    page.goto("/lookup")
    visit("lookup")
    page.get_by_label("Mã hồ sơ").fill(code)
    page.locator("main").get_by_role("button", name="Tra cứu", exact=True).click()
    page.wait_for_url(re.compile(r"/lookup\?code=" + re.escape(code) + "$"))
    result = page.get_by_role("region", name=f"Hồ sơ {code}")
    expect(result).to_be_visible()
    expect(result).to_contain_text(PROCEDURE)
    expect(result.locator("dt:has-text('Trạng thái') + dd")).to_have_text(status)
    expect(result.locator("dt:has-text('Ngày hẹn trả kết quả') + dd")).to_have_text(due)
    body = page.locator("body")
    for private in (full_name, email, "001192012345", "Phan Đình Phùng", "Lê Văn Bình"):
        expect(body).not_to_contain_text(private)
    visit("lookup-result")
    context.close()
