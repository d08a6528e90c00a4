"""Citizen pages of a dossier's fee: the bill, a reduction, the choice of gateway, e-receipts, withdrawal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from auth.assurance import StepUpRequired, require_level, step_up_response
from auth.deps import CurrentAccount, CurrentViewer
from payments import service as payments
from payments.deps import GatewaysDep
from payments.ereceipt import refund_notice_pdf
from payments.gateways.base import PaymentGateway
from payments.serialize import e_receipt_filename
from payments.tasks import current_e_receipt
from portal.dossiers import billing, queries, service
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.audit import client_ip
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep, StorageDep
from portal.kernel.errors import Conflict, DomainError, Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.kernel.web import redirect, render, translator
from postal import service as postal
from postal.models import ParcelKind, ParcelStatus, PostalOrder

router = APIRouter()

# A delivery order in these states is still to reach the applicant: once the operator has claimed it, its courier
# carries the amount to collect (the order cannot change any more), so the fee is no longer paid online.
_COURIER_ON_ITS_WAY = frozenset(
    {ParcelStatus.CLAIMED, ParcelStatus.PICKED_UP, ParcelStatus.IN_TRANSIT, ParcelStatus.DELIVERY_ATTEMPTED}
)


# A member's dossier of a linked application (docs/LINKED.md): its fee was paid with the application's, once.
_MEMBER_PAYS_WITH_PARENT = N_(
    "This dossier is one part of a linked application: its fee is paid with the application's, on the "
    "application's payment page."
)


def _refuse_member(dossier: Dossier, msgid: str) -> None:
    if dossier.linked_role == "child":
        raise Conflict(msgid)


def courier_collects(session: Session, dossier: Dossier) -> PostalOrder | None:
    """The dossier's claimed delivery order whose courier collects the fee at delivery, if any. Before the claim
    the fee may still be paid online (the unclaimed order is then made again collecting nothing, `parcels.py`)."""
    if dossier.status != DossierStatus.RESULT_READY:
        return None
    for order in postal.orders_of(session, dossier.id):
        if order.kind == ParcelKind.DELIVERY and order.cod_amount > 0 and order.status in _COURIER_ON_ITS_WAY:
            return order
    return None


def _collected_by_courier(request: Request, order: PostalOrder) -> DomainError:
    return DomainError(
        N_(
            "The fee of {amount} is collected by the postal worker when your result is delivered (postal order "
            "{number}): it can no longer be paid online."
        ),
        {"amount": translator(request).money(order.cod_amount), "number": order.number},
        status_code=409,
    )


def _render(
    request: Request,
    session: Session,
    dossier: Dossier,
    *,
    settings: Settings,
    gateways: Mapping[str, PaymentGateway],
    error: DomainError | None = None,
    status_code: int = 200,
    chosen: str | None = None,
) -> Response:
    page = queries.payment_page(
        session,
        dossier,
        settings=settings,
        gateways=gateways,
        reference=request.query_params.get("payment", ""),
        chosen=chosen,
    )
    collecting = courier_collects(session, dossier)
    if collecting is not None:
        page["can_pay"] = False  # the postal worker collects it (the page says so)
    return render(
        request,
        "dossiers/payment.html",
        {"dossier": dossier, **page, "error": error, "courier_order": collecting},
        status_code=status_code,
    )


@router.get("/dossiers/{dossier_id}/payment", name="dossier_payment")
def payment_page(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
    gateways: GatewaysDep,
) -> Response:
    dossier = service.own_dossier(session, dossier_id, account)
    if dossier.linked_role == "child" and dossier.parent_id:  # paid with the application: its payment page
        return redirect(f"/dossiers/{dossier.parent_id}/payment")
    return _render(request, session, dossier, settings=settings, gateways=gateways)


@router.post("/dossiers/{dossier_id}/payment", name="start_payment")
def start_payment(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    viewer: CurrentViewer,
    settings: SettingsDep,
    gateways: GatewaysDep,
    gateway: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Send the payer to the chosen gateway (a double click sends them to the same attempt)."""
    dossier, proc, defn = queries.dossier_with_form(session, dossier_id, account, lock=True)
    _refuse_member(dossier, _MEMBER_PAYS_WITH_PARENT)
    chosen = gateways.get(gateway)
    if chosen is None:
        return _render(
            request,
            session,
            dossier,
            settings=settings,
            gateways=gateways,
            error=Invalid(N_("Choose a payment method.")),
            status_code=422,
        )
    if dossier.status not in queries.PAYABLE:
        return _render(
            request,
            session,
            dossier,
            settings=settings,
            gateways=gateways,
            error=Invalid(N_("This dossier has ended; there is nothing to pay.")),
            status_code=409,
        )
    collecting = courier_collects(session, dossier)
    if collecting is not None:
        error = _collected_by_courier(request, collecting)
        return _render(request, session, dossier, settings=settings, gateways=gateways, error=error, status_code=409)
    if dossier.status == DossierStatus.DRAFT:
        try:
            require_level(viewer, proc.required_assurance, next_url=f"/dossiers/{dossier.id}/payment")
        except StepUpRequired as exc:
            return step_up_response(request, exc)
        if not service.readiness(session, dossier, proc, defn, settings=settings).ok:
            return redirect(f"/dossiers/{dossier.id}/review")
    bill = billing.bill_for(proc, dossier, settings)
    try:
        started = payments.start_payment(
            session=session,
            gateway=chosen,
            order_id=dossier.id,
            account_id=account.id,
            agency_code=dossier.agency_code,
            bill=bill,
            description=f"Thanh toán phí, lệ phí hồ sơ {dossier.code or ''} {proc.name_vi}".replace("  ", " "),
            base_url=settings.base_url,
            expiry_minutes=settings.payment_expiry_minutes,
            locale=translator(request).locale,
            payer_ip=client_ip(request) or "127.0.0.1",
        )
    except DomainError as exc:
        return _render(
            request,
            session,
            dossier,
            settings=settings,
            gateways=gateways,
            error=exc,
            status_code=exc.status_code,
            chosen=gateway,
        )
    if not started.ok:
        error = DomainError(
            N_(
                "The payment service does not answer at the moment. Nothing was charged and your dossier is kept: "
                "try again, or choose another payment method."
            ),
            status_code=503,
        )
        response = _render(
            request,
            session,
            dossier,
            settings=settings,
            gateways=gateways,
            error=error,
            status_code=503,
            chosen=gateway,
        )
        response.headers["Retry-After"] = "30"
        return response
    assert started.payment.redirect_url
    return redirect(started.payment.redirect_url)


@router.post("/dossiers/{dossier_id}/payment/reduction", name="declare_reduction")
def declare_reduction(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
    gateways: GatewaysDep,
    category: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    dossier = service.own_dossier(session, dossier_id, account, lock=True)
    _refuse_member(dossier, _MEMBER_PAYS_WITH_PARENT)
    proc = queries.procedure(session, dossier.procedure_code)
    try:
        billing.declare_reduction(
            session=session, procedure=proc, dossier=dossier, settings=settings, category=category
        )
    except DomainError as exc:
        session.refresh(dossier)
        return _render(
            request, session, dossier, settings=settings, gateways=gateways, error=exc, status_code=exc.status_code
        )
    return redirect(f"/dossiers/{dossier.id}/payment")


@router.get("/dossiers/{dossier_id}/payments/{payment_id}/receipt.pdf", name="payment_receipt")
def e_receipt(
    dossier_id: str,
    payment_id: str,
    session: SessionDep,
    account: CurrentAccount,
    storage: StorageDep,
    settings: SettingsDep,
    agency: Annotated[str | None, Query(pattern="^[A-Za-z0-9_-]{1,10}$")] = None,
) -> Response:
    """The e-receipt (biên lai điện tử) of a succeeded payment of one's own dossier.

    A linked application's payment has one e-receipt per agency that collected on it: `agency` picks one.
    """
    dossier = service.own_dossier(session, dossier_id, account)
    payment = queries.succeeded_payment(session, dossier, payment_id)
    try:
        pdf = current_e_receipt(session, payment, storage=storage, settings=settings, agency_code=agency or None)
    except LookupError:
        raise NotFound(N_("There is no e-receipt for this payment.")) from None
    name = e_receipt_filename(payment)
    if agency:
        name = name.removesuffix(".pdf") + f"-{agency}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/dossiers/{dossier_id}/payments/{payment_id}/refunds.pdf", name="payment_refund_notice")
def refund_notice(
    dossier_id: str,
    payment_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
    agency: Annotated[str | None, Query(pattern="^[A-Za-z0-9_-]{1,10}$")] = None,
) -> Response:
    """The sealed notice of what was refunded on an e-receipt after it was issued (the receipt itself never changes).

    A linked application's payment: one notice per agency's e-receipt (`agency`), its refunds only.
    """
    dossier = service.own_dossier(session, dossier_id, account)
    payment = queries.succeeded_payment(session, dossier, payment_id)
    pdf = refund_notice_pdf(session, payment, settings, agency_code=agency or None)
    if pdf is None:
        raise NotFound(N_("Nothing has been refunded on this payment."))
    name = e_receipt_filename(payment).removesuffix(".pdf") + (f"-{agency}" if agency else "") + "-hoan-tra.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"},
    )


@router.post("/dossiers/{dossier_id}/withdraw", name="withdraw_dossier")
def withdraw(dossier_id: str, session: SessionDep, account: CurrentAccount) -> Response:
    dossier = service.own_dossier(session, dossier_id, account, lock=True)
    # One part alone would leave the parts waiting on its result waiting for ever: the application is withdrawn
    # whole, from its page.
    _refuse_member(
        dossier,
        N_("This dossier is one part of a linked application: withdraw the whole application on its page."),
    )
    service.withdraw(session=session, dossier=dossier, by=account)
    return redirect(f"/dossiers/{dossier.id}?withdrawn=1")
