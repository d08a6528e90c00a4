"""A linked application (liên thông khai sinh), in a real browser, with three simulated back-offices.

The citizen files LT.KS — birth registration (UBXA), permanent residence registration (CAXA, ticked) and the
child's health-insurance card (BHXH) — as one application: one form (the shared answers asked once), each
document uploaded once, one application signed with a one-time code, one payment for every member's fee
(one copy of the birth certificate, 8.000 đ, collected by UBXA, which issues the one e-receipt; CAXA's residence
fee is 0 đ, a child is exempt; the package is paid before submission, so the payment submits it) → one receipt with
the application's code and the three members' codes, agencies and appointment dates (and its QR code) →
the residence and card members wait ("chờ liên thông") for the birth certificate → UBXA's simulator
receives and decides its member only → the certificate is attached to the two waiting members, which go to
CAXA's and BHXH's simulators → each completes its own → the citizen sees one merged timeline labelled by
agency, every result, and rates once; the results are in /documents.

Each simulator plays through the real partner API with its own agency's credentials and is checked to never
see another agency's member nor the application itself (change feed, listing, a direct read: 404). The new
pages are checked with axe-core; the application's page is read again with JavaScript off.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from e2e.conftest import VIEWPORTS, check_axe
from e2e.journey_helpers import (
    STEP_URL,
    agency_playing,
    new_dossier,
    off_main_thread,
    partner_connection,
    sign_in,
    start_page,
    visitor,
)
from e2e.test_journey import _jpeg, _no_error_summary, _pdf, _pdf_text, _ui
from portal.kernel.settings import Settings
from portal.simulator.agent import OFFICER, AgencySimulator, PassReport, Policy
from portal.simulator.api import ApiError

pytestmark = pytest.mark.e2e

PROCEDURE_PATH = "/procedures/LT.KS"
BIRTH, RESIDENCE, CARD = "1.001193", "1.004222", "BHXH.TE6"
AGENCY_OF = {BIRTH: "UBXA", RESIDENCE: "CAXA", CARD: "BHXH"}
AGENCY_NAME = {
    "UBXA": "Ủy ban nhân dân phường Hoa Lư",
    "CAXA": "Công an phường Hoa Lư",
    "BHXH": "Bảo hiểm xã hội tỉnh Ninh Bình",
}
# One certified copy of the birth certificate (8.000 đ, collected by UBXA); CAXA's residence fee is 0 đ (a child is
# exempt) and the card is free.
FEE = "8.000 đ"
WAIT_MS = 60_000  # what a partner did shows within this (a loaded CI machine)
CHILD = "Nguyễn Minh Khang"
ADDRESS = {"province": "01", "ward": "00004", "street": "25 Phan Đình Phùng"}
CODE = r"[A-Z]+-\d{6}-\d{4}"


# --------------------------------------------------------------------------- the three back-offices


@dataclass
class BackOffice:
    """One agency's simulated back-office, and every dossier code its change feed ever gave it."""

    agency: str
    simulator: AgencySimulator
    seen: set[str]

    def run(self) -> list[str]:
        """One pass, off the main thread; the steps it made."""
        report: PassReport = off_main_thread(self.simulator.run_once, timeout=180)
        assert not report.errors, (self.agency, report.errors)
        return [step for _, step in report.done]

    def until(self, code: str, status: str) -> list[str]:
        """Passes until its member shows `status` (at most WAIT_MS); the steps made."""
        steps: list[str] = []
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            steps += self.run()
            detail = self.read(code)
            if detail["status"] == status or time.monotonic() > deadline:
                assert detail["status"] == status, (self.agency, detail["status"], steps)
                return steps
            time.sleep(0.3)

    def read(self, code: str) -> dict[str, Any]:
        return dict(off_main_thread(lambda: self.simulator.api.dossier(code), timeout=60))

    def refused(self, code: str) -> int:
        """The status the partner API answers a read of `code` with (expected: 404)."""
        try:
            self.read(code)
        except ApiError as exc:
            return exc.status
        return 200

    def file(self, url: str) -> bytes:
        """A file of one of its dossiers, as its back-office downloads it."""
        api = self.simulator.api

        def get() -> bytes:
            r = api.http.get(url, headers={"Authorization": f"Bearer {api.token()}"})
            assert r.status_code == 200, (self.agency, url, r.status_code)
            return r.content

        return off_main_thread(get, timeout=60)

    def listing(self) -> list[str]:
        """The codes of the agency's listing (/api/v1/backoffice/dossiers, newest first, first page)."""
        api = self.simulator.api

        def get() -> list[str]:
            r = api.http.get(
                "/api/v1/backoffice/dossiers",
                params={"page_size": 100},
                headers={"Authorization": f"Bearer {api.token()}"},
            )
            assert r.status_code == 200, r.text
            return [str(item["code"]) for item in r.json()["items"]]

        return off_main_thread(get, timeout=60)


Offices = dict[str, BackOffice]


def _recording(simulator: AgencySimulator) -> set[str]:
    """Every code the simulator's change feed gives it, whatever it plays."""
    seen: set[str] = set()
    feed = simulator.api.changes

    def changes(cursor: str | None, *, limit: int = 100) -> Any:
        page = feed(cursor, limit=limit)
        seen.update(str(item.get("code")) for item in page.items)
        return page

    simulator.api.changes = changes  # type: ignore[method-assign]
    return seen


@pytest.fixture()
def back_offices(
    server_url: str, server_settings: Settings
) -> Iterator[Callable[[dict[str, str]], dict[str, BackOffice]]]:
    """`back_offices({agency: code})`: one simulated back-office per agency, each with its own development client
    (credentials of that agency only), playing only its member of the journey's application."""
    with partner_connection(server_url, server_settings) as (http, engine):

        def make(codes: dict[str, str]) -> dict[str, BackOffice]:
            offices = {}
            for agency, code in codes.items():
                simulator = agency_playing(http, server_settings, engine, agency, code, Policy())
                offices[agency] = BackOffice(agency, simulator, _recording(simulator))
            return offices

        yield make


# --------------------------------------------------------------------------- the citizen's form


def _choose_ward(scope: Locator, page: Page) -> Locator:
    scope.get_by_label("Tỉnh/thành phố", exact=True).select_option(ADDRESS["province"])
    ward = scope.get_by_label("Phường/xã/đặc khu", exact=True)
    expect(ward.locator(f'option[value="{ADDRESS["ward"]}"]')).to_be_attached()  # loaded by HTMX
    ward.select_option(ADDRESS["ward"])
    scope.get_by_label("Số nhà, đường/phố, thôn/tổ dân phố").fill(ADDRESS["street"])
    return ward


def _save_step(page: Page, next_url: str, wards: list[Locator]) -> None:
    page.wait_for_load_state("networkidle")  # the inline checks HTMX sends as fields lose focus are done
    for ward in wards:  # a ward list HTMX answered late (a loaded machine) may replace the choice
        if ward.input_value() != ADDRESS["ward"]:
            ward.select_option(ADDRESS["ward"])
        expect(ward).to_have_value(ADDRESS["ward"])
    page.get_by_role("button", name="Lưu và tiếp tục").click()
    try:
        page.wait_for_url(re.compile(next_url), timeout=WAIT_MS)
    except PlaywrightTimeoutError:
        _no_error_summary(page)  # a refusal: say what it refused
        raise
    _no_error_summary(page)


def _fill_form(page: Page, visit: Callable[[str], None]) -> str:
    """The five steps of the shared form (the residence member ticked); the application's id."""
    dossier_id = new_dossier(page, PROCEDURE_PATH)
    form = page.locator("form.dossier-form")
    members = form.get_by_role("group", name=re.compile("Các thủ tục liên thông"))
    members.get_by_label("Đăng ký thường trú cho trẻ").check()
    form.get_by_label("Họ, chữ đệm và tên người yêu cầu").fill("Nguyễn Văn An")
    form.get_by_label("Số định danh cá nhân").fill("001090000001")
    home = _choose_ward(form.get_by_role("group", name="Nơi cư trú", exact=True), page)
    form.get_by_label("Số điện thoại").fill("0912 345 678")
    form.get_by_label("Thư điện tử").fill("an.nguyen@example.vn")
    form.get_by_label("Quan hệ với người được khai sinh").select_option("father")
    visit("step-applicant")
    _save_step(page, STEP_URL + "child$", [home])

    # The child, asked once for the three members (the residence and card forms' own names for it are mapped).
    form = page.locator("form.dossier-form")
    form.get_by_label("Họ, chữ đệm và tên", exact=True).fill(CHILD)
    form.get_by_role("group", name="Giới tính").get_by_label("Nam", exact=True).check()
    form.get_by_label("Ngày, tháng, năm sinh").fill(time.strftime("%Y-%m-%d", time.localtime(time.time() - 10 * 86400)))
    form.get_by_role("group", name="Nơi sinh").get_by_label("Tại cơ sở khám bệnh, chữa bệnh").check()
    form.get_by_label("Tên cơ sở khám bệnh, chữa bệnh").fill("Bệnh viện Sản Nhi tỉnh Ninh Bình")
    form.get_by_label("Địa danh nơi sinh (xã/phường, tỉnh/thành phố)").fill("Phường Hoa Lư, tỉnh Ninh Bình")
    form.get_by_label("Dân tộc", exact=True).fill("Kinh")
    form.get_by_label("Quốc tịch", exact=True).fill("Việt Nam")
    form.get_by_label("Quê quán").fill("Xã Gia Viễn, tỉnh Ninh Bình")
    form.get_by_label("Nơi đăng ký khám bệnh, chữa bệnh ban đầu").fill("Trạm Y tế phường Hoa Lư")
    _save_step(page, STEP_URL + "parents$", [])

    form = page.locator("form.dossier-form")
    form.get_by_label("Họ, chữ đệm và tên người mẹ").fill("Lê Thị Mai")
    form.get_by_label("Ngày, tháng, năm sinh của mẹ").fill("1993-02-11")
    form.get_by_label("Dân tộc của mẹ").fill("Kinh")
    form.get_by_label("Quốc tịch của mẹ").fill("Việt Nam")
    form.get_by_label("Số định danh cá nhân của mẹ").fill("001193012345")
    mother = _choose_ward(form.get_by_role("group", name="Nơi cư trú của mẹ"), page)
    form.get_by_role("group", name="Có khai thông tin người cha không?").get_by_label("Có", exact=True).check()
    form.get_by_label("Họ, chữ đệm và tên người cha").fill("Nguyễn Văn An")
    form.get_by_label("Ngày, tháng, năm sinh của cha").fill("1990-01-15")
    form.get_by_label("Dân tộc của cha").fill("Kinh")
    form.get_by_label("Quốc tịch của cha").fill("Việt Nam")
    form.get_by_label("Số định danh cá nhân của cha").fill("001090000001")
    father = _choose_ward(form.get_by_role("group", name="Nơi cư trú của cha"), page)
    form.get_by_label("Số bản sao Giấy khai sinh đề nghị cấp").fill("1")
    form.get_by_label("Tôi xin cam đoan").check()
    _save_step(page, STEP_URL + "registrant$", [mother, father])

    # The residence member's own questions: shown because it was ticked.
    form = page.locator("form.dossier-form")
    expect(form.locator("[name=registrant_name], [name=registrant_birth_date]")).to_have_count(0)  # asked once
    form.get_by_label("Quan hệ với người kê khai").select_option("child")
    _save_step(page, STEP_URL + "residence$", [])

    form = page.locator("form.dossier-form")
    place = _choose_ward(form.get_by_role("group", name="Địa chỉ nơi đề nghị đăng ký thường trú"), page)
    form.get_by_role("group", name="Căn cứ đăng ký thường trú").get_by_label(
        "Về ở với cha, mẹ, vợ, chồng, con (chủ hộ đồng ý)"
    ).check()
    form.get_by_label("Họ, chữ đệm và tên chủ hộ").fill("Nguyễn Văn An")
    form.get_by_label("Số định danh cá nhân của chủ hộ").fill("001090000001")
    form.get_by_label("Quan hệ với chủ hộ").fill("Con")
    form.get_by_label("Chủ hộ, chủ sở hữu chỗ ở hợp pháp đã đồng ý").check()
    _save_step(page, rf"/dossiers/{dossier_id}/files", [place])
    return dossier_id


def _upload(page: Page, component: str, path: Path) -> None:
    section = page.locator(f"#c-{component}")
    section.get_by_label(re.compile(r"^Chọn (tệp|một hoặc nhiều tệp)")).set_input_files(path)
    section.get_by_role("button", name="Tải lên").click()
    expect(page.locator(f"#c-{component} .file-list")).to_contain_text(path.stem)
    _no_error_summary(page)


def _documents(page: Page, dossier_id: str, tmp_path: Path, visit: Callable[[str], None]) -> None:
    """Each document once (for whichever members need it), and the one application signed for all three."""
    _upload(page, "giay_chung_sinh", _jpeg(tmp_path / "giay-chung-sinh.jpg"))  # UBXA's
    _upload(page, "giay_to_cho_o", _pdf(tmp_path / "so-do-nha.pdf"))  # CAXA's
    # No component for the birth certificate: the residence and card members get UBXA's result.
    expect(page.locator("#c-giay_khai_sinh")).to_have_count(0)
    page.locator("#c-to_khai").get_by_role(
        "link", name=_ui("Ký tờ khai trực tuyến", "Sign the application online")
    ).click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/sign/to_khai")
    setup = page.locator("form").filter(has=page.locator("input[name=_action][value=setup]"))
    if setup.count():
        setup.get_by_role("button").click()
    code = page.locator("#dev-otp")  # the development signer's code of the moment (no authenticator app)
    expect(code).to_have_text(re.compile(r"^\d{6}$"))
    page.locator("#code").fill(code.inner_text())
    page.locator("form.narrow button[type=submit]").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/files#c-to_khai")
    _no_error_summary(page)
    expect(page.locator("#c-to_khai .file-list .tag-ok")).to_contain_text("Nguyễn Văn An")
    visit("documents")
    page.get_by_role("link", name="Tiếp tục để kiểm tra thông tin đã khai").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/review")


def _pay_and_submit(page: Page, dossier_id: str, visit: Callable[[str], None]) -> str:
    """From the review: one payment for the members' fees at the sandbox bank, which submits; the code."""
    page.get_by_role("group", name="Nhận kết quả bằng hình thức nào?").get_by_label(
        "Trực tuyến, trong tài khoản của tôi"
    ).check()
    visit("review")
    page.get_by_role("button", name=_ui("Tiếp tục để thanh toán", "Continue to payment")).click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}/payment"), timeout=WAIT_MS)
    bill = page.locator("table.fees")
    expect(bill.locator("tbody")).to_have_count(2)  # one row group per agency with a line: UBXA's, CAXA's
    ubxa = bill.locator("tbody").filter(has=page.locator("#agency-UBXA"))
    expect(ubxa).to_contain_text("Phí cấp bản sao Giấy khai sinh")
    expect(ubxa.locator("tr.subtotal")).to_contain_text(FEE.removesuffix(" đ"))
    caxa = bill.locator("tbody").filter(has=page.locator("#agency-CAXA"))
    expect(caxa).to_contain_text("Lệ phí đăng ký thường trú")
    expect(caxa).to_contain_text("miễn")
    expect(caxa.locator("tr.subtotal td")).to_have_text(re.compile(r"^0\s*đ$"))
    expect(page.locator("#fee-total")).to_have_text(FEE)
    visit("payment")
    pay_form = page.locator("form.pay-form")
    pay_form.get_by_label("Ngân hàng thử nghiệm (sandbox)", exact=True).check()
    pay_form.get_by_role("button", name=_ui(f"Thanh toán {FEE}", f"Pay {FEE}")).click()
    page.wait_for_url(re.compile(r"/sandbox-bank/pay\?order="), timeout=WAIT_MS)
    expect(page.locator("#bank-amount")).to_have_text(FEE)
    bank = page.get_by_role("group", name=_ui("Ngân hàng cần xử lý thế nào?", "What should the bank do?"))
    bank.get_by_role("button", name=_ui("Thanh toán", "Pay")).click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}"), timeout=WAIT_MS)
    _no_error_summary(page)
    # Only UBXA collected anything: one e-receipt, in UBXA's own series (none of CAXA's for its 0 đ).
    page.goto(f"/dossiers/{dossier_id}/payment")
    receipts = page.locator("a[href*='/receipt.pdf']")
    expect(receipts).to_have_count(1, timeout=WAIT_MS)
    expect(receipts).to_contain_text(re.compile(r"UBXA-\d{2}E/\d{7}"))
    page.goto(f"/dossiers/{dossier_id}")
    code = page.locator("dl.facts dd.code")
    expect(code).to_have_text(re.compile(r"^UBXA-\d{6}-\d{4}$"), timeout=WAIT_MS)
    return code.inner_text().strip()


# --------------------------------------------------------------------------- the application's page


def _member_rows(page: Page) -> dict[str, Locator]:
    """The members' rows of the application's page, by member procedure code."""
    table = page.locator("#linked-members table.linked-members")
    expect(table.locator("tbody tr")).to_have_count(3)
    return {p: table.locator("tbody tr").filter(has_text=f"({p})") for p in (BIRTH, RESIDENCE, CARD)}


def _member_codes(page: Page) -> dict[str, str]:
    codes = {p: row.locator("td.code").inner_text().strip() for p, row in _member_rows(page).items()}
    for procedure, code in codes.items():
        assert re.fullmatch(rf"{AGENCY_OF[procedure]}-\d{{6}}-\d{{4}}", code), (procedure, code)
    return codes


def _qr_texts(pdf: Path, folder: Path) -> list[str]:
    """What zbarimg reads in the PDF's QR codes (pages rasterised at 150 dpi)."""
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(pdf), str(folder / "page")], check=True, timeout=60)
    found: list[str] = []
    for image in sorted(folder.glob("page*.png")):
        done = subprocess.run(["zbarimg", "--quiet", "--raw", str(image)], capture_output=True, text=True, timeout=60)
        found += [line for line in done.stdout.splitlines() if line]
    return found


def _receipt(page: Page, parent: str, codes: dict[str, str], dates: dict[str, str], tmp_path: Path) -> None:
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Tải giấy tiếp nhận hồ sơ (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"bien-nhan-{parent}.pdf", download.suggested_filename
    receipt = tmp_path / "receipt.pdf"
    download.save_as(receipt)
    assert receipt.read_bytes().startswith(b"%PDF-")
    text = _pdf_text(receipt)
    for expected in ("GIẤY TIẾP NHẬN HỒ SƠ", parent, *codes.values(), *AGENCY_NAME.values(), *dates.values()):
        assert expected in text, f"{expected!r} is not in the receipt:\n{text}"
    assert text.count("(dự kiến)") >= 2, text  # the two waiting members' dates are estimates
    qr = tmp_path / "qr"
    qr.mkdir()
    links = _qr_texts(receipt, qr)
    assert any(parent in link and "/lookup" in link for link in links), links


def test_linked_birth_registration(
    new_context: Callable[..., BrowserContext],
    back_offices: Callable[[dict[str, str]], dict[str, BackOffice]],
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    page = start_page(new_context, timeout_ms=30_000)
    visit = visitor(page, shot, "linked")

    sign_in(page, shot)
    dossier_id = _fill_form(page, visit)
    _documents(page, dossier_id, tmp_path, visit)
    answers = page.locator(".summary-list")
    expect(answers.filter(has_text=CHILD).first).to_be_visible()
    parent = _pay_and_submit(page, dossier_id, visit)

    # ---- one application, three members: the birth registration sent to UBXA, the other two waiting for it
    codes = _member_codes(page)
    rows = _member_rows(page)
    expect(rows[BIRTH].locator(".status")).to_have_class(re.compile(r"\bstatus-submitted\b"))
    for waiting in (RESIDENCE, CARD):
        expect(rows[waiting].locator(".status")).to_have_class(re.compile(r"\bstatus-waiting\b"))
        expect(rows[waiting].locator(".status")).to_have_text(_ui("Chờ liên thông", "Waiting for a linked procedure"))
        expect(rows[waiting].locator(".waiting-for")).to_contain_text(
            _ui("Chờ kết quả của:", "Waiting for the result of:", whole=False)
        )
        expect(rows[waiting].locator(".waiting-for")).to_contain_text("Đăng ký khai sinh")
        expect(rows[waiting].locator(".estimated")).to_be_visible()
    for procedure, row in rows.items():
        expect(row).to_contain_text(AGENCY_NAME[AGENCY_OF[procedure]])
    dates = {p: row.locator("td").nth(3).inner_text().split(" ")[0].strip() for p, row in rows.items()}
    for procedure, when in dates.items():
        assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", when), (procedure, when)
    expect(page.locator("#due")).to_contain_text(max(dates.values(), key=lambda d: d[6:] + d[3:5] + d[:2]))
    fees = page.get_by_role("region", name=_ui("Phí, lệ phí", "Fees"))
    expect(fees.locator("#fee-state")).to_have_text(_ui("Đã thanh toán", "Paid"))
    paid = page.locator("ol.timeline > li.event-payment_succeeded")
    expect(paid).to_have_count(1)
    visit("application-submitted")
    _receipt(page, parent, codes, dates, tmp_path)

    # ---- three back-offices, each with its own agency's credentials
    offices = back_offices({AGENCY_OF[p]: c for p, c in codes.items()})
    ubxa, caxa, bhxh = (offices[a] for a in ("UBXA", "CAXA", "BHXH"))
    # The waiting members are not filed with their agencies yet: nothing to do, nothing to read.
    assert caxa.run() == [] and bhxh.run() == []
    assert caxa.refused(codes[RESIDENCE]) == 404 and bhxh.refused(codes[CARD]) == 404

    # ---- UBXA receives and decides the birth registration (its member only)
    steps = ubxa.until(codes[BIRTH], "completed")
    assert steps == ["receive", "start_processing", "sub_status", "result", "complete"], steps
    birth = ubxa.read(codes[BIRTH])
    files = {f["component"] for f in birth["files"]}
    assert {"to_khai", "giay_chung_sinh"} <= files and "giay_to_cho_o" not in files, files

    page.goto(f"/dossiers/{dossier_id}")
    rows = _member_rows(page)
    expect(rows[BIRTH].locator(".status")).to_have_class(re.compile(r"\bstatus-completed\b"))
    for released in (RESIDENCE, CARD):
        expect(rows[released].locator(".status")).to_have_class(re.compile(r"\bstatus-submitted\b"))
        expect(rows[released].locator(".waiting-for")).to_have_count(0)
    expect(page.locator("#results article.result-document")).to_have_count(1)
    visit("application-birth-issued")

    # ---- released with the birth certificate attached: CAXA and BHXH each decide their own member
    for office, procedure in ((caxa, RESIDENCE), (bhxh, CARD)):
        member = office.read(codes[procedure])
        assert member["status"] == "submitted", member["status"]
        components = {f["component"] for f in member["files"]}
        assert "giay_chung_sinh" not in components, components  # UBXA's document only
        # Its own form's answers, projected from the shared ones (its own names for the child's).
        own_name = {RESIDENCE: "registrant_name", CARD: "insured_name"}[procedure]
        assert member["answers"].get(own_name) == CHILD, member["answers"]
        assert member["form_id"] == {RESIDENCE: "dang-ky-thuong-tru", CARD: "cap-the-bhyt-tre-em"}[procedure]
        # UBXA's result, passed on as the member's birth certificate: the portal's sealed copy, readable by it.
        [certificate] = [f for f in member["files"] if f["component"] == "giay_khai_sinh"]
        assert certificate["filename"] == f"ket-qua-{codes[BIRTH]}.pdf", certificate
        assert office.file(certificate["download_url"]).startswith(b"%PDF-")
        steps = office.until(codes[procedure], "completed")
        assert steps == ["receive", "start_processing", "sub_status", "result", "complete"], (office.agency, steps)

    # ---- no agency ever saw another's member, nor the application itself
    for office in (ubxa, caxa, bhxh):
        own = codes[next(p for p, a in AGENCY_OF.items() if a == office.agency)]
        listed = office.listing()
        assert own in office.seen and own in listed, (office.agency, own)
        others = {parent} | {c for c in codes.values() if c != own}
        assert not (office.seen | set(listed)) & others, (office.agency, office.seen & others, set(listed) & others)
        assert all(c.startswith(office.agency + "-") for c in office.seen | set(listed)), office.agency
        for other in others:
            assert office.refused(other) == 404, (office.agency, other)

    # ---- the citizen: one application completed, one merged timeline, every result
    page.goto(f"/dossiers/{dossier_id}")
    expect(page.locator("dl.facts .status").first).to_have_class(re.compile(r"\bstatus-completed\b"), timeout=WAIT_MS)
    for row in _member_rows(page).values():
        expect(row.locator(".status")).to_have_class(re.compile(r"\bstatus-completed\b"))
    results = page.locator("#results article.result-document")
    expect(results).to_have_count(3)
    for procedure, code in codes.items():
        result = results.filter(has=page.locator(".result-member", has_text=code))
        expect(result).to_have_count(1)
        expect(result.locator(".result-member")).to_contain_text(AGENCY_NAME[AGENCY_OF[procedure]])
        expect(result.locator(".tag-ok")).to_be_visible()
    timeline = page.locator("ol.timeline > li")
    for procedure, code in codes.items():
        agency = AGENCY_NAME[AGENCY_OF[procedure]]
        kinds = ["received", "result_issued", "completed"]
        if procedure != BIRTH:  # waited, then got the birth certificate and went to its agency
            kinds += ["linked_waiting", "linked_result_attached", "linked_released"]
        for kind in kinds:
            entry = timeline.filter(has=page.locator(".member", has_text=code)).and_(page.locator(f"li.event-{kind}"))
            expect(entry).to_have_count(1)
            expect(entry.locator(".member")).to_contain_text(agency)
    received = timeline.and_(page.locator("li.event-received"))
    expect(received).to_have_count(3)
    expect(received.first.locator(".who")).to_contain_text(OFFICER)
    times = timeline.locator("time").evaluate_all("(ts) => ts.map((t) => t.getAttribute('datetime'))")
    assert times == sorted(times), "the merged timeline is not in time order"
    visit("application-completed")

    # ---- one rating for the application
    form = page.locator("#rating-form")
    expect(form).to_have_count(1)
    for criterion in ("reception", "guidance", "result_correct", "on_time", "fees_as_announced"):
        form.locator(f"#rating-{criterion}-5").check()
    form.locator("#rating-comment").fill("Một lần khai, ba cơ quan giải quyết.")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}(\?.*)?$"))
    expect(page.locator("#rated")).to_be_visible()
    expect(page.locator("#rating-form")).to_have_count(0)
    expect(page.locator("dl.rating-scores")).to_contain_text("Một lần khai, ba cơ quan giải quyết.")
    visit("application-rated")
    for office in (ubxa, caxa, bhxh):  # each agency's satisfaction counts it
        own = codes[next(p for p, a in AGENCY_OF.items() if a == office.agency)]
        rating = office.read(own).get("rating") or {}
        assert rating.get("comment") == "Một lần khai, ba cơ quan giải quyết.", (office.agency, rating)

    # ---- the results are in the citizen's document store
    page.goto("/documents")
    store = page.locator("#documents")
    for code in codes.values():
        expect(store).to_contain_text(code)
    visit("documents-store")

    # ---- the application's page without JavaScript: the same members, results and timeline
    elapsed_js = time.monotonic() - started
    plain = new_context(
        java_script_enabled=False, viewport=VIEWPORTS["desktop"], storage_state=page.context.storage_state()
    )
    no_js = plain.new_page()
    no_js.goto(f"/dossiers/{dossier_id}")
    expect(no_js.locator("#linked-members tbody tr")).to_have_count(3)
    expect(no_js.locator("#results article.result-document")).to_have_count(3)
    expect(no_js.locator("ol.timeline > li.event-completed")).to_have_count(3)
    expect(no_js.locator("dl.rating-scores")).to_be_visible()
    check_axe(no_js, "linked/application-no-js")
    shot(no_js, "application-no-js")
    plain.close()
    page.context.close()
    print(f"linked journey: {time.monotonic() - started:.1f} s ({elapsed_js:.1f} s before the page without JS)")
