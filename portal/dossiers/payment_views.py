"""Citizen pages of a dossier's fee: the bill, a reduction, the choice of gateway, e-receipts, withdrawal."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from auth.assurance import StepUpRequired, require_level, step_up_response
from auth.deps import CurrentAccount, CurrentViewer
from payments import service as payments
from payments.gateways.base import PaymentGateway
from payments.models import Payment, PaymentStatus, Refund
from payments.tasks import current_e_receipt
from portal.catalog.models import Procedure
from portal.dossiers import billing, service
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.audit import client_ip
from portal.kernel.db import SessionDep
from portal.kernel.errors import DomainError, Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.web import render, translator

router = APIRouter()
PAYABLE = (
    DossierStatus.DRAFT,
    DossierStatus.SUBMITTED,
    DossierStatus.RECEIVED,
    DossierStatus.IN_PROCESS,
    DossierStatus.SUPPLEMENT_REQUESTED,
    DossierStatus.RESULT_READY,
)


def _procedure(session: Session, dossier: Dossier) -> Procedure:
    proc = session.get(Procedure, dossier.procedure_code)
    if proc is None:
        raise NotFound(N_("There is no procedure with this code."))
    return proc


def _refunds(session: Session, items: list[Payment]) -> list[Refund]:
    from sqlmodel import col, select

    ids = [p.id for p in items]
    if not ids:
        return []
    return list(session.exec(select(Refund).where(col(Refund.payment_id).in_(ids)).order_by(col(Refund.created_at))))


def _render(
    request: Request,
    session: Session,
    dossier: Dossier,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
    chosen: str | None = None,
) -> Response:
    settings = request.app.state.settings
    proc = _procedure(session, dossier)
    bill = billing.bill_for(proc, dossier, settings)
    items = payments.payments_of(session, dossier.id)
    left = max(bill.total - payments.paid_amount(items), 0)
    gateways: dict[str, PaymentGateway] = request.app.state.gateways
    reference = request.query_params.get("payment", "")
    just = next((p for p in items if p.reference == reference), None)
    files = service.dossier_files(session, dossier)
    return render(
        request,
        "dossiers/payment.html",
        {
            "dossier": dossier,
            "proc": proc,
            "bill": bill,
            "payments": items,
            "refunds": _refunds(session, items),
            "left": left,
            "can_pay": left > 0 and dossier.status in PAYABLE and bool(gateways),
            "gateways": gateways,
            "chosen": chosen or (items[0].gateway if items else next(iter(gateways), None)),
            "just": just,
            "error": error,
            "proof_files": [f for f in files if f.component_id == "fee_reduction_proof"],
        },
        status_code=status_code,
    )


@router.get("/dossiers/{dossier_id}/payment", name="dossier_payment")
def payment_page(request: Request, dossier_id: str, session: SessionDep, account: CurrentAccount) -> Response:
    dossier = service.own_dossier(session, dossier_id, account)
    return _render(request, session, dossier)


@router.post("/dossiers/{dossier_id}/payment", name="start_payment")
def start_payment(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    viewer: CurrentViewer,
    gateway: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Send the payer to the chosen gateway (a double click sends them to the same attempt)."""
    dossier = service.own_dossier(session, dossier_id, account, lock=True)
    proc = _procedure(session, dossier)
    chosen = request.app.state.gateways.get(gateway)
    if chosen is None:
        return _render(request, session, dossier, error=Invalid(N_("Choose a payment method.")), status_code=422)
    if dossier.status not in PAYABLE:
        return _render(
            request,
            session,
            dossier,
            error=Invalid(N_("This dossier has ended; there is nothing to pay.")),
            status_code=409,
        )
    if dossier.status == DossierStatus.DRAFT:
        try:
            require_level(viewer, proc.required_assurance, next_url=f"/dossiers/{dossier.id}/payment")
        except StepUpRequired as exc:
            return step_up_response(request, exc)
        defn = service.get_definition(session, dossier.form_id, dossier.form_version)
        if not service.readiness(session, dossier, proc, defn).ok:
            return RedirectResponse(f"/dossiers/{dossier.id}/review", status_code=303)
    settings = request.app.state.settings
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
        return _render(request, session, dossier, error=exc, status_code=exc.status_code, chosen=gateway)
    if not started.ok:
        error = DomainError(
            N_(
                "The payment service does not answer at the moment. Nothing was charged and your dossier is kept: "
                "try again, or choose another payment method."
            ),
            status_code=503,
        )
        response = _render(request, session, dossier, error=error, status_code=503, chosen=gateway)
        response.headers["Retry-After"] = "30"
        return response
    assert started.payment.redirect_url
    return RedirectResponse(started.payment.redirect_url, status_code=303)


@router.post("/dossiers/{dossier_id}/payment/reduction", name="declare_reduction")
def declare_reduction(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    category: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    dossier = service.own_dossier(session, dossier_id, account, lock=True)
    proc = _procedure(session, dossier)
    try:
        billing.declare_reduction(
            session=session, procedure=proc, dossier=dossier, settings=request.app.state.settings, category=category
        )
    except DomainError as exc:
        session.refresh(dossier)
        return _render(request, session, dossier, error=exc, status_code=exc.status_code)
    return RedirectResponse(f"/dossiers/{dossier.id}/payment", status_code=303)


@router.get("/dossiers/{dossier_id}/payments/{payment_id}/receipt.pdf", name="payment_receipt")
def e_receipt(
    request: Request, dossier_id: str, payment_id: str, session: SessionDep, account: CurrentAccount
) -> Response:
    """The e-receipt (biên lai điện tử) of a succeeded payment of one's own dossier."""
    dossier = service.own_dossier(session, dossier_id, account)
    payment = session.get(Payment, payment_id)
    if payment is None or payment.order_id != dossier.id or payment.status != PaymentStatus.SUCCEEDED:
        raise NotFound(N_("There is no e-receipt for this payment."))
    pdf = current_e_receipt(session, payment, storage=request.app.state.storage, settings=request.app.state.settings)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="bien-lai-{payment.receipt_number or payment.reference}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/dossiers/{dossier_id}/withdraw", name="withdraw_dossier")
def withdraw(request: Request, dossier_id: str, session: SessionDep, account: CurrentAccount) -> Response:
    dossier = service.own_dossier(session, dossier_id, account, lock=True)
    service.withdraw(session=session, dossier=dossier, by=account)
    return RedirectResponse(f"/dossiers/{dossier.id}?withdrawn=1", status_code=303)


def payment_summary(session: Session, dossier: Dossier, settings: Any) -> dict[str, Any]:
    """What the dossier page shows of the fee: total, left to pay, the payments."""
    proc = _procedure(session, dossier)
    bill = billing.bill_for(proc, dossier, settings)
    items = payments.payments_of(session, dossier.id)
    return {"bill": bill, "left": max(bill.total - payments.paid_amount(items), 0), "payments": items}
