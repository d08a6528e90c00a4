"""The catalogue pages of the linked entries in a real browser, with and without JavaScript, in Vietnamese and
English, on a phone and a desktop: axe-core on each."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, expect

from e2e.conftest import VIEWPORTS, check_axe

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_linked_entries_pages_are_accessible(
    js: bool, lang: str, new_context: Callable[..., BrowserContext], server_url: str
) -> None:
    context = new_context(java_script_enabled=js, viewport=VIEWPORTS["phone" if js else "desktop"])
    context.add_cookies([{"name": "lang", "value": lang, "url": server_url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/procedures?q=lien+thong")
    links = page.locator("#results .result-title a")
    expect(links.first).to_be_visible()
    check_axe(page, f"{lang}/linked-list")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    linked = [h for h in hrefs if h and h.startswith("/procedures/LT.")]
    assert linked, hrefs
    for href in linked:
        page.goto(href)
        expect(page.locator("#linked-members")).to_be_visible()
        check_axe(page, f"{lang}/{href}")
