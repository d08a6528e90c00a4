"""QA of the citizen's postal and visit pages on a 360×640 phone, JavaScript off: the delivery choice with the
ward list reloaded by its button, a ward left from another province, saving and the back button, a change after
submission; a visit booked from a stale page, then cancelled; the kiosk on a phone. axe-core on each state."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect
from sqlmodel import Session, select

from auth.models import Account
from e2e.conftest import check_axe
from e2e.journey_helpers import sign_up
from forms.address import wards
from portal.dossiers.models import Dossier
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import make_engine, writer
from portal.kernel.settings import Settings
from portal.visits import service as visits
from portal.visits.models import VisitPurpose
from tests import factories

pytestmark = pytest.mark.e2e
PHONE = {"width": 360, "height": 640}
LICENCE = "3.000347"  # originals (pickup offered), cash on delivery allowed; centre or post
MARRIAGE = "1.000894"  # in person
HOME = {
    "name": "Nguyễn Văn Bình",
    "phone": "0912345678",
    "province": "37",
    "ward": "14329",
    "street": "5 Trần Hưng Đạo",
}
NO_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
# Vietnamese letters that English never has: an English page showing them outside names and data is untranslated.
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)


def phone_page(new_context: Callable[..., BrowserContext], server_url: str, lang: str) -> Page:
    context = new_context(java_script_enabled=False, viewport=PHONE)
    context.add_cookies([{"name": "lang", "value": lang, "url": server_url}])
    return context.new_page()


@pytest.fixture()
def db(server_settings: Settings) -> Iterator[Session]:
    engine = make_engine(server_settings)
    with Session(writer(engine), expire_on_commit=False) as session:
        yield session
    engine.dispose()


def dossier_for(db: Session, email: str, **over: Any) -> str:
    account = db.exec(select(Account).where(Account.email == email)).one()
    row = factories.dossier(db, applicant=account, **over)
    db.commit()
    return row.id


def fits(page: Page, name: str) -> None:
    assert page.evaluate(NO_SCROLL), f"{name}: the page scrolls sideways on a 360 px phone"
    check_axe(page, name)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_delivery_choice_without_javascript(
    lang: str, new_context: Callable[..., BrowserContext], server_url: str, db: Session
) -> None:
    page = phone_page(new_context, server_url, lang)
    email = sign_up(page, "qa-pages")
    draft = dossier_for(db, email, procedure_code=LICENCE)
    page.goto(f"/dossiers/{draft}/delivery")
    fits(page, f"{lang}/delivery")
    page.locator("#delivery-post").check()
    page.locator("#pa-delivery-name").fill("Trần Thị Nhận")
    page.locator("#pa-delivery-phone").fill("0912 345 678")
    page.locator("#pa-delivery-province").select_option("79")
    page.locator("#pa-delivery-street").fill("45 Nguyễn Huệ")
    # Without JavaScript the ward list comes with the button next to it; nothing typed is lost.
    page.locator("#pa-delivery-ward + button").click()
    expect(page.locator("#pa-delivery-ward option")).to_have_count(len(wards("79")) + 1)
    expect(page).to_have_url(re.compile(r"/delivery#pa-delivery-ward$"))  # the answer opens at the ward list
    expect(page.locator("#pa-delivery-ward")).to_be_in_viewport()
    expect(page.locator("#pa-delivery-street")).to_have_value("45 Nguyễn Huệ")
    expect(page.locator("#delivery-post")).to_be_checked()
    page.locator("#pa-delivery-ward").select_option(wards("79")[0][0])
    # The province changed again but not the wards: the ward is not in the province.
    page.locator("#pa-delivery-province").select_option("37")
    page.locator("button[value=save]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#pa-delivery-ward-error")).to_be_visible()
    assert page.locator("#pa-delivery-ward-error").inner_text().strip()
    expect(page.locator("#pa-delivery-street")).to_have_value("45 Nguyễn Huệ")
    expect(page.locator("#pa-delivery-name")).to_have_value("Trần Thị Nhận")
    fits(page, f"{lang}/delivery-error")
    if lang == "en":
        errors = page.locator("#error-summary").inner_text()
        assert not VIETNAMESE.search(errors), errors
    page.locator("#pa-delivery-ward").select_option(HOME["ward"])
    page.locator("button[value=refresh]").last.click()
    expect(page.locator("#delivery-fee tbody tr")).to_have_count(2)  # the licence fee and the postage
    page.locator("button[value=save]").click()
    page.wait_for_url(f"**/dossiers/{draft}/review")
    expect(page.locator("main")).to_contain_text("45 Nguyễn Huệ")
    fits(page, f"{lang}/review")
    page.go_back()
    expect(page.locator("#pa-delivery-street")).to_have_value("45 Nguyễn Huệ")
    page.context.close()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_change_after_submission_and_a_visit_without_javascript(
    lang: str, new_context: Callable[..., BrowserContext], server_url: str, db: Session
) -> None:
    page = phone_page(new_context, server_url, lang)
    email = sign_up(page, "qa-pages")
    submitted = dossier_for(db, email, submitted=True, delivery_method="post", delivery_address=dict(HOME))
    page.goto(f"/dossiers/{submitted}/delivery")
    fits(page, f"{lang}/delivery-change")
    page.locator("#delivery-centre").check()
    page.locator("button[value=save]").click()
    page.wait_for_url(f"**/dossiers/{submitted}?delivery_changed=1")
    expect(page.locator("#delivery-changed")).to_be_visible()  # the citizen is told the change was saved
    fits(page, f"{lang}/after-change")

    marriage = dossier_for(db, email, procedure_code=MARRIAGE, submitted=True)
    page.goto(f"/dossiers/{marriage}/visit")
    page.locator(".visit-days a").first.click()
    heights = page.locator("#slot-choice label").evaluate_all(
        "(els) => els.map((e) => e.getBoundingClientRect().height)"
    )
    assert min(heights) >= 44, heights  # a time is easy to tap on a phone
    stale = page.context.new_page()
    stale.goto(page.url)
    page.locator("#slot-choice input[type=radio]").first.check()
    page.locator(".visit-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/visits/[0-9a-f]{32}$"))
    ticket = page.url
    fits(page, f"{lang}/ticket")
    # The same form sent again from another tab: a clear refusal, with the booked visit listed.
    chosen = stale.locator("#slot-choice input[type=radio]").nth(1)
    chosen_slot = chosen.get_attribute("value")
    chosen.check()
    with stale.expect_navigation() as nav:
        stale.locator(".visit-form button[type=submit]").click()
    answer = nav.value
    assert answer is not None and answer.status == 409, answer.status
    expect(stale.locator(".error-summary")).to_be_visible()
    expect(stale.locator("#booked-visits a")).to_have_count(1)
    # What was chosen is kept (by its time: the list may have lost a slot the other tab filled).
    expect(stale.locator(f"#slot-choice input[value='{chosen_slot}']")).to_be_checked()
    fits(stale, f"{lang}/visit-refused")
    page.goto(ticket)
    page.locator("form[action$='/cancel'] button").click()
    page.wait_for_url("**/visit?cancelled=1")
    expect(page.locator("#visit-cancelled")).to_be_visible()
    fits(page, f"{lang}/visit-cancelled")
    page.context.close()


def test_delivery_choice_with_javascript(
    new_context: Callable[..., BrowserContext], server_url: str, db: Session
) -> None:
    context = new_context(java_script_enabled=True, viewport=PHONE)
    page = context.new_page()
    email = sign_up(page, "qa-pages")
    draft = dossier_for(db, email, procedure_code=LICENCE)
    page.goto(f"/dossiers/{draft}/delivery")
    expect(page.locator("#pa-delivery-ward + button")).to_be_hidden()  # the wards come by themselves
    page.locator("#delivery-post").check()
    page.locator("#pa-delivery-name").fill("Trần Thị Nhận")
    page.locator("#pa-delivery-phone").fill("0912345678")
    page.locator("#pa-delivery-province").select_option("79")
    expect(page.locator("#pa-delivery-ward option")).to_have_count(len(wards("79")) + 1)
    page.locator("#pa-delivery-ward").select_option(wards("79")[0][0])
    page.locator("#pa-delivery-street").fill("45 Nguyễn Huệ")
    page.locator("button[value=refresh]").last.click()  # the fee of these choices, nothing saved
    expect(page.locator("#delivery-fee tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(rf"/dossiers/{draft}/delivery$"))
    db.expire_all()
    saved = db.get(Dossier, draft)
    assert saved is not None and saved.delivery_address is None  # shown, not saved
    db.rollback()  # no read transaction left open beside the server's writes
    page.locator("#pickup-wanted").check()
    page.locator("button[value=save]").click()
    expect(page.locator("#error-summary")).to_be_visible()  # the pickup address is missing
    expect(page.locator("#pa-delivery-street")).to_have_value("45 Nguyễn Huệ")
    fits(page, "js/delivery-error")
    page.locator("#pickup-wanted").uncheck()

    # A slow connection: while the choices are being saved, the buttons are disabled (a second tap sends nothing).
    def slowly(route: Route) -> None:
        time.sleep(1)
        route.continue_()

    page.route(f"**/dossiers/{draft}/delivery", slowly)
    page.locator("button[value=save]").click()
    expect(page.locator("button[value=save]")).to_be_disabled()
    expect(page).to_have_url(re.compile(rf"/dossiers/{draft}/review$"))
    expect(page.locator("main")).to_contain_text("45 Nguyễn Huệ")
    check_axe(page, "js/review")
    context.close()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_kiosk_fits_a_phone(
    lang: str, new_context: Callable[..., BrowserContext], server_url: str, server_settings: Settings, db: Session
) -> None:
    page = phone_page(new_context, server_url, lang)
    email = sign_up(page, "qa-pages")
    code = f"UBXA-261207-{secrets.randbelow(10**6):06d}"  # the public lookup takes codes as the portal issues them
    marriage = dossier_for(db, email, procedure_code=MARRIAGE, submitted=True, code=code)
    found = db.get(Dossier, marriage)
    assert found is not None
    first = visits.available_days(db, server_settings, found.agency_code)[0]
    visit = visits.book(
        session=db,
        settings=server_settings,
        agency_code=found.agency_code,
        account_id=found.applicant_id,
        owner_id=found.id,
        reference=found.code,
        purpose=VisitPurpose.IN_PERSON,
        day=first.day,
        slot=first.slots[0].start,
    )
    visit.day = local_date(utcnow())  # checked in today
    db.add(visit)
    db.commit()
    page.goto("/kiosk")
    fits(page, f"kiosk-phone/{lang}")
    page.locator("#token").fill(visit.token)
    page.locator("#check-in button[type=submit]").click()
    expect(page.locator("#checked-in-number")).to_be_visible()
    fits(page, f"kiosk-phone/{lang}/checked-in")
    page.goto("/kiosk")
    page.locator("#q").fill(found.code or "")
    page.locator("#lookup button[type=submit]").click()
    expect(page.locator("#lookup-result")).to_be_visible()
    fits(page, f"kiosk-phone/{lang}/lookup")
    page.goto("/kiosk")
    page.locator("#q").fill("STP-991231-9999")
    page.locator("#lookup button[type=submit]").click()
    expect(page.locator("#q-error")).to_be_visible()
    fits(page, "kiosk-phone/lookup-refused")
    page.context.close()
