"""The portal as OpenID Connect relying party: against npm oidc-provider, and a provider that misbehaves."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.models import Account, ExternalIdentity, UserSession
from portal.app import create_app
from portal.kernel.audit import AuditEvent
from portal.kernel.settings import Settings
from tests.auth.fake_op import FakeOP, new_key
from tests.conftest import csrf, signup
from tests.oidc_op.fixture import OP, UNKNOWN_ACR

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def fake_op() -> Iterator[FakeOP]:
    op = FakeOP("portal-fake", secrets.token_urlsafe(16)).start()
    yield op
    op.stop()


def _app_for(settings: Settings, issuer: str, client_id: str, client_secret: str) -> Iterator[TestClient]:
    app = create_app(
        settings.model_copy(
            update={"oidc_issuer": issuer, "oidc_client_id": client_id, "oidc_client_secret": client_secret}
        )
    )
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture()
def rp_fake(settings: Settings, fake_op: FakeOP) -> Iterator[TestClient]:
    yield from _app_for(settings, fake_op.issuer, fake_op.client_id, fake_op.client_secret)


@pytest.fixture()
def rp_op(settings: Settings, oidc_op: OP) -> Iterator[TestClient]:
    yield from _app_for(settings, oidc_op.issuer, oidc_op.client_id, oidc_op.client_secret)


def start_login(client: TestClient, **params: Any) -> str:
    r = client.get("/auth/oidc/login", params={"next": "/dossiers", **params})
    assert r.status_code == 302, r.text
    return r.headers["location"]


def callback(client: TestClient, redirect: str) -> Any:
    parts = urlsplit(redirect)
    assert parts.path == "/auth/oidc/callback", redirect
    return client.get(f"/auth/oidc/callback?{parts.query}")


def signed_in(client: TestClient) -> bool:
    return client.get("/dossiers").status_code == 200


def sessions_of(db: Session, subject: str) -> list[UserSession]:
    identity = db.exec(select(ExternalIdentity).where(ExternalIdentity.subject == subject)).first()
    if identity is None:
        return []
    return list(db.exec(select(UserSession).where(UserSession.account_id == identity.account_id)))


# --------------------------------------------------------------------------- a real provider (oidc-provider)


def test_sign_in_through_oidc_provider_fills_the_profile(rp_op: TestClient, oidc_op: OP, db: Session) -> None:
    url = start_login(rp_op)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] and query["nonce"] and query["code_challenge"]
    r = callback(rp_op, oidc_op.authorize_headless(url, account="citizen-binh", acr="urn:dvc:loa:2"))
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/dossiers"
    assert "Trần Thị Bình" in rp_op.get("/dossiers").text
    identity = db.exec(select(ExternalIdentity).where(ExternalIdentity.subject == "citizen-binh")).one()
    account = db.get(Account, identity.account_id)
    assert account is not None and account.cccd == "079185000002" and account.password_hash is None
    session = db.exec(select(UserSession).where(UserSession.account_id == account.id)).first()
    assert session is not None and session.assurance_level == 2 and session.method == "oidc"
    events = db.exec(select(AuditEvent).where(AuditEvent.account_id == account.id, AuditEvent.kind == "signin.oidc"))
    assert [e.outcome for e in events] == ["ok"]


def test_replayed_callback_and_replayed_code_open_no_session(
    rp_op: TestClient, oidc_op: OP, settings: Settings
) -> None:
    url = start_login(rp_op)
    redirect = oidc_op.authorize_headless(url, account="citizen-chi")
    assert callback(rp_op, redirect).status_code == 303
    # The same answer again, in another browser that started its own sign-in: the code is spent.
    for other in _app_for(settings, oidc_op.issuer, oidc_op.client_id, oidc_op.client_secret):
        fresh = parse_qs(urlsplit(start_login(other)).query)["state"][0]
        code = parse_qs(urlsplit(redirect).query)["code"][0]
        r = other.get("/auth/oidc/callback", params={"code": code, "state": fresh})
        assert r.status_code in (400, 401), r.text
        assert "invalid_grant" in r.text or "refused" in r.text.lower() or "từ chối" in r.text
        assert not signed_in(other)
    # The same answer again in the same browser: its state was used up.
    r = callback(rp_op, redirect)
    assert r.status_code == 400


def test_tampered_or_missing_state_is_refused(rp_op: TestClient, oidc_op: OP) -> None:
    url = start_login(rp_op)
    redirect = oidc_op.authorize_headless(url)
    query = parse_qs(urlsplit(redirect).query)
    r = rp_op.get("/auth/oidc/callback", params={"code": query["code"][0], "state": "x" + query["state"][0]})
    assert r.status_code == 400
    r = rp_op.get("/auth/oidc/callback", params={"code": query["code"][0]})
    assert r.status_code == 400
    assert not signed_in(rp_op)


def test_unknown_acr_is_refused(rp_op: TestClient, oidc_op: OP, db: Session) -> None:
    url = start_login(rp_op)
    r = callback(rp_op, oidc_op.authorize_headless(url, account="citizen-an", acr=UNKNOWN_ACR))
    assert r.status_code == 401
    assert UNKNOWN_ACR in r.text
    assert not signed_in(rp_op)
    refused = db.exec(select(AuditEvent).where(AuditEvent.kind == "signin.oidc", AuditEvent.outcome == "refused")).all()
    assert any(e.detail.get("params", {}).get("acr") == UNKNOWN_ACR for e in refused)


def test_provider_error_answer_is_shown_not_a_session(rp_op: TestClient, oidc_op: OP) -> None:
    url = start_login(rp_op)
    r = callback(rp_op, oidc_op.authorize_headless(url, cancel=True))
    assert r.status_code == 400
    assert not signed_in(rp_op)


def test_rp_initiated_logout_goes_to_the_provider(rp_op: TestClient, oidc_op: OP, db: Session) -> None:
    url = start_login(rp_op)
    assert callback(rp_op, oidc_op.authorize_headless(url, account="citizen-an")).status_code == 303
    r = rp_op.post("/signout", data={"csrf_token": csrf(rp_op, "/dossiers")})
    assert r.status_code == 303 and r.headers["location"] == "/auth/oidc/logout"
    r = rp_op.get("/auth/oidc/logout")
    assert r.status_code == 303
    end = urlsplit(r.headers["location"])
    assert f"{end.scheme}://{end.netloc}" == oidc_op.issuer
    params = parse_qs(end.query)
    assert params["id_token_hint"] and params["post_logout_redirect_uri"] == ["http://testserver/"]
    assert not signed_in(rp_op)
    assert all(s.revoked_at is not None for s in sessions_of(db, "citizen-an"))


def test_step_up_from_a_password_account_links_it(
    rp_fake: TestClient, fake_op: FakeOP, behaviour: Any, db: Session
) -> None:
    login = signup(rp_fake)
    account = db.exec(select(Account).where(Account.email == login)).one()
    db.rollback()
    behaviour.sub = "linked-" + secrets.token_hex(3)
    url = start_login(rp_fake, level=2, next="/procedures/1.004873")
    query = parse_qs(urlsplit(url).query)
    assert query["acr_values"] == ["urn:dvc:loa:2"] and query["prompt"] == ["login"]
    r = callback(rp_fake, f"http://testserver/auth/oidc/callback?code={fake_op.approve(url)}&state={_state(url)}")
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/procedures/1.004873"  # back where the step-up started
    identity = db.exec(select(ExternalIdentity).where(ExternalIdentity.subject == behaviour.sub)).one()
    # Linked to the account that was signed in (not a new one): its drafts are still its own.
    assert identity.account_id == account.id
    db.expire_all()
    live = db.exec(
        select(UserSession).where(UserSession.account_id == account.id, col(UserSession.revoked_at).is_(None))
    )
    assert [s.assurance_level for s in live] == [2]


# --------------------------------------------------------------------------- a provider that misbehaves


def _refused(rp: TestClient, op: FakeOP, status: int = 401) -> str:
    url = start_login(rp)
    r = callback(rp, f"http://testserver/auth/oidc/callback?code={op.approve(url)}&state={_state(url)}")
    assert r.status_code == status, r.text
    assert not signed_in(rp)
    return r.text


def _state(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def _ok(rp: TestClient, op: FakeOP) -> None:
    url = start_login(rp)
    r = callback(rp, f"http://testserver/auth/oidc/callback?code={op.approve(url)}&state={_state(url)}")
    assert r.status_code == 303, r.text
    assert signed_in(rp)


@pytest.fixture()
def behaviour(fake_op: FakeOP) -> Iterator[Any]:
    yield fake_op.behaviour
    fake_op.behaviour = type(fake_op.behaviour)()


def test_wrong_nonce(rp_fake: TestClient, fake_op: FakeOP, behaviour: Any) -> None:
    behaviour.nonce = "not-the-nonce"
    _refused(rp_fake, fake_op)


def test_wrong_issuer(rp_fake: TestClient, fake_op: FakeOP, behaviour: Any) -> None:
    behaviour.issuer = "https://evil.example"
    _refused(rp_fake, fake_op)


def test_wrong_audience(rp_fake: TestClient, fake_op: FakeOP, behaviour: Any) -> None:
    behaviour.audience = "another-client"
    _refused(rp_fake, fake_op)


def test_expired_id_token(rp_fake: TestClient, fake_op: FakeOP, behaviour: Any) -> None:
    behaviour.expires_in = -300
    _refused(rp_fake, fake_op)


def test_signed_by_another_key_with_a_known_kid(rp_fake: TestClient, fake_op: FakeOP, behaviour: Any) -> None:
    behaviour.sign_with = new_key(str(fake_op.keys[0].kid))
    _refused(rp_fake, fake_op)


def test_signed_by_an_unknown_key(rp_fake: TestClient, fake_op: FakeOP, behaviour: Any) -> None:
    behaviour.sign_with = new_key("evil")
    _refused(rp_fake, fake_op)


def test_no_id_token(rp_fake: TestClient, fake_op: FakeOP, behaviour: Any) -> None:
    behaviour.omit_id_token = True
    _refused(rp_fake, fake_op)


def test_missing_acr(rp_fake: TestClient, fake_op: FakeOP, behaviour: Any) -> None:
    behaviour.acr = None
    _refused(rp_fake, fake_op)


def test_key_rotation_is_followed(rp_fake: TestClient, fake_op: FakeOP, behaviour: Any) -> None:
    _ok(rp_fake, fake_op)
    before = fake_op.jwks_requests
    fake_op.rotate_key("k2-" + secrets.token_hex(3))
    rp_fake.cookies.clear()
    _ok(rp_fake, fake_op)
    assert fake_op.jwks_requests == before + 1


def test_profile_claims_refresh_at_each_sign_in(
    rp_fake: TestClient, fake_op: FakeOP, behaviour: Any, db: Session
) -> None:
    behaviour.sub = "refresh-" + secrets.token_hex(3)
    _ok(rp_fake, fake_op)
    behaviour.claims = {**behaviour.claims, "name": "Trần Thị Bích Ngọc", "phone_number": "0911222333"}
    rp_fake.cookies.clear()
    _ok(rp_fake, fake_op)
    identity = db.exec(select(ExternalIdentity).where(ExternalIdentity.subject == behaviour.sub)).one()
    account = db.get(Account, identity.account_id)
    assert account is not None
    assert (account.full_name, account.sso_phone, account.cccd) == ("Trần Thị Bích Ngọc", "0911222333", "037190000123")
    assert account.address == "Số 5 đường Trần Hưng Đạo, Phường Hoa Lư, Tỉnh Ninh Bình"


def test_refusals_are_audited_without_a_session(
    rp_fake: TestClient, fake_op: FakeOP, behaviour: Any, db: Session
) -> None:
    behaviour.sub = "audited-" + secrets.token_hex(3)
    behaviour.expires_in = -300
    before = db.exec(select(AuditEvent).where(col(AuditEvent.outcome) == "refused")).all()
    _refused(rp_fake, fake_op)
    db.rollback()  # a new snapshot (SQLite WAL readers keep theirs until the transaction ends)
    after = db.exec(select(AuditEvent).where(col(AuditEvent.outcome) == "refused")).all()
    assert len(after) == len(before) + 1
    assert db.exec(select(ExternalIdentity).where(ExternalIdentity.subject == behaviour.sub)).first() is None
