"""The console's sign-in in a browser (password, TOTP enrolment with the QR code, home) and axe on its pages,
with and without JavaScript, in both languages (docs/STAFF.md)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import VIEWPORTS, check_axe
from e2e.journey_helpers import partner_connection
from tests.staff_factories import make_staff, sign_in_with_playwright, totp_code

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_staff_sign_in_and_home_pass_axe(
    new_context: Callable[..., BrowserContext], server_url: str, server_settings: Any, viewport: str
) -> None:
    with partner_connection(server_url, server_settings) as (_http, engine):
        app = SimpleNamespace(state=SimpleNamespace(engine=engine, settings=server_settings))
        login = make_staff(app, role="officer", agency_code="UBXA", full_name="Đinh Thị Cán Bộ", enrolled=False)
    no_js = new_context(viewport=VIEWPORTS[viewport], java_script_enabled=False)
    page: Page = no_js.new_page()
    for lang in ("vi", "en"):
        no_js.add_cookies([{"name": "lang", "value": lang, "url": server_url}])
        page.goto(f"{server_url}/staff/login")
        check_axe(page, f"staff/login-{lang}-{viewport}")
    page.fill("input[name=username]", login.username)
    page.fill("input[name=password]", "wrong-password-123")
    page.click("form.staff-signin button[type=submit]")
    expect(page.locator("#error-summary")).to_be_visible()
    check_axe(page, f"staff/login-error-{viewport}")
    page.fill("input[name=password]", login.password)
    page.click("form.staff-signin button[type=submit]")
    expect(page.locator("svg.totp-qr")).to_be_visible()
    check_axe(page, f"staff/enrol-{viewport}")
    login.totp_secret = page.get_attribute("[data-secret]", "data-secret")
    page.fill("input[name=code]", totp_code(login))
    page.click("form.staff-totp button[type=submit]")
    page.wait_for_url(f"{server_url}/staff")
    expect(page.locator("main h1")).to_be_visible()
    check_axe(page, f"staff/home-{viewport}")
    # With JavaScript: the helper other journeys use, on a browser of its own.
    context = new_context(viewport=VIEWPORTS[viewport])
    js_page = context.new_page()
    sign_in_with_playwright(js_page, server_url, login)
    expect(js_page.locator("main")).to_contain_text("Đinh Thị Cán Bộ (UBXA)")
    check_axe(js_page, f"staff/home-js-{viewport}")
