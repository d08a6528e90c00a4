"""Feedback in a real browser: a signed-out visitor files a complaint about a procedure on a phone with JavaScript
off (and on a desktop with it on): a mistake shown at its field with everything typed kept, then the tracking
code; the lookup by code, an unknown code, the public list. axe-core on every page."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import VIEWPORTS, check_axe

pytestmark = pytest.mark.e2e

PROCEDURE = "1.004873"


@pytest.mark.parametrize(("mode_id", "js"), [("feedback-phone-js-off", False), ("feedback-desktop-js-on", True)])
def test_file_and_follow_feedback(
    mode_id: str, js: bool, new_context: Callable[..., BrowserContext], shot: Callable[[Page, str], Path]
) -> None:
    viewport = VIEWPORTS["desktop" if js else "phone"]
    page = new_context(java_script_enabled=js, viewport=viewport).new_page()
    page.set_default_timeout(15_000)

    def visit(name: str) -> None:
        check_axe(page, f"{mode_id}/{name}")
        shot(page, name)
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), name

    page.goto(f"/procedures/{PROCEDURE}")
    page.locator(".feedback-link a").click()
    expect(page.locator("#about-procedure")).to_be_checked()
    expect(page.locator("#procedure_code")).to_have_value(PROCEDURE)
    visit("form")

    title = f"Chậm trả kết quả {secrets.token_hex(3)}"
    page.locator("#kind-complaint").check()
    page.locator("#title").fill(title)
    page.locator("#body").fill("Hồ sơ của tôi đã quá hạn hai tuần mà chưa có kết quả, xin cơ quan trả lời.")
    page.locator("#name").fill("Trần Văn Bình")
    page.locator("#phone").fill("12345")  # not a Vietnamese mobile number, and no email
    with page.expect_response(lambda r: r.url.endswith("/feedback/new") and r.request.method == "POST") as answer:
        page.locator("form[enctype] button[type=submit]").click()
    assert answer.value.status == 422
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#phone-error")).to_be_visible()
    expect(page.locator("#title")).to_have_value(title)
    expect(page.locator("#kind-complaint")).to_be_checked()
    visit("mistake")

    page.locator("#phone").fill("0912 345 678")
    page.locator("#public_consent").check()
    page.locator("form[enctype] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/feedback/PA-\d{4}-[2-9A-Z]{6}$"))
    code = page.locator("#tracking-code").inner_text()
    expect(page.locator("#filed")).to_be_visible()
    visit("filed")

    page.goto("/feedback/lookup")
    visit("lookup")
    page.locator("#code").fill(code.lower())
    page.locator("form[role=search] button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/feedback/{code}$"))
    expect(page.locator("#feedback-status")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("0912345678")
    visit("status")

    page.goto("/feedback/lookup?code=PA-0101-ZZZZZZ")
    expect(page.locator("#code-error")).to_be_visible()
    visit("unknown-code")

    page.goto("/feedback/public")
    expect(page.locator("h1")).to_be_visible()
    visit("public")
