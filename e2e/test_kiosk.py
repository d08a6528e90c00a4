"""The centre's kiosk and the visit pages in Chromium: the kiosk with JavaScript and without (start page, a
lookup refused, a ticket not known), then a citizen books a visit, gets the ticket and checks in at the kiosk;
every state checked with axe-core."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import Session, select

from auth.models import Account
from e2e.conftest import VIEWPORTS, check_axe
from portal.dossiers.models import DossierStatus
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import make_engine, writer
from portal.kernel.settings import Settings
from portal.visits import service as visits
from portal.visits.models import Visit
from tests import factories

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode_id", ["kiosk-js-on", "kiosk-js-off"])
def test_kiosk_pages_pass_axe(
    mode_id: str, new_context: Callable[..., BrowserContext], shot: Callable[[Page, str], Path]
) -> None:
    context = new_context(java_script_enabled=mode_id.endswith("js-on"), viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    page.goto("/kiosk")
    expect(page.locator("#board-heading")).to_be_visible()
    check_axe(page, f"{mode_id}/start")
    shot(page, f"{mode_id}-start")

    page.locator("#q").fill("https://dichvucong.example/lookup?code=STP-991231-9999")
    page.locator("#lookup button[type=submit]").click()
    expect(page.locator("#q-error")).to_be_visible()
    check_axe(page, f"{mode_id}/lookup-not-found")

    page.locator("#token").fill("not-a-ticket")
    page.locator("#check-in button[type=submit]").click()
    expect(page.locator("#token-error")).to_be_visible()
    check_axe(page, f"{mode_id}/check-in-refused")
    shot(page, f"{mode_id}-check-in-refused")
    context.close()


def test_book_a_visit_then_check_in_at_the_kiosk(
    new_context: Callable[..., BrowserContext],
    server_settings: Settings,
    shot: Callable[[Page, str], Path],
) -> None:
    """A citizen whose result waits at the counter books a time and gets a ticket; at the centre the kiosk
    checks the ticket in and the counter's call shows on the board."""
    context = new_context(java_script_enabled=True, viewport=VIEWPORTS["phone"])
    page = context.new_page()
    email, password = f"visit-{secrets.token_hex(4)}@example.vn", "mat-khau-rat-dai-2026"
    page.goto("/signup")
    page.get_by_label("Họ và tên").fill("Phạm Thị Hẹn")
    page.get_by_label("Email hoặc số điện thoại di động").fill(email)
    page.get_by_label("Mật khẩu", exact=True).fill(password)
    page.get_by_label("Nhập lại mật khẩu").fill(password)
    page.locator("main").get_by_role("button", name="Đăng ký tài khoản").click()
    page.wait_for_url("**/dossiers")

    engine = make_engine(server_settings)
    try:
        with Session(writer(engine), expire_on_commit=False) as s:
            account = s.exec(select(Account).where(Account.email == email)).one()
            dossier = factories.dossier(
                s, applicant=account, submitted=True, status=DossierStatus.RESULT_READY, delivery_method="centre"
            )
            s.commit()

        page.goto(f"/dossiers/{dossier.id}")
        page.locator("#visit").get_by_role("link").click()
        page.wait_for_url(f"**/dossiers/{dossier.id}/visit")
        check_axe(page, "visit/days")
        page.locator(".visit-days a").first.click()
        expect(page.locator("#slots")).to_be_visible()
        check_axe(page, "visit/slots")
        page.locator("#slot-choice input[type=radio]").first.check()
        page.locator(".visit-form button[type=submit]").click()
        page.wait_for_url(re.compile(r"/visits/[0-9a-f]{32}$"))
        number = page.locator("#queue-number").inner_text()
        assert re.fullmatch(r"UBXA-\d{3}", number), number
        expect(page.locator(".ticket-qr svg")).to_be_visible()
        check_axe(page, "visit/ticket")
        shot(page, "visit-ticket")

        # The visit is moved to today (the booking took the first free time, perhaps another day).
        with Session(writer(engine), expire_on_commit=False) as s:
            visit = s.exec(select(Visit).where(Visit.owner_id == dossier.id)).one()
            visit.day = local_date(utcnow())
            s.add(visit)
            s.commit()

        kiosk = new_context(java_script_enabled=True, viewport=VIEWPORTS["desktop"]).new_page()  # nobody signed in
        kiosk.goto("/kiosk")
        kiosk.locator("#token").fill(visit.token)
        kiosk.locator("#check-in button[type=submit]").click()
        expect(kiosk.locator("#checked-in-number")).to_have_text(number)
        check_axe(kiosk, "kiosk/checked-in")
        shot(kiosk, "kiosk-checked-in")

        with Session(writer(engine), expire_on_commit=False) as s:
            called = visits.call_next(session=s, settings=server_settings, agency_code="UBXA", counter="2")
            s.commit()
        assert called is not None and called.id == visit.id
        kiosk.goto("/kiosk?agency=UBXA")
        expect(kiosk.locator("#now-serving")).to_contain_text(number)
        check_axe(kiosk, "kiosk/board")
        shot(kiosk, "kiosk-board")
    finally:
        engine.dispose()
    context.close()
