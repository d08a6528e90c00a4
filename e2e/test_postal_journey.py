"""A result returned by post, in a real browser, with the back-office and postal simulators as the partners.

The citizen files the exchange of a driving licence (its old licence is a paper original the agency needs):
fills the form, uploads the documents, chooses delivery of the result by post to an address and a postal pickup
of the original at that address → sees the tariff's postal fees on the choices page and on the review before
paying → pays at the sandbox bank (the fee is paid before submission: the dossier is submitted by the payment)
→ the back-office simulator (the Provincial Police, CAT) receives it and issues a signed result; the portal
orders the delivery → the postal simulator (VNPost) claims both orders, picks them up, carries them, fails once
to deliver the result (with its reason) and delivers it with proof → the citizen sees "delivered" with the
proof's time and the recipient's name, and the dossier completed.

Both simulators play through the journeys' server's real APIs (partner and operator), from threads of the test
process. Every new page is checked with axe-core. A loaded CI machine is slow: the waits on what a partner did
poll for up to 60 s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

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
from e2e.test_journey import _jpeg, _no_error_summary, _pdf, _ui
from portal.dossiers.billing import PICKUP_WEIGHT_CLASS
from portal.kernel.calendar import to_local
from portal.kernel.settings import Settings
from portal.simulator.agent import AgencySimulator, PassReport, Policy
from portal.simulator.postal import ATTEMPT_REASON, PostalPassReport, PostalSimulator, build_postal_simulators
from postal import tariff

pytestmark = pytest.mark.e2e

PROCEDURE_PATH = "/procedures/3.000347"  # Đổi giấy phép lái xe: originals, a document-class result, paid before
AGENCY = "CAT"
AGENCY_PROVINCE = "37"
OPERATOR = "vnpost"
FEE = 135_000
WAIT_MS = 60_000  # what a partner did shows within this (a loaded CI machine)
RECIPIENT = "Nguyễn Văn An"
ADDRESS = {"province": "01", "ward": "00004", "street": "25 Phan Đình Phùng"}
PHONE = "0912345678"


def _money(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đ"


@dataclass(frozen=True)
class Partners:
    agency: Callable[[str], AgencySimulator]
    postal: Callable[[str], PostalSimulator]


@pytest.fixture()
def partners(server_url: str, server_settings: Settings) -> Iterator[Partners]:
    """The simulated back-office of CAT and the simulated VNPost, each playing only the journey's dossier."""
    with partner_connection(server_url, server_settings) as (http, engine):

        def agency(code: str) -> AgencySimulator:
            return agency_playing(http, server_settings, engine, AGENCY, code, Policy())

        def postal(code: str) -> PostalSimulator:
            [simulator] = build_postal_simulators(http, server_settings, engine, operators=[OPERATOR])
            simulator.only = lambda order: order.get("reference") == code
            return simulator

        yield Partners(agency, postal)


def _off_main_thread(work: Callable[[], Any]) -> Any:
    return off_main_thread(work, timeout=180)


def _agency_until(simulator: AgencySimulator, code: str, status: str) -> list[str]:
    """Passes of the back-office simulator until the dossier shows `status` (at most 60 s); the steps made."""
    steps: list[str] = []
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        report: PassReport = _off_main_thread(simulator.run_once)
        assert not report.errors, report.errors
        steps += [step for _, step in report.done]
        detail = _off_main_thread(lambda: simulator.api.dossier(code))
        if detail["status"] == status or time.monotonic() > deadline:
            assert detail["status"] == status, (detail["status"], steps)
            return steps
        time.sleep(0.5)


def _postal_until_done(simulator: PostalSimulator, *, orders: int) -> PostalPassReport:
    """The postal simulator carries the dossier's orders to their end (it lists them; at most 60 s to appear)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while not _off_main_thread(simulator.open_orders) and time.monotonic() < deadline:
        time.sleep(0.5)
    report: PostalPassReport = _off_main_thread(lambda: simulator.run_until_idle(timeout=120))
    assert not report.errors, report.errors
    assert len({number for number, _ in report.done}) == orders, report.done
    return report


def _choose_ward(scope: Locator, page: Page, province: str, ward: str) -> Locator:
    scope.get_by_label("Tỉnh/thành phố", exact=True).select_option(province)
    select = scope.get_by_label("Phường/xã/đặc khu", exact=True)
    expect(select.locator(f'option[value="{ward}"]')).to_be_attached()  # loaded by HTMX
    select.select_option(ward)
    return select


def _save_step(page: Page, form: Locator, next_url: str, ward_selects: list[tuple[Locator, str]]) -> None:
    page.wait_for_load_state("networkidle")  # the inline checks HTMX sends as fields lose focus are done
    # A ward list HTMX answered late (a loaded machine) may replace the choice: make sure it is still there.
    for select, ward in ward_selects:
        if select.input_value() != ward:
            select.select_option(ward)
        expect(select).to_have_value(ward)
    page.get_by_role("button", name="Lưu và tiếp tục").click()
    try:
        page.wait_for_url(re.compile(next_url), timeout=WAIT_MS)
    except PlaywrightTimeoutError:
        _no_error_summary(page)  # a refusal: say what it refused
        raise
    _no_error_summary(page)


def _fill_form(page: Page, tmp_path: Path) -> str:
    """The two steps of the licence exchange and its two documents; the dossier's id."""
    dossier_id = new_dossier(page, PROCEDURE_PATH)
    form = page.locator("form.dossier-form")
    form.get_by_label("Họ, chữ đệm và tên").fill(RECIPIENT)
    form.get_by_label("Ngày, tháng, năm sinh").fill("1990-04-12")
    form.get_by_label("Quốc tịch", exact=True).fill("Việt Nam")
    form.get_by_label("Số định danh cá nhân").fill("001090012345")
    residence = form.get_by_role("group", name="Nơi cư trú", exact=True)
    home_ward = _choose_ward(residence, page, ADDRESS["province"], ADDRESS["ward"])
    residence.get_by_label("Số nhà, đường/phố, thôn/tổ dân phố").fill(ADDRESS["street"])
    form.get_by_label("Số điện thoại").fill("0912 345 678")
    form.get_by_label("Thư điện tử").fill("an.nguyen@example.vn")
    _save_step(page, form, STEP_URL + "licence$", [(home_ward, ADDRESS["ward"])])

    form = page.locator("form.dossier-form")
    form.get_by_label("Số giấy phép lái xe").fill("010123456789")
    form.get_by_role("group", name="Hạng giấy phép lái xe").get_by_label("B", exact=True).check()
    form.get_by_label("Ngày cấp").fill("2016-05-20")
    form.get_by_label("Cơ quan cấp").fill("Sở Giao thông vận tải Hà Nội")
    form.get_by_role("group", name="Lý do đề nghị đổi").get_by_label("Hết thời hạn sử dụng").check()
    form.get_by_role("group", name="Hình thức nhận giấy phép lái xe").get_by_label(
        "Qua dịch vụ bưu chính công ích"
    ).check()
    postal_address = form.get_by_role("group", name="Địa chỉ nhận qua bưu chính")
    expect(postal_address).to_be_visible()  # shown by the choice of the post
    post_ward = _choose_ward(postal_address, page, ADDRESS["province"], ADDRESS["ward"])
    postal_address.get_by_label("Số nhà, đường/phố, thôn/tổ dân phố").fill(ADDRESS["street"])
    form.get_by_label("Tôi xác nhận đã chấp hành xong").check()
    form.get_by_label("Tôi xin cam đoan").check()
    _save_step(page, form, rf"/dossiers/{dossier_id}/files", [(post_ward, ADDRESS["ward"])])

    for component, path in (
        ("don_de_nghi", _pdf(tmp_path / "don-de-nghi.pdf")),
        ("giay_phep_lai_xe", _jpeg(tmp_path / "giay-phep-lai-xe.jpg")),
    ):
        section = page.locator(f"#c-{component}")
        section.get_by_label(re.compile(r"^Chọn (tệp|một hoặc nhiều tệp)")).set_input_files(path)
        section.get_by_role("button", name="Tải lên").click()
        expect(page.locator(f"#c-{component} .file-list")).to_contain_text(path.stem)
        _no_error_summary(page)
    page.get_by_role("link", name="Tiếp tục để kiểm tra thông tin đã khai").click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/review")
    return dossier_id


def _fill_postal_address(fieldset: Locator, page: Page, *, name: str) -> None:
    fieldset.get_by_label(_ui("Họ và tên người nhận", "Recipient's full name")).or_(
        fieldset.get_by_label(_ui("Họ và tên người giao bản gốc", "Name of the person who hands over the originals"))
    ).fill(name)
    fieldset.get_by_label(
        _ui("Số điện thoại để nhân viên bưu chính liên hệ", "Phone number the postal worker can call")
    ).fill(PHONE)
    fieldset.get_by_label(_ui("Tỉnh/thành phố", "Province / city")).select_option(ADDRESS["province"])
    ward = fieldset.get_by_label(_ui("Phường/xã", "Ward / commune", whole=False))
    expect(ward.locator(f'option[value="{ADDRESS["ward"]}"]')).to_be_attached()  # loaded by HTMX
    ward.select_option(ADDRESS["ward"])
    fieldset.get_by_label(_ui("Số nhà, đường/phố", "House number, street, hamlet", whole=False)).fill(ADDRESS["street"])
    page.wait_for_load_state("networkidle")
    if ward.input_value() != ADDRESS["ward"]:  # a late HTMX ward list replaced the choice
        ward.select_option(ADDRESS["ward"])


def _choose_post_and_pickup(
    page: Page, dossier_id: str, visit: Callable[[str], None], expected: dict[str, int]
) -> None:
    """On the choices page: the result by post to the address, the original picked up there; the fees shown."""
    page.goto(f"/dossiers/{dossier_id}/delivery")
    form = page.locator("#delivery-form")
    form.get_by_role(
        "group", name=_ui("Nhận kết quả bằng hình thức nào?", "How do you want to receive the result?")
    ).get_by_label("Qua bưu chính công ích").check()
    delivery_fs = form.get_by_role(
        "group", name=_ui("Địa chỉ nhận kết quả qua bưu chính", "Postal address for the result")
    )
    _fill_postal_address(delivery_fs, page, name=RECIPIENT)
    pickup_fs = form.get_by_role("group", name=_ui("Thu gom bản gốc giấy tờ", "Pickup of the paper originals"))
    expect(pickup_fs.locator("#originals li")).to_contain_text(["giấy phép lái xe"])
    pickup_fs.get_by_label(
        _ui(
            "Đề nghị bưu chính thu gom tại địa chỉ này và chuyển đến cơ quan",
            "Have the postal service pick them up at this address and bring them to the agency",
        )
    ).check()
    _fill_postal_address(pickup_fs, page, name=RECIPIENT)
    # The fees of these choices, before saving (the page asks the tariff; with HTMX the form is swapped in place).
    page.locator("#delivery-form").get_by_role(
        "button", name=_ui("Xem cước cho các lựa chọn này", "Show the fee for these choices")
    ).click()
    fee = page.locator("#delivery-fee")
    expect(fee.locator("tfoot")).to_contain_text(_money(expected["total"]), timeout=WAIT_MS)
    for amount in (expected["fee"], expected["delivery"], expected["pickup"]):
        expect(fee.locator("tbody")).to_contain_text(_money(amount))
    _no_error_summary(page)
    visit("delivery-choices")
    page.locator("#delivery-form").get_by_role("button", name=_ui("Lưu các lựa chọn", "Save these choices")).click()
    page.wait_for_url(f"**/dossiers/{dossier_id}/review", timeout=WAIT_MS)
    _no_error_summary(page)


def _expected_fees(settings: Settings) -> dict[str, int]:
    delivery = tariff.quote(
        settings=settings,
        operator=OPERATOR,
        from_province=AGENCY_PROVINCE,
        to_province=ADDRESS["province"],
        weight_class="document",
    ).amount
    pickup = tariff.pickup_quote(
        settings=settings,
        operator=OPERATOR,
        from_province=ADDRESS["province"],
        to_province=AGENCY_PROVINCE,
        weight_class=PICKUP_WEIGHT_CLASS,
    ).amount
    return {"fee": FEE, "delivery": delivery, "pickup": pickup, "total": FEE + delivery + pickup}


def _pay_and_submit(page: Page, dossier_id: str, total: str, visit: Callable[[str], None]) -> str:
    """From the review: to the payment (the fee is paid before submission), at the sandbox bank; the code."""
    page.get_by_role("button", name=_ui("Tiếp tục để thanh toán", "Continue to payment")).click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}/payment"), timeout=WAIT_MS)
    expect(page.locator("#fee-total")).to_have_text(total)
    visit("payment")
    pay_form = page.locator("form.pay-form")
    pay_form.get_by_label("Ngân hàng thử nghiệm (sandbox)", exact=True).check()
    pay_form.get_by_role("button", name=_ui(f"Thanh toán {total}", f"Pay {total}")).click()
    page.wait_for_url(re.compile(r"/sandbox-bank/pay\?order="), timeout=WAIT_MS)
    expect(page.locator("#bank-amount")).to_have_text(total)
    bank = page.get_by_role("group", name=_ui("Ngân hàng cần xử lý thế nào?", "What should the bank do?"))
    bank.get_by_role("button", name=_ui("Thanh toán", "Pay")).click()
    page.wait_for_url(re.compile(rf"/dossiers/{dossier_id}"), timeout=WAIT_MS)
    _no_error_summary(page)
    # Paid: the dossier was submitted by the payment; its page shows the code.
    page.goto(f"/dossiers/{dossier_id}")
    code = page.locator(".breadcrumb, main").get_by_text(re.compile(rf"^{AGENCY}-\d{{6}}-\d{{4}}$")).first
    expect(code).to_be_visible(timeout=WAIT_MS)
    return code.inner_text().strip()


def _localdt(value: str) -> str:
    return to_local(datetime.fromisoformat(value.replace("Z", "+00:00"))).strftime("%H:%M %d/%m/%Y")


def test_result_returned_by_post(
    new_context: Callable[..., BrowserContext],
    partners: Partners,
    server_settings: Settings,
    shot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    page = start_page(new_context, timeout_ms=30_000)

    visit = visitor(page, shot, "postal")

    expected = _expected_fees(server_settings)
    total = _money(expected["total"])
    sign_in(page, shot)
    dossier_id = _fill_form(page, tmp_path)

    # ---- the postal choices: delivery by post, pickup of the original; the tariff's fees before paying
    _choose_post_and_pickup(page, dossier_id, visit, expected)
    choices = page.locator("#postal-choices")
    expect(choices).to_contain_text(RECIPIENT)
    expect(choices).to_contain_text(ADDRESS["street"])
    review_fee = page.locator("#review-fee")
    for amount in (expected["delivery"], expected["pickup"]):
        expect(review_fee.locator("tbody")).to_contain_text(_money(amount))
    expect(review_fee.locator("tfoot")).to_contain_text(total)
    visit("review")

    # ---- paid at the sandbox bank: the payment submits the dossier; the pickup of the original is ordered
    code = _pay_and_submit(page, dossier_id, total, visit)
    parcels = page.locator("#parcels")
    expect(parcels.locator("article.parcel-pickup")).to_have_count(1, timeout=WAIT_MS)
    visit("submitted")

    # ---- the agency receives the dossier and issues its result; the portal orders the delivery
    agency = partners.agency(code)
    steps = _agency_until(agency, code, "result_ready")
    assert steps[:2] == ["receive", "start_processing"] and "result" in steps and "complete" not in steps, steps

    # ---- VNPost claims both orders, carries them, fails once to deliver the result, then delivers it
    postal = partners.postal(code)
    report = _postal_until_done(postal, orders=2)
    by_order: dict[str, list[str]] = {}
    for number, step in report.done:
        by_order.setdefault(number, []).append(step)
    assert sorted(by_order.values(), key=len) == [
        ["claim", "picked_up", "in_transit", "delivered"],
        ["claim", "picked_up", "in_transit", "delivery_attempted", "delivered"],
    ], by_order
    [delivery_number] = [n for n, steps in by_order.items() if "delivery_attempted" in steps]
    proof = _off_main_thread(lambda: postal.api.order(delivery_number))["proof"]
    assert proof and proof["recipient_name"] == RECIPIENT and proof["relation"] == "self", proof

    # ---- the citizen sees the result delivered, with the proof's time and recipient; the dossier completed
    page.goto(f"/dossiers/{dossier_id}")
    delivered = page.locator(f"#parcel-{delivery_number}")
    expect(delivered.locator(".parcel-status")).to_contain_text(
        _ui("Đã giao", "Delivered", whole=False), timeout=WAIT_MS
    )
    expect(delivered.locator(".tracking-number")).to_have_text(re.compile(r"^[A-Z]{2}\d{9}[A-Z]{2}$"))
    expect(delivered.locator(".proof-time")).to_have_text(_localdt(proof["delivered_at"]))
    expect(delivered.locator(".proof-recipient")).to_contain_text(RECIPIENT)
    expect(delivered.locator(".proof-recipient")).to_contain_text(_ui("Người nộp hồ sơ", "The applicant", whole=False))
    expect(delivered.locator(".parcel-events")).to_contain_text(ATTEMPT_REASON)
    pickup = page.locator("article.parcel-pickup")
    expect(pickup.locator(".parcel-status")).to_contain_text(_ui("Đã giao", "Delivered", whole=False))
    expect(page.locator("ol.timeline li.event-completed")).to_have_count(1, timeout=WAIT_MS)
    visit("delivered")
    # The signature the courier collected, for the applicant to see.
    link = delivered.locator(".proof a")
    image = page.request.get(str(link.get_attribute("href")))
    assert image.ok and image.headers["content-type"] == "image/png", (image.status, image.headers)
    assert image.body().startswith(b"\x89PNG")

    # ---- the agency has nothing more to do; the operator neither
    assert [s for _, s in _off_main_thread(agency.run_once).done] == []
    assert _off_main_thread(postal.run_once).done == []
    page.context.close()
