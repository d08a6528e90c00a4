"""A protocol-accurate OpenID provider that can misbehave on purpose, served over real HTTP.

The well-behaved provider of the test suite is the npm `oidc-provider` (tests/oidc_op). This one
exists for the answers a correct provider never gives: an id_token from another issuer, signed by
another key, expired, with the wrong nonce or an unknown `acr`. It speaks the same wire format:
discovery, JWKS, a token endpoint with client_secret_basic and PKCE (S256) verification.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class Pending:
    """An authorization the test 'approved': what the token endpoint will answer for its code."""

    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str
    used: bool = False


@dataclass
class Behaviour:
    """What the next id_tokens look like (tests change it between sign-ins)."""

    issuer: str | None = None  # None: the real issuer
    sign_with: RSAKey | None = None  # None: the current published key
    expires_in: int = 300
    nonce: str | None = None  # None: the nonce of the request
    acr: str | None = "urn:dvc:loa:2"
    audience: str | None = None
    omit_id_token: bool = False
    sub: str = "fake-citizen-1"
    claims: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "Trần Thị Bích",
            "cccd": "037190000123",
            "birthdate": "1990-05-17",
            "email": "bich@example.vn",
            "phone_number": "0987654321",
            "address": {"formatted": "Số 5 đường Trần Hưng Đạo, Phường Hoa Lư, Tỉnh Ninh Bình"},
        }
    )


class FakeOP:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.keys = [new_key("k1")]
        self.behaviour = Behaviour()
        self.pending: dict[str, Pending] = {}
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.token_requests = 0
        self.jwks_requests = 0
        app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/token", self.token, methods=["POST"]),
            ]
        )
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    # -- lifecycle
    def start(self) -> FakeOP:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake OP did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # -- what a test does in place of the browser at the provider
    def approve(self, authorization_url: str) -> str:
        """Accept the authorization request; return the code the provider would send back."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorization_url).query).items()}
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        assert query["client_id"] == self.client_id
        code = secrets.token_urlsafe(16)
        self.pending[code] = Pending(
            client_id=query["client_id"],
            redirect_uri=query["redirect_uri"],
            nonce=query["nonce"],
            code_challenge=query["code_challenge"],
        )
        return code

    def rotate_key(self, kid: str) -> RSAKey:
        key = new_key(kid)
        self.keys = [key]
        return key

    # -- endpoints
    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(self, request: Request) -> JSONResponse:
        self.jwks_requests += 1
        return JSONResponse(KeySet(list(self.keys)).as_dict(private=False))

    async def token(self, request: Request) -> JSONResponse:
        self.token_requests += 1
        form = {k: str(v) for k, v in (await request.form()).items()}
        auth = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if auth != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        pending = self.pending.get(form.get("code", ""))
        if form.get("grant_type") != "authorization_code" or pending is None or pending.used:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        pending.used = True
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != pending.code_challenge or form.get("redirect_uri") != pending.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        b = self.behaviour
        access_token = secrets.token_urlsafe(24)
        body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "expires_in": 300}
        if not b.omit_id_token:
            now = int(time.time())
            claims: dict[str, Any] = {
                "iss": b.issuer or self.issuer,
                "sub": b.sub,
                "aud": b.audience or self.client_id,
                "iat": now - 5 if b.expires_in > 0 else now - 600,
                "exp": now + b.expires_in,
                "nonce": b.nonce or pending.nonce,
                "auth_time": now - 5,
                "at_hash": _at_hash(access_token),
                **b.claims,
            }
            if b.acr is not None:
                claims["acr"] = b.acr
            key = b.sign_with or self.keys[0]
            body["id_token"] = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
