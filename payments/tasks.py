"""Background work on payments: e-receipts, refunds and the reconciliation of pending payments."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from payments import queries, service
from payments.ereceipt import EReceiptData, receipt_parts, render_e_receipt_pdf, seal_issued
from payments.gateways.base import GatewayError, PaymentGateway
from payments.models import Payment, PaymentReceipt, PaymentStatus, Refund, RefundStatus
from payments.outbox import ExecuteRefund, IssueEReceipt
from portal.kernel.clock import as_utc
from portal.kernel.money import format_vnd
from portal.kernel.outbox import WorkerContext, handler, periodic
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from portal.kernel.uow import unit_of_work

log = logging.getLogger("portal.payments")


def _receipt_of(session: Session, payment: Payment, agency_code: str | None) -> queries.AgencyReceipt:
    """One agency's e-receipt of a payment (None: the payment's first); LookupError for an agency without one."""
    receipts = queries.agency_receipts(session, payment)
    if agency_code is None:
        return receipts[0]
    for receipt in receipts:
        if receipt.agency_code == agency_code:
            return receipt
    raise LookupError(f"payment {payment.reference} has no e-receipt of agency {agency_code!r}")


def e_receipt_data(
    session: Session, payment: Payment, settings: Settings, *, agency_code: str | None = None
) -> EReceiptData:
    """Everything printed on the e-receipt of a succeeded payment, or of one agency's part of it.

    A payment for several agencies (a linked application) has one e-receipt per agency, each in its own
    numbering and listing that agency's fees only; `agency_code` picks one (None: the payment's first).
    """
    assert payment.status == PaymentStatus.SUCCEEDED and payment.settled_at and payment.receipt_number
    info = service.describe_order(session, payment)
    receipt = _receipt_of(session, payment, agency_code)
    parts = receipt_parts(payment)
    part = next(p for p in parts if p.agency_code == receipt.agency_code) if len(parts) > 1 else parts[0]
    order = info.part(receipt.agency_code)  # a linked application's: the collecting agency's own part
    shared = None
    if len(parts) > 1:
        others = ", ".join(r.label for r in queries.agency_receipts(session, payment) if r.label != receipt.label)
        shared = f"{format_vnd(payment.amount)}, thu cùng các biên lai {others}"
    gateway_names = {
        "sandbox": "Ngân hàng thử nghiệm (sandbox)",
        "vnpay": "VNPAY",
        "stripe": "Stripe",
        "cod": "Thu hộ khi giao kết quả qua bưu chính (COD)",
    }
    return EReceiptData(
        receipt_number=receipt.number,
        receipt_symbol=receipt.symbol,
        issued_at=as_utc(payment.settled_at),
        collector_name=order.collector_name,
        collector_address=order.collector_address,
        province_name=settings.province_name,
        payer_name=info.payer_name,
        payer_id_number=info.payer_id_number,
        payer_address=info.payer_address,
        dossier_code=order.code,
        procedure_name=order.title,
        lines=part.lines,
        reductions=part.reductions,
        total=part.total,
        gateway_name=gateway_names.get(payment.gateway, payment.gateway),
        gateway_ref=payment.gateway_ref,
        payment_reference=payment.reference,
        lookup_url=f"{settings.base_url.rstrip('/')}/lookup?code={info.code}" if info.code else None,
        refunded=min(_refunded(session, payment, receipt.agency_code, several=len(parts) > 1), part.total),
        shared_payment=shared,
    )


def _refunded(session: Session, payment: Payment, agency_code: str, *, several: bool) -> int:
    """What was refunded of one agency's receipt (of the whole payment when it has one receipt)."""
    if not several:
        return payment.refunded_amount
    return sum(
        r.amount
        for r in queries.refunds_of(session, [payment])
        if r.status == RefundStatus.SUCCEEDED and (r.agency_code or payment.agency_code) == agency_code
    )


def ensure_e_receipt(
    session: Session, payment: Payment, *, storage: Storage, settings: Settings, agency_code: str | None = None
) -> bytes:
    """The payment's sealed e-receipt (or that of one agency's part of it), built and stored the first time.

    A payment for one agency keeps it on its row (`receipt_key`, `receipt_sha256`, which /verify knows); one
    for several agencies on each agency's `PaymentReceipt` row (found by its SHA-256 for /verify), the first
    one mirrored on the payment's row.
    """
    receipt = _receipt_of(session, payment, agency_code)
    if receipt.key and storage.exists(receipt.key):
        return storage.get(receipt.key)
    data = e_receipt_data(session, payment, settings, agency_code=receipt.agency_code)
    pdf = seal_issued(render_e_receipt_pdf(data), settings)
    key = storage.put(pdf, prefix=f"payments/{payment.id}", suffix="-bien-lai.pdf")
    sha256 = hashlib.sha256(pdf).hexdigest()
    if receipt.row_id is not None:
        row = session.get(PaymentReceipt, receipt.row_id)
        assert row is not None
        row.storage_key, row.sha256 = key, sha256
        session.add(row)
    if receipt.number == payment.receipt_number and receipt.symbol == payment.receipt_symbol:
        payment.receipt_key, payment.receipt_sha256 = key, sha256
        session.add(payment)
    extra = {"agency_code": receipt.agency_code} if receipt.row_id is not None else {}
    service.add_payment_event(session, payment, "receipt_issued", outcome="succeeded", number=receipt.number, **extra)
    return pdf


def current_e_receipt(
    session: Session, payment: Payment, *, storage: Storage, settings: Settings, agency_code: str | None = None
) -> bytes:
    """The stored e-receipt, or the same document made now while the worker has not stored it yet.

    LookupError when `agency_code` issued no receipt for this payment.
    """
    receipt = _receipt_of(session, payment, agency_code)
    if receipt.key and storage.exists(receipt.key):
        return storage.get(receipt.key)
    data = e_receipt_data(session, payment, settings, agency_code=receipt.agency_code)
    return seal_issued(render_e_receipt_pdf(data), settings)


@handler(IssueEReceipt)
def on_receipt(session: Session, payload: IssueEReceipt, ctx: WorkerContext) -> None:
    """Issue the payment's e-receipt: one per agency when it collected for several."""
    payment = session.get(Payment, payload.payment_id)
    if payment is not None and payment.status == PaymentStatus.SUCCEEDED:
        for receipt in queries.agency_receipts(session, payment):
            ensure_e_receipt(
                session, payment, storage=ctx.storage, settings=ctx.settings, agency_code=receipt.agency_code
            )


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
