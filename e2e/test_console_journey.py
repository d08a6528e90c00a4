"""The centre's console in a real browser (issue 16 point 4), on a desktop with JavaScript and on a phone without.

Prepared through the journeys' server: a citizen signs up (pages) and has a dossier that its agency receives,
starts and reads through the back-office API, then goes past its official date (the deadline job marks it);
the citizen, signed out, files a complaint about it at /feedback/new; the message telling them its code is a
dead letter (the provider failed as many times as the worker tries).

Then a supervisor signs in at /staff/login (password, a wrong TOTP code refused with a message, the right one
from pyotp), finds the dossier with the "overdue now" filter, opens it and reads its audit log (the agency's
read is there), answers the complaint at /staff/feedback (the public lookup shows the answer), replays the dead
letter at /staff/outbox (no longer dead) and signs out. The citizen sees the agency and the supervisor under
"who accessed my dossier". axe-core on every page; screenshots in e2e/artifacts/<mode>/.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import VIEWPORTS, check_axe
from e2e.console_helpers import (
    CLIENT_NAME,
    dead_letter,
    outbox_state,
    overdue_dossier,
    supervisor,
    wrong_code,
)
from e2e.journey_helpers import sign_up
from portal.kernel.settings import Settings
from tests.staff_factories import totp_code

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 15_000
PROVIDER_ERROR = "SMS gateway: 503 Service Unavailable"
ANSWER = (
    "Hồ sơ của ông/bà đã được Ủy ban xử lý xong ngày hôm nay; chúng tôi xin lỗi vì sự chậm trễ và đã nhắc nhở "
    "bộ phận tiếp nhận."
)


@pytest.mark.parametrize(
    ("mode_id", "js", "size"), [("console-desktop-js-on", True, "desktop"), ("console-phone-js-off", False, "phone")]
)
def test_console_journey(
    mode_id: str,
    js: bool,
    size: str,
    new_context: Callable[..., BrowserContext],
    server_url: str,
    server_settings: Settings,
    shot: Callable[[Page, str], Path],
) -> None:
    def browser() -> Page:
        page = new_context(java_script_enabled=js, viewport=VIEWPORTS[size]).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        return page

    expect.set_options(timeout=TIMEOUT_MS)

    too_wide: list[str] = []  # pages that scroll sideways: reported together at the end of the journey

    def visit(page: Page, name: str) -> None:
        check_axe(page, f"{mode_id}/{name}")
        shot(page, name)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1] + 1:
            too_wide.append(f"{name} ({page.url}): {widths[0]} px on a {widths[1]} px screen")

    # ---- the data: a citizen's dossier, received and read by its agency, then overdue
    citizen = browser()
    email = sign_up(citizen, "console")
    dossier = overdue_dossier(server_url, server_settings, email)

    # ---- the citizen, signed out (another browser), complains about it
    filer = browser()
    filer.goto("/feedback/new")
    filer.locator("#kind-complaint").check()
    filer.locator("#about-dossier").check()
    filer.locator("#dossier_code").fill(dossier.code)
    title = f"Hồ sơ quá hạn {secrets.token_hex(3)}"
    filer.locator("#title").fill(title)
    filer.locator("#body").fill("Hồ sơ của tôi đã quá ngày hẹn trả kết quả ba ngày mà chưa có thông báo gì.")
    filer.locator("#name").fill("Phạm Thị Kiểm")
    filer.locator("#email").fill(email)
    filer.locator("form[enctype] button[type=submit]").click()
    filer.wait_for_url(re.compile(r"/feedback/PA-\d{4}-[2-9A-Z]{6}$"))
    feedback_code = filer.locator("#tracking-code").inner_text().strip()
    visit(filer, "complaint-filed")
    message_id, feedback_id = dead_letter(server_url, server_settings, feedback_code, PROVIDER_ERROR)

    # ---- the supervisor signs in: password, a wrong code, the right one
    login = supervisor(server_settings, server_url, f"Giám Sát {secrets.token_hex(2)}")
    staff = browser()
    staff.goto("/staff/dossiers")
    staff.wait_for_url(re.compile(r"/staff/login\?next="))
    visit(staff, "login")
    staff.locator("input[name=username]").fill(login.username)
    staff.locator("input[name=password]").fill(login.password)
    staff.locator("form.staff-signin button[type=submit]").click()
    staff.wait_for_url(re.compile(r"/staff/totp"))
    expect(staff.locator("svg.totp-qr")).to_have_count(0)  # enrolled already: a code only
    visit(staff, "totp")
    staff.locator("input[name=code]").fill(wrong_code(login))
    staff.locator("form.staff-totp button[type=submit]").click()
    expect(staff.locator("#error-summary")).to_be_visible()
    visit(staff, "totp-wrong-code")
    staff.locator("input[name=code]").fill(totp_code(login))
    staff.locator("form.staff-totp button[type=submit]").click()
    staff.wait_for_url(re.compile(r"/staff/dossiers$"))  # where it was going
    expect(staff.locator(".main-nav .who")).to_contain_text(login.full_name)
    visit(staff, "dossiers")

    # ---- the overdue dossier, by the filters
    staff.locator("#f-overdue").check()
    staff.locator("#f-q").fill(dossier.code)
    staff.locator("#filters button[type=submit]").click()
    staff.wait_for_url(re.compile(r"/staff/dossiers\?.*overdue=1"))
    row = staff.locator(f"#staff-dossiers tr[data-dossier='{dossier.id}']")
    expect(row).to_be_visible()
    expect(row.locator("strong.overdue")).to_have_text(re.compile(r"^[1-9]"))
    visit(staff, "dossiers-overdue")
    row.get_by_role("link", name=dossier.code).click()
    staff.wait_for_url(re.compile(rf"/staff/dossiers/{dossier.id}$"))
    expect(staff.locator("#deadline strong.overdue")).to_be_visible()
    audit = staff.locator("#dossier-audit tbody tr")
    agency_read = audit.filter(has_text="dossier.read").filter(has_text=CLIENT_NAME)
    expect(agency_read.first).to_contain_text(f"agency, {dossier.agency_code}")
    expect(agency_read.first).to_contain_text("processing")
    visit(staff, "dossier-audit")

    # ---- the complaint, answered
    staff.locator(".main-nav a[href='/staff/feedback']").click()
    staff.wait_for_url(re.compile(r"/staff/feedback$"))
    staff.locator("#filter-q").fill(feedback_code)
    staff.locator("form[role=search] button[type=submit]").click()
    item_row = staff.locator(f"#item-{feedback_id}")
    expect(item_row).to_contain_text(title)
    visit(staff, "feedback-list")
    item_row.get_by_role("link", name=feedback_code).click()
    staff.wait_for_url(re.compile(rf"/staff/feedback/{feedback_id}$"))
    expect(staff.locator("#item-summary")).to_contain_text(dossier.code)
    expect(staff.locator("#filer")).to_contain_text(email)
    visit(staff, "feedback-item")
    staff.locator("#text").fill(ANSWER)
    staff.locator("#answer-form button[type=submit]").click()
    staff.wait_for_url(re.compile(rf"/staff/feedback/{feedback_id}\?answered=1$"))
    expect(staff.locator("#answered-notice")).to_be_visible()
    expect(staff.locator("#answer")).to_contain_text(ANSWER)
    expect(staff.locator("#answer-form")).to_have_count(0)
    visit(staff, "feedback-answered")

    filer.goto(f"/feedback/{feedback_code}")
    expect(filer.locator("main")).to_contain_text(ANSWER)
    expect(filer.locator("main")).not_to_contain_text(email)
    visit(filer, "complaint-answered")

    # ---- the dead letter, replayed
    staff.goto("/staff/outbox?state=dead&topic=feedback.message")
    dead = staff.locator(f"#message-{message_id}")
    expect(dead).to_have_attribute("data-state", "dead")
    expect(dead).to_contain_text(PROVIDER_ERROR)
    visit(staff, "outbox-dead")
    dead.get_by_role("button").click()
    staff.wait_for_url(re.compile(rf"/staff/outbox\?state=pending&replayed={message_id}$"))
    expect(staff.locator("#replayed")).to_contain_text(str(message_id))
    visit(staff, "outbox-replayed")
    state = outbox_state(server_settings, server_url, message_id)
    assert not state["dead"], state
    assert state["processed"] or state["attempts"] < server_settings.outbox_max_attempts, state
    staff.goto("/staff/outbox?state=dead&topic=feedback.message")
    expect(staff.locator(f"#message-{message_id}")).to_have_count(0)

    # ---- signed out: the console asks to sign in again
    staff.locator(".main-nav form button[type=submit]").click()
    staff.wait_for_url(re.compile(r"/staff/login$"))
    visit(staff, "signed-out")
    staff.goto("/staff/dossiers")
    staff.wait_for_url(re.compile(r"/staff/login\?next="))

    # ---- the citizen sees who read their dossier: the agency and the supervisor
    citizen.goto(f"/dossiers/{dossier.id}")
    accesses = citizen.locator("#accesses-table tbody tr")
    supervised = accesses.filter(has_text=login.full_name)
    expect(supervised.filter(has_text=re.compile("Giám sát của Trung tâm|Supervision by the centre"))).to_have_count(1)
    processed = accesses.filter(has_text=CLIENT_NAME).filter(has_text=re.compile("Xử lý hồ sơ|Processing the dossier"))
    expect(processed.filter(has_text=re.compile("Xem hồ sơ|Read the dossier"))).to_have_count(1)
    citizen.locator("#accesses").scroll_into_view_if_needed()
    visit(citizen, "who-accessed")
    assert not too_wide, "pages wider than the screen:\n" + "\n".join(too_wide)
