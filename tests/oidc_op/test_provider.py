"""Tests of the test OP itself: discovery, the code flow through the headless driver, tokens, logout."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oidc_op.fixture import (
    DEMO_ACCOUNTS,
    OP,
    TESTSERVER_POST_LOGOUT_URI,
    TESTSERVER_REDIRECT_URI,
    UNKNOWN_ACR,
    running_op,
)

SCOPE = "openid profile email phone address"


@pytest.fixture(scope="module")
def op() -> Iterator[OP]:
    """A private OP for this module (the shared ``oidc_op`` fixture is for the portal's tests)."""
    with running_op([TESTSERVER_REDIRECT_URI], [TESTSERVER_POST_LOGOUT_URI]) as server:
        yield server


@pytest.fixture(scope="module")
def metadata(op: OP) -> dict[str, Any]:
    """The OP's discovery document."""
    return op.metadata()


def _auth_request(
    op: OP, metadata: dict[str, Any], *, acr_values: str | None = "urn:dvc:loa:2", pkce: bool = True
) -> tuple[str, dict[str, str]]:
    """An authorization URL as an RP builds it, and the secrets the RP keeps (state, nonce, verifier)."""
    kept = {
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "verifier": secrets.token_urlsafe(48),
    }
    params = {
        "response_type": "code",
        "client_id": op.client_id,
        "redirect_uri": TESTSERVER_REDIRECT_URI,
        "scope": SCOPE,
        "state": kept["state"],
        "nonce": kept["nonce"],
    }
    if pkce:
        digest = hashlib.sha256(kept["verifier"].encode()).digest()
        params["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        params["code_challenge_method"] = "S256"
    if acr_values:
        params["acr_values"] = acr_values
    return f"{metadata['authorization_endpoint']}?{urlencode(params)}", kept


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _redeem(op: OP, metadata: dict[str, Any], code: str, verifier: str) -> httpx.Response:
    return httpx.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": TESTSERVER_REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(op.client_id, op.client_secret),
        timeout=10,
    )


def _id_token_claims(metadata: dict[str, Any], id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=10).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": metadata["issuer"]}, exp={"essential": True}).validate(
        token.claims
    )
    return dict(token.claims)


def _sign_in(op: OP, metadata: dict[str, Any], *, account: str, acr: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A full code flow; returns the token response and the verified id_token claims."""
    url, kept = _auth_request(op, metadata)
    callback = _query(op.authorize_headless(url, account=account, acr=acr))
    assert callback["state"] == kept["state"]
    response = _redeem(op, metadata, callback["code"], kept["verifier"])
    assert response.status_code == 200, response.text
    tokens = response.json()
    claims = _id_token_claims(metadata, tokens["id_token"])
    assert claims["nonce"] == kept["nonce"]
    return tokens, claims


def test_discovery_and_jwks(op: OP, metadata: dict[str, Any]) -> None:
    assert metadata["issuer"] == op.issuer
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["acr_values_supported"] == ["urn:dvc:loa:1", "urn:dvc:loa:2", UNKNOWN_ACR]
    assert {"cccd", "name", "birthdate", "email", "phone_number", "address"} <= set(metadata["claims_supported"])
    assert metadata["end_session_endpoint"] == f"{op.issuer}/session/end"
    keys = httpx.get(metadata["jwks_uri"], timeout=10).json()["keys"]
    assert [(k["kty"], k["alg"]) for k in keys] == [("RSA", "RS256")]
    assert "d" not in keys[0]


def test_code_flow_gives_id_token_with_acr_and_claims(op: OP, metadata: dict[str, Any]) -> None:
    url, kept = _auth_request(op, metadata)
    location = op.authorize_headless(url, account="citizen-an", acr="urn:dvc:loa:2")
    assert location.startswith(TESTSERVER_REDIRECT_URI + "?")
    callback = _query(location)
    assert callback["state"] == kept["state"]
    assert callback["iss"] == op.issuer  # RFC 9207

    response = _redeem(op, metadata, callback["code"], kept["verifier"])
    assert response.status_code == 200, response.text
    claims = _id_token_claims(metadata, response.json()["id_token"])
    an = DEMO_ACCOUNTS["citizen-an"]
    assert claims["iss"] == op.issuer
    assert claims["aud"] == op.client_id
    assert claims["sub"] == "citizen-an"
    assert claims["acr"] == "urn:dvc:loa:2"
    assert claims["nonce"] == kept["nonce"]
    assert claims["name"] == "Nguyễn Văn An" == an["name"]
    assert claims["cccd"] == "001090000001"
    assert claims["birthdate"] == an["birthdate"]
    assert claims["phone_number"] == "0912345678"
    assert claims["email"] == an["email"]
    assert claims["address"]["formatted"] == "Số 1 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội"

    replay = _redeem(op, metadata, callback["code"], kept["verifier"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"


def test_other_account_and_unknown_acr(op: OP, metadata: dict[str, Any]) -> None:
    tokens, claims = _sign_in(op, metadata, account="citizen-binh", acr=UNKNOWN_ACR)
    assert claims["sub"] == "citizen-binh"
    assert claims["acr"] == UNKNOWN_ACR
    assert claims["cccd"] == DEMO_ACCOUNTS["citizen-binh"]["cccd"]
    userinfo = httpx.get(
        metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
    ).json()
    assert userinfo["sub"] == "citizen-binh"
    assert userinfo["cccd"] == DEMO_ACCOUNTS["citizen-binh"]["cccd"]


def test_wrong_verifier_is_refused(op: OP, metadata: dict[str, Any]) -> None:
    url, _kept = _auth_request(op, metadata)
    code = _query(op.authorize_headless(url))["code"]
    response = _redeem(op, metadata, code, secrets.token_urlsafe(48))
    assert response.json()["error"] == "invalid_grant"


def test_pkce_is_required(op: OP, metadata: dict[str, Any]) -> None:
    url, kept = _auth_request(op, metadata, pkce=False)
    callback = _query(op.authorize_headless(url))
    assert callback["error"] == "invalid_request"
    assert callback["state"] == kept["state"]
    assert "code" not in callback


def test_cancel_gives_access_denied(op: OP, metadata: dict[str, Any]) -> None:
    url, kept = _auth_request(op, metadata)
    callback = _query(op.authorize_headless(url, cancel=True))
    assert callback["error"] == "access_denied"
    assert callback["state"] == kept["state"]


def test_login_page_is_a_labelled_form_with_the_requested_acr_preselected(op: OP, metadata: dict[str, Any]) -> None:
    url, _kept = _auth_request(op, metadata, acr_values="urn:dvc:loa:1 urn:dvc:loa:2")
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        page = browser.get(url)
    assert page.status_code == 200
    html = page.text
    assert '<html lang="vi">' in html
    assert '<label for="account">' in html and '<select id="account" name="account">' in html
    assert '<label for="acr">' in html and '<select id="acr" name="acr">' in html
    assert re.search(r'<option value="urn:dvc:loa:1" selected>', html)
    assert f'<option value="{UNKNOWN_ACR}">' in html
    for sub, account in DEMO_ACCOUNTS.items():
        assert f'<option value="{sub}"' in html
        assert account["name"] in html
    assert "<script" not in html


def test_rp_initiated_logout_returns_to_the_post_logout_uri(op: OP, metadata: dict[str, Any]) -> None:
    tokens, _claims = _sign_in(op, metadata, account="citizen-chi", acr="urn:dvc:loa:1")
    assert any(c.name == "op_session" for c in op.cookies.jar)
    query = urlencode(
        {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": TESTSERVER_POST_LOGOUT_URI,
            "state": "after-logout",
        }
    )
    location = op.end_session_headless(f"{metadata['end_session_endpoint']}?{query}")
    assert location == urljoin(TESTSERVER_POST_LOGOUT_URI, "?state=after-logout")
    # The OP session is gone: a new authorization asks for the login again.
    with httpx.Client(cookies=op.cookies, follow_redirects=True, timeout=10) as browser:
        page = browser.get(_auth_request(op, metadata)[0])
    assert 'id="login-form"' in page.text


def test_stop_is_idempotent_and_stderr_has_the_log(op: OP) -> None:
    assert "listening on 127.0.0.1" in op.stderr()
    extra = op.__class__(**{**op.__dict__, "process": None, "stderr_path": None, "_stderr_file": None})
    extra.stop()
    extra.stop()
