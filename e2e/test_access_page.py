""" "Who accessed my dossier" on the dossier page, JavaScript off, on a phone and a desktop, in both languages:
the table reads (agency, officer, postal operator, purpose, what) and axe-core finds nothing serious."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import Session, select

from auth.models import Account
from e2e.conftest import VIEWPORTS, check_axe
from e2e.journey_helpers import sign_up
from portal.audit.access import Actor, record_access
from portal.kernel.db import make_engine, writer
from portal.kernel.settings import Settings
from tests import factories

pytestmark = pytest.mark.e2e


@pytest.fixture()
def db(server_settings: Settings) -> Iterator[Session]:
    engine = make_engine(server_settings)
    with Session(writer(engine), expire_on_commit=False) as session:
        yield session
    engine.dispose()


def _page(new_context: Callable[..., BrowserContext], server_url: str, lang: str, size: str) -> Page:
    context = new_context(java_script_enabled=False, viewport=VIEWPORTS[size])
    context.add_cookies([{"name": "lang", "value": lang, "url": server_url}])
    return context.new_page()


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_who_accessed_my_dossier_without_javascript(
    lang: str, size: str, new_context: Callable[..., BrowserContext], server_url: str, db: Session
) -> None:
    page = _page(new_context, server_url, lang, size)
    email = sign_up(page, "accesses")
    account = db.exec(select(Account).where(Account.email == email)).one()
    dossier = factories.dossier(db, applicant=account, submitted=True)
    db.commit()
    page.goto(f"/dossiers/{dossier.id}")
    expect(page.locator("#accesses-none")).to_be_visible()
    check_axe(page, f"{lang}/{size}/no accesses")

    agency = Actor(
        kind="agency",
        name="Phần mềm một cửa UBND xã",
        purpose="processing",
        agency_code=dossier.agency_code,
        client_id="e2e",
    )
    record_access(db, "dossier.read", dossier_id=dossier.id, actor=agency)
    record_access(db, "dossier.file_downloaded", dossier_id=dossier.id, actor=agency, name="to-khai.pdf")
    record_access(db, "dossier.status", dossier_id=dossier.id, actor=agency, was="submitted", to="received")
    record_access(
        db,
        "postal.order_read",
        dossier_id=dossier.id,
        actor=Actor(kind="postal", name="VNPost"),
        purpose="pickup",
        order="BC260000001",
    )
    record_access(
        db,
        "dossier.read",
        dossier_id=dossier.id,
        actor=Actor(kind="staff", name="Trần Giám Sát", purpose="supervision"),
    )
    db.commit()

    page.goto(f"/dossiers/{dossier.id}")
    rows = page.locator("#accesses-table tbody tr")
    expect(rows).to_have_count(5)
    table = page.locator("#accesses-table")
    expect(table).to_contain_text("Phần mềm một cửa UBND xã")
    expect(table).to_contain_text("VNPost")
    expect(table).to_contain_text("Trần Giám Sát")
    if lang == "en":
        expect(table).to_contain_text("Processing the dossier")
        expect(table).to_contain_text("Downloaded the file to-khai.pdf")
        expect(table).to_contain_text("Changed the status to Received")
        expect(table).to_contain_text("Picking up the original documents")
    page.locator("#accesses").scroll_into_view_if_needed()
    fits = page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert fits, "the page scrolls sideways"
    check_axe(page, f"{lang}/{size}/accesses")
