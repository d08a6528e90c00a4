"""Citizen pages of the postal choices: how the result comes back, a pickup of the originals, paying at delivery.

One page serves a draft (its choices, before the review) and a submitted dossier ("change how I receive the
result", until the postal operator claims the order). Without JavaScript the page posts whole; with HTMX the
form is swapped in place and the province's wards come from `/forms/wards`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from auth.deps import CurrentAccount
from forms.address import format_address, provinces, wards
from forms.messages import Msg
from payments import service as payments
from portal.catalog.models import Procedure
from portal.dossiers import billing, delivery, queries, service
from portal.dossiers.models import Dossier, DossierStatus
from portal.dossiers.views import PostedForm
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep
from portal.kernel.errors import DomainError
from portal.kernel.settings import Settings
from portal.kernel.web import is_htmx, redirect, render
from postal.models import ParcelKind, ParcelStatus, WeightClass

router = APIRouter()


def _preview(
    session: Session, settings: Settings, dossier: Dossier, proc: Procedure, values: dict[str, Any]
) -> tuple[Any, list[billing.PostalCharge]]:
    """The bill the page's current (perhaps unsaved) choices would make, and their postal charges."""
    choices, _errors = delivery.clean_choices(proc, values)
    draft = Dossier(**dossier.model_dump())  # transient: pricing it changes nothing stored
    if choices is not None:
        draft.delivery_method = choices.method
        draft.delivery_address = choices.delivery_address.model_dump() if choices.delivery_address else None
        draft.pickup_address = choices.pickup_address.model_dump() if choices.pickup_address else None
        draft.pay_on_delivery = choices.pay_on_delivery
    province = billing.agency_province(proc, dossier)
    bill = billing.bill_for(proc, draft, settings, province=province)
    return bill, billing.postal_charges(proc, draft, settings, province=province)


def _render(
    request: Request,
    session: Session,
    settings: Settings,
    dossier: Dossier,
    proc: Procedure,
    values: dict[str, Any],
    *,
    errors: dict[str, Msg] | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    bill, charges = _preview(session, settings, dossier, proc, values)
    claimed: dict[str, str] = {}  # parcels the postal service accepted already: told before anything is typed
    if dossier.status != DossierStatus.DRAFT:
        for kind in (ParcelKind.DELIVERY, ParcelKind.PICKUP):
            order = delivery.open_order(session, dossier, kind)
            if order is not None and order.status != ParcelStatus.CREATED:
                claimed[kind.value] = order.number
    return render(
        request,
        "dossiers/delivery.html",
        {
            "dossier": dossier,
            "proc": proc,
            "values": values,
            "errors": errors or {},
            "error": error,
            "bill": bill,
            "charges": charges,
            "paid": payments.kept_amount(session, dossier.id),
            "submitted": dossier.status != DossierStatus.DRAFT,
            "claimed": claimed,
            "originals": delivery.originals(proc),
            "provinces": provinces(),
            "wards_for": wards,
            "format_address": format_address,
            "weight_label": lambda code: WeightClass(code).label if code in set(WeightClass) else code,
        },
        status_code=status_code,
        block="delivery_form",
    )


def _editable(dossier: Dossier) -> bool:
    if dossier.linked_role == "child":  # a part of a linked application: delivered as the application says
        return False
    return dossier.status == DossierStatus.DRAFT or dossier.status in delivery.CHANGEABLE


@router.get("/dossiers/{dossier_id}/delivery", name="dossier_delivery")
def delivery_page(
    request: Request, dossier_id: str, session: SessionDep, account: CurrentAccount, settings: SettingsDep
) -> Response:
    """The postal choices of one's own dossier (a draft's, or a submitted one's until its parcels are claimed)."""
    dossier = service.own_dossier(session, dossier_id, account)
    if not _editable(dossier):
        return redirect(f"/dossiers/{dossier.id}")
    proc = queries.procedure(session, dossier.procedure_code)
    return _render(request, session, settings, dossier, proc, delivery.form_values(session, dossier))


@router.post("/dossiers/{dossier_id}/delivery", name="save_delivery")
def save_delivery(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
    form: PostedForm,
) -> Response:
    """Save the choices: a draft goes back to its review, a submitted dossier to its page (or to pay a top-up)."""
    dossier = service.own_dossier(session, dossier_id, account, lock=True)
    proc = queries.procedure(session, dossier.procedure_code)
    raw = {k: v for k, v in form.items() if isinstance(v, str)}
    values = delivery.posted_values(raw)
    if not _editable(dossier):
        return redirect(f"/dossiers/{dossier.id}")
    if raw.get("_action") == "refresh":  # no JavaScript: show the wards of the province and the fee, save nothing
        return _render(request, session, settings, dossier, proc, values)
    choices, errors = delivery.clean_choices(proc, values)
    if choices is None:
        return _render(request, session, settings, dossier, proc, values, errors=errors, status_code=422)
    try:
        if dossier.status == DossierStatus.DRAFT:
            delivery.choose(session=session, settings=settings, procedure=proc, dossier=dossier, choices=choices)
            target = f"/dossiers/{dossier.id}/review"
        else:
            change = delivery.change(
                session=session, settings=settings, procedure=proc, dossier=dossier, choices=choices, by=account
            )
            # A difference still unpaid leads to the payment page even when this save changed nothing: a second
            # submit of the same form (its answer is the one the browser shows) must not hide the top-up.
            kept = payments.kept_amount(session, dossier.id)
            owed = change.top_up or (max(change.total_after - kept, 0) if kept else 0)
            target = f"/dossiers/{dossier.id}/payment" if owed else f"/dossiers/{dossier.id}?delivery_changed=1"
    except DomainError as exc:
        session.rollback()  # nothing of a refused change is kept
        dossier = service.own_dossier(session, dossier_id, account)
        return _render(request, session, settings, dossier, proc, values, error=exc, status_code=exc.status_code)
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return redirect(target)
