"""The centre's kiosk in Chromium, with JavaScript and without: the start page, a lookup refused, a ticket not
known; every state checked with axe-core."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import VIEWPORTS, check_axe

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
