"""Payment use cases: start, take a gateway's word exactly once, settle by query, refund, report.

Services flush, never commit. Exactly once rests on two things the database enforces:

* a payment moves to ``succeeded`` by a conditional UPDATE (``WHERE status <> 'succeeded'``): of two
  callbacks arriving together only one changes a row, and only that one publishes ``PaymentSucceeded``;
* each gateway message is recorded under its gateway id (``PaymentEvent.dedupe_key`` is unique), so a
  replayed or duplicated message changes nothing.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select
from starlette.requests import Request

from payments.events import PaymentDuplicate, PaymentFailed, PaymentRefunded, PaymentRefundFailed, PaymentSucceeded
from payments.fees import FeeBreakdown, agency_shares, line_record
from payments.gateways.base import (
    Acknowledgement,
    GatewayError,
    GatewayResult,
    Outcome,
    PaymentGateway,
    PaymentOrder,
)
from payments.models import (
    FINAL_STATUSES,
    Payment,
    PaymentEvent,
    PaymentReceipt,
    PaymentStatus,
    ReceiptSequence,
    Refund,
    RefundStatus,
)
from payments.outbox import ExecuteRefund, IssueEReceipt
from portal.kernel.audit import record
from portal.kernel.clock import as_utc, local, utcnow
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.events import publish
from portal.kernel.i18n import N_
from portal.kernel.money import format_vnd
from portal.kernel.outbox import enqueue
from portal.kernel.plugins import Resettable

log = logging.getLogger("portal.payments")
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# The one line of a top-up payment: the difference when a bill grew after it was paid.
TOPUP_LINE_CODE = "topup"
TOPUP_NAME_VI = "Nộp bổ sung phần chênh lệch sau khi thay đổi lựa chọn"
TOPUP_NAME_EN = "Top-up of the difference after a change of choices"


# -- orders: what a payment is for (the dossier workflow registers "dossier")


@dataclass(frozen=True)
class OrderPart:
    """The part of an order one agency collects for (a linked application pays several agencies at once)."""

    collector_name: str
    collector_address: str
    title: str  # Vietnamese: the procedure(s) this agency's fees are for
    code: str | None  # the code of that agency's own dossier, when it has one yet


@dataclass(frozen=True)
class OrderInfo:
    """What the payments package needs to know about the thing being paid for."""

    code: str | None  # shown to people (a dossier code), None while it has none
    title: str  # Vietnamese: the procedure's name
    payer_name: str
    payer_id_number: str | None
    payer_address: str | None
    page: str  # the payer's page of the order in the portal (a path)
    collector_name: str
    collector_address: str
    # By agency code: each collecting agency's part, when the order pays several (its own agency's included).
    parts: Mapping[str, OrderPart] = field(default_factory=dict)

    def part(self, agency_code: str | None) -> OrderPart:
        """One agency's part; the order itself for its own agency or one it does not describe."""
        found = self.parts.get(agency_code) if agency_code else None
        return found or OrderPart(self.collector_name, self.collector_address, self.title, self.code)


OrderDescriber = Callable[[Session, str], OrderInfo]


class OrderKinds(Resettable[dict[str, OrderDescriber]]):
    """What payments can be for, by the `order_kind` stored on each payment, with who describes such orders."""

    def __init__(self) -> None:
        self._kinds: dict[str, OrderDescriber] = {}

    def register(self, kind: str, describe: OrderDescriber) -> None:
        existing = self._kinds.get(kind)
        if existing is not None and existing is not describe:
            raise ValueError(f"two describers for the order kind {kind!r}")
        self._kinds[kind] = describe

    def describe(self, session: Session, payment: Payment) -> OrderInfo:
        try:
            describe = self._kinds[payment.order_kind]
        except KeyError:
            raise LookupError(f"no order kind {payment.order_kind!r} is registered") from None
        return describe(session, payment.order_id)

    def snapshot(self) -> dict[str, OrderDescriber]:
        return dict(self._kinds)

    def restore(self, state: dict[str, OrderDescriber]) -> None:
        self._kinds = dict(state)

    def reset(self) -> None:
        self._kinds = {}


# The application's order kinds: the dossier workflow registers "dossier" (portal/dossiers/billing.py).
order_kinds = OrderKinds()


def register_order_kind(kind: str, describe: OrderDescriber) -> None:
    order_kinds.register(kind, describe)


def describe_order(session: Session, payment: Payment) -> OrderInfo:
    return order_kinds.describe(session, payment)


# -- queries


def payments_of(session: Session, order_id: str, *, kind: str = "dossier") -> list[Payment]:
    """Every payment of an order, newest first."""
    stmt = (
        select(Payment)
        .where(Payment.order_kind == kind, Payment.order_id == order_id)
        .order_by(col(Payment.created_at).desc(), col(Payment.id))
    )
    return list(session.exec(stmt))


def paid_amount(payments: Sequence[Payment]) -> int:
    """What an order's payments have collected and kept (succeeded, less what was refunded)."""
    return sum(p.amount - p.refunded_amount for p in payments if p.status == PaymentStatus.SUCCEEDED)


def kept_amount(session: Session, order_id: str, *, kind: str = "dossier") -> int:
    """What an order's payments have collected and keep once the refunds under way are paid back."""
    items = payments_of(session, order_id, kind=kind)
    return paid_amount(items) - sum(_pending_refunds(session, p) for p in items if p.status == PaymentStatus.SUCCEEDED)


def by_reference(session: Session, reference: str) -> Payment | None:
    return session.exec(select(Payment).where(Payment.reference == reference[:32])).first()


def new_reference() -> str:
    """A payment reference: letters and digits only (VNPay's vnp_TxnRef), unambiguous to read out."""
    return "DVC" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(13))


def order_for(payment: Payment, *, locale: str = "vi", payer_ip: str = "127.0.0.1") -> PaymentOrder:
    """The gateway's view of a stored payment."""
    return PaymentOrder(
        reference=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        description=payment.description,
        created_at=as_utc(payment.created_at),
        expires_at=as_utc(payment.expires_at),
        idempotency_key=payment.idempotency_key,
        locale=locale,
        payer_ip=payer_ip,
        gateway_ref=payment.gateway_ref,
    )


def add_payment_event(
    session: Session,
    payment: Payment,
    kind: str,
    *,
    source: str = "",
    outcome: str = "",
    dedupe_key: str | None = None,
    **detail: Any,
) -> bool:
    """Record what happened; with a dedupe_key, False (and nothing written) when it was recorded before."""
    if dedupe_key is None:
        session.add(PaymentEvent(payment_id=payment.id, kind=kind, source=source, outcome=outcome, detail=detail))
        session.flush()
        return True
    table = PaymentEvent.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    stmt = (
        (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        .values(
            payment_id=payment.id,
            at=utcnow(),
            kind=kind,
            source=source,
            outcome=outcome,
            dedupe_key=dedupe_key[:200],
            detail=detail,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(table.c.id)
    )
    # The row it returns, not `rowcount`: through the ORM session psycopg answers -1 for this statement on
    # PostgreSQL, which read as "fresh" and let a replayed gateway event pass for a new one.
    return session.execute(stmt).first() is not None


# -- starting a payment


@dataclass(frozen=True)
class Started:
    """The outcome of a start: the payment, and whether the gateway could be reached."""

    payment: Payment
    ok: bool


def start_payment(
    *,
    session: Session,
    gateway: PaymentGateway,
    order_id: str,
    account_id: str,
    agency_code: str,
    bill: FeeBreakdown,
    description: str,
    base_url: str,
    expiry_minutes: int,
    locale: str = "vi",
    payer_ip: str = "127.0.0.1",
    kind: str = "dossier",
) -> Started:
    """Send the payer to the gateway for what is left of the bill; a second click while one is pending reuses it.

    Nothing paid yet: the payment is the bill, line by line. Part of it paid (the bill grew after a payment):
    the payment is a top-up of the difference, one line, which records what was kept before it.

    A gateway that cannot be reached leaves a failed payment on record (the payer sees a retry) rather
    than an error: nothing the citizen entered depends on it.
    """
    if bill.total <= 0:
        raise Invalid(N_("There is nothing to pay for this dossier."))
    existing = payments_of(session, order_id, kind=kind)
    kept = kept_amount(session, order_id, kind=kind)
    if kept >= bill.total:
        raise Conflict(N_("The fee of this dossier has already been paid."))
    # A first payment charges the bill; after a change of the bill (a delivery by post chosen later, say), a
    # top-up charges what is left, on one line that says so (its e-receipt adds up).
    amount = bill.total - kept
    now = utcnow()
    for payment in existing:
        if (
            payment.status == PaymentStatus.PENDING
            and payment.gateway == gateway.id
            and payment.amount == amount
            and payment.redirect_url
            and as_utc(payment.expires_at) > now + timedelta(minutes=1)
        ):
            return Started(payment, True)  # a double click: the same attempt, the same gateway page
    if kept:
        lines = [
            {
                "code": TOPUP_LINE_CODE,
                "name_vi": TOPUP_NAME_VI,
                "name_en": TOPUP_NAME_EN,
                "amount": amount,
                "paid_before": kept,
            }
        ]
        reductions: list[dict[str, Any]] = []
    else:
        lines = [line_record(ln) for ln in bill.lines]
        reductions = [
            {"category": r.category, "name_vi": r.name_vi, "name_en": r.name_en, "percent": r.percent, "amount": cut}
            for r, cut in bill.reductions
        ]
    payment = Payment(
        reference=new_reference(),
        order_kind=kind,
        order_id=order_id,
        account_id=account_id,
        agency_code=agency_code,
        gateway=gateway.id,
        amount=amount,
        description=description[:255],
        lines=lines,
        reductions=reductions,
        idempotency_key=secrets.token_hex(16),
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(minutes=expiry_minutes),
    )
    session.add(payment)
    session.flush()
    root = base_url.rstrip("/")
    try:
        start = gateway.start_payment(
            order_for(payment, locale=locale, payer_ip=payer_ip),
            return_url=f"{root}/payments/return/{gateway.id}",
            notify_url=f"{root}/payments/notify/{gateway.id}",
        )
    except GatewayError as exc:
        payment.status, payment.message, payment.settled_at = PaymentStatus.FAILED, "gateway unavailable", now
        session.add(payment)
        add_payment_event(session, payment, "start_failed", source="payer", outcome="failed", error=str(exc)[:300])
        log.warning("gateway %s unavailable at start of %s: %s", gateway.id, payment.reference, exc)
        return Started(payment, False)
    payment.redirect_url, payment.gateway_ref = start.redirect_url, start.gateway_ref
    session.add(payment)
    add_payment_event(session, payment, "started", source="payer", outcome="pending", amount=payment.amount)
    return Started(payment, True)


# -- taking a gateway's word


@dataclass(frozen=True)
class Applied:
    ack: Acknowledgement
    payment: Payment | None
    changed: bool = False  # this call moved the payment to a new status
    replayed: bool = False  # the gateway sent this very event before (its event id): nothing done again


def refuse_callback(
    session: Session,
    *,
    gateway_id: str,
    source: str,
    reason: str,
    request: Request | None = None,
    reference: str | None = None,
) -> None:
    """A callback we do not believe: written to the audit trail, nothing else changes."""
    record(
        session,
        "payment.callback_refused",
        request=request,
        outcome="refused",
        gateway=gateway_id,
        source=source,
        reason=reason[:300],
        reference=reference,
    )
    log.warning("refused %s %s callback (%s): %s", gateway_id, source, reference, reason)


# The gateway's callbacks (the payer's return, its server-to-server notification): each is an audit event.
CALLBACK_SOURCES = ("return", "notification")


def apply_result(
    *,
    session: Session,
    gateway_id: str,
    result: GatewayResult,
    source: str,
    request: Request | None = None,
) -> Applied:
    """Take a verified gateway statement into account, once.

    A callback (`CALLBACK_SOURCES`) is recorded in the audit trail as `payment.callback`, outcome `ok` or
    `replayed` (the same gateway event again); the ones refused are `payment.callback_refused`.
    """
    applied = _apply_result(session=session, gateway_id=gateway_id, result=result, source=source, request=request)
    refused = applied.ack in (Acknowledgement.UNKNOWN_ORDER, Acknowledgement.BAD_AMOUNT)  # recorded as refused
    if source in CALLBACK_SOURCES and not refused and result.reference:
        payment = applied.payment
        record(
            session,
            "payment.callback",
            request=request,
            outcome="replayed" if applied.replayed else "ok",
            gateway=gateway_id,
            source=source,
            reference=result.reference,
            result=str(result.outcome),
            ack=str(applied.ack),
            status=str(payment.status) if payment is not None else None,
            order_kind=payment.order_kind if payment is not None else None,
            order_id=payment.order_id if payment is not None else None,
        )
    return applied


def _apply_result(
    *,
    session: Session,
    gateway_id: str,
    result: GatewayResult,
    source: str,
    request: Request | None,
) -> Applied:
    if not result.reference:
        return Applied(Acknowledgement.ACCEPTED, None)  # an event about nothing of ours (another kind)
    payment = by_reference(session, result.reference)
    if payment is None or payment.gateway != gateway_id:
        refuse_callback(
            session,
            gateway_id=gateway_id,
            source=source,
            reason="unknown payment reference",
            request=request,
            reference=result.reference,
        )
        return Applied(Acknowledgement.UNKNOWN_ORDER, None)
    if result.outcome != Outcome.PENDING and (result.amount != payment.amount or result.currency != payment.currency):
        refuse_callback(
            session,
            gateway_id=gateway_id,
            source=source,
            reason=f"amount {result.amount} {result.currency} does not match {payment.amount} {payment.currency}",
            request=request,
            reference=payment.reference,
        )
        add_payment_event(
            session, payment, "refused", source=source, outcome=result.outcome, amount=result.amount, why="amount"
        )
        return Applied(Acknowledgement.BAD_AMOUNT, payment)
    if result.event_id:
        fresh = add_payment_event(
            session,
            payment,
            source,
            source=source,
            outcome=result.outcome,
            dedupe_key=f"{gateway_id}:{source}:{result.event_id}",
            message=result.message[:200],
        )
        if not fresh:
            session.refresh(payment)
            return Applied(Acknowledgement.ALREADY_DONE, payment, replayed=True)
    else:
        add_payment_event(session, payment, source, source=source, outcome=result.outcome, message=result.message[:200])
    if result.outcome == Outcome.PENDING:
        return Applied(Acknowledgement.ACCEPTED, payment)
    if result.outcome == Outcome.SUCCEEDED:
        return _succeed(session, payment, result)
    return _fail(session, payment, result)


def _succeed(session: Session, payment: Payment, result: GatewayResult) -> Applied:
    now = utcnow()
    # The conditional update is the lock: only one caller moves the payment to succeeded. A payment
    # recorded as failed may still succeed (the payer retried on the gateway's page): money is the truth.
    won = session.execute(
        update(Payment)
        .where(col(Payment.id) == payment.id, col(Payment.status) != PaymentStatus.SUCCEEDED)
        .values(
            status=PaymentStatus.SUCCEEDED,
            settled_at=now,
            updated_at=now,
            gateway_ref=result.gateway_ref or payment.gateway_ref,
            message=result.message[:300],
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(payment)
    if won != 1:
        return Applied(Acknowledgement.ALREADY_DONE, payment)
    add_payment_event(session, payment, "succeeded", outcome="succeeded", gateway_ref=payment.gateway_ref)
    _number_receipt(session, payment)
    earlier = [
        p
        for p in payments_of(session, payment.order_id, kind=payment.order_kind)
        if p.id != payment.id and p.status == PaymentStatus.SUCCEEDED and p.amount > p.refunded_amount
    ]
    enqueue(session, IssueEReceipt(payment_id=payment.id))
    # A top-up pays what was left after the payments kept when it started; anything kept beyond that by the
    # others (two tabs again) makes this one a duplicate. A first payment started with nothing kept.
    if paid_amount(earlier) > _paid_before(payment):
        # Paid twice (two gateways, two tabs): the later payment is given back at once.
        refund_payment(session=session, payment=payment, reason="duplicate")
        publish(session, PaymentDuplicate(payment=payment))
    else:
        publish(session, PaymentSucceeded(payment=payment))
    return Applied(Acknowledgement.ACCEPTED, payment, changed=True)


def _paid_before(payment: Payment) -> int:
    """What the order had kept when a top-up payment started (0 for a first payment)."""
    for line in payment.lines:
        if line.get("code") == TOPUP_LINE_CODE:
            return int(line.get("paid_before") or 0)
    return 0


def _fail(session: Session, payment: Payment, result: GatewayResult) -> Applied:
    status = PaymentStatus.CANCELLED if result.outcome == Outcome.CANCELLED else PaymentStatus.FAILED
    now = utcnow()
    won = session.execute(
        update(Payment)
        .where(col(Payment.id) == payment.id, col(Payment.status) == PaymentStatus.PENDING)
        .values(status=status, settled_at=now, updated_at=now, message=result.message[:300])
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(payment)
    if won != 1:
        return Applied(Acknowledgement.ALREADY_DONE, payment)
    publish(session, PaymentFailed(payment=payment))
    return Applied(Acknowledgement.ACCEPTED, payment, changed=True)


def settle_by_query(*, session: Session, gateway: PaymentGateway, payment: Payment, source: str = "query") -> Applied:
    """Ask the gateway about a pending payment and apply its answer; GatewayError when it cannot answer."""
    result = gateway.query_status(order_for(payment))
    if result.reference != payment.reference:
        raise GatewayError(f"the gateway answered about {result.reference!r}, not {payment.reference!r}")
    if result.outcome == Outcome.PENDING and as_utc(payment.expires_at) + timedelta(minutes=5) < utcnow():
        # Abandoned at the gateway: nothing was taken and the gateway will take nothing now.
        result = GatewayResult(
            reference=payment.reference,
            outcome=Outcome.CANCELLED,
            amount=payment.amount,
            currency=payment.currency,
            message="expired without an answer",
        )
    return apply_result(session=session, gateway_id=gateway.id, result=result, source=source)


# -- e-receipt numbers


def receipt_agencies(payment: Payment) -> list[str]:
    """The agencies that each issue an e-receipt for a payment: those whose fees it collects (its lines'
    agencies), its own agency first when it collects any. One agency for every payment but a linked one's."""
    agencies = list(agency_shares(payment.lines, amount=payment.amount, agency_code=payment.agency_code))
    if payment.agency_code in agencies:
        agencies.remove(payment.agency_code)
        agencies.insert(0, payment.agency_code)
    return agencies


def _number_receipt(session: Session, payment: Payment) -> None:
    """Give a succeeded payment the next e-receipt number of its agency's year (ký hiệu <agency>-<yy>E).

    A payment collecting for several agencies (a linked application) gets one e-receipt per agency that
    collects an amount on it, each numbered in that agency's own sequence and recorded as a `PaymentReceipt`
    row (agency, amount, symbol, number; the stored PDF later), the first one included; the payment's
    `receipt_symbol`/`receipt_number` mirror the first. Numbered once: a payment with rows keeps them.
    """
    if payment.receipt_number:
        return
    agencies = receipt_agencies(payment)
    shares = agency_shares(payment.lines, amount=payment.amount, agency_code=payment.agency_code)
    for position, agency in enumerate(agencies):
        symbol, number = _next_receipt_number(session, agency)
        if position == 0:
            payment.receipt_symbol, payment.receipt_number = symbol, number
            session.add(payment)
        if len(agencies) > 1:
            session.add(
                PaymentReceipt(
                    payment_id=payment.id, agency_code=agency, amount=shares[agency], symbol=symbol, number=number
                )
            )
    session.flush()


def _next_receipt_number(session: Session, agency_code: str) -> tuple[str, str]:
    """The next symbol and number of an agency's e-receipts this year."""
    symbol = f"{agency_code}-{local(utcnow()):%y}E"
    table = ReceiptSequence.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    stmt = (
        (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        .values(symbol=symbol, last=1)
        .on_conflict_do_update(index_elements=["symbol"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    number = int(session.execute(stmt).scalar_one())
    return symbol, f"{number:07d}"


# -- refunds


def refundable(payment: Payment) -> int:
    return payment.amount - payment.refunded_amount if payment.status == PaymentStatus.SUCCEEDED else 0


def request_refund(
    *,
    session: Session,
    payment: Payment,
    amount: int,
    reason: str,
    agency_code: str | None = None,
    member: str | None = None,
) -> Refund:
    """Record a refund to make and queue it for the gateway; refuses what was never paid or is given back.

    `agency_code`: whose fees are given back (None: the payment's agency); `member`: the member procedure
    of a linked application whose fees they are (`Refund.member`, see `member_refunds`).
    """
    if amount <= 0 or amount > refundable(payment) - _pending_refunds(session, payment):
        raise Conflict(N_("There is no paid amount left to refund on this payment."))
    refund = Refund(payment_id=payment.id, amount=amount, reason=reason, agency_code=agency_code, member=member)
    session.add(refund)
    session.flush()
    extra: dict[str, Any] = {"refund_id": refund.id}
    if agency_code is not None:
        extra["agency_code"] = agency_code
    if member is not None:
        extra["member"] = member
    add_payment_event(session, payment, "refund_requested", outcome="pending", amount=amount, reason=reason, **extra)
    enqueue(session, ExecuteRefund(refund_id=refund.id))
    return refund


def _given_back(session: Session, payment: Payment) -> list[Refund]:
    """The refunds of a payment that give money back or will (pending or succeeded; failed ones do not)."""
    return list(
        session.exec(
            select(Refund).where(
                Refund.payment_id == payment.id,
                col(Refund.status).in_([RefundStatus.PENDING, RefundStatus.SUCCEEDED]),
            )
        )
    )


def agency_refunded(session: Session, payment: Payment) -> dict[str, int]:
    """What of a payment is given back (pending or done) per agency: a refund's agency, else the payment's."""
    given: dict[str, int] = {}
    for refund in _given_back(session, payment):
        agency = refund.agency_code or payment.agency_code
        given[agency] = given.get(agency, 0) + refund.amount
    return given


def member_refunds(session: Session, payment: Payment, member: str) -> list[Refund]:
    """The refunds of a payment requested for one member procedure of a linked application (pending or done)."""
    return [refund for refund in _given_back(session, payment) if refund.member == member]


def refund_payment(*, session: Session, payment: Payment, reason: str) -> list[Refund]:
    """Give back all a payment still keeps: one refund, or one per agency when it collected for several
    (each with its `agency_code`, for what that agency still keeps), so the daily report debits each its own."""
    left = refundable(payment) - _pending_refunds(session, payment)
    if left <= 0:
        return []
    shares = agency_shares(payment.lines, amount=payment.amount, agency_code=payment.agency_code)
    if len(shares) == 1:
        return [request_refund(session=session, payment=payment, amount=left, reason=reason)]
    given = agency_refunded(session, payment)
    refunds = []
    for agency, share in shares.items():
        amount = min(share - given.get(agency, 0), left)
        if amount > 0:
            refunds.append(
                request_refund(session=session, payment=payment, amount=amount, reason=reason, agency_code=agency)
            )
            left -= amount
    return refunds


def refund_order(
    *, session: Session, order_id: str, reason: str, kind: str = "dossier", amount: int | None = None
) -> list[Refund]:
    """Refund everything an order kept, or `amount` of it (from its latest payments first); Conflict when
    nothing was paid, or when `amount` is more than is kept.

    A part (`amount`) only of an order whose payments each collect for one agency: a payment for several
    (a linked application's) is given back member by member (`portal.dossiers.billing.refund_member`)."""
    if amount is not None:
        return _refund_part(session, payments_of(session, order_id, kind=kind), amount, reason)
    refunds = []
    for payment in payments_of(session, order_id, kind=kind):
        refunds += refund_payment(session=session, payment=payment, reason=reason)
    if not refunds:
        raise Conflict(N_("This dossier has no payment to refund."))
    return refunds


def _refund_part(session: Session, items: Sequence[Payment], amount: int, reason: str) -> list[Refund]:
    left = [(p, refundable(p) - _pending_refunds(session, p)) for p in items]  # newest first
    left = [(p, n) for p, n in left if n > 0]
    total = sum(n for _, n in left)
    if total <= 0:
        raise Conflict(N_("This dossier has no payment to refund."))
    if amount > total:
        raise Conflict(
            N_("At most {left} of this dossier's fee can still be refunded: {amount} is more than that."),
            {"left": format_vnd(total), "amount": format_vnd(amount)},
        )
    if any(len(agency_shares(p.lines, amount=p.amount, agency_code=p.agency_code)) > 1 for p, _ in left):
        raise Conflict(N_("A payment for several agencies is refunded by each agency for its own procedure."))
    refunds = []
    for payment, n in left:
        part = min(n, amount)
        if part > 0:
            refunds.append(request_refund(session=session, payment=payment, amount=part, reason=reason))
            amount -= part
    return refunds


def pending_refunds(session: Session, payment: Payment) -> int:
    """What of a payment is being refunded (refunds requested, not yet settled)."""
    return _pending_refunds(session, payment)


def _pending_refunds(session: Session, payment: Payment) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status == RefundStatus.PENDING
        )
    ).one()
    return int(total)


def execute_refund(*, session: Session, gateway: PaymentGateway, refund: Refund) -> None:
    """Ask the gateway to pay back one refund (idempotent: the refund id is the gateway's key)."""
    if refund.status != RefundStatus.PENDING:
        return
    payment = session.get(Payment, refund.payment_id)
    assert payment is not None
    refund.attempts += 1
    result = gateway.refund(order_for(payment), amount=refund.amount, refund_id=refund.id, reason=refund.reason)
    refund.gateway_ref, refund.message = result.gateway_ref, result.message[:300]
    if result.outcome == Outcome.PENDING:
        # The gateway took the request and settles it later: the reconciliation job asks again.
        session.add(refund)
        session.flush()
        return
    now = utcnow()
    if result.outcome == Outcome.SUCCEEDED:
        won = session.execute(
            update(Refund)
            .where(col(Refund.id) == refund.id, col(Refund.status) == RefundStatus.PENDING)
            .values(status=RefundStatus.SUCCEEDED, settled_at=now, gateway_ref=result.gateway_ref)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if won == 1:
            session.execute(
                update(Payment)
                .where(col(Payment.id) == payment.id)
                .values(refunded_amount=Payment.refunded_amount + refund.amount, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            session.refresh(payment)
            session.refresh(refund)
            add_payment_event(session, payment, "refunded", outcome="succeeded", amount=refund.amount)
            publish(session, PaymentRefunded(refund=refund, payment=payment))
        return
    refund.status, refund.settled_at = RefundStatus.FAILED, now
    session.add(refund)
    add_payment_event(session, payment, "refund_failed", outcome="failed", amount=refund.amount, message=result.message)
    publish(session, PaymentRefundFailed(refund=refund, payment=payment))
    session.flush()


# -- reconciliation


def stale_payments(session: Session, *, older_than: timedelta, limit: int = 100) -> list[Payment]:
    """Pending payments started longer ago than `older_than` (skipping rows another worker holds)."""
    stmt = (
        select(Payment)
        .where(Payment.status == PaymentStatus.PENDING, col(Payment.created_at) < utcnow() - older_than)
        .order_by(col(Payment.created_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.exec(stmt))


class Reconciled(StrEnum):
    """What asking the gateway again did to one payment or refund."""

    GONE = "gone"  # settled meanwhile (or deleted): nothing was asked
    NO_GATEWAY = "no_gateway"  # its gateway is not configured here: an error for the operator
    UNCHANGED = "unchanged"  # still pending at the gateway
    SETTLED = "settled"  # moved to a final status


def reconcile_payment(*, session: Session, gateways: Mapping[str, PaymentGateway], payment_id: str) -> Reconciled:
    """Settle one stale pending payment by asking its gateway; GatewayError when the gateway cannot answer."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.status in FINAL_STATUSES:
        return Reconciled.GONE
    gateway = gateways.get(payment.gateway)
    if gateway is None:
        log.error("payment %s uses gateway %s, which is not configured", payment.reference, payment.gateway)
        return Reconciled.NO_GATEWAY
    applied = settle_by_query(session=session, gateway=gateway, payment=payment, source="reconcile")
    return Reconciled.SETTLED if applied.changed else Reconciled.UNCHANGED


def stale_refunds(session: Session, *, older_than: timedelta, limit: int = 100) -> list[str]:
    """The ids of refunds still pending after `older_than` (the gateway was down, or it settles them later)."""
    stmt = (
        select(Refund.id)
        .where(Refund.status == RefundStatus.PENDING, col(Refund.created_at) < utcnow() - older_than)
        .order_by(col(Refund.created_at))
        .limit(limit)
    )
    return list(session.exec(stmt))


def retry_refund(*, session: Session, gateways: Mapping[str, PaymentGateway], refund_id: str) -> Reconciled:
    """Ask the gateway again about one pending refund; GatewayError when it cannot answer."""
    refund = session.get(Refund, refund_id)
    payment = session.get(Payment, refund.payment_id) if refund else None
    if refund is None or payment is None or refund.status != RefundStatus.PENDING:
        return Reconciled.GONE
    gateway = gateways.get(payment.gateway)
    if gateway is None:
        log.error("refund %s: gateway %s is not configured", refund.id, payment.gateway)
        return Reconciled.NO_GATEWAY
    execute_refund(session=session, gateway=gateway, refund=refund)
    return Reconciled.UNCHANGED if refund.status == RefundStatus.PENDING else Reconciled.SETTLED
