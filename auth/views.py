"""Sign-up, sign-in and sign-out pages."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from auth.deps import OptionalAccount
from auth.service import SignInFailed, authenticate, check_signup, create_account
from portal.kernel.db import SessionDep
from portal.kernel.errors import DomainError
from portal.web import render

router = APIRouter()


def safe_next(value: str | None) -> str:
    """Only same-site relative paths are followed after sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dossiers"


def start_session(request: Request, account_id: str) -> None:
    """Replace the session at sign-in so a planted cookie cannot be reused."""
    request.session.clear()
    request.session["account_id"] = account_id
    request.session["csrf"] = secrets.token_urlsafe(32)


@router.get("/signin", name="signin")
def signin_page(request: Request, account: OptionalAccount, next: str | None = None) -> Response:
    if account:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "auth/signin.html", {"next": safe_next(next), "form": {}, "error": None})


@router.post("/signin")
def signin(
    request: Request,
    session: SessionDep,
    login: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        account = authenticate(session=session, login=login, password=password)
    except SignInFailed as exc:
        return render(
            request,
            "auth/signin.html",
            {"next": safe_next(next), "form": {"login": login}, "error": exc},
            status_code=exc.status_code,
        )
    start_session(request, account.id)
    return RedirectResponse(safe_next(next), status_code=303)


@router.get("/signup", name="signup")
def signup_page(request: Request, next: str | None = None) -> Response:
    return render(request, "auth/signup.html", {"next": safe_next(next), "form": {}, "errors": {}})


@router.post("/signup")
def signup(
    request: Request,
    session: SessionDep,
    login: Annotated[str, Form(max_length=254)] = "",
    full_name: Annotated[str, Form(max_length=500)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password2: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = {"login": login, "full_name": full_name}
    errors = check_signup(login=login, full_name=full_name, password=password, password2=password2)
    if not errors:
        try:
            account = create_account(session=session, login=login, full_name=full_name, password=password)
        except DomainError as exc:
            errors["login"] = exc.msgid
        else:
            start_session(request, account.id)
            return RedirectResponse(safe_next(next), status_code=303)
    return render(
        request, "auth/signup.html", {"next": safe_next(next), "form": form, "errors": errors}, status_code=422
    )


@router.post("/signout", name="signout")
def signout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/", status_code=303)
