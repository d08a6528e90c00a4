"""The identity pages in a real browser: a business is registered and acted for, and the development
provider's sign-in page. Every page is checked with axe-core and photographed."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import VIEWPORTS, check_axe
from tests.factories import valid_tax_code

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode_id", ["business-js-on", "business-js-off"])
def test_business_registration_and_acting_as(
    mode_id: str, new_context: Callable[..., BrowserContext], shot: Callable[[Page, str], Path]
) -> None:
    js = mode_id.endswith("js-on")
    context = new_context(java_script_enabled=js, viewport=VIEWPORTS["phone" if js else "desktop"])
    page = context.new_page()
    page.set_default_timeout(10_000)

    def visit(name: str) -> None:
        check_axe(page, f"{mode_id}/{name}")
        shot(page, name)

    page.goto("/signin")
    page.get_by_role("button", name="Đăng nhập bằng VNeID").click()
    page.wait_for_url(re.compile(r"/interaction/"))
    page.get_by_label("Tài khoản công dân").select_option("citizen-chi")
    page.get_by_label("Mức độ xác thực (acr)").select_option("urn:dvc:loa:2")
    page.get_by_role("button", name="Đăng nhập", exact=True).click()
    page.wait_for_url("**/dossiers")
    header = page.locator(".account")
    expect(header).to_contain_text("Cá nhân (bản thân tôi)")

    page.get_by_role("link", name="Doanh nghiệp của tôi").click()
    page.wait_for_url("**/businesses")
    visit("businesses-empty")
    page.locator("main").get_by_role("link", name="Đăng ký doanh nghiệp").click()
    page.wait_for_url("**/businesses/new")
    visit("business-new")
    name = f"Công ty TNHH Thử Nghiệm {secrets.token_hex(2).upper()}"
    page.get_by_label("Mã số thuế").fill("01O1234567")  # a letter O among the digits
    page.get_by_label("Tên doanh nghiệp").fill(name)
    page.get_by_label("Địa chỉ trụ sở chính").fill("Số 8 đường Tràng An, Phường Hoa Lư, Tỉnh Ninh Bình")
    page.get_by_role("button", name="Đăng ký doanh nghiệp").click()
    expect(page.locator("#error-summary")).to_contain_text("Mã số thuế chỉ gồm chữ số")
    expect(page.get_by_label("Tên doanh nghiệp")).to_have_value(name)  # nothing typed is lost
    visit("business-new-error")
    page.get_by_label("Mã số thuế").fill(valid_tax_code())
    page.get_by_role("button", name="Đăng ký doanh nghiệp").click()
    page.wait_for_url(re.compile(r"/businesses/[0-9a-f]{32}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(header).to_contain_text(name)  # acting for the business now, said in the header
    visit("business-detail")

    page.get_by_role("link", name="Hồ sơ của tôi").click()
    page.wait_for_url("**/dossiers")
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    visit("business-dossiers")

    # One click (JS: choosing in the list; no JS: choosing, then the button) back to oneself.
    switch = page.get_by_label("Đang thao tác với tư cách:")
    if js:
        switch.dispatch_event("pointerdown")  # a choice made with the mouse or a finger submits at once
        switch.select_option(label="Cá nhân (bản thân tôi)")
    else:
        switch.select_option(label="Cá nhân (bản thân tôi)")
        header.get_by_role("button", name="Chuyển").click()
    expect(page.get_by_role("heading", level=1)).not_to_contain_text(name)
    expect(page.get_by_label("Đang thao tác với tư cách:")).to_have_value("")
    visit("personal-dossiers")
    context.close()


def test_development_provider_sign_in_page(
    new_context: Callable[..., BrowserContext], server_url: str, shot: Callable[[Page, str], Path]
) -> None:
    """The built-in provider's own page (the journeys' portal uses oidc-provider, but serves /dev-idp too)."""
    context = new_context(java_script_enabled=True, viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": "portal-dev",
        "redirect_uri": server_url + "/auth/oidc/callback",
        "scope": "openid profile",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "acr_values": "urn:dvc:loa:2",
    }
    page.goto("/dev-idp/authorize?" + urlencode(query))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("body")).to_contain_text("không phải VNeID thật")
    check_axe(page, "dev-idp/authorize")
    shot(page, "dev-idp-authorize")
    context.close()
