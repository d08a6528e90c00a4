"""Businesses over HTTP: register, representatives, acting as, and who sees a business's dossiers."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account, UserSession
from portal.businesses.models import Representative
from portal.businesses.service import check_digit
from portal.dossiers.models import Dossier, DossierFile
from portal.kernel.audit import AuditEvent
from tests.conftest import csrf, signup
from tests.signing.helpers import pdftotext
from tests.web.flow import fill_marital, start, submit

pytestmark = pytest.mark.db

NAME = "Công ty TNHH Ánh Dương"
ADDRESS = "12 Tràng Tiền, phường Hoàn Kiếm, Hà Nội"


def new_tax_code() -> str:
    """A valid, unused 10-digit tax code (the database is shared by the whole run)."""
    while True:
        first = f"0{secrets.randbelow(10**8):08d}"
        digit = check_digit(first)
        if digit is not None:
            return f"{first}{digit}"


def browser(app: Any, name: str) -> tuple[TestClient, str]:
    """A signed-in browser reading English (stable messages), and its account id."""
    client = TestClient(app, follow_redirects=False)
    client.cookies.set("lang", "en")
    login = signup(client, name=name)
    with Session(app.state.engine) as s:
        account = s.exec(select(Account).where(Account.email == login)).one()
    return client, account.id


def register(client: TestClient, **data: str) -> httpx.Response:
    form = {"tax_code": new_tax_code(), "name": NAME, "address": ADDRESS, **data}
    return client.post("/businesses", data={**form, "csrf_token": csrf(client, "/businesses/new")})


def registered(client: TestClient, **data: str) -> str:
    r = register(client, **data)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith("/businesses/")
    return r.headers["location"].rsplit("/", 1)[-1]


def act_as(client: TestClient, business_id: str, next_url: str = "/dossiers", **headers: str) -> httpx.Response:
    token = csrf(client)
    return client.post(
        "/acting-as", data={"csrf_token": token, "business_id": business_id, "next": next_url}, headers=headers
    )


def add_rep(client: TestClient, business_id: str, login: str) -> httpx.Response:
    token = csrf(client, f"/businesses/{business_id}")
    return client.post(f"/businesses/{business_id}/representatives", data={"csrf_token": token, "login": login})


def login_of(app: Any, account_id: str) -> str:
    with Session(app.state.engine) as s:
        account = s.get(Account, account_id)
        assert account and account.email
        return account.email


def test_registering_makes_you_its_representative_acting_for_it(app: Any) -> None:
    owner, owner_id = browser(app, "Lê Văn Chủ")
    code = new_tax_code()
    business_id = registered(owner, tax_code=f" {code[:4]} {code[4:]} ", name="  Công ty   TNHH Ánh Dương ")
    page = owner.get(f"/businesses/{business_id}")
    assert page.status_code == 200
    assert NAME in page.text and code in page.text
    assert "Legal representative" in page.text
    # The header says whom the browser acts for, on every page, and offers the switch.
    home = owner.get("/procedures")
    assert 'action="/acting-as"' in home.text and "acting-business" in home.text
    assert f'value="{business_id}" selected' in home.text
    assert f"{NAME} (tax code {code})" in home.text
    assert 'href="/businesses"' in home.text
    assert business_id in owner.get("/businesses").text
    with Session(app.state.engine) as s:
        rep = s.get(Representative, (business_id, owner_id))
        assert rep is not None and rep.role == "legal_representative"
        rows = s.exec(select(UserSession).where(UserSession.account_id == owner_id)).all()
        assert [r.acting_as for r in rows if r.revoked_at is None] == [business_id]
        kinds = {e.kind for e in s.exec(select(AuditEvent).where(AuditEvent.account_id == owner_id))}
        assert {"business.registered", "session.acting_as"} <= kinds


def test_a_registered_tax_code_cannot_be_registered_again(app: Any) -> None:
    first, _ = browser(app, "Người Đầu Tiên")
    code = new_tax_code()
    registered(first, tax_code=code)
    second, _ = browser(app, "Người Thứ Hai")
    r = register(second, tax_code=f"{code}", name="Công ty Khác")
    assert r.status_code == 409
    assert "This tax code is already registered. Ask one of its representatives to add you." in r.text
    assert 'value="Công ty Khác"' in r.text
    # The branch of a registered code is a different unit and can be registered.
    assert register(second, tax_code=f"{code}-001").status_code == 303


def test_letters_in_the_tax_code_are_refused_and_nothing_typed_is_lost(app: Any) -> None:
    client, _ = browser(app, "Phạm Thị Gõ")
    r = register(client, tax_code="01001O9106", name="Hợp tác xã Bình Minh", address="Thôn 3, xã Yên Mô")
    assert r.status_code == 422
    assert "A tax code has only digits: 10, or 13 for a branch (0101234567-001)." in r.text
    assert 'class="error-summary"' in r.text and 'href="#tax_code"' in r.text
    assert 'value="01001O9106"' in r.text
    assert 'value="Hợp tác xã Bình Minh"' in r.text and 'value="Thôn 3, xã Yên Mô"' in r.text
    assert 'aria-invalid="true"' in r.text
    r = register(client, tax_code="0100109107", name="", address="")
    assert r.status_code == 422
    assert "This tax code is not valid: check the digits you typed." in r.text
    assert "Enter the name of the business." in r.text and "Enter the address of the head office." in r.text


def test_representatives_share_the_business_dossiers_and_nobody_else_sees_them(app: Any) -> None:
    owner, owner_id = browser(app, "Trần Văn Chủ")
    colleague, colleague_id = browser(app, "Đỗ Thị Đồng")
    stranger, _ = browser(app, "Kẻ Lạ Mặt")
    business_id = registered(owner)
    dossier_id = fill_marital(owner)  # started while acting for the business
    assert submit(owner, dossier_id).status_code == 303
    with Session(app.state.engine) as s:
        dossier = s.get(Dossier, dossier_id)
        assert dossier and dossier.business_id == business_id and dossier.applicant_id == owner_id
        file_id = s.exec(select(DossierFile.id).where(DossierFile.dossier_id == dossier_id)).first()
    assert file_id
    urls = [f"/dossiers/{dossier_id}", f"/dossiers/{dossier_id}/files/{file_id}", f"/dossiers/{dossier_id}/receipt.pdf"]

    # Not yet a representative: the colleague is a stranger too.
    assert colleague.get(urls[0]).status_code == 404
    assert colleague.get(f"/businesses/{business_id}").status_code == 404
    assert add_rep(owner, business_id, login_of(app, colleague_id)).status_code == 303
    assert "The person has been added." in owner.get(f"/businesses/{business_id}?added=1").text
    assert add_rep(owner, business_id, login_of(app, colleague_id)).status_code == 303  # twice: no change
    with Session(app.state.engine) as s:
        assert len(s.exec(select(Representative).where(Representative.business_id == business_id)).all()) == 2

    for url in urls:  # whoever started it, whatever the colleague acts as
        assert colleague.get(url).status_code == 200, url
    # The dossier page and the receipt say for whom it was filed.
    assert "Filed for" in colleague.get(urls[0]).text and NAME in colleague.get(urls[0]).text
    receipt_text = pdftotext(colleague.get(urls[2]).content)
    assert "Đại diện cho:" in receipt_text and NAME in " ".join(receipt_text.split())
    for url in urls:
        r = stranger.get(url)
        assert r.status_code == 404, url
        assert "Trần Văn Chủ" not in r.text
    assert stranger.get(f"/businesses/{business_id}").status_code == 404
    r = add_rep(stranger, business_id, "someone@example.vn")
    assert r.status_code == 404

    # The list follows acting-as: the colleague acting for oneself does not list it, for the business does.
    assert dossier_id not in colleague.get("/dossiers").text
    assert act_as(colleague, business_id).status_code == 303
    listing = colleague.get("/dossiers")
    assert dossier_id in listing.text and f"Dossiers of {NAME}" in listing.text

    # Once removed by the legal representative, the colleague loses access.
    token = csrf(owner, f"/businesses/{business_id}")
    r = owner.post(f"/businesses/{business_id}/representatives/{colleague_id}/remove", data={"csrf_token": token})
    assert r.status_code == 303
    assert colleague.get(urls[0]).status_code == 404
    assert dossier_id not in colleague.get("/dossiers").text
    # The last representative stays.
    token = csrf(owner, f"/businesses/{business_id}")
    r = owner.post(f"/businesses/{business_id}/representatives/{owner_id}/remove", data={"csrf_token": token})
    assert r.status_code == 409


def test_adding_an_unknown_login_says_so_and_keeps_it(app: Any) -> None:
    owner, _ = browser(app, "Vũ Văn Thêm")
    business_id = registered(owner)
    r = add_rep(owner, business_id, "nobody-here@example.vn")
    assert r.status_code == 422
    assert "No account uses this email or phone number." in r.text
    assert 'value="nobody-here@example.vn"' in r.text
    r = add_rep(owner, business_id, "not a login")
    assert r.status_code == 422 and "Enter a valid email address or Vietnamese mobile number." in r.text


def test_the_dossier_list_follows_acting_as(app: Any) -> None:
    client, _ = browser(app, "Hoàng Thị Chuyển")
    personal = start(client)
    business_id = registered(client)
    business = start(client)
    listing = client.get("/dossiers")
    assert business in listing.text and personal not in listing.text
    assert f"Dossiers of {NAME}" in listing.text
    r = act_as(client, "", "/dossiers")
    assert r.status_code == 303 and r.headers["location"] == "/dossiers"
    listing = client.get("/dossiers")
    assert personal in listing.text and business not in listing.text
    assert "<h1>My dossiers</h1>" in listing.text
    # With HTMX the page reloads at the same place; an unsafe `next` goes to the dossiers.
    r = act_as(client, business_id, "//evil.example/x", **{"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/dossiers"
    assert business in client.get("/dossiers").text
    # Both dossiers stay reachable by their pages whatever the acting identity.
    assert client.get(f"/dossiers/{personal}/continue").status_code == 303


def test_acting_for_a_business_one_does_not_represent_is_404(app: Any) -> None:
    owner, _ = browser(app, "Ngô Văn Sở Hữu")
    business_id = registered(owner)
    other, other_id = browser(app, "Kẻ Mạo Danh")
    assert act_as(other, business_id).status_code == 404
    assert act_as(other, "0123456789abcdef0123456789abcdef").status_code == 404
    with Session(app.state.engine) as s:
        rows = s.exec(select(UserSession).where(UserSession.account_id == other_id)).all()
        assert all(r.acting_as is None for r in rows)
    # A dossier started by the impostor stays personal.
    dossier_id = start(other)
    with Session(app.state.engine) as s:
        dossier = s.get(Dossier, dossier_id)
        assert dossier and dossier.business_id is None


def test_acting_as_needs_the_csrf_token_and_a_session(app: Any) -> None:
    owner, _ = browser(app, "Lý Thị Bảo Vệ")
    business_id = registered(owner)
    data = {"business_id": "", "next": "/dossiers"}
    assert owner.post("/acting-as", data=data).status_code == 403
    assert owner.post("/acting-as", data={**data, "csrf_token": "forged"}).status_code == 403
    assert f'value="{business_id}" selected' in owner.get("/dossiers").text  # unchanged
    anon = TestClient(app, follow_redirects=False)
    token = csrf(anon, "/signin")
    r = anon.post("/acting-as", data={**data, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


def test_business_pages_need_sign_in(client: TestClient) -> None:
    for url in ("/businesses", "/businesses/new", "/businesses/0123456789abcdef0123456789abcdef"):
        r = client.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next="), url
