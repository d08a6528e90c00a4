"""Sign-up, sign-in and sign-out pages (local accounts; the national SSO is in auth/oidc_views.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from auth.assurance import level_needed_at
from auth.deps import OptionalAccount
from auth.oidc import OptionalSSODep
from auth.service import SignInFailed, authenticate, check_signup, create_account, normalise_login
from auth.sessions import end_session, start_session
from portal.kernel.audit import client_ip, record
from portal.kernel.db import SessionDep
from portal.kernel.deps import LimiterDep, SettingsDep
from portal.kernel.errors import DomainError, NotFound
from portal.kernel.i18n import N_
from portal.kernel.ratelimit import RateLimited, check
from portal.kernel.settings import Settings
from portal.kernel.web import redirect, render

router = APIRouter()


def safe_next(value: str | None) -> str:
    """Only same-site relative paths are followed after sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dossiers"


async def local_accounts_on(settings: SettingsDep) -> None:
    """Password sign-in and sign-up pages exist only while the settings allow local accounts."""
    if not settings.allow_local_accounts:
        raise NotFound(N_("Sign-in with a password is switched off on this portal. Use the national SSO."))


LocalAccounts = Depends(local_accounts_on)


def _signin_context(settings: Settings, sso: object | None, next_url: str, **extra: object) -> dict[str, object]:
    return {
        "next": next_url,
        "form": {},
        "error": None,
        "local_accounts": settings.allow_local_accounts,
        "sso_name": settings.oidc_display_name,
        "dev_idp": settings.dev_idp_enabled and not settings.oidc_issuer,
        "sso_available": sso is not None,
        **extra,
    }


@router.get("/signin", name="signin")
def signin_page(
    request: Request,
    account: OptionalAccount,
    settings: SettingsDep,
    sso: OptionalSSODep,
    session: SessionDep,
    next: str | None = None,
    level: int = 0,
) -> Response:
    if account and not level:
        return redirect(safe_next(next))
    target = safe_next(next)
    sso_level = max(level, level_needed_at(session, target))  # the SSO is asked for it from the start
    return render(
        request, "auth/signin.html", _signin_context(settings, sso, target, step_up=level, sso_level=sso_level)
    )


@router.post("/signin", name="signin_submit", dependencies=[LocalAccounts])
def signin(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    sso: OptionalSSODep,
    login: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    email, phone = normalise_login(login)
    try:
        check(limiter, "signin:ip", client_ip(request))
        check(limiter, "signin:login", email or phone)
        account = authenticate(session=session, login=login, password=password)
    except (SignInFailed, RateLimited) as exc:
        # Returned, not raised: the failure count and the audit entry are committed with the request.
        record(session, "signin.password", request=request, outcome="refused", login=email or phone, reason=exc.msgid)
        response = render(
            request,
            "auth/signin.html",
            _signin_context(settings, sso, safe_next(next), form={"login": login}, error=exc),
            status_code=exc.status_code,
        )
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    start_session(request, session, account, method="password", level=settings.local_account_level)
    record(session, "signin.password", request=request, account_id=account.id, login=email or phone)
    return redirect(safe_next(next))


@router.get("/signup", name="signup", dependencies=[LocalAccounts])
def signup_page(request: Request, next: str | None = None) -> Response:
    return render(request, "auth/signup.html", {"next": safe_next(next), "form": {}, "errors": {}})


@router.post("/signup", name="signup_submit", dependencies=[LocalAccounts])
def signup(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    login: Annotated[str, Form(max_length=254)] = "",
    full_name: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password2: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check(limiter, "signup:ip", client_ip(request))
    form = {"login": login, "full_name": full_name}
    errors = check_signup(login=login, full_name=full_name, password=password, password2=password2)
    if not errors:
        try:
            account = create_account(session=session, login=login, full_name=full_name, password=password)
        except DomainError as exc:
            errors["login"] = exc.msgid
        else:
            start_session(request, session, account, method="password", level=settings.local_account_level)
            record(session, "signup", request=request, account_id=account.id)
            return redirect(safe_next(next))
    return render(
        request, "auth/signup.html", {"next": safe_next(next), "form": form, "errors": errors}, status_code=422
    )


@router.post("/signout", name="signout")
def signout(request: Request, session: SessionDep) -> Response:
    row = end_session(request, session)
    target = "/"
    if row is not None:
        record(session, "signout", request=request, account_id=row.account_id)
        if row.method == "oidc" and row.id_token:
            # The provider's session ends too (RP-initiated logout): /auth/oidc/logout sends the browser there.
            request.session["oidc_logout_hint"] = row.id_token
            target = "/auth/oidc/logout"
    return redirect(target)
