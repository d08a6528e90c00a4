"""Background work on payments: e-receipts, refunds and the reconciliation of pending payments."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from payments import service
from payments.ereceipt import EReceiptData, EReceiptLine, render_e_receipt_pdf, seal_issued
from payments.gateways.base import GatewayError, PaymentGateway
from payments.models import Payment, PaymentStatus, Refund
from payments.outbox import ExecuteRefund, IssueEReceipt
from portal.kernel.clock import as_utc
from portal.kernel.outbox import WorkerContext, handler, periodic
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from portal.kernel.uow import unit_of_work

log = logging.getLogger("portal.payments")


def e_receipt_data(session: Session, payment: Payment, settings: Settings) -> EReceiptData:
    """Everything printed on the e-receipt of a succeeded payment."""
    assert payment.status == PaymentStatus.SUCCEEDED and payment.settled_at and payment.receipt_number
    info = service.describe_order(session, payment)
    gateway_names = {
        "sandbox": "Ngân hàng thử nghiệm (sandbox)",
        "vnpay": "VNPAY",
        "stripe": "Stripe",
        "cod": "Thu hộ khi giao kết quả qua bưu chính (COD)",
    }
    return EReceiptData(
        receipt_number=payment.receipt_number,
        receipt_symbol=payment.receipt_symbol or "",
        issued_at=as_utc(payment.settled_at),
        collector_name=info.collector_name,
        collector_address=info.collector_address,
        province_name=settings.province_name,
        payer_name=info.payer_name,
        payer_id_number=info.payer_id_number,
        payer_address=info.payer_address,
        dossier_code=info.code,
        procedure_name=info.title,
        lines=tuple(EReceiptLine(line["name_vi"], int(line["amount"])) for line in payment.lines),
        reductions=tuple(
            EReceiptLine(f"{r['name_vi']} ({r['percent']}%)", int(r["amount"])) for r in payment.reductions
        ),
        total=payment.amount,
        gateway_name=gateway_names.get(payment.gateway, payment.gateway),
        gateway_ref=payment.gateway_ref,
        payment_reference=payment.reference,
        lookup_url=f"{settings.base_url.rstrip('/')}/lookup?code={info.code}" if info.code else None,
        refunded=payment.refunded_amount,
    )


def ensure_e_receipt(session: Session, payment: Payment, *, storage: Storage, settings: Settings) -> bytes:
    """The payment's sealed e-receipt, built and stored the first time."""
    if payment.receipt_key and storage.exists(payment.receipt_key):
        return storage.get(payment.receipt_key)
    pdf = seal_issued(render_e_receipt_pdf(e_receipt_data(session, payment, settings)), settings)
    payment.receipt_key = storage.put(pdf, prefix=f"payments/{payment.id}", suffix="-bien-lai.pdf")
    payment.receipt_sha256 = hashlib.sha256(pdf).hexdigest()
    session.add(payment)
    service.add_payment_event(session, payment, "receipt_issued", outcome="succeeded", number=payment.receipt_number)
    return pdf


def current_e_receipt(session: Session, payment: Payment, *, storage: Storage, settings: Settings) -> bytes:
    """The stored e-receipt, or the same document made now while the worker has not stored it yet."""
    if payment.receipt_key and storage.exists(payment.receipt_key):
        return storage.get(payment.receipt_key)
    return seal_issued(render_e_receipt_pdf(e_receipt_data(session, payment, settings)), settings)


@handler(IssueEReceipt)
def on_receipt(session: Session, payload: IssueEReceipt, ctx: WorkerContext) -> None:
    payment = session.get(Payment, payload.payment_id)
    if payment is not None and payment.status == PaymentStatus.SUCCEEDED:
        ensure_e_receipt(session, payment, storage=ctx.storage, settings=ctx.settings)


@handler(ExecuteRefund)
def on_refund(session: Session, payload: ExecuteRefund, ctx: WorkerContext) -> None:
    """Pay back one refund through its payment's gateway; GatewayError makes the outbox try again later."""
    refund = session.get(Refund, payload.refund_id)
    if refund is None:
        return
    payment = session.get(Payment, refund.payment_id)
    assert payment is not None
    gateway = ctx.gateways.get(payment.gateway)
    if gateway is None:
        raise GatewayError(f"gateway {payment.gateway!r} is not configured in this worker")
    service.execute_refund(session=session, gateway=gateway, refund=refund)


@dataclass(frozen=True)
class ReconcileReport:
    checked: int
    settled: int
    errors: int


Settle = Callable[[Session, Mapping[str, PaymentGateway], str], service.Reconciled]


def _settle_each(engine: Engine, ctx: WorkerContext, ids: Sequence[str], settle: Settle, what: str) -> ReconcileReport:
    """Settle each one in a transaction of its own: one gateway's failure keeps the others' answers."""
    checked = settled = errors = 0
    for item_id in ids:
        try:
            with unit_of_work(engine, write=True, settings=ctx.settings) as session:
                outcome = settle(session, ctx.gateways, item_id)
        except GatewayError as exc:  # rolled back: asked again next time
            log.warning("reconcile %s %s: %s", what, item_id, exc)
            checked += 1
            errors += 1
            continue
        if outcome == service.Reconciled.GONE:
            continue
        checked += 1
        errors += outcome == service.Reconciled.NO_GATEWAY
        settled += outcome == service.Reconciled.SETTLED
    return ReconcileReport(checked=checked, settled=settled, errors=errors)


def reconcile_now(engine: Engine, ctx: WorkerContext) -> ReconcileReport:
    """Settle pending payments older than PORTAL_PAYMENT_RECONCILE_AFTER_MINUTES by asking their gateways, then
    ask again about the refunds still pending; one transaction per payment or refund."""
    older_than = timedelta(minutes=ctx.settings.payment_reconcile_after_minutes)
    with unit_of_work(engine, write=True, settings=ctx.settings) as session:
        payment_ids = [p.id for p in service.stale_payments(session, older_than=older_than)]
    payments = _settle_each(
        engine,
        ctx,
        payment_ids,
        lambda session, gateways, payment_id: service.reconcile_payment(
            session=session, gateways=gateways, payment_id=payment_id
        ),
        "payment",
    )
    with unit_of_work(engine, write=True, settings=ctx.settings) as session:
        refund_ids = service.stale_refunds(session, older_than=older_than)
    refunds = _settle_each(
        engine,
        ctx,
        refund_ids,
        lambda session, gateways, refund_id: service.retry_refund(
            session=session, gateways=gateways, refund_id=refund_id
        ),
        "refund",
    )
    return ReconcileReport(
        checked=payments.checked + refunds.checked,
        settled=payments.settled + refunds.settled,
        errors=payments.errors + refunds.errors,
    )


@periodic("payments.reconcile", lambda settings: settings.payment_reconcile_interval_seconds)
def scheduled_reconcile(engine: Engine, ctx: WorkerContext) -> None:
    if ctx.gateways:
        reconcile_now(engine, ctx)
