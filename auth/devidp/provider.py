"""The development OpenID provider: Authlib's server with one client, demo citizens, a signing key and a memory store.

Everything a real provider would keep in a database (authorization codes, access tokens, pending sign-in
requests) lives in `MemoryStore`, in the process: codes last 60 seconds and access tokens 5 minutes, so
nothing here is worth persisting. The provider is built once per app, on first use (`get_provider`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import yaml
from authlib.common.security import generate_token
from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, OAuth2Request, ResourceProtector, TokenMixin
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from auth.oauth_server import AuthorizationServer
from portal.kernel.deps import app_settings
from portal.kernel.settings import Settings

CLIENT_ID = "portal-dev"
CLIENT_SECRET_LABEL = b"dev-idp client secret for portal-dev"
CITIZENS_FILE = Path(__file__).with_name("citizens.yaml")
SCOPES = ["openid", "profile", "email", "phone", "address"]
TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
CODE_SECONDS = 60
ACCESS_TOKEN_SECONDS = 5 * 60
ID_TOKEN_SECONDS = 5 * 60
PENDING_SECONDS = 10 * 60
NONCE_SECONDS = 10 * 60
MAX_PENDING = 10_000
ALG = "RS256"
ID_TOKEN_CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "at_hash")
PROFILE_CLAIMS = ("name", "gender", "birthdate", "email", "phone_number", "address")


# --- The portal as a registered client --------------------------------------------------------------------


@dataclass(frozen=True)
class DevClient:
    """The portal's registration at the development provider (the relying party's configuration)."""

    client_id: str
    client_secret: str
    redirect_uri: str
    post_logout_redirect_uri: str
    staff_redirect_uri: str = ""  # the staff console's sign-in (/staff/oidc/callback)


def issuer(settings: Settings) -> str:
    """The development provider's issuer identifier (its discovery document is under it)."""
    return settings.base_url.rstrip("/") + "/dev-idp"


def dev_client(settings: Settings) -> DevClient:
    """The portal's client at the development provider; the secret is derived from the portal's secret key."""
    base = settings.base_url.rstrip("/")
    secret = hmac.new(settings.secret_key.encode(), CLIENT_SECRET_LABEL, hashlib.sha256).hexdigest()
    return DevClient(
        client_id=CLIENT_ID,
        client_secret=secret,
        redirect_uri=base + "/auth/oidc/callback",
        post_logout_redirect_uri=base + "/",
        staff_redirect_uri=base + "/staff/oidc/callback",
    )


class RegisteredClient(ClientMixin):
    """Authlib's view of `DevClient`: a confidential client using the code flow only."""

    def __init__(self, client: DevClient) -> None:
        self.client = client
        self.client_id = client.client_id
        self.client_metadata = {
            "redirect_uris": [client.redirect_uri, *([client.staff_redirect_uri] if client.staff_redirect_uri else [])],
            "post_logout_redirect_uris": [client.post_logout_redirect_uri],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": ALG,
        }
        self.id_token_signed_response_alg = ALG

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        """None: OpenID Connect requires `redirect_uri` in every authorization request."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes this provider knows; None (invalid_scope) without `openid`."""
        requested = (scope or "").split()
        if "openid" not in requested:
            return None
        return " ".join(s for s in requested if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client_metadata["redirect_uris"]

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in TOKEN_ENDPOINT_AUTH_METHODS if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


# --- Demo citizens ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Citizen:
    """A demo citizen, as the national SSO would describe them."""

    sub: str
    name: str
    gender: str
    birthdate: date
    cccd: str
    phone_number: str
    email: str
    address: str
    staff_role: str | None = None  # the staff console's role claim: supervisor | officer:<agency> | postal:<op>


@lru_cache(maxsize=2)
def load_citizens(path: Path = CITIZENS_FILE, key: str = "citizens") -> tuple[Citizen, ...]:
    """The demo citizens of `citizens.yaml` (or its staff, `key="staff"`), checked (12-digit CCCD, unique `sub`)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    citizens = tuple(
        Citizen(**{**row, "birthdate": date.fromisoformat(str(row["birthdate"]))}) for row in data.get(key) or ()
    )
    for citizen in citizens:
        if len(citizen.cccd) != 12 or not citizen.cccd.isdigit():
            raise ValueError(f"{path}: {citizen.sub} needs a 12-digit CCCD number")
    if len({c.sub for c in citizens}) != len(citizens):
        raise ValueError(f"{path}: every citizen needs its own sub")
    return citizens


@dataclass(frozen=True)
class Authentication:
    """Who signed in at the provider's page, at which assurance level (acr) and when (auth_time)."""

    citizen: Citizen
    acr: str
    auth_time: int


# --- Storage ----------------------------------------------------------------------------------------------


@dataclass
class CodeRecord(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    sub: str
    nonce: str | None
    acr: str
    auth_time: int
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr


@dataclass
class TokenRecord(TokenMixin):
    access_token: str
    client_id: str
    scope: str
    sub: str
    code: str | None
    issued_at: float
    expires_in: int
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.clock() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return False  # revoked tokens are removed from the store


class MemoryStore:
    """Authorization codes, access tokens and pending sign-in requests, in memory, with expiry.

    The development provider is single-process by design (`portal serve` runs one worker by default):
    this store lives in the app object, so with several workers a code issued by one would be unknown
    to the others. A real provider is the place for shared storage; this one only stands in for it.
    Every method takes the lock: FastAPI runs handlers on several threads.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, CodeRecord] = {}
        self._spent_codes: dict[str, float] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._nonces: dict[tuple[str, str], float] = {}
        self._pending: dict[str, tuple[tuple[tuple[str, str], ...], float]] = {}

    def _purge(self, now: float) -> None:
        for code in [c for c, r in self._codes.items() if r.expires_at <= now]:
            del self._codes[code]
        for code in [c for c, expires in self._spent_codes.items() if expires <= now]:
            del self._spent_codes[code]
        for nonce in [n for n, expires in self._nonces.items() if expires <= now]:
            del self._nonces[nonce]
        for token in [t for t, r in self._tokens.items() if r.issued_at + r.expires_in <= now]:
            del self._tokens[token]
        for pending_id in [p for p, (_, expires) in self._pending.items() if expires <= now]:
            del self._pending[pending_id]

    def add_code(self, record: CodeRecord) -> None:
        with self._lock:
            self._purge(self.clock())
            self._codes[record.code] = record
            if record.nonce:
                self._nonces[(record.client_id, record.nonce)] = self.clock() + NONCE_SECONDS

    def take_code(self, code: str, client_id: str) -> CodeRecord | None:
        """The code's record, once: a second use finds nothing and revokes the tokens the first use got."""
        with self._lock:
            now = self.clock()
            record = self._codes.pop(code, None)
            if record is None:
                if code in self._spent_codes:
                    # RFC 6749 §4.1.2: a code used twice may have leaked, so its tokens go too.
                    for token in [t for t, r in self._tokens.items() if r.code == code]:
                        del self._tokens[token]
                return None
            self._spent_codes[code] = now + CODE_SECONDS
            if record.expires_at <= now or record.client_id != client_id:
                return None
            return record

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        with self._lock:
            expires = self._nonces.get((client_id, nonce))
            return expires is not None and expires > self.clock()

    def add_token(self, record: TokenRecord) -> None:
        with self._lock:
            self._purge(self.clock())
            self._tokens[record.access_token] = record

    def token(self, access_token: str) -> TokenRecord | None:
        with self._lock:
            record = self._tokens.get(access_token)
            if record is None or record.issued_at + record.expires_in <= self.clock():
                return None
            return record

    def revoke_subject(self, client_id: str, sub: str) -> None:
        """Drop the access tokens of one citizen at one client (their sign-out)."""
        with self._lock:
            for token in [t for t, r in self._tokens.items() if r.client_id == client_id and r.sub == sub]:
                del self._tokens[token]

    def add_pending(self, params: list[tuple[str, str]]) -> str:
        """Keep an authorization request's parameters while the citizen chooses; returns its random id."""
        pending_id = secrets.token_urlsafe(24)
        with self._lock:
            now = self.clock()
            self._purge(now)
            while len(self._pending) >= MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[pending_id] = (tuple(params), now + PENDING_SECONDS)
        return pending_id

    def pending(self, pending_id: str) -> list[tuple[str, str]] | None:
        with self._lock:
            entry = self._pending.get(pending_id)
            if entry is None or entry[1] <= self.clock():
                return None
            return list(entry[0])

    def drop_pending(self, pending_id: str) -> bool:
        """Forget a pending request; False if it was already gone (a second submission of the same page)."""
        with self._lock:
            return self._pending.pop(pending_id, None) is not None


# --- Signing key ------------------------------------------------------------------------------------------


def load_or_create_signing_key(path: Path) -> RSAKey:
    """The RS256 key at `path` (PEM, mode 0600), generated on first start; its kid is the RFC 7638 thumbprint."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Written aside, then linked into place: a process starting at the same moment sees either no key or
        # a whole one, and the first link wins.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    key = RSAKey.import_key(path.read_bytes(), {"use": "sig", "alg": ALG})
    if not key.is_private:
        raise ValueError(f"{path} holds no private key")
    key.ensure_kid()  # kid = RFC 7638 thumbprint
    return key


# --- Authlib server, grants and endpoints -----------------------------------------------------------------


class DevAuthorizationServer(AuthorizationServer):
    """The Starlette-adapted Authlib server, knowing its provider (grants reach it as `self.server.provider`)."""

    def __init__(self, provider: DevIdentityProvider) -> None:
        super().__init__(query_client=provider.query_client, save_token=provider.save_token, scopes_supported=SCOPES)
        self.provider = provider


class CodeGrant(AuthorizationCodeGrant):
    """The authorization code grant; codes live 60 seconds and are single-use."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        signed_in: Authentication = request.user
        data = request.payload.data
        provider: DevIdentityProvider = self.server.provider
        provider.store.add_code(
            CodeRecord(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                sub=signed_in.citizen.sub,
                nonce=data.get("nonce"),
                acr=signed_in.acr,
                auth_time=signed_in.auth_time,
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                expires_at=provider.store.clock() + CODE_SECONDS,
            )
        )

    def query_authorization_code(self, code: str, client: Any) -> CodeRecord | None:
        # Taken, not read: the code is spent even if a later check (PKCE, redirect_uri) fails.
        provider: DevIdentityProvider = self.server.provider
        return provider.store.take_code(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Nothing to do: `query_authorization_code` already spent it."""

    def authenticate_user(self, authorization_code: CodeRecord) -> Citizen | None:
        provider: DevIdentityProvider = self.server.provider
        return provider.citizen(authorization_code.sub)


class S256CodeChallenge(CodeChallenge):
    """PKCE, required of every client (confidential ones too, RFC 9700 §2.1.1), with S256 only."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': use S256.")
        super().validate_code_challenge(grant, redirect_uri)


class IdTokenExtension(OpenIDCode):
    """OpenID Connect on the code grant: a nonce is required; the id_token is RS256, lives 5 minutes."""

    def __init__(self, provider: DevIdentityProvider) -> None:
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return self.provider.store.nonce_used(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: Any) -> RSAKey:
        return self.provider.key

    def get_encode_header(self, client: Any) -> dict[str, str]:
        return {"alg": ALG, "kid": str(self.provider.key.kid), "typ": "JWT"}

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        now = int(time.time())
        # A single audience as a string: Authlib's end-session endpoint finds the client from it.
        return {"iss": self.provider.issuer, "aud": client.get_client_id(), "iat": now, "exp": now + ID_TOKEN_SECONDS}

    def generate_user_info(self, user: Citizen, scope: str) -> UserInfo:
        return self.provider.user_claims(user, scope)


class AccessTokenValidator(BearerTokenValidator):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self.store = store

    def authenticate_token(self, token_string: str) -> TokenRecord | None:
        return self.store.token(token_string)


class DevUserInfoEndpoint(UserInfoEndpoint):
    """The userinfo endpoint, protected by a bearer access token with the `openid` scope."""

    def __init__(self, provider: DevIdentityProvider) -> None:
        protector = ResourceProtector()
        protector.register_token_validator(AccessTokenValidator(provider.store))
        super().__init__(resource_protector=protector)
        self.provider = provider

    def __call__(self, request: OAuth2Request) -> tuple[int, Any, list[tuple[str, str]]]:
        # Authlib's own __call__ asks a framework-bound protector for "the current request"; here it is passed.
        token: TokenRecord = self.resource_protector.validate_request(["openid"], request)
        citizen = self.provider.citizen(token.sub)
        if citizen is None:
            raise InvalidTokenError()
        return 200, self.generate_user_info(citizen, token.get_scope()), default_json_headers

    def generate_user_info(self, user: Citizen, scope: str) -> UserInfo:
        return self.provider.user_claims(user, scope)

    def get_issuer(self) -> str:
        return self.provider.issuer


class DevEndSessionEndpoint(EndSessionEndpoint):
    """RP-initiated logout: the provider keeps no session, so signing out drops the citizen's access tokens."""

    def __init__(self, provider: DevIdentityProvider) -> None:
        super().__init__()
        self.provider = provider

    def get_server_jwks(self) -> dict[str, Any]:
        return self.provider.jwks()

    def get_algorithms(self) -> list[str]:
        return [ALG]

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        claims = end_session_request.id_token_claims
        if claims and isinstance(claims.get("sub"), str) and end_session_request.client is not None:
            self.provider.store.revoke_subject(end_session_request.client.get_client_id(), claims["sub"])


# --- The provider -----------------------------------------------------------------------------------------


class DevIdentityProvider:
    """One development provider per app: settings, client, key, demo citizens, store and Authlib server."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.issuer = issuer(settings)
        self.client = dev_client(settings)
        self.registered_client = RegisteredClient(self.client)
        self.key = load_or_create_signing_key(settings.storage_dir / "dev-idp" / "signing-key.pem")
        self.citizens = load_citizens() + load_citizens(key="staff")  # staff carry the console's role claim
        self.acr_values = list(settings.oidc_acr_levels)
        self.store = MemoryStore(clock)
        self.server = self._build_server()

    def _build_server(self) -> DevAuthorizationServer:
        server = DevAuthorizationServer(self)
        server.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: generate_token(42),
                expires_generator=lambda client, grant_type: ACCESS_TOKEN_SECONDS,
            ),
        )
        server.register_grant(CodeGrant, [S256CodeChallenge(required=True), IdTokenExtension(self)])
        server.register_endpoint(DevUserInfoEndpoint(self))
        server.register_endpoint(DevEndSessionEndpoint(self))
        return server

    def query_client(self, client_id: str) -> RegisteredClient | None:
        return self.registered_client if client_id == self.client.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        code = request.authorization_code
        self.store.add_token(
            TokenRecord(
                access_token=token["access_token"],
                client_id=request.client.get_client_id(),
                scope=token.get("scope", ""),
                sub=request.user.sub,
                code=code.code if code is not None else None,
                issued_at=self.store.clock(),
                expires_in=int(token.get("expires_in", ACCESS_TOKEN_SECONDS)),
                clock=self.store.clock,
            )
        )

    def citizen(self, sub: str | None) -> Citizen | None:
        return next((c for c in self.citizens if c.sub == sub), None)

    def user_claims(self, citizen: Citizen, scope: str) -> UserInfo:
        """The claims the scopes allow, plus the citizen id under the configured claim name."""
        info = UserInfo(
            sub=citizen.sub,
            name=citizen.name,
            gender=citizen.gender,
            birthdate=citizen.birthdate.isoformat(),
            email=citizen.email,
            phone_number=citizen.phone_number,
            address={"formatted": citizen.address},
        ).filter(scope)
        info[self.settings.oidc_cccd_claim] = citizen.cccd
        if citizen.staff_role:
            info[self.settings.staff_role_claim] = citizen.staff_role
        return info

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}

    def metadata(self) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0 §3)."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "userinfo_endpoint": base + "/userinfo",
            "jwks_uri": base + "/jwks",
            "end_session_endpoint": base + "/logout",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALG],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": list(TOKEN_ENDPOINT_AUTH_METHODS),
            "scopes_supported": list(SCOPES),
            "acr_values_supported": list(self.acr_values),
            "claims_supported": [
                *ID_TOKEN_CLAIMS,
                *PROFILE_CLAIMS,
                self.settings.oidc_cccd_claim,
                self.settings.staff_role_claim,
            ],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }


_BUILD_LOCK = threading.Lock()


def get_provider(app: Any) -> DevIdentityProvider:
    """The app's provider, built (and its key loaded or made) on first use."""
    provider: DevIdentityProvider | None = getattr(app.state, "dev_idp", None)
    if provider is None:
        with _BUILD_LOCK:
            provider = getattr(app.state, "dev_idp", None)
            if provider is None:
                provider = DevIdentityProvider(app_settings(app))
                app.state.dev_idp = provider
    return provider
