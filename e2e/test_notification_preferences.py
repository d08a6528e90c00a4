"""How a citizen chooses to be reached, in a real browser: the preferences page on a 375 px phone with JavaScript
off (Vietnamese), then on a desktop with JavaScript on (English); a foreign number refused next to its field with
everything typed kept and nothing saved; a Vietnamese number saved; then a dossier event reaches the citizen by
email, SMS and Zalo, /notifications shows how far each channel got (sent / delivered / failed, in both languages)
and /dev/notifications shows the exact SMS text. axe-core on every page; the pages under the strict CSP."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, ViewportSize, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from auth.models import Account
from e2e.conftest import check_axe
from e2e.journey_helpers import sign_up
from portal.dossiers import lifecycle
from portal.kernel.clock import utcnow
from portal.kernel.db import make_engine, writer
from portal.kernel.i18n import Translator
from portal.kernel.settings import Settings
from portal.notifications import deliveries, sms_text, templates
from portal.notifications.channels import absolute_link
from portal.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationDelivery,
    NotificationPreference,
)
from tests import factories

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PREFERENCES = "/notifications/preferences"
NO_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
# What sticks out: the innermost elements whose content is wider than their box.
WIDER_THAN_SCREEN = """() => [...document.querySelectorAll("body *")]
  .filter((el) => el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
  .filter((el) => getComputedStyle(el).overflowX === "visible")
  .slice(-3).map((el) => el.tagName + "." + el.className + ": " + (el.textContent || "").trim().slice(0, 80))"""
# Vietnamese letters that English never has: an English page showing them outside names and data is untranslated.
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
# Focusable controls of the form, in the order Tab must reach them (the language: the checked radio).
FOCUS_ORDER = ["email", "sms", "zalo", "phone", "sms_plain", "language-{language}", "save"]
VI, EN = Translator("vi"), Translator("en")
T = TypeVar("T")
FOREIGN = "Enter a Vietnamese mobile number: 10 digits starting with 03, 05, 07, 08 or 09 (or +84 and 9 digits)."


@pytest.fixture()
def engine(server_settings: Settings) -> Iterator[Engine]:
    """The journeys' server's database (SQLite: each short session here reads or writes beside the server)."""
    engine = make_engine(server_settings)
    yield engine
    engine.dispose()


def read(engine: Engine, query: Callable[[Session], T]) -> T:
    """What `query` finds now, in a short read-only session (nothing held beside the server's writes)."""
    with Session(engine) as session:
        return query(session)


def checked(page: Page, name: str, shot: Callable[[Page, str], Path]) -> None:
    """Axe-core finds nothing serious, nothing makes the page scroll sideways; photographed into e2e/artifacts."""
    wide = page.evaluate(WIDER_THAN_SCREEN)
    assert page.evaluate(NO_SCROLL), f"{name}: the page scrolls sideways ({page.url}): {wide}"
    check_axe(page, name)
    shot(page, name)


def labelled_and_in_order(page: Page, language: str) -> None:
    """Every control of the form has a visible label, and Tab reaches them in reading order."""
    form = page.locator("main form")
    for control in form.locator("input:not([type=hidden])").all():
        control_id = control.get_attribute("id")
        label = form.locator(f"label[for='{control_id}']")
        expect(label).to_be_visible()
        assert label.inner_text().strip(), control_id
    form.locator("button[type=submit]").evaluate("(el) => { el.id = el.id || 'save'; }")
    form.locator("#email").focus()
    reached = [page.evaluate("() => document.activeElement.id")]
    for _ in FOCUS_ORDER[1:]:
        page.keyboard.press("Tab")
        reached.append(page.evaluate("() => document.activeElement.id"))
    assert reached == [name.format(language=language) for name in FOCUS_ORDER]


def submit(page: Page) -> Response:
    with page.expect_navigation() as navigation:
        page.locator("main form button[type=submit]").click()
    answer = navigation.value
    assert answer is not None
    return answer


def preference(engine: Engine, account_id: str) -> tuple[object, ...] | None:
    """The saved preference: email, sms, zalo, phone, language, sms_plain (None: nothing saved)."""

    def of(session: Session) -> tuple[object, ...] | None:
        row = session.get(NotificationPreference, account_id)
        return None if row is None else (row.email, row.sms, row.zalo, row.phone, row.language, row.sms_plain)

    return read(engine, of)


def sent_deliveries(
    engine: Engine, notification_id: str, channels: int, *, timeout: float
) -> list[NotificationDelivery]:
    """The notification's deliveries once each of its `channels` has been sent by the server's worker."""
    query = select(NotificationDelivery).where(NotificationDelivery.notification_id == notification_id)
    deadline = time.monotonic() + timeout
    while True:
        rows = read(engine, lambda session: list(session.exec(query).all()))
        if len(rows) == channels and all(r.status == DeliveryStatus.SENT for r in rows):
            return rows
        assert time.monotonic() < deadline, [(r.channel, r.status, r.last_error) for r in rows]
        time.sleep(0.2)  # polling the worker's outcome in the database, not waiting on the browser


def test_choosing_how_to_be_reached_and_being_reached(
    new_context: Callable[..., BrowserContext],
    browser: Browser,
    shot: Callable[[Page, str], Path],
    server_url: str,
    server_settings: Settings,
    engine: Engine,
) -> None:
    # ---- A phone, JavaScript off, in Vietnamese: the menu leads to the page.
    phone_context = new_context(java_script_enabled=False, viewport=PHONE)
    phone_context.add_cookies([{"name": "lang", "value": "vi", "url": server_url}])
    page = phone_context.new_page()
    page.set_default_timeout(15_000)
    email = sign_up(page, "qa-preferences")
    account_id = read(engine, lambda session: session.exec(select(Account.id).where(Account.email == email)).one())
    header = page.get_by_role("banner")
    expect(header.get_by_role("link", name=VI("Statistics"), exact=True)).to_have_attribute("href", "/stats")
    header.get_by_role("link", name=VI("How we reach you"), exact=True).click()
    page.wait_for_url(f"**{PREFERENCES}")
    expect(header.get_by_role("link", name=VI("How we reach you"), exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.locator("h1")).to_have_text(VI("Notification preferences"))
    # The defaults: email (the account has an address), no SMS (it has no phone), Vietnamese.
    expect(page.locator("#email")).to_be_checked()
    expect(page.locator("#sms")).not_to_be_checked()
    expect(page.locator("#language-vi")).to_be_checked()
    labelled_and_in_order(page, "vi")
    checked(page, "preferences/phone-vi", shot)

    # A foreign number: refused next to its field, everything typed kept, nothing saved.
    page.locator("#sms").check()
    page.locator("#phone").fill("+1 415 555 0100")
    page.locator("#language-en").check()
    page.locator("#sms_plain").check()
    assert submit(page).status == 422
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary.locator("a")).to_have_attribute("href", "#phone")
    error = page.locator("#phone-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(VI(FOREIGN))
    # The message sits right above its field, and the field points at it.
    expect(page.locator("#phone")).to_have_attribute("aria-invalid", "true")
    assert "phone-error" in (page.locator("#phone").get_attribute("aria-describedby") or "").split()
    expect(page.locator("#phone")).to_have_value("+1 415 555 0100")
    for kept in ("#email", "#sms", "#language-en", "#sms_plain"):
        expect(page.locator(kept)).to_be_checked()
    assert preference(engine, account_id) is None
    checked(page, "preferences/phone-vi-refused", shot)

    # A Vietnamese number, as people write it: saved in national form, the page says so.
    page.locator("#phone").fill("0912 345 678")
    assert submit(page).status == 200
    expect(page).to_have_url(re.compile(rf"{PREFERENCES}\?saved=1$"))
    expect(page.locator("#saved")).to_have_text(VI("Your notification preferences are saved."))
    expect(page.locator("#phone")).to_have_value("0912345678")
    expect(page.locator("#language-en")).to_be_checked()
    saved = preference(engine, account_id)
    assert saved == (
        True,
        True,
        False,
        "0912345678",
        "en",
        True,
    )
    checked(page, "preferences/phone-vi-saved", shot)

    # ---- A desktop, JavaScript on, in English (the same citizen's session).
    desk_context = new_context(java_script_enabled=True, viewport=DESKTOP, storage_state=phone_context.storage_state())
    desk_context.add_cookies([{"name": "lang", "value": "en", "url": server_url}])
    desk = desk_context.new_page()
    desk.set_default_timeout(15_000)
    desk.goto(PREFERENCES)
    main_text = desk.locator("main").inner_text().replace("Tiếng Việt", "")
    assert not VIETNAMESE.search(main_text), main_text
    expect(desk.locator("#phone")).to_have_value("0912345678")
    labelled_and_in_order(desk, "en")
    checked(desk, "preferences/desktop-en", shot)
    # Zalo too, but the number typed is British: refused, kept; what was saved before stays as it was.
    desk.locator("#zalo").check()
    desk.locator("#sms_plain").uncheck()
    desk.locator("#phone").fill("+44 20 7946 0958")
    assert submit(desk).status == 422
    expect(desk.locator("#phone-error")).to_have_text(EN(FOREIGN))
    expect(desk.locator("#phone")).to_have_value("+44 20 7946 0958")
    expect(desk.locator("#zalo")).to_be_checked()
    expect(desk.locator("#sms_plain")).not_to_be_checked()
    errors = desk.locator("#error-summary").inner_text()
    assert not VIETNAMESE.search(errors), errors
    after_refusal = preference(engine, account_id)
    assert after_refusal == saved
    checked(desk, "preferences/desktop-en-refused", shot)
    desk.locator("#phone").fill("+84 91 234 5678")
    assert submit(desk).status == 200
    expect(desk.locator("#saved")).to_be_visible()
    final = preference(engine, account_id)
    assert final == (True, True, True, "0912345678", "en", False)

    # ---- A dossier event: the agency receives the citizen's dossier.
    with Session(writer(engine), expire_on_commit=False) as session:
        applicant = session.get(Account, account_id)
        dossier = factories.dossier(session, applicant=applicant, submitted=True, files=("to_khai",))
        lifecycle.receive(session=session, dossier=dossier, officer="Trần Văn Một Cửa", by="api:ubxa-backoffice")
        session.commit()
        note = session.exec(
            select(Notification)
            .where(Notification.account_id == account_id, Notification.link == f"/dossiers/{dossier.id}")
            .order_by(col(Notification.created_at).desc())
        ).first()
    assert note is not None
    by_channel = {d.channel: d for d in sent_deliveries(engine, note.id, 3, timeout=30)}
    assert set(by_channel) == {"email", "sms", "zalo"}
    assert by_channel["sms"].recipient == by_channel["zalo"].recipient == "84912345678"
    # The providers' receipts: the SMS never reached the phone, the Zalo message did; the email stays sent.
    for channel, status in (("sms", DeliveryStatus.FAILED), ("zalo", DeliveryStatus.DELIVERED)):
        row = by_channel[channel]
        assert row.provider_message_id
        with Session(writer(engine)) as session:
            assert deliveries.record_receipt(
                session,
                provider=row.provider,
                callback_id=f"qa-{secrets.token_hex(6)}",
                provider_message_id=row.provider_message_id,
                status=status,
                at=utcnow(),
                detail="handset unreachable",
            )
            session.commit()

    desk.goto("/notifications")
    item = desk.locator(f"#notification-{note.id}")
    statuses = item.locator("ul.deliveries li")
    expect(statuses).to_have_count(3)
    unreachable = EN("The provider could not deliver it to your phone (it may have been off or out of reach).")
    expect(statuses.nth(0)).to_have_text(f"{EN('Email')}: {EN('sent')}")
    expect(statuses.nth(1)).to_have_text(f"{EN('SMS')}: {EN('failed')} — {unreachable}")
    expect(statuses.nth(2)).to_have_text(f"{EN('Zalo')}: {EN('delivered')}")
    checked(desk, "notifications/desktop-en", shot)
    # Marked read through HTMX: the list comes back with the channels still shown.
    item.locator("form button[type=submit]").click()
    expect(item.locator(".status")).to_have_count(0)
    expect(item.locator("ul.deliveries li")).to_have_count(3)
    checked(desk, "notifications/desktop-en-read", shot)

    page.goto("/notifications")
    vi_statuses = page.locator(f"#notification-{note.id} ul.deliveries li")
    expect(vi_statuses.nth(0)).to_have_text(f"{VI('Email')}: {VI('sent')}")
    expect(vi_statuses.nth(1)).to_have_text(
        f"{VI('SMS')}: {VI('failed')} — "
        + VI("The provider could not deliver it to your phone (it may have been off or out of reach).")
    )
    expect(vi_statuses.nth(2)).to_have_text(f"{VI('Zalo')}: {VI('delivered')}")
    checked(page, "notifications/phone-vi", shot)

    # ---- The development page: the exact SMS, in the citizen's language (English), with its encoding.
    params = {**note.params, templates.LINK: absolute_link(server_settings.base_url, note.link)}
    expected = sms_text.fit(
        templates.sms_text(note.kind, params, "en"), plain=False, max_segments=server_settings.sms_max_segments
    )
    desk.goto("/dev/notifications")
    sms_item = desk.locator(f"#delivery-{by_channel['sms'].id}")
    expect(sms_item.locator("h2")).to_have_text(f"{EN('SMS')} → 84912345678")
    body = sms_item.locator("dd")
    expect(body.nth(0)).to_have_text(expected.text)
    expect(body.nth(0)).to_have_attribute("lang", "en")
    assert note.params["code"] in expected.text and expected.text.endswith(params[templates.LINK])
    expect(body.nth(1)).to_have_text(expected.encoding)
    expect(sms_item.locator(".delivery-status")).to_have_text(EN("failed"))
    expect(desk.locator(f"#delivery-{by_channel['zalo'].id} .delivery-status")).to_have_text(EN("delivered"))
    checked(desk, "dev-notifications/desktop-en", shot)
    page.goto("/dev/notifications")
    expect(page.locator(f"#delivery-{by_channel['sms'].id} dd").nth(0)).to_have_text(expected.text)
    checked(page, "dev-notifications/phone-vi", shot)

    # ---- Under the portal's own CSP (no bypass): nothing refused, nothing broken.
    # (A context of its own: the journeys' contexts bypass the CSP so that axe-core can be injected.)
    strict = browser.new_context(
        base_url=server_url, java_script_enabled=True, viewport=PHONE, storage_state=desk_context.storage_state()
    )
    refused: list[str] = []
    strict_page = strict.new_page()
    strict_page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    strict_page.on("pageerror", lambda e: refused.append(str(e)))
    for path in (PREFERENCES, "/notifications", "/dev/notifications", "/stats"):
        answer = strict_page.goto(path)
        assert answer is not None and answer.status == 200, path
        assert "script-src 'self'" in (answer.header_value("content-security-policy") or ""), path
    assert not refused, refused
    for context in (phone_context, desk_context, strict):
        context.close()
