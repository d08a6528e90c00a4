"""Sign-in through the national SSO (OpenID Connect): start, callback, logout."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from auth.deps import OptionalAccount
from auth.models import Account
from auth.oidc import (
    OptionalSSODep,
    SignedIn,
    SignInRefused,
    SSODep,
    account_for,
    acr_values_for,
    complete_sign_in,
    logout_url,
    redirect_uri,
)
from auth.sessions import start_session
from auth.views import safe_next
from portal.kernel.audit import client_ip, record
from portal.kernel.db import WriteSessionDep
from portal.kernel.deps import LimiterDep, SettingsDep
from portal.kernel.ratelimit import RateLimited, check
from portal.kernel.settings import Settings
from portal.kernel.web import redirect, render, translator

router = APIRouter(prefix="/auth/oidc")


@router.get("/login", name="oidc_login")
async def login(
    request: Request,
    client: SSODep,
    settings: SettingsDep,
    limiter: LimiterDep,
    next: str | None = None,
    level: int = 0,
) -> Response:
    """Send the browser to the provider; `level=2` asks for a higher assurance level (step-up)."""
    check(limiter, "oidc:ip", client_ip(request))
    request.session["oidc_next"] = safe_next(next)
    extra: dict[str, str] = {"ui_locales": translator(request).locale}
    # The acr values the portal understands, from the level needed up: the provider puts the one it
    # used in the id_token (some providers, oidc-provider among them, only do so when asked).
    acr_values = acr_values_for(settings, max(level, 1))
    if acr_values:
        extra["acr_values"] = acr_values
    if level >= 2:
        extra["prompt"] = "login"
    response: Response = await client.authorize_redirect(request, redirect_uri(settings), **extra)
    return response


def _finish(
    request: Request, session: Session, settings: Settings, signed_in: SignedIn, current: Account | None
) -> str:
    account = account_for(session, signed_in, current=current, settings=settings)
    next_url = str(request.session.pop("oidc_next", None) or "/dossiers")  # before the session is replaced
    start_session(
        request, session, account, method="oidc", level=signed_in.level, acr=signed_in.acr, id_token=signed_in.id_token
    )
    record(
        session,
        "signin.oidc",
        request=request,
        account_id=account.id,
        issuer=signed_in.issuer,
        level=signed_in.level,
        linked=current is not None and current.id == account.id,
    )
    return next_url


@router.get("/callback", name="oidc_callback")
async def callback(
    request: Request,
    session: WriteSessionDep,
    current: OptionalAccount,
    client: SSODep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> Response:
    try:
        check(limiter, "oidc:ip", client_ip(request))
        signed_in = await complete_sign_in(request, client=client, settings=settings)
    except (SignInRefused, RateLimited) as exc:
        # Returned, not raised, so the audit entry is committed; no session is opened.
        await run_in_threadpool(
            record,
            session,
            "signin.oidc",
            request=request,
            outcome="refused",
            account_id=current.id if current else None,
            reason=exc.msgid,
            params=exc.params or None,
        )
        return render(request, "auth/oidc_error.html", {"error": exc}, status_code=exc.status_code)
    target = await run_in_threadpool(_finish, request, session, settings, signed_in, current)
    return redirect(safe_next(target))


@router.get("/logout", name="oidc_logout")
async def logout(request: Request, client: OptionalSSODep, settings: SettingsDep) -> Response:
    """After signing out here, end the session at the provider too (RP-initiated logout)."""
    hint = request.session.pop("oidc_logout_hint", None)
    target = await logout_url(client, settings, hint) if isinstance(hint, str) else None
    return redirect(target or "/")
