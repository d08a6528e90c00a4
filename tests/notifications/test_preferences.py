"""The preferences page: defaults, a Vietnamese mobile number, an account with no channel left, refusals."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from auth.models import Account
from portal.notifications.models import NotificationPreference
from portal.notifications.preferences import Choice, national_mobile
from tests.conftest import csrf, signup
from tests.notifications.test_notifications import account_of

pytestmark = pytest.mark.db

PAGE = "/notifications/preferences"


def mobile() -> str:
    return "09" + "".join(secrets.choice("0123456789") for _ in range(8))


def post(client: TestClient, **fields: str) -> httpx.Response:
    return client.post(PAGE, data={"csrf_token": csrf(client, PAGE), **fields})


def ticked(html: str, field_id: str) -> bool:
    """Whether the input of this id is checked."""
    tag = re.search(rf'<input[^>]*\bid="{field_id}"[^>]*>', html)
    assert tag, f"no input {field_id}"
    return re.search(r"\schecked\b", tag.group(0)) is not None


def preference(app, account_id: str) -> NotificationPreference | None:
    with Session(app.state.engine) as s:
        return s.get(NotificationPreference, account_id)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0912345678", "0912345678"),
        ("0912 345 678", "0912345678"),
        ("091.234.5678", "0912345678"),
        ("+84912345678", "0912345678"),
        ("+84 38 123 4567", "0381234567"),
        ("84912345678", "0912345678"),
        ("0212345678", None),  # a landline prefix
        ("012345678", None),  # nine digits
        ("09123456789", None),  # eleven
        ("+1 415 555 0100", None),  # not Vietnamese
        ("09abc45678", None),
        ("", None),
    ],
)
def test_vietnamese_mobile_numbers(typed: str, stored: str | None) -> None:
    assert national_mobile(typed) == stored


def test_defaults_follow_the_account(app, client: TestClient) -> None:
    signup(client, login=f"mac-dinh-{secrets.token_hex(4)}@example.vn")
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.text
    assert ticked(html, "email") and not ticked(html, "sms") and not ticked(html, "zalo")
    assert ticked(html, "language-vi") and not ticked(html, "language-en") and not ticked(html, "sms_plain")
    assert 'id="inbox-only"' not in html
    assert 'name="csrf_token"' in html


def test_a_phone_account_gets_sms_by_default_and_can_save(app, client: TestClient) -> None:
    phone = mobile()
    signup(client, login=phone)
    html = client.get(PAGE).text
    assert not ticked(html, "email") and ticked(html, "sms")
    account_id = account_of_phone(app, phone)
    r = post(client, sms="on", zalo="on", phone="", language="en", sms_plain="on")
    assert r.status_code == 303 and r.headers["location"] == PAGE + "?saved=1"
    row = preference(app, account_id)
    assert row is not None and (row.email, row.sms, row.zalo, row.language, row.sms_plain) == (
        False,
        True,
        True,
        "en",
        True,
    )
    assert row.phone is None  # the account's own number is followed, not copied
    saved = client.get(PAGE + "?saved=1").text
    assert 'id="saved"' in saved and ticked(saved, "language-en") and ticked(saved, "sms_plain")


def account_of_phone(app, phone: str) -> str:
    from sqlmodel import select

    with Session(app.state.engine) as s:
        return s.exec(select(Account.id).where(Account.phone == phone)).one()


def test_another_number_in_international_form_is_stored_nationally(app, client: TestClient) -> None:
    login = signup(client)
    r = post(client, email="on", sms="on", phone="+84 912 345 678", language="vi")
    assert r.status_code == 303
    row = preference(app, account_of(app.state.engine, login))
    assert row is not None and row.phone == "0912345678" and row.email and row.sms
    assert 'value="0912345678"' in client.get(PAGE).text


def test_a_number_that_is_not_vietnamese_is_refused_with_a_clear_message(app, client: TestClient) -> None:
    login = signup(client)
    client.get(f"/lang/en?next={PAGE}")
    r = post(client, email="on", sms="on", phone="+1 415 555 0100", language="vi")
    assert r.status_code == 422
    assert "Enter a Vietnamese mobile number: 10 digits starting with 03, 05, 07, 08 or 09" in r.text
    assert 'aria-invalid="true"' in r.text and 'value="+1 415 555 0100"' in r.text  # the value is kept
    assert 'href="#phone"' in r.text  # the error summary leads to the field
    assert preference(app, account_of(app.state.engine, login)) is None


def test_sms_needs_a_number_and_email_an_address(app, client: TestClient) -> None:
    signup(client)  # an email account, no phone
    client.get(f"/lang/en?next={PAGE}")
    r = post(client, email="on", zalo="on", phone="", language="vi")
    assert r.status_code == 422 and "Enter the mobile number SMS and Zalo messages should go to." in r.text

    phone_only = TestClient(app, follow_redirects=False)
    signup(phone_only, login=mobile())
    phone_only.get(f"/lang/en?next={PAGE}")
    r = post(phone_only, email="on", sms="on", language="vi")
    assert r.status_code == 422 and "Your account has no email address, so no email can be sent." in r.text


def test_no_channel_left_is_allowed_with_a_warning(app, client: TestClient) -> None:
    login = signup(client)
    client.get(f"/lang/en?next={PAGE}")
    r = post(client, language="vi", phone="")
    assert r.status_code == 303
    row = preference(app, account_of(app.state.engine, login))
    assert row is not None and not (row.email or row.sms or row.zalo)
    page = client.get(PAGE).text
    assert 'id="inbox-only"' in page and "only the inbox on this portal will be used" in page


def test_garbage_is_a_4xx_never_a_500(app, client: TestClient) -> None:
    signup(client)
    assert post(client, email="on", language="fr").status_code == 422
    assert post(client, email="on", language="vi", phone="0" * 41).status_code in (400, 422)
    assert post(client, email="x" * 11, language="vi").status_code in (400, 422)
    assert client.get(PAGE + "?saved=yes%00").status_code == 200


def test_signed_in_and_csrf_only(app, client: TestClient) -> None:
    anonymous = TestClient(app, follow_redirects=False)
    assert anonymous.get(PAGE).status_code in (303, 401)
    signup(client)
    assert client.post(PAGE, data={"email": "on", "language": "vi"}).status_code == 403


def test_each_account_chooses_for_itself(app, client: TestClient) -> None:
    first = signup(client)
    other = TestClient(app, follow_redirects=False)
    second = signup(other)
    assert post(client, language="en").status_code == 303
    engine = app.state.engine
    assert preference(app, account_of(engine, second)) is None
    row = preference(app, account_of(engine, first))
    assert row is not None and row.language == "en"


def test_choice_reaches_only_what_can_be_reached() -> None:
    choice = Choice(
        email=True,
        sms=True,
        zalo=True,
        phone=None,
        language="vi",
        sms_plain=False,
        email_address=None,
        account_phone=None,
        saved=True,
    )
    assert choice.reachable() == ()
    reachable = Choice(**{**choice.__dict__, "account_phone": "0912345678", "email_address": "a@b.vn"})
    assert reachable.reachable() == ("email", "sms", "zalo")
    assert reachable.recipient("sms") == "84912345678" and reachable.recipient("email") == "a@b.vn"
