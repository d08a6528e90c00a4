"""The dossier's life after submission, in a real browser, with the back-office simulator as the agency.

(a) The citizen submits → the agency receives it and asks for a missing document → the citizen sees the
request, uploads only that document (the others cannot be changed) and sends the dossier back → the agency
issues a result signed with its (development) certificate and completes → the citizen downloads the result,
sees its signature report and rates the service.
(b) A dossier goes late: received, then its official date passes and the overdue job marks it → the citizen
is told → the agency apologises with a reason and a new date → the citizen sees the apology and both dates.

The simulator plays the agency through the real partner API of the journeys' server (token, change feed,
transitions), from a thread of the test process. Every new page is checked with axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, ViewportSize, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlmodel import Session

from e2e.conftest import VIEWPORTS
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
from e2e.test_journey import _no_error_summary, _pdf, _pdf_text
from portal.dossiers import deadline
from portal.dossiers.models import Dossier
from portal.kernel.db import make_engine, writer
from portal.kernel.settings import Settings
from portal.simulator.agent import (
    APOLOGY_REASON,
    OFFICER,
    SUPPLEMENT_MESSAGE,
    SUPPLEMENT_REASON,
    AgencySimulator,
    PassReport,
    Policy,
    Supplement,
)

pytestmark = pytest.mark.e2e

PROCEDURE_PATH = "/procedures/1.004873"
AGENCY = "UBXA"
AGENCY_NAME = "Ủy ban nhân dân phường Hoa Lư"
RESULT_TITLE = "GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN"
ASKED = "giay_to_ly_hon"  # the optional component the citizen left out: the divorce decision


@pytest.fixture()
def agency(server_url: str, server_settings: Settings) -> Iterator[Callable[..., AgencySimulator]]:
    """`agency(code, policy)`: the simulated back-office of UBXA, playing only that dossier."""
    with partner_connection(server_url, server_settings) as (http, engine):

        def make(code: str, policy: Policy) -> AgencySimulator:
            return agency_playing(http, server_settings, engine, AGENCY, code, policy)

        yield make


def _pass(simulator: AgencySimulator) -> PassReport:
    """One pass of the simulator, off the main thread."""
    report = off_main_thread(simulator.run_once, timeout=120)
    assert not report.errors, report.errors
    return report


def _steps(report: PassReport) -> list[str]:
    return [step for _, step in report.done]


def _submit_dossier(page: Page, tmp_path: Path) -> tuple[str, str]:
    """File a marital-status certificate dossier (divorced, without the divorce decision); (id, code)."""
    dossier_id = new_dossier(page, PROCEDURE_PATH)
    form = page.locator("form.dossier-form")
    form.get_by_label("Họ, chữ đệm và tên").fill("Nguyễn Văn An")
    form.get_by_role("group", name="Giới tính").get_by_label("Nam", exact=True).check()
    form.get_by_label("Ngày, tháng, năm sinh").fill("1990-04-12")
    form.get_by_label("Dân tộc").fill("Kinh")
    form.get_by_label("Quốc tịch", exact=True).fill("Việt Nam")
    form.get_by_label("Số định danh cá nhân").fill("001090012345")
    residence = form.get_by_role("group", name="Nơi cư trú", exact=True)
    residence.get_by_label("Tỉnh/thành phố", exact=True).select_option("01")
    ward = residence.get_by_label("Phường/xã/đặc khu", exact=True)
    expect(ward.locator('option[value="00004"]')).to_be_attached()  # loaded by HTMX
    ward.select_option("00004")
    residence.get_by_label("Số nhà, đường/phố, thôn/tổ dân phố").fill("25 Phan Đình Phùng")
    form.get_by_label("Số điện thoại").fill("0912 345 678")
    form.get_by_label("Thư điện tử").fill("an.nguyen@example.vn")
    form.get_by_role("group", name="Xác nhận cho thời gian cư trú trước đây tại nơi khác?").get_by_label(
        "Không, xác nhận tình trạng hiện tại"
    ).check()
    page.wait_for_load_state("networkidle")  # the inline checks HTMX sends as fields lose focus are done
    # A ward list HTMX answered late (a loaded machine) may replace the choice: make sure it is still there.
    if ward.input_value() != "00004":
        ward.select_option("00004")
    expect(ward).to_have_value("00004")
    page.get_by_role("button", name="Lưu và tiếp tục").click()
    try:
        page.wait_for_url(re.compile(STEP_URL + "status$"), timeout=30_000)
    except PlaywrightTimeoutError:
        _no_error_summary(page)  # a refusal: say what it refused
        raise
    _no_error_summary(page)
    form = page.locator("form.dossier-form")
    form.get_by_role("group", name="Tình trạng hôn nhân").get_by_label("Đã đăng ký kết hôn nhưng đã ly hôn").check()
    form.get_by_label("Họ, chữ đệm và tên vợ/chồng").fill("Lê Thị Mai")
    form.get_by_label("Giấy tờ chứng minh").fill("Quyết định số 31/2022/QĐST-HNGĐ của TAND quận Ba Đình")
    form.get_by_label("Mục đích sử dụng Giấy xác nhận").select_option("loan")
    form.get_by_label("Ghi rõ mục đích sử dụng").fill("Vay vốn mua nhà ở xã hội")
    form.get_by_label("Số lượng Giấy xác nhận đề nghị cấp").fill("1")
    form.get_by_label("Tôi xin cam đoan").check()
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Lưu và tiếp tục").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/files*")
    application = page.locator("#c-to_khai")
    application.get_by_label("Chọn tệp").set_input_files(_pdf(tmp_path / "to-khai.pdf"))
    application.get_by_role("button", name="Tải lên").click()
    expect(page.locator("#c-to_khai .file-list")).to_contain_text("to-khai")
    _no_error_summary(page)
    page.get_by_role("link", name="Tiếp tục để kiểm tra thông tin đã khai").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/review")
    page.get_by_role("group", name="Nhận kết quả bằng hình thức nào?").get_by_label(
        "Trực tuyến, trong tài khoản của tôi"
    ).check()
    page.get_by_role("button", name="Nộp hồ sơ").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}?submitted=1")
    code = page.locator(".panel.success strong.code").inner_text().strip()
    assert re.fullmatch(r"UBXA-\d{6}-\d{4}", code), code
    return dossier_id, code


def _size(name: str) -> ViewportSize:
    return ViewportSize(width=VIEWPORTS[name]["width"], height=VIEWPORTS[name]["height"])


def _dossier_page(page: Page, dossier_id: str) -> None:
    page.goto(f"/dossiers/{dossier_id}")
    expect(page.locator("dl.facts").first).to_be_visible()


def _vn(day: date | str) -> str:
    value = date.fromisoformat(day) if isinstance(day, str) else day
    return value.strftime("%d/%m/%Y")


def test_supplement_result_and_rating(
    new_context: Callable[..., BrowserContext],
    agency: Callable[..., AgencySimulator],
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    page = start_page(new_context, timeout_ms=15_000)

    visit = visitor(page, shot, "lifecycle")

    sign_in(page, shot)
    dossier_id, code = _submit_dossier(page, tmp_path)
    simulator = agency(code, Policy(supplement=Supplement.ALWAYS))

    # ---- the agency receives the dossier and asks for the divorce decision
    assert _steps(_pass(simulator)) == ["receive", "start_processing", "request_supplement"]
    _dossier_page(page, dossier_id)
    asked = page.locator("#supplement")
    expect(asked).to_be_visible()
    expect(asked.locator(".agency-message")).to_have_text(SUPPLEMENT_MESSAGE)
    expect(asked.locator(".asked-items li")).to_have_count(1)
    expect(asked.locator(".asked-items li")).to_contain_text("quyết định ly hôn")
    expect(asked.locator(".asked-items li")).to_contain_text(SUPPLEMENT_REASON)
    expect(page.locator("#received")).to_contain_text(OFFICER)
    timeline = page.locator("ol.timeline")
    for kind in ("received", "processing_started", "supplement_requested"):
        expect(timeline.locator(f"li.event-{kind}")).to_have_count(1)
    visit("supplement-requested")

    # ---- the request, then the documents page where only the asked document can change
    asked.locator("a.button.primary").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/supplement")
    item = page.locator(f"#item-component-{ASKED}")
    expect(item).to_contain_text(SUPPLEMENT_REASON)
    expect(page.locator(".asked-items > li")).to_have_count(1)
    visit("supplement-page")
    item.locator("a.button").click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}/files"))
    expect(page.locator("#supplement-note")).to_be_visible()
    expect(page.locator("#c-to_khai form.upload")).to_have_count(0)  # not asked: cannot be changed
    expect(page.locator("#c-to_khai form.inline")).to_have_count(0)  # nor removed
    expect(page.locator("#c-giay_xac_nhan_cu form.upload")).to_have_count(0)
    section = page.locator(f"#c-{ASKED}")
    expect(section.locator(".asked-reason")).to_contain_text(SUPPLEMENT_REASON)
    visit("supplement-documents")
    section.get_by_label("Chọn tệp").set_input_files(_pdf(tmp_path / "quyet-dinh-ly-hon.pdf"))
    section.get_by_role("button", name="Tải lên").click()
    expect(page.locator(f"#c-{ASKED} .file-list")).to_contain_text("quyet-dinh-ly-hon")
    _no_error_summary(page)
    page.locator(".actions a.button.primary").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/supplement")
    expect(page.locator(f"#item-component-{ASKED}")).to_contain_text("quyet-dinh-ly-hon")
    page.locator("form.resubmit-form button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}(\?.*)?$"))
    expect(page.locator("#resubmitted")).to_be_visible()
    expect(page.locator("#supplement")).to_have_count(0)
    expect(page.locator("ol.timeline li.event-supplement_answered")).to_have_count(1)
    visit("supplement-answered")

    # ---- the agency decides: a result signed with its certificate, handed over online
    assert _steps(_pass(simulator)) == ["sub_status", "result", "complete"]
    _dossier_page(page, dossier_id)
    results = page.locator("#results")
    expect(results.locator("article.result-document")).to_have_count(1)
    expect(results.locator(".tag-ok")).to_be_visible()
    report = results.locator("dl.signature-report").first
    expect(report).to_contain_text(AGENCY_NAME)
    expect(report).to_contain_text("Dev CA dịch vụ")
    expect(results.locator("a[href$='/verify']")).to_have_count(1)
    for kind in ("result_issued", "completed"):
        expect(page.locator(f"ol.timeline li.event-{kind}")).to_have_count(1)
    visit("result")
    with page.expect_download() as download_info:
        results.locator("a.button.primary").first.click()
    download = download_info.value
    result_pdf = tmp_path / "result.pdf"
    download.save_as(result_pdf)
    assert result_pdf.read_bytes().startswith(b"%PDF-")
    text = _pdf_text(result_pdf)
    for expected in (RESULT_TITLE, code, "Nguyễn Văn An", AGENCY_NAME):
        assert expected in text, f"{expected!r} is not in the result:\n{text}"

    # ---- the downloaded copy, checked on /verify from a phone: recognised, and the page fits the screen
    page.set_viewport_size(_size("phone"))
    results.locator("a[href$='/verify']").click()
    page.wait_for_url("**/verify")
    page.locator("#verify-file").set_input_files(result_pdf)
    page.locator("main form[enctype] button[type=submit]").click()
    expect(page.locator("#issued-title")).to_be_visible()
    expect(page.locator("main")).to_contain_text(code)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"/verify is wider than the phone: {widths}"  # the fingerprint, the table
    visit("verify-result-phone")
    page.set_viewport_size(_size("desktop"))
    _dossier_page(page, dossier_id)

    # ---- the citizen rates the service, once
    form = page.locator("#rating-form")
    expect(form.locator("fieldset")).to_have_count(5)
    visit("rating-form")
    for criterion, score in (
        ("reception", 5),
        ("guidance", 4),
        ("result_correct", 5),
        ("on_time", 5),
        ("fees_as_announced", 4),
    ):
        form.locator(f"#rating-{criterion}-{score}").check()
    form.locator("#rating-comment").fill("Cán bộ hướng dẫn tận tình.")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}(\?.*)?$"))
    expect(page.locator("#rated")).to_be_visible()
    expect(page.locator("#rating-form")).to_have_count(0)
    expect(page.locator("dl.rating-scores")).to_contain_text("Cán bộ hướng dẫn tận tình.")
    expect(page.locator("ol.timeline li.event-rated")).to_have_count(1)
    visit("rated")
    assert _steps(_pass(simulator)) == []  # completed: the agency has nothing more to do
    page.context.close()


def test_late_dossier_apology(
    new_context: Callable[..., BrowserContext],
    agency: Callable[..., AgencySimulator],
    server_settings: Settings,
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    page = start_page(new_context, timeout_ms=15_000)

    visit = visitor(page, shot, "late")

    sign_in(page, shot)
    dossier_id, code = _submit_dossier(page, tmp_path)
    simulator = agency(code, Policy(late=True))
    assert _steps(_pass(simulator)) == ["receive", "start_processing"]
    assert _steps(_pass(simulator)) == []  # not late yet: the agency holds it

    # ---- days pass: the official date is behind us, and the overdue job marks the dossier
    official = date.today() - timedelta(days=3)
    engine = make_engine(server_settings)
    try:
        with Session(writer(engine), expire_on_commit=False) as s:
            dossier: Any = s.get(Dossier, dossier_id)
            dossier.official_due_date = dossier.due_date = official
            s.add(dossier)
            s.commit()
            assert dossier_id in [d.id for d in deadline.sweep_overdue(s)]
            s.commit()
    finally:
        engine.dispose()
    _dossier_page(page, dossier_id)
    expect(page.locator("#overdue")).to_be_visible()
    expect(page.locator("ol.timeline li.event-overdue")).to_have_count(1)
    visit("overdue")

    # ---- the agency apologises with a reason and a new date
    report = _pass(simulator)
    assert _steps(report) == ["apologise"]
    detail = simulator.api.dossier(code)
    [apology] = detail["apologies"]
    new_date = date.fromisoformat(apology["new_date"])
    assert new_date > date.today()
    _dossier_page(page, dossier_id)
    letter = page.locator("#apology")
    expect(letter).to_be_visible()
    expect(letter.locator(".apology-reason")).to_have_text(APOLOGY_REASON)
    expect(letter.locator("#apology-new-date")).to_have_text(_vn(new_date))
    expect(letter.locator("#apology-official-date")).to_have_text(_vn(official))
    expect(page.locator("#due")).to_contain_text(_vn(new_date))  # the promise shown from now on
    expect(page.locator("#official-due")).to_have_text(_vn(official))
    expect(page.locator("#overdue")).to_have_count(0)
    expect(page.locator("ol.timeline li.event-apology")).to_have_count(1)
    visit("apology")
    page.context.close()


def test_an_asked_answer_under_a_condition_can_be_changed_on_a_phone(
    new_context: Callable[..., BrowserContext],
    agency: Callable[..., AgencySimulator],
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    """The agency asks for one answer, "specify the purpose", which the form shows only for some purposes; the
    purpose itself is not asked, so it is not an input. With JavaScript on, portal.js hid the asked field (it
    read no purpose in the form) and the citizen could not answer (found by QA; tests/web/test_lifecycle_qa.py
    checks the markup, this the browser)."""
    page = start_page(new_context, timeout_ms=15_000)
    page.set_viewport_size(_size("phone"))

    visit = visitor(page, shot, "asked-field")

    sign_in(page, shot)
    dossier_id, code = _submit_dossier(page, tmp_path)
    simulator = agency(code, Policy(supplement=Supplement.ALWAYS, supplement_target="field:purpose_other"))
    assert _steps(_pass(simulator)) == ["receive", "start_processing", "request_supplement"]
    # The agency's own words may hold a link or a long number: they wrap on the phone (they made the page
    # wider than the screen).
    link = "https://dichvucong.ninhbinh.gov.vn/portal/p/home/thu-tuc-hanh-chinh/chi-tiet.html?ma_thu_tuc=1.004873"
    simulator.api.set_sub_status(code, sub_code="guide", text_vi=f"Xem {link}", text_en=f"See {link}")
    _dossier_page(page, dossier_id)
    expect(page.locator("#sub-status")).to_contain_text(link)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the dossier page is wider than the phone: {widths}"
    page.goto(f"/dossiers/{dossier_id}/supplement")
    page.locator("#item-field-purpose_other a.button").click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}/steps/status"))
    answer = page.locator("form.dossier-form").get_by_label("Ghi rõ mục đích sử dụng")
    expect(answer).to_be_visible()
    expect(page.locator("form.dossier-form select, form.dossier-form input[type=radio]")).to_have_count(0)
    visit("asked-field")
    answer.fill("Vay vốn Ngân hàng Chính sách xã hội để mua nhà ở xã hội")
    page.locator(".actions").get_by_role("button", name="Lưu thay đổi").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/supplement")
    item = page.locator("#item-field-purpose_other")
    expect(item).to_contain_text("Ngân hàng Chính sách xã hội")
    page.locator("form.resubmit-form button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}\?resubmitted=1"))
    expect(page.locator("#resubmitted")).to_be_visible()
    visit("answered")
    page.context.close()
