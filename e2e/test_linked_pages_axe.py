"""axe-core on the parts of a linked application's pages that the birth journey (test_linked_journey.py) does not
reach: a member's open supplement request answered from the application's page, a rejected member and why, a
waiting member's estimated date; with JavaScript off, on a phone and a desktop, in Vietnamese and English; and the
public lookup of the application's code listing its members.

The application is written as rows in the journeys' server's database (tests/dossiers/test_linked_pages.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page
from sqlmodel import Session, select

from auth.models import Account
from e2e.conftest import VIEWPORTS, check_axe
from e2e.journey_helpers import partner_connection, sign_up
from portal.dossiers.models import Dossier, DossierEvent, DossierStatus
from portal.kernel.uow import writer
from tests.dossiers.test_linked_pages import BY, ask_for_the_form, linked_application

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_linked_application_pages_pass_axe(
    new_context: Callable[..., BrowserContext], server_url: str, server_settings: Any, viewport: str
) -> None:
    context = new_context(viewport=VIEWPORTS[viewport])
    page: Page = context.new_page()
    email = sign_up(page, "lien-thong-axe")
    with (
        partner_connection(server_url, server_settings) as (_http, engine),
        Session(writer(engine), expire_on_commit=False) as db,  # takes the write lock first: the server writes too
    ):
        account = db.exec(select(Account).where(Account.email == email)).one()
        app = linked_application(db, account)
        first = db.get(Dossier, app.first.id)
        assert first is not None
        ask_for_the_form(db, first)
        work = db.get(Dossier, app.work.id)
        assert work is not None
        work.status = DossierStatus.REJECTED
        db.add(work)
        db.add(DossierEvent(dossier_id=work.id, kind="rejected", actor=BY, details={"reason": "Không đủ điều kiện."}))
        db.commit()
        parent_id, parent_code = app.parent.id, app.parent.code

    no_js = new_context(viewport=VIEWPORTS[viewport], java_script_enabled=False)
    # The same signed-in browser with JavaScript off: its session cookie copied over.
    no_js.add_cookies([{"name": c["name"], "value": c["value"], "url": server_url} for c in context.cookies()])
    plain = no_js.new_page()
    for lang in ("vi", "en"):
        for browser_page in (page, plain):
            browser_page.context.add_cookies([{"name": "lang", "value": lang, "url": server_url}])
            browser_page.goto(f"/dossiers/{parent_id}")
            assert browser_page.locator("#linked-members tbody tr").count() == 3
            assert browser_page.locator("#linked-supplements").is_visible()
            assert browser_page.locator("#linked-failed").is_visible()
            check_axe(browser_page, f"linked/application-{lang}-{viewport}")
        plain.goto(f"/lookup?code={parent_code}")
        assert plain.locator(".linked-members tbody tr").count() == 3
        check_axe(plain, f"linked/lookup-{lang}-{viewport}")
