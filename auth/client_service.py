"""Partner API clients: credentials for back-office systems and postal operators, and their access tokens.

A client is bound either to one agency (scope `backoffice`) or to one postal operator (scope `postal`).
Its secret is shown once, at creation or rotation, and stored only as SHA-256. Rotation replaces the
secret at once: the old one stops working for new token requests immediately, but access tokens already
issued with it stay valid until they expire (at most `partner_token_minutes`). Revocation is immediate
for everything: tokens are refused and every API request checks that the client is not revoked.
Services flush, never commit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlmodel import Session, col, select

from auth.clients import SCOPES, ApiClient
from portal.kernel.audit import record
from portal.kernel.clock import utcnow
from portal.kernel.errors import Conflict, Invalid, NotFound
from portal.kernel.hooks import Provided
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings

OPERATOR_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
TOKEN_ALGORITHM = "HS256"
TOKEN_TYPE = "at+jwt"  # RFC 9068: a JWT access token cannot be mistaken for another kind of JWT
KEY_LABEL = b"partner-access-token"


def hash_secret(secret: str) -> str:
    """SHA-256 hex of a client secret (the secrets are 256-bit random values: a slow hash adds nothing)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(client: ApiClient, secret: str) -> bool:
    """Whether `secret` is the client's current secret (constant-time comparison)."""
    return hmac.compare_digest(hash_secret(secret), client.secret_hash)


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _new_client_id(session: Session, prefix: str) -> str:
    for _ in range(10):
        client_id = f"{prefix}-{secrets.token_hex(4)}"
        if session.get(ApiClient, client_id) is None:
            return client_id
    raise Conflict(N_("Could not pick a free client id; try again."))


def _no_agency(session: Session, code: str) -> bool:
    return False


# Whether an agency code names a known agency: provided by the catalogue, which owns agencies.
agency_exists: Provided[[Session, str], bool] = Provided("agency_exists", _no_agency)


def create_client(
    session: Session,
    *,
    name: str,
    scope: str,
    agency_code: str | None = None,
    postal_operator: str | None = None,
) -> tuple[ApiClient, str]:
    """Register a partner client; returns it and its plain secret, which is never available again."""
    name = " ".join(name.split())
    if not name or len(name) > 120:
        raise Invalid(N_("Give the client a name of at most 120 characters."))
    agency_code = (agency_code or "").strip() or None
    postal_operator = (postal_operator or "").strip() or None
    if scope == "backoffice":
        if postal_operator is not None:
            raise Invalid(N_("A back-office client is bound to an agency, not to a postal operator."))
        if agency_code is None or not agency_exists(session, agency_code):
            raise Invalid(N_("A back-office client must name an existing agency (for example UBXA)."))
        prefix = f"bo-{agency_code.lower()}"
    elif scope == "postal":
        if agency_code is not None:
            raise Invalid(N_("A postal client is bound to a postal operator, not to an agency."))
        if postal_operator is None or not OPERATOR_RE.match(postal_operator):
            raise Invalid(
                N_("A postal client must name its operator in lowercase letters, digits and '-' (for example vnpost).")
            )
        prefix = f"po-{postal_operator}"
    else:
        raise Invalid(N_("The scope must be one of: {scopes}."), {"scopes": ", ".join(SCOPES)})
    secret = _new_secret()
    client = ApiClient(
        id=_new_client_id(session, prefix),
        name=name,
        scope=scope,
        agency_code=agency_code,
        postal_operator=postal_operator,
        secret_hash=hash_secret(secret),
    )
    session.add(client)
    record(session, "partner.client.created", client_id=client.id, scope=scope, binding=agency_code or postal_operator)
    session.flush()
    return client, secret


def get_client(session: Session, client_id: str) -> ApiClient:
    """The client with this id, revoked or not."""
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(N_("There is no API client with this id."))
    return client


def rotate_secret(session: Session, client_id: str) -> str:
    """Give the client a new secret; the old one is refused from now on (issued tokens run out on their own)."""
    client = get_client(session, client_id)
    if client.revoked_at is not None:
        raise Conflict(N_("This API client has been revoked; create a new one."))
    secret = _new_secret()
    client.secret_hash = hash_secret(secret)
    client.rotated_at = utcnow()
    session.add(client)
    record(session, "partner.client.rotated", client_id=client.id)
    session.flush()
    return secret


def revoke(session: Session, client_id: str) -> ApiClient:
    """Revoke the client for good: no new tokens, and its unexpired tokens are refused too (safe to repeat)."""
    client = get_client(session, client_id)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        session.add(client)
        record(session, "partner.client.revoked", client_id=client.id)
        session.flush()
    return client


def list_clients(session: Session) -> list[ApiClient]:
    """Every client, oldest first, revoked ones included."""
    return list(session.exec(select(ApiClient).order_by(col(ApiClient.created_at), col(ApiClient.id))))


# -- access tokens ---------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _derive_key(secret_key: str) -> OctKey:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_LABEL).derive(secret_key.encode())
    return OctKey.import_key(raw)


def access_token_key(settings: Settings) -> OctKey:
    """The HS256 key of partner access tokens, derived from the portal's secret key (HKDF-SHA256)."""
    return _derive_key(settings.secret_key)


def token_audience(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/api/v1"


def token_issuer(settings: Settings) -> str:
    return settings.base_url.rstrip("/")


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    jti: str
    expires_at: datetime


def issue_access_token(client: ApiClient, settings: Settings, *, now: datetime | None = None) -> IssuedToken:
    """A signed JWT access token for the client, valid `partner_token_minutes` from `now`."""
    now = now or utcnow()
    lifetime = settings.partner_token_minutes * 60
    expires_at = now + timedelta(seconds=lifetime)
    jti = uuid.uuid4().hex
    claims: dict[str, object] = {
        "iss": token_issuer(settings),
        "aud": token_audience(settings),
        "sub": client.id,
        "scope": client.scope,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti,
    }
    if client.agency_code:
        claims["agency"] = client.agency_code
    if client.postal_operator:
        claims["postal_operator"] = client.postal_operator
    token = jwt.encode(
        {"alg": TOKEN_ALGORITHM, "typ": TOKEN_TYPE}, claims, access_token_key(settings), algorithms=[TOKEN_ALGORITHM]
    )
    return IssuedToken(access_token=token, expires_in=lifetime, scope=client.scope, jti=jti, expires_at=expires_at)
