"""Pages of the businesses an account represents, and the switch of whom the browser acts for."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from auth.deps import CurrentAccount, CurrentViewer
from auth.sessions import current_session_row
from auth.views import safe_next
from portal.businesses import service
from portal.businesses.models import Business
from portal.kernel.db import SessionDep
from portal.kernel.deps import LimiterDep
from portal.kernel.errors import Conflict, DomainError, SignInRequired
from portal.kernel.ratelimit import check
from portal.kernel.web import is_htmx, redirect, render

router = APIRouter()


@router.get("/businesses", name="my_businesses")
def my_businesses(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    return render(request, "businesses/list.html", {"rows": service.businesses_of(session, viewer.id)})


@router.get("/businesses/new", name="new_business")
def new_business(request: Request, viewer: CurrentViewer) -> Response:
    return render(request, "businesses/new.html", {"form": {}, "errors": {}})


@router.post("/businesses", name="register_business")
def register(
    request: Request,
    session: SessionDep,
    account: CurrentAccount,
    limiter: LimiterDep,
    tax_code: Annotated[str, Form(max_length=2000)] = "",
    name: Annotated[str, Form(max_length=2000)] = "",
    address: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check(limiter, "business:account", account.id)
    form = {"tax_code": tax_code, "name": name, "address": address}
    errors = service.check_registration(tax_code=tax_code, name=name, address=address)
    status_code = 422
    if not errors:
        try:
            business = service.register_business(
                session, by=account, tax_code=tax_code, name=name, address=address, request=request
            )
        except Conflict as exc:
            # Returned, not raised: the refusal's audit entry is committed with the request.
            errors["tax_code"] = exc.msgid
            status_code = exc.status_code
        else:
            row = current_session_row(request, session)
            if row is not None:
                service.set_acting_as(session, row=row, business_id=business.id, request=request)
            return redirect(f"/businesses/{business.id}")
    return render(request, "businesses/new.html", {"form": form, "errors": errors}, status_code=status_code)


def _detail(
    request: Request,
    session: Session,
    business: Business,
    viewer_id: str,
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
) -> Response:
    reps = service.representatives(session, business.id)
    mine = next((r for r, _ in reps if r.account_id == viewer_id), None)
    context: dict[str, Any] = {
        "business": business,
        "tax_code": service.format_tax_code(business.tax_code),
        "reps": reps,
        "is_legal": mine is not None and mine.role == service.LEGAL_REPRESENTATIVE,
        "form": form or {},
        "error": error,
        "added": request.query_params.get("added") == "1",
    }
    return render(request, "businesses/detail.html", context, status_code=error.status_code if error else 200)


@router.get("/businesses/{business_id}", name="business")
def business_page(request: Request, business_id: str, session: SessionDep, viewer: CurrentViewer) -> Response:
    business = service.business_for(session, business_id, viewer.id)
    return _detail(request, session, business, viewer.id)


@router.post("/businesses/{business_id}/representatives", name="add_representative")
def add_representative(
    request: Request,
    business_id: str,
    session: SessionDep,
    account: CurrentAccount,
    login: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    business = service.business_for(session, business_id, account.id)
    try:
        service.add_representative(session, business=business, by=account, login=login, request=request)
    except DomainError as exc:
        return _detail(request, session, business, account.id, form={"login": login}, error=exc)
    return redirect(f"/businesses/{business.id}?added=1")


@router.post("/businesses/{business_id}/representatives/{account_id}/remove", name="remove_representative")
def remove_representative(
    request: Request, business_id: str, account_id: str, session: SessionDep, account: CurrentAccount
) -> Response:
    business = service.business_for(session, business_id, account.id)
    service.remove_representative(session, business=business, by=account, account_id=account_id, request=request)
    if account_id != account.id:
        return redirect(f"/businesses/{business.id}")
    row = current_session_row(request, session)
    if row is not None and row.acting_as == business.id:
        service.set_acting_as(session, row=row, business_id=None, request=request)
    return redirect("/businesses")


@router.post("/acting-as", name="acting_as")
def acting_as(
    request: Request,
    session: SessionDep,
    account: CurrentAccount,
    business_id: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Act for oneself (empty business_id) or for a business one represents, then go back to the page."""
    row = current_session_row(request, session)
    if row is None:
        raise SignInRequired()
    service.set_acting_as(session, row=row, business_id=business_id.strip() or None, request=request)
    target = safe_next(next)
    if is_htmx(request):
        # The whole page depends on whom one acts for: reload it rather than swap a part.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return redirect(target)
