"""/stats in a real browser with JavaScript off, on a phone and on a desktop: the figures of a hand-counted year,
a refused period shown in the form, a ready-made period, the CSV download; axe-core on every state."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import Session

from e2e.conftest import VIEWPORTS, check_axe
from portal.kernel.db import make_engine, writer
from portal.kernel.settings import Settings
from tests.stats.test_stats_page import YEAR, add_dataset, remove_dataset

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode_id", ["stats-phone-js-off", "stats-desktop-js-off"])
def test_statistics_without_javascript(
    mode_id: str,
    new_context: Callable[..., BrowserContext],
    server_settings: Settings,
    shot: Callable[[Page, str], Path],
) -> None:
    engine = make_engine(server_settings)
    with Session(writer(engine), expire_on_commit=False) as db:
        data = add_dataset(db)
    try:
        viewport = VIEWPORTS["phone" if "phone" in mode_id else "desktop"]
        context = new_context(java_script_enabled=False, viewport=viewport)
        page = context.new_page()
        page.set_default_timeout(15_000)

        def visit(name: str) -> None:
            check_axe(page, f"{mode_id}/{name}")
            shot(page, name)

        page.goto("/stats")  # nobody signed in
        expect(page.locator("h1")).to_be_visible()
        expect(page.locator("svg[role=img]")).to_have_count(3)
        # Nothing is wider than the screen: wide tables scroll inside their own region.
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
        visit("this-year")

        page.locator("#stats-from").fill(f"{YEAR}-01-01")
        page.locator("#stats-to").fill(f"{YEAR}-12-31")
        page.locator("#stats-procedure").select_option(data.procedure.code)
        page.locator("form.stats-filters button[type=submit]").click()
        page.wait_for_url(re.compile(rf"/stats\?from={YEAR}-01-01&to={YEAR}-12-31"))
        expect(page.locator("#figure-received .stat-value")).to_have_text("4")
        expect(page.locator("#figure-resolved .stat-value")).to_have_text("3")
        expect(page.locator("#figure-on_time_rate .stat-value")).to_have_text("66,67\u00a0%")
        expect(page.locator("#ranking-procedures tbody tr")).to_have_count(1)
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
        visit("hand-counted-year")

        with page.expect_download() as download_info:
            page.locator(".stats-downloads a[download]").click()
        csv_text = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
        figures = {
            row["key"]: row["value"] for row in csv.DictReader(io.StringIO(csv_text)) if row["section"] == "figures"
        }
        assert (figures["received"], figures["resolved"], figures["on_time_rate"]) == ("4", "3", "66.67")

        # A reversed period: the message at the field, the dates as typed, 422, no figures.
        page.locator("#stats-from").fill(f"{YEAR}-12-31")
        page.locator("#stats-to").fill(f"{YEAR}-01-01")
        with page.expect_response(lambda r: "/stats?" in r.url) as answer:
            page.locator("form.stats-filters button[type=submit]").click()
        assert answer.value.status == 422
        expect(page.locator("#error-summary")).to_contain_text(f"31/12/{YEAR}")
        expect(page.locator("#stats-from-error")).to_be_visible()
        expect(page.locator("#stats-from")).to_have_value(f"{YEAR}-12-31")
        expect(page.locator("#stats-procedure")).to_have_value(data.procedure.code)
        expect(page.locator(".stat-card")).to_have_count(0)
        visit("reversed-period")

        # A ready-made period is a link: it keeps the procedure and replaces the dates.
        page.locator(".stats-presets a").nth(2).click()
        page.wait_for_url(re.compile(r"/stats\?from=\d{4}-01-01&to=\d{4}-12-31&procedure="))
        expect(page.locator(".stats-presets a").nth(2)).to_have_attribute("aria-current", "true")
        expect(page.locator("#error-summary")).to_have_count(0)
        visit("last-year")
        context.close()
    finally:
        with Session(writer(engine), expire_on_commit=False) as db:
            remove_dataset(db, data)
        engine.dispose()
