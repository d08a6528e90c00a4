"""The console's sign-in: /staff/login (password, or the OpenID provider's staff claim), /staff/totp, /staff/logout.

Every step is recorded (`staff.signin` ok/refused with the step, `staff.lockout`, `staff.totp_enrol`,
`staff.logout`; actor_kind staff). Refusals are returned, not raised, so the audit entry and the failure
count are committed with the request. docs/STAFF.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from auth import staff as staff_auth
from auth.oidc import OptionalSSODep, SignInRefused, SSODep, acr_values_for, complete_sign_in
from auth.staff_models import StaffMember, StaffSession
from portal.kernel.audit import client_ip, record
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.db import SessionDep, WriteSessionDep
from portal.kernel.deps import LimiterDep, SettingsDep
from portal.kernel.errors import DomainError
from portal.kernel.i18n import N_
from portal.kernel.ratelimit import RateLimited, check
from portal.kernel.settings import Settings
from portal.kernel.web import redirect, render, translator
from portal.staff.deps import OptionalStaff

router = APIRouter(prefix="/staff")


def safe_next(value: str | None) -> str:
    """Only the console's own pages are followed after sign-in."""
    if value and (value == "/staff" or value.startswith("/staff/")) and "\\" not in value and "//" not in value:
        return value
    return "/staff"


def _set_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        staff_auth.COOKIE_NAME,
        token,
        max_age=int(settings.staff_session_hours * 3600),
        path=staff_auth.COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=settings.https,
    )


def _clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        staff_auth.COOKIE_NAME, path=staff_auth.COOKIE_PATH, httponly=True, samesite="strict", secure=settings.https
    )


def _audit(
    session: Session,
    kind: str,
    request: Request,
    member: StaffMember | None,
    *,
    outcome: str = "ok",
    **detail: Any,
) -> None:
    record(
        session,
        kind,
        request=request,
        outcome=outcome,
        actor_kind="staff",
        actor=staff_auth.display_name(member) if member else None,
        agency_code=member.agency_code if member else None,
        staff_id=member.id if member else None,
        **detail,
    )


def _login_page(
    request: Request, settings: Settings, sso: object | None, next_url: str, *, status_code: int = 200, **extra: object
) -> Response:
    context: dict[str, object] = {
        "next": next_url,
        "form": {},
        "error": None,
        "sso_available": sso is not None,
        "sso_name": settings.oidc_display_name,
        **extra,
    }
    return render(request, "staff/login.html", context, status_code=status_code)


def _pending(session: Session, request: Request) -> tuple[StaffSession, StaffMember] | None:
    """The half-open (password or provider done, no TOTP yet) session of this browser and its member."""
    row = staff_auth.session_row(session, request.cookies.get(staff_auth.COOKIE_NAME))
    if row is None or row.stage != "first_factor":
        return None
    member = session.get(StaffMember, row.staff_id)
    if member is None or not member.active:
        return None
    return row, member


@router.get("/login", name="staff_login")
def login_page(
    request: Request, settings: SettingsDep, sso: OptionalSSODep, viewer: OptionalStaff, next: str | None = None
) -> Response:
    if viewer is not None:
        return redirect(safe_next(next))
    return _login_page(request, settings, sso, safe_next(next))


@router.post("/login", name="staff_login_submit")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    sso: OptionalSSODep,
    username: Annotated[str, Form(max_length=80)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    target = safe_next(next)
    try:
        check(limiter, "staff_signin:ip", client_ip(request))
        check(limiter, "staff_signin:login", username.strip().lower())
        member = staff_auth.authenticate(session, username=username, password=password)
        if member.username in staff_auth.DEMO_USERNAMES and settings.environment != "development":
            raise staff_auth.StaffSignInFailed(
                N_("This demo staff account works on a development portal only."), status_code=403
            )
    except (staff_auth.StaffSignInFailed, RateLimited) as exc:
        known = staff_auth.find_member(session, username) if username.strip() else None
        _audit(
            session, "staff.signin", request, known, outcome="refused", step="password",
            login=username.strip().lower()[:80], reason=exc.msgid,
        )  # fmt: skip
        if (
            known is not None
            and isinstance(exc, staff_auth.StaffSignInFailed)
            and exc.status_code == 401
            and known.locked_until is not None
            and as_utc(known.locked_until) > utcnow()
        ):
            _audit(session, "staff.lockout", request, known, outcome="refused", failures=known.failed_signins)
        response = _login_page(
            request, settings, sso, target, form={"username": username}, error=exc, status_code=exc.status_code
        )
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    token, _ = staff_auth.start_session(session, member, method="password", settings=settings)
    _audit(session, "staff.signin", request, member, step="password")
    response = redirect("/staff/totp?next=" + target)
    _set_cookie(response, token, settings)
    return response


def _totp_page(
    request: Request,
    session: Session,
    settings: Settings,
    member: StaffMember,
    next_url: str,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, object] = {"next": next_url, "error": error, "member": member, "enrol": False}
    if member.totp_confirmed_at is None:
        secret = staff_auth.begin_enrolment(session, member, settings)
        uri = staff_auth.provisioning_uri(member, secret, settings)
        context.update(enrol=True, secret=secret, qr=staff_auth.qr_svg(uri), uri=uri)
    response = render(request, "staff/totp.html", context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # the enrolment page shows the secret
    return response


@router.get("/totp", name="staff_totp")
def totp_page(
    request: Request, session: WriteSessionDep, settings: SettingsDep, viewer: OptionalStaff, next: str | None = None
) -> Response:
    if viewer is not None:
        return redirect(safe_next(next))
    pending = _pending(session, request)
    if pending is None:
        return redirect("/staff/login?next=" + safe_next(next))
    return _totp_page(request, session, settings, pending[1], safe_next(next))


@router.post("/totp", name="staff_totp_submit")
def totp(
    request: Request,
    session: WriteSessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    code: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    target = safe_next(next)
    pending = _pending(session, request)
    if pending is None:
        return redirect("/staff/login?next=" + target)
    row, member = pending
    enrolling = member.totp_confirmed_at is None
    try:
        check(limiter, "staff_totp:member", member.id)
        staff_auth.verify_code(session, member, code, settings)
    except RateLimited as exc:
        # Too many wrong codes: this half-open session ends; signing in starts again after the wait.
        _audit(session, "staff.lockout", request, member, outcome="refused", step="totp")
        _audit(session, "staff.signin", request, member, outcome="refused", step="totp", reason=exc.msgid)
        staff_auth.revoke(session, row)
        context = {"status": 429, "msgid": exc.msgid, "params": exc.params}
        page = render(request, "error.html", context, status_code=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        _clear_cookie(page, settings)
        return page
    except staff_auth.StaffSignInFailed as exc:
        _audit(session, "staff.signin", request, member, outcome="refused", step="totp", reason=exc.msgid)
        return _totp_page(request, session, settings, member, target, error=exc, status_code=exc.status_code)
    limiter.reset("staff_totp:member", member.id)
    # A new token for the open console: the half-open one is spent.
    staff_auth.revoke(session, row)
    token, active = staff_auth.start_session(session, member, method=row.method, settings=settings)
    staff_auth.activate(session, active)
    member.last_signin_at = utcnow()
    session.add(member)
    if enrolling:
        _audit(session, "staff.totp_enrol", request, member)
    _audit(session, "staff.signin", request, member, step="totp", method=row.method)
    response = redirect(target)
    _set_cookie(response, token, settings)
    return response


@router.post("/logout", name="staff_logout")
def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    row = staff_auth.session_row(session, request.cookies.get(staff_auth.COOKIE_NAME))
    if row is not None:
        staff_auth.revoke(session, row)
        _audit(session, "staff.logout", request, session.get(StaffMember, row.staff_id))
    response = redirect("/staff/login")
    _clear_cookie(response, settings)
    return response


# --- through the OpenID provider ---------------------------------------------------------------------------


def _callback_uri(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/staff/oidc/callback"


@router.get("/oidc/login", name="staff_oidc_login")
async def oidc_login(
    request: Request, client: SSODep, settings: SettingsDep, limiter: LimiterDep, next: str | None = None
) -> Response:
    check(limiter, "staff_signin:ip", client_ip(request))
    request.session["staff_oidc_next"] = safe_next(next)
    extra: dict[str, str] = {"ui_locales": translator(request).locale, "prompt": "login"}
    acr_values = acr_values_for(settings, 1)
    if acr_values:
        extra["acr_values"] = acr_values
    response: Response = await client.authorize_redirect(request, _callback_uri(settings), **extra)
    return response


def _finish_oidc(
    request: Request, session: Session, settings: Settings, issuer: str, subject: str, claims: dict[str, object]
) -> tuple[str | None, DomainError | None]:
    try:
        member = staff_auth.member_for_provider(
            session, issuer=issuer, subject=subject, claims=dict(claims), settings=settings
        )
    except staff_auth.StaffSignInFailed as exc:
        existing = session.exec(  # a disabled member is named in the entry
            select(StaffMember).where(StaffMember.oidc_issuer == issuer, StaffMember.oidc_subject == subject)
        ).first()
        _audit(
            session, "staff.signin", request, existing, outcome="refused", step="oidc", issuer=issuer,
            reason=exc.msgid,
        )  # fmt: skip
        return None, exc
    token, _ = staff_auth.start_session(session, member, method="oidc", settings=settings)
    _audit(session, "staff.signin", request, member, step="oidc", issuer=issuer)
    return token, None


@router.get("/oidc/callback", name="staff_oidc_callback")
async def oidc_callback(
    request: Request, session: WriteSessionDep, client: SSODep, settings: SettingsDep, limiter: LimiterDep
) -> Response:
    error: DomainError | None = None
    try:
        check(limiter, "staff_signin:ip", client_ip(request))
        signed_in = await complete_sign_in(request, client=client, settings=settings)
    except (SignInRefused, RateLimited) as exc:
        await run_in_threadpool(
            _audit, session, "staff.signin", request, None, outcome="refused", step="oidc", reason=exc.msgid
        )
        error = exc
    else:
        token, error = await run_in_threadpool(
            _finish_oidc, request, session, settings, signed_in.issuer, signed_in.subject, signed_in.claims
        )
    target = safe_next(str(request.session.pop("staff_oidc_next", None) or "/staff"))
    if error is not None:
        return _login_page(request, settings, client, target, error=error, status_code=error.status_code)
    # The browser arrives here from the provider's site: a redirect would not carry the SameSite=Strict cookie
    # to /staff/totp, so a page of this site takes it there (a plain link, and a meta refresh).
    response = render(request, "staff/continue.html", {"target": "/staff/totp?next=" + target})
    assert token is not None
    _set_cookie(response, token, settings)
    return response
