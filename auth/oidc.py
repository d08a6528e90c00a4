"""The portal as an OpenID Connect relying party of the national SSO (Authlib's Starlette client).

Authorization code flow with PKCE (S256), `state` and `nonce`, discovery, id_token checked against
the provider's JWKS (issuer, audience, expiry, nonce; an unknown `kid` refetches the key set once,
which is how a key rotation shows). Without a configured issuer, outside production, the built-in
development provider (auth/devidp) is used, reached in-process through an ASGI transport.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App
from fastapi import Depends, FastAPI
from joserfc.errors import JoseError
from sqlmodel import Session, col, select
from starlette.requests import HTTPConnection, Request

from auth.models import Account, ExternalIdentity
from auth.service import normalise_login
from portal.kernel.clock import utcnow
from portal.kernel.errors import DomainError
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings

log = logging.getLogger(__name__)
LEEWAY_SECONDS = 30


class SignInRefused(DomainError):
    """The provider's answer cannot be trusted or used: no session is created."""

    status_code = 400


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    client_id: str
    client_secret: str
    display_name: str
    in_process: bool  # the built-in development provider


def provider_config(settings: Settings) -> ProviderConfig | None:
    """The configured provider, the development one, or None (SSO sign-in unavailable)."""
    if settings.oidc_issuer:
        return ProviderConfig(
            issuer=settings.oidc_issuer.rstrip("/"),
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            display_name=settings.oidc_display_name,
            in_process=False,
        )
    if settings.dev_idp_enabled:
        from auth import devidp

        client = devidp.dev_client(settings)
        return ProviderConfig(
            issuer=devidp.issuer(settings),
            client_id=client.client_id,
            client_secret=client.client_secret,
            display_name=settings.oidc_display_name,
            in_process=True,
        )
    return None


def make_client(app: FastAPI, settings: Settings) -> StarletteOAuth2App | None:
    """Register the provider with Authlib; metadata and keys are fetched on first use and cached."""
    config = provider_config(settings)
    if config is None:
        return None
    client_kwargs: dict[str, Any] = {
        "scope": settings.oidc_scopes,
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": "client_secret_basic",
        "timeout": 10.0,
    }
    if config.in_process:
        client_kwargs["transport"] = httpx.ASGITransport(app=app)
    oauth = OAuth()
    registered: StarletteOAuth2App = oauth.register(
        name="sso",
        client_id=config.client_id,
        client_secret=config.client_secret,
        server_metadata_url=config.issuer + "/.well-known/openid-configuration",
        client_kwargs=client_kwargs,
    )
    return registered


def app_sso(app: Any) -> StarletteOAuth2App | None:
    """The national SSO's client, made at start (None when no provider is configured)."""
    client: StarletteOAuth2App | None = app.state.sso
    return client


async def get_sso(conn: HTTPConnection) -> StarletteOAuth2App | None:
    return app_sso(conn.app)


async def require_sso(client: Annotated[StarletteOAuth2App | None, Depends(get_sso)]) -> StarletteOAuth2App:
    """The SSO client; a 404 page when this portal has none."""
    if client is None:
        raise DomainError(N_("Sign-in with the national SSO is not configured on this portal."), status_code=404)
    return client


# The client, or None when the portal has no SSO (pages that only say whether it is offered).
OptionalSSODep = Annotated[StarletteOAuth2App | None, Depends(get_sso)]
# The client, for the routes of the SSO sign-in itself.
SSODep = Annotated[StarletteOAuth2App, Depends(require_sso)]


def redirect_uri(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/auth/oidc/callback"


def acr_values_for(settings: Settings, level: int) -> str | None:
    """The acr values that give at least `level`, lowest first (sent as `acr_values`)."""
    levels = settings.oidc_acr_levels
    return " ".join(sorted((v for v, lvl in levels.items() if lvl >= level), key=lambda v: levels[v])) or None


@dataclass(frozen=True)
class SignedIn:
    """What a successful callback established."""

    issuer: str
    subject: str
    level: int
    acr: str
    id_token: str
    claims: dict[str, Any]


async def complete_sign_in(request: Request, *, client: StarletteOAuth2App, settings: Settings) -> SignedIn:
    """Check the provider's answer (state, code, id_token, nonce, acr); raise SignInRefused otherwise."""
    if request.query_params.get("error"):
        raise SignInRefused(
            N_("The identity provider did not sign you in ({reason})."),
            {"reason": request.query_params.get("error_description") or request.query_params["error"]},
        )
    if not request.query_params.get("code") or not request.query_params.get("state"):
        raise SignInRefused(N_("The answer of the identity provider is incomplete. Start signing in again."))
    try:
        token = await client.authorize_access_token(request, leeway=LEEWAY_SECONDS)
    except OAuthError as exc:
        if exc.error == "mismatching_state":
            raise SignInRefused(
                N_("This sign-in link has expired or was already used. Start signing in again.")
            ) from None
        log.info("oidc: token request refused: %s %s", exc.error, exc.description)
        raise SignInRefused(
            N_("The identity provider refused the sign-in ({reason}). Start signing in again."),
            {"reason": exc.error or "error"},
        ) from None
    except (JoseError, ValueError) as exc:
        log.info("oidc: id_token rejected: %r", exc)
        raise SignInRefused(
            N_("The identity token could not be verified ({reason}). No session was opened."),
            {"reason": getattr(exc, "error", None) or type(exc).__name__},
            status_code=401,
        ) from None
    except httpx.HTTPError as exc:
        log.warning("oidc: provider unreachable: %r", exc)
        raise SignInRefused(
            N_("The identity provider cannot be reached right now. Try again in a few minutes."), status_code=502
        ) from None
    claims = token.get("userinfo")
    if not claims or "id_token" not in token:
        raise SignInRefused(N_("The identity provider sent no identity token. No session was opened."), status_code=401)
    acr = claims.get("acr")
    level = settings.oidc_acr_levels.get(acr) if isinstance(acr, str) else None
    if level is None:
        raise SignInRefused(
            N_("The identity provider signed you in at an assurance level this portal does not know ({acr})."),
            {"acr": str(acr or "—")},
            status_code=401,
        )
    return SignedIn(
        issuer=claims["iss"],
        subject=str(claims["sub"]),
        level=level,
        acr=acr,
        id_token=token["id_token"],
        claims=dict(claims),
    )


def _birth_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def apply_claims(account: Account, claims: dict[str, Any], settings: Settings) -> None:
    """Refresh the applicant profile from the provider's claims (they win over what was typed)."""
    name = " ".join(str(claims.get("name") or "").split())
    if name:
        account.full_name = name[:120]
    cccd = str(claims.get(settings.oidc_cccd_claim) or "")
    if cccd.isdigit() and len(cccd) == 12:
        account.cccd = cccd
    born = _birth_date(claims.get("birthdate"))
    if born:
        account.birth_date = born
    email, _ = normalise_login(str(claims.get("email") or ""))
    if email:
        account.sso_email = email
    _, phone = normalise_login(str(claims.get("phone_number") or ""))
    if phone:
        account.sso_phone = phone
    address = claims.get("address")
    formatted = address.get("formatted") if isinstance(address, dict) else None
    if isinstance(formatted, str) and formatted.strip():
        account.address = " ".join(formatted.split())[:300]


def _registered_at_counter(session: Session, signed_in: SignedIn, settings: Settings) -> Account | None:
    """The account made for this citizen at a counter (their verified CCCD, no password, no SSO link yet).

    A dossier handed in on paper is filed under an account found or made by the CCCD on the identity card;
    the first SSO sign-in with that CCCD (a claim the national provider verified) takes that account over, so
    the citizen finds the dossier under "My dossiers". Accounts with a password are never taken over.
    """
    cccd = str(signed_in.claims.get(settings.oidc_cccd_claim) or "")
    if not (cccd.isdigit() and len(cccd) == 12):
        return None
    linked = select(ExternalIdentity.account_id)
    return session.exec(
        select(Account)
        .where(Account.cccd == cccd, col(Account.password_hash).is_(None), col(Account.id).not_in(linked))
        .order_by(col(Account.created_at), col(Account.id))
    ).first()


def account_for(session: Session, signed_in: SignedIn, *, current: Account | None, settings: Settings) -> Account:
    """The account of this SSO identity: the linked one, else the signed-in one (linking), else a new one."""
    identity = session.exec(
        select(ExternalIdentity).where(
            ExternalIdentity.issuer == signed_in.issuer, ExternalIdentity.subject == signed_in.subject
        )
    ).first()
    account: Account | None = None
    if identity is not None:
        account = session.get(Account, identity.account_id)
    if account is None:
        if current is not None:
            account = session.get(Account, current.id)
        if account is None:
            account = _registered_at_counter(session, signed_in, settings)
        if account is None:
            account = Account(full_name=str(signed_in.claims.get("name") or signed_in.subject)[:120])
            session.add(account)
            session.flush()
    if identity is None:
        identity = ExternalIdentity(account_id=account.id, issuer=signed_in.issuer, subject=signed_in.subject)
    identity.account_id = account.id  # the same, or a link whose account no longer exists
    identity.last_signin_at = utcnow()
    session.add(identity)
    apply_claims(account, signed_in.claims, settings)
    session.add(account)
    session.flush()
    return account


async def logout_url(client: StarletteOAuth2App | None, settings: Settings, id_token: str) -> str | None:
    """The provider's end-session URL for RP-initiated logout, or None when it has none."""
    if client is None:
        return None
    try:
        metadata = await client.load_server_metadata()
        if not metadata.get("end_session_endpoint"):
            return None
        result = await client.create_logout_url(
            post_logout_redirect_uri=settings.base_url.rstrip("/") + "/",
            id_token_hint=id_token,
            client_id=client.client_id,
        )
    except (httpx.HTTPError, RuntimeError) as exc:
        log.warning("oidc: no logout at the provider: %r", exc)
        return None
    url: str = result["url"]
    return url
