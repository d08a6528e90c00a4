"""The development OpenID provider over HTTP, as the portal's relying party (or any other) sees it."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

import auth.devidp as devidp
from auth.devidp.provider import get_provider, load_citizens
from portal.app import create_app
from portal.kernel.settings import Settings

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
REQUEST_ID_RE = re.compile(r'name="request_id" value="([^"]+)"')
CITIZEN = "dev-citizen-001"
CITIZEN_CCCD = "037089012345"
LOA2 = "urn:dvc:loa:2"


def build_app(settings: Settings) -> FastAPI:
    """The portal with the development provider (the lead's create_app may include it already)."""
    app = create_app(settings)
    if not any(getattr(route, "path", "").startswith("/dev-idp/") for route in app.routes):
        app.include_router(devidp.router)
    return app


@pytest.fixture(scope="module")
def idp_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return settings.model_copy(update={"storage_dir": tmp_path_factory.mktemp("devidp-files")})


@pytest.fixture(scope="module")
def idp_app(idp_settings: Settings) -> Iterator[FastAPI]:
    app = build_app(idp_settings)
    with TestClient(app):
        yield app


@pytest.fixture()
def browser(idp_app: FastAPI) -> TestClient:
    return TestClient(idp_app, follow_redirects=False)


@pytest.fixture()
def rp(idp_settings: Settings) -> devidp.DevClient:
    return devidp.dev_client(idp_settings)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_params(rp: devidp.DevClient, challenge: str, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": rp.redirect_uri,
        "scope": "openid profile email phone address",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in_form(browser: TestClient, params: dict[str, str]) -> tuple[str, str, str]:
    """Open the provider's page: (html, csrf token, pending request id)."""
    page = browser.get("/dev-idp/authorize", params=params)
    assert page.status_code == 200, page.text
    csrf, request_id = CSRF_RE.search(page.text), REQUEST_ID_RE.search(page.text)
    assert csrf and request_id
    return page.text, csrf.group(1), request_id.group(1)


def sign_in(
    browser: TestClient, rp: devidp.DevClient, params: dict[str, str], *, citizen: str = CITIZEN, acr: str = LOA2
) -> str:
    """Choose a citizen on the provider's page; returns the code sent back to the portal."""
    _, csrf, request_id = sign_in_form(browser, params)
    answer = browser.post(
        "/dev-idp/authorize",
        data={"csrf_token": csrf, "request_id": request_id, "citizen": citizen, "acr": acr, "action": "signin"},
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(rp.redirect_uri + "?")
    back = query_of(location)
    assert back["state"] == params["state"]
    return back["code"]


def exchange(browser: TestClient, rp: devidp.DevClient, code: str, verifier: str, *, secret: str | None = None) -> Any:
    return browser.post(
        "/dev-idp/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier,
        },
        auth=(rp.client_id, secret or rp.client_secret),
    )


def full_flow(
    browser: TestClient, rp: devidp.DevClient, **overrides: str | None
) -> tuple[dict[str, str], dict[str, Any]]:
    verifier, challenge = pkce_pair()
    params = authorization_params(rp, challenge, **overrides)
    code = sign_in(browser, rp, params)
    token = exchange(browser, rp, code, verifier)
    assert token.status_code == 200, token.text
    return params, token.json()


def test_public_api(idp_settings: Settings) -> None:
    rp = devidp.dev_client(idp_settings)
    assert rp.client_id == "portal-dev"
    assert re.fullmatch(r"[0-9a-f]{64}", rp.client_secret)
    assert rp.redirect_uri == "http://testserver/auth/oidc/callback"
    assert rp.post_logout_redirect_uri == "http://testserver/"
    assert devidp.issuer(idp_settings) == "http://testserver/dev-idp"
    other = devidp.dev_client(idp_settings.model_copy(update={"secret_key": secrets.token_urlsafe(48)}))
    assert other.client_secret != rp.client_secret


def test_demo_citizens_are_plausible() -> None:
    citizens = load_citizens()
    assert 3 <= len(citizens) <= 4
    for citizen in citizens:
        assert re.fullmatch(r"(001|037|079)\d{9}", citizen.cccd)
        assert re.fullmatch(r"09\d{8}", citizen.phone_number)
        assert citizen.email.endswith("@example.vn")
        assert citizen.address.split(", ")[-1] in ("Tỉnh Ninh Bình", "Thành phố Hà Nội", "Thành phố Hồ Chí Minh")
        assert re.fullmatch(r"dev-citizen-\d{3}", citizen.sub)


def test_discovery_document(browser: TestClient, idp_settings: Settings) -> None:
    doc = browser.get("/dev-idp/.well-known/openid-configuration").json()
    iss = "http://testserver/dev-idp"
    assert doc["issuer"] == iss
    assert doc["authorization_endpoint"] == iss + "/authorize"
    assert doc["token_endpoint"] == iss + "/token"
    assert doc["userinfo_endpoint"] == iss + "/userinfo"
    assert doc["jwks_uri"] == iss + "/jwks"
    assert doc["end_session_endpoint"] == iss + "/logout"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["acr_values_supported"] == list(idp_settings.oidc_acr_levels)
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert doc["grant_types_supported"] == ["authorization_code"]
    assert doc["subject_types_supported"] == ["public"]
    assert {"openid", "profile", "email", "phone", "address"} <= set(doc["scopes_supported"])
    assert {"name", "birthdate", "email", "phone_number", "address", "acr", "cccd"} <= set(doc["claims_supported"])


def test_jwks_publishes_the_public_signing_key_kept_on_disk(browser: TestClient, idp_settings: Settings) -> None:
    keys = browser.get("/dev-idp/jwks").json()["keys"]
    assert len(keys) == 1
    jwk = keys[0]
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and jwk["use"] == "sig"
    assert "d" not in jwk and "p" not in jwk
    assert jwk["kid"] == RSAKey.import_key(jwk).thumbprint()  # RFC 7638
    pem = idp_settings.storage_dir / "dev-idp" / "signing-key.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in pem.read_bytes()
    # A restarted portal reuses the key, so tokens it signed before stay valid.
    again = TestClient(build_app(idp_settings)).get("/dev-idp/jwks").json()["keys"][0]
    assert again["kid"] == jwk["kid"]


def test_sign_in_page_lists_the_citizens_under_a_banner(browser: TestClient, rp: devidp.DevClient) -> None:
    _, challenge = pkce_pair()
    html, _, _ = sign_in_form(browser, authorization_params(rp, challenge, acr_values=f"{LOA2} urn:dvc:loa:1"))
    assert 'class="dev-idp-banner"' in html
    for citizen in load_citizens():
        assert citizen.name in html
    assert re.search(rf'<input type="radio" id="acr-\d" name="acr" value="{LOA2}" required checked>', html)
    assert re.search(r'<label for="citizen-0">', html) and "<legend>" in html
    assert '<html lang="vi">' in html


def test_code_flow_with_pkce_issues_a_signed_id_token(browser: TestClient, rp: devidp.DevClient) -> None:
    before = int(time.time())
    params, token = full_flow(browser, rp)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 300
    keys = KeySet.import_key_set(browser.get("/dev-idp/jwks").json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert id_token.header["kid"] == keys.keys[0].kid
    claims = id_token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "http://testserver/dev-idp"},
        aud={"essential": True, "value": rp.client_id},
        exp={"essential": True},
        nonce={"essential": True, "value": params["nonce"]},
    ).validate(claims)
    assert claims["sub"] == CITIZEN
    assert claims["acr"] == LOA2
    assert claims["cccd"] == CITIZEN_CCCD
    assert claims["exp"] - claims["iat"] == 300
    assert before <= claims["auth_time"] <= int(time.time())
    assert claims["name"] == "Nguyễn Văn An"
    assert claims["birthdate"] == "1989-03-14"
    assert claims["email"].endswith("@example.vn")
    assert claims["phone_number"].startswith("09")
    assert claims["address"]["formatted"].endswith("Tỉnh Ninh Bình")


def test_cccd_claim_name_follows_the_settings(idp_settings: Settings) -> None:
    app = build_app(idp_settings.model_copy(update={"oidc_cccd_claim": "so_dinh_danh"}))
    browser = TestClient(app, follow_redirects=False)
    rp = devidp.dev_client(idp_settings)
    _, token = full_flow(browser, rp)
    keys = KeySet.import_key_set(browser.get("/dev-idp/jwks").json())
    claims = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert claims["so_dinh_danh"] == CITIZEN_CCCD and "cccd" not in claims


def test_userinfo_needs_the_access_token(browser: TestClient, rp: devidp.DevClient) -> None:
    _, token = full_flow(browser, rp)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    info = browser.get("/dev-idp/userinfo", headers=bearer)
    assert info.status_code == 200
    assert info.json()["sub"] == CITIZEN and info.json()["cccd"] == CITIZEN_CCCD
    assert browser.post("/dev-idp/userinfo", headers=bearer).json()["name"] == "Nguyễn Văn An"
    missing = browser.get("/dev-idp/userinfo")
    assert missing.status_code == 401
    wrong = browser.get("/dev-idp/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_token"
    assert "invalid_token" in wrong.headers["www-authenticate"]


def test_a_code_works_once_and_its_replay_revokes_the_tokens(browser: TestClient, rp: devidp.DevClient) -> None:
    verifier, challenge = pkce_pair()
    code = sign_in(browser, rp, authorization_params(rp, challenge))
    first = exchange(browser, rp, code, verifier)
    assert first.status_code == 200
    replay = exchange(browser, rp, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert browser.get("/dev-idp/userinfo", headers=bearer).status_code == 401


def test_wrong_code_verifier_is_refused(browser: TestClient, rp: devidp.DevClient) -> None:
    _, challenge = pkce_pair()
    code = sign_in(browser, rp, authorization_params(rp, challenge))
    answer = exchange(browser, rp, code, pkce_pair()[0])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_missing_code_verifier_is_refused(browser: TestClient, rp: devidp.DevClient) -> None:
    _, challenge = pkce_pair()
    code = sign_in(browser, rp, authorization_params(rp, challenge))
    answer = browser.post(
        "/dev-idp/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri},
        auth=(rp.client_id, rp.client_secret),
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_wrong_client_secret_is_refused(browser: TestClient, rp: devidp.DevClient) -> None:
    verifier, challenge = pkce_pair()
    code = sign_in(browser, rp, authorization_params(rp, challenge))
    answer = exchange(browser, rp, code, verifier, secret="not-the-secret")
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_client_secret_post_is_accepted(browser: TestClient, rp: devidp.DevClient) -> None:
    verifier, challenge = pkce_pair()
    code = sign_in(browser, rp, authorization_params(rp, challenge))
    answer = browser.post(
        "/dev-idp/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier,
            "client_id": rp.client_id,
            "client_secret": rp.client_secret,
        },
    )
    assert answer.status_code == 200 and "id_token" in answer.json()


def test_an_expired_code_is_refused(browser: TestClient, idp_app: FastAPI, rp: devidp.DevClient) -> None:
    verifier, challenge = pkce_pair()
    code = sign_in(browser, rp, authorization_params(rp, challenge))
    store = get_provider(idp_app).store
    store.clock = lambda: time.time() + 61
    try:
        answer = exchange(browser, rp, code, verifier)
    finally:
        store.clock = time.time
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"nonce": None}, "invalid_request"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "profile email"}, "invalid_scope"),
        ({"prompt": "none"}, "login_required"),
    ],
)
def test_invalid_requests_go_back_to_the_portal_with_the_error(
    browser: TestClient, rp: devidp.DevClient, overrides: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce_pair()
    params = authorization_params(rp, challenge, **overrides)
    answer = browser.get("/dev-idp/authorize", params=params)
    assert answer.status_code == 302
    assert answer.headers["location"].startswith(rp.redirect_uri + "?")
    back = query_of(answer.headers["location"])
    assert back["error"] == error and back["state"] == params["state"]
    assert "code" not in back


@pytest.mark.parametrize("overrides", [{"redirect_uri": "https://attacker.example/cb"}, {"client_id": "someone-else"}])
def test_untrusted_redirects_get_an_error_page_here(
    browser: TestClient, rp: devidp.DevClient, overrides: dict[str, str]
) -> None:
    _, challenge = pkce_pair()
    answer = browser.get("/dev-idp/authorize", params=authorization_params(rp, challenge, **overrides))
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert 'class="dev-idp-banner"' in answer.text and "<h1>" in answer.text


def test_cancel_sends_access_denied(browser: TestClient, rp: devidp.DevClient) -> None:
    _, challenge = pkce_pair()
    params = authorization_params(rp, challenge)
    _, csrf, request_id = sign_in_form(browser, params)
    answer = browser.post("/dev-idp/authorize", data={"csrf_token": csrf, "request_id": request_id, "action": "cancel"})
    assert answer.status_code == 302
    back = query_of(answer.headers["location"])
    assert back["error"] == "access_denied" and back["state"] == params["state"]


def test_the_form_needs_a_citizen_the_csrf_token_and_a_fresh_request(browser: TestClient, rp: devidp.DevClient) -> None:
    _, challenge = pkce_pair()
    _, csrf, request_id = sign_in_form(browser, authorization_params(rp, challenge))
    form = {"csrf_token": csrf, "request_id": request_id, "acr": LOA2, "action": "signin"}
    missing = browser.post("/dev-idp/authorize", data=form)
    assert missing.status_code == 422 and 'class="error-summary"' in missing.text
    assert (
        browser.post("/dev-idp/authorize", data={**form, "citizen": CITIZEN, "csrf_token": "forged"}).status_code == 403
    )
    assert browser.post("/dev-idp/authorize", data={**form, "citizen": CITIZEN}).status_code == 302
    again = browser.post("/dev-idp/authorize", data={**form, "citizen": CITIZEN})
    assert again.status_code == 400 and "location" not in again.headers


def test_logout_with_id_token_hint_goes_back_with_state(browser: TestClient, rp: devidp.DevClient) -> None:
    _, token = full_flow(browser, rp)
    answer = browser.get(
        "/dev-idp/logout",
        params={
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": rp.post_logout_redirect_uri,
            "state": "bye-123",
        },
    )
    assert answer.status_code == 302
    assert answer.headers["location"] == rp.post_logout_redirect_uri + "?state=bye-123"
    # Signing out drops the citizen's access tokens.
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert browser.get("/dev-idp/userinfo", headers=bearer).status_code == 401


def test_logout_without_proof_only_links_back(browser: TestClient, rp: devidp.DevClient) -> None:
    page = browser.get(
        "/dev-idp/logout", params={"post_logout_redirect_uri": rp.post_logout_redirect_uri, "state": "s1"}
    )
    assert page.status_code == 200 and "location" not in page.headers
    assert f'href="{rp.post_logout_redirect_uri}?state=s1"' in page.text
    elsewhere = browser.get(
        "/dev-idp/logout", params={"post_logout_redirect_uri": "https://attacker.example/", "state": "s1"}
    )
    assert elsewhere.status_code == 200 and 'href="https://attacker.example' not in elsewhere.text
    assert f'href="{rp.post_logout_redirect_uri}"' in elsewhere.text


def test_logout_with_a_forged_id_token_hint_is_refused(browser: TestClient, rp: devidp.DevClient) -> None:
    _, token = full_flow(browser, rp)
    header, payload, signature = token["id_token"].split(".")
    forged = ".".join([header, payload, signature[::-1]])
    for hint in (forged, "not-a-jwt"):
        answer = browser.get(
            "/dev-idp/logout",
            params={"id_token_hint": hint, "post_logout_redirect_uri": rp.post_logout_redirect_uri, "state": "s"},
        )
        assert answer.status_code == 400 and "location" not in answer.headers


def test_disabled_provider_is_not_found(idp_settings: Settings, tmp_path: Path) -> None:
    settings = idp_settings.model_copy(update={"dev_idp": False, "storage_dir": tmp_path})
    assert not settings.dev_idp_enabled
    browser = TestClient(build_app(settings), follow_redirects=False)
    for path in ("/dev-idp/.well-known/openid-configuration", "/dev-idp/jwks", "/dev-idp/authorize", "/dev-idp/logout"):
        assert browser.get(path).status_code == 404, path
    assert browser.post("/dev-idp/token", data={"grant_type": "authorization_code"}).status_code == 404
    assert not (tmp_path / "dev-idp").exists()
