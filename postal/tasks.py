"""Operators served by push (docs/POSTAL_OPERATORS.md): orders posted to the operator through the outbox, its
tracking polled on a schedule.

* A new order of a push operator (a `ParcelEvent` "created") enqueues `SubmitPostalOrder` in the same
  transaction. Its handler posts the order to the operator (`Staged`: no database is held during the call on
  SQLite), then stores the operator's id of the order and claims it with the operator's tracking number
  (`postal.service.claim`). An operator that cannot answer (OperatorError) makes the outbox try again later;
  one that refuses the order for good (OperatorRefused) leaves it unclaimed, with an audit entry
  ``postal.operator_refused`` and an error in the log.
* Every PORTAL_POSTAL_POLL_INTERVAL_SECONDS the job ``postal.poll`` asks the operator for the tracking of each
  open order it holds and records each event through `postal.service.record_event`, idempotent by event id:
  polling twice changes nothing, events read out of order are placed by their time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from portal.kernel.audit import record
from portal.kernel.clock import utcnow
from portal.kernel.db import settings_of
from portal.kernel.errors import DomainError
from portal.kernel.events import subscribe
from portal.kernel.outbox import (
    HandlerFailed,
    OutboxPayload,
    Staged,
    WorkerContext,
    enqueue,
    periodic,
    staged,
)
from portal.kernel.settings import Settings
from portal.kernel.storage import Storage
from portal.kernel.uow import unit_of_work
from postal import service
from postal.events import ParcelEvent
from postal.models import FINAL, ParcelStatus, PostalOrder, RecipientRelation
from postal.operators import (
    OperatorConfigError,
    OperatorError,
    OperatorRefused,
    OperatorReport,
    OrderData,
    SubmittedOrder,
    mode_of,
    operator_ids,
    plugin_for,
)

log = logging.getLogger("portal.postal")

# Longer than any call of a plugin can take (each phase of an HTTP call is bounded by the plugin's timeout,
# at most 120 s): a worker that dies during a submission leaves it to be tried again after this.
SUBMIT_LEASE_SECONDS = 600.0
# The statuses of an order the operator still holds: its tracking is polled.
OPEN = (ParcelStatus.CLAIMED, ParcelStatus.PICKED_UP, ParcelStatus.IN_TRANSIT, ParcelStatus.DELIVERY_ATTEMPTED)
# How many orders one poll asks about at most (the least recently polled first; the rest wait for the next).
POLL_BATCH = 500


class SubmitPostalOrder(OutboxPayload):
    """Post one order to its push operator and claim it with the operator's tracking number."""

    topic: ClassVar[str] = "postal.submit"

    order_id: str


class CancelAtOperator(OutboxPayload):
    """Withdraw from its push operator an order the portal no longer wants the operator to carry."""

    topic: ClassVar[str] = "postal.cancel_at_operator"

    order_id: str
    operator_ref: str | None = None
    reason: str = ""
    # Post the order again once withdrawn (its address changed while it was being posted).
    resubmit: bool = False


# -- submission


@subscribe(ParcelEvent)
def on_parcel_event(session: Session, event: ParcelEvent) -> None:
    """A new order of a push operator: post it to the operator (through the outbox, after the commit)."""
    if event.status != ParcelStatus.CREATED:
        return
    if mode_of(settings_of(session), event.operator) == "push":
        enqueue(session, SubmitPostalOrder(order_id=event.order_id))


@dataclass(frozen=True)
class _SubmitJob:
    order: OrderData


@dataclass(frozen=True)
class _Submitted:
    answer: SubmittedOrder
    sent: OrderData


@dataclass(frozen=True)
class _Failed:
    error: str


@dataclass(frozen=True)
class _Refused:
    reason: str
    code: str | None


_SubmitOutcome = _Submitted | _Failed | _Refused | None


def _prepare_submit(session: Session, payload: SubmitPostalOrder, ctx: WorkerContext) -> _SubmitJob | None:
    """The order as it is now, or None when there is nothing to post (claimed already, cancelled, pull)."""
    order = session.get(PostalOrder, payload.order_id)
    if order is None or order.status != ParcelStatus.CREATED or order.tracking_number:
        return None
    if mode_of(ctx.settings, order.operator) != "push":
        return None
    return _SubmitJob(OrderData.from_order(order))


def _perform_submit(job: _SubmitJob | None, ctx: WorkerContext) -> _SubmitOutcome:
    """The operator's call (no database held meanwhile on SQLite); never raises for what the operator does."""
    if job is None:
        return None
    try:
        return _Submitted(plugin_for(ctx.settings, job.order.operator).submit_order(job.order), job.order)
    except OperatorRefused as exc:
        return _Refused(exc.reason, exc.code)
    except (OperatorError, OperatorConfigError) as exc:
        return _Failed(str(exc))


def _shipped_content(order: OrderData) -> tuple[object, ...]:
    """What the operator was told that an address change would make wrong."""
    return (dict(order.sender), dict(order.recipient), order.cod_amount, order.weight_class)


def _finish_submit(session: Session, payload: SubmitPostalOrder, outcome: _SubmitOutcome, ctx: WorkerContext) -> None:
    if outcome is None:
        return
    # Read again (on PostgreSQL `prepare` ran in this very session) and locked: an address change waits for
    # the claim, then finds the order claimed.
    postgres = session.get_bind().dialect.name == "postgresql"
    order = session.get(PostalOrder, payload.order_id, populate_existing=True, with_for_update=postgres)
    if order is None:
        return
    what = f"postal order {order.number} to {order.operator}"
    if isinstance(outcome, _Failed):
        raise HandlerFailed(f"{what}: {outcome.error}")
    if isinstance(outcome, _Refused):
        log.error("%s refused: %s", what, outcome.reason)
        record(
            session,
            "postal.operator_refused",
            outcome="refused",
            order_id=order.id,
            number=order.number,
            operator=order.operator,
            reason=outcome.reason[:500],
            code=outcome.code,
        )
        return
    answer = outcome.answer
    if order.status == ParcelStatus.CREATED and _shipped_content(outcome.sent) != _shipped_content(
        OrderData.from_order(order)
    ):
        # The address changed while the operator was being told: withdraw what it got, then post it again
        # (the operator takes the same order number again once the first order is cancelled).
        log.warning("%s: changed during its submission; withdrawn from the operator and posted again", what)
        enqueue(
            session,
            CancelAtOperator(
                order_id=order.id, operator_ref=answer.operator_ref, reason="address changed", resubmit=True
            ),
        )
        return
    if order.status == ParcelStatus.CANCELLED:
        # Cancelled while the operator was being told: withdraw it there.
        enqueue(session, CancelAtOperator(order_id=order.id, operator_ref=answer.operator_ref, reason="cancelled"))
        log.info("%s: cancelled during its submission; withdrawn from the operator", what)
        return
    if order.status != ParcelStatus.CREATED:
        if order.tracking_number != answer.tracking_number:
            log.error(
                "%s: already %s with %s, the operator answered %s",
                what,
                order.status,
                order.tracking_number,
                answer.tracking_number,
            )
        return
    order.operator_ref = answer.operator_ref
    session.add(order)
    service.claim(session=session, order=order, operator=order.operator, tracking_number=answer.tracking_number)
    log.info("%s: claimed with tracking number %s", what, order.tracking_number)


submit = staged(
    SubmitPostalOrder,
    Staged(
        prepare=_prepare_submit,
        perform=_perform_submit,
        finish=_finish_submit,
        lease=lambda settings: SUBMIT_LEASE_SECONDS,
    ),
)


def _prepare_cancel(session: Session, payload: CancelAtOperator, ctx: WorkerContext) -> OrderData | None:
    order = session.get(PostalOrder, payload.order_id)
    if order is None or mode_of(ctx.settings, order.operator) != "push":
        return None
    data = OrderData.from_order(order)
    if payload.operator_ref:  # the operator's id of the copy to withdraw (not stored when never claimed)
        data = replace(data, operator_ref=payload.operator_ref)
    return data


def _perform_cancel(job: OrderData | None, ctx: WorkerContext) -> _SubmitOutcome:
    if job is None:
        return None
    try:
        plugin_for(ctx.settings, job.operator).cancel_order(job, reason="Cổng dịch vụ công huỷ đơn")
    except OperatorRefused as exc:
        return _Refused(exc.reason, exc.code)
    except (OperatorError, OperatorConfigError) as exc:
        return _Failed(str(exc))
    return None


def _finish_cancel(session: Session, payload: CancelAtOperator, outcome: _SubmitOutcome, ctx: WorkerContext) -> None:
    if isinstance(outcome, _Failed):
        raise HandlerFailed(f"withdrawing postal order {payload.order_id}: {outcome.error}")
    if isinstance(outcome, _Refused):
        log.error("withdrawing postal order %s refused: %s", payload.order_id, outcome.reason)
        record(
            session,
            "postal.operator_refused",
            outcome="refused",
            order_id=payload.order_id,
            action="cancel",
            reason=outcome.reason[:500],
            code=outcome.code,
        )
        return
    if payload.resubmit:
        enqueue(session, SubmitPostalOrder(order_id=payload.order_id))


cancel_at_operator = staged(
    CancelAtOperator,
    Staged(
        prepare=_prepare_cancel,
        perform=_perform_cancel,
        finish=_finish_cancel,
        lease=lambda settings: SUBMIT_LEASE_SECONDS,
    ),
)


# -- tracking


@dataclass(frozen=True)
class Applied:
    """What applying one order's reports did."""

    recorded: int = 0  # new events stored
    replayed: int = 0  # events known already (the same id and content)
    refused: int = 0  # events `record_event` refused (logged)


@dataclass(frozen=True)
class PollReport:
    orders: int  # orders asked about
    recorded: int  # new events stored
    replayed: int
    refused: int  # events refused by the portal's checks
    errors: int  # orders whose tracking could not be read (tried again next time)


def _proof(report: OperatorReport) -> service.Proof | None:
    """The operator's proof of delivery, as `record_event` takes it.

    An operator that keeps no image gives an empty content: `record_event` refuses it today (the event is not
    recorded, and is read again at the next poll, when the operator may have the image)."""
    if report.proof is None:
        return None
    return service.Proof(
        recipient_name=report.proof.recipient_name,
        relation=RecipientRelation(report.proof.relation),
        delivered_at=report.proof.delivered_at,
        content=report.proof.content or b"",
        filename=report.proof.filename,
    )


def apply_reports(
    session: Session,
    *,
    settings: Settings,
    storage: Storage,
    order: PostalOrder,
    reports: Sequence[OperatorReport],
) -> Applied:
    """Record an operator's reports on its order, oldest first, each in a savepoint of its own (one the portal
    refuses is logged and skipped; the others are kept)."""
    recorded = replayed = refused = 0
    for report in sorted(reports, key=lambda r: r.occurred_at):
        tracking = service.TrackingReport(
            event_id=report.event_id,
            status=report.status,
            occurred_at=report.occurred_at,
            location=report.location,
            note=report.note,
            reason=report.reason,
            cod_collected=report.cod_collected,
        )
        try:
            with session.begin_nested():
                result = service.record_event(
                    session=session,
                    settings=settings,
                    storage=storage,
                    operator=order.operator,
                    order=order,
                    report=tracking,
                    proof=_proof(report),
                )
        except DomainError as exc:
            session.refresh(order)
            refused += 1
            log.warning(
                "postal order %s (%s): event %s (%s) not recorded: %s %s",
                order.number,
                order.operator,
                report.event_id,
                report.status,
                exc.msgid,
                exc.params or "",
            )
            continue
        if result.replayed:
            replayed += 1
        else:
            recorded += 1
    order.polled_at = utcnow()
    session.add(order)
    session.flush()
    return Applied(recorded=recorded, replayed=replayed, refused=refused)


def open_push_orders(session: Session, settings: Settings, *, limit: int = POLL_BATCH) -> list[PostalOrder]:
    """The orders push operators hold and have not finished with, the least recently polled first."""
    operators = operator_ids(settings, mode="push")
    if not operators:
        return []
    stmt = (
        select(PostalOrder)
        .where(
            col(PostalOrder.operator).in_(operators),
            col(PostalOrder.status).in_(OPEN),
            col(PostalOrder.tracking_number).is_not(None),
        )
        .order_by(col(PostalOrder.polled_at).asc().nulls_first(), col(PostalOrder.created_at), col(PostalOrder.id))
        .limit(limit)
    )
    return list(session.exec(stmt))


def poll_order(engine: Engine, ctx: WorkerContext, order_id: str) -> Applied | None:
    """Read one order's tracking from its operator (no transaction held meanwhile) and record it; None when the
    operator could not answer (logged)."""
    with unit_of_work(engine, settings=ctx.settings) as session:
        order = session.get(PostalOrder, order_id)
        if order is None or order.status in FINAL or order.status not in OPEN:
            return Applied()
        data = OrderData.from_order(order)
    try:
        reports = plugin_for(ctx.settings, data.operator).fetch_tracking(data)
    except (OperatorError, OperatorConfigError) as exc:
        log.warning("tracking of postal order %s (%s): %s", data.number, data.operator, exc)
        return None
    except OperatorRefused as exc:
        log.error("tracking of postal order %s (%s) refused: %s", data.number, data.operator, exc.reason)
        with unit_of_work(engine, write=True, settings=ctx.settings) as session:
            order = session.get(PostalOrder, order_id)
            if order is not None:  # to the back of the queue: the others are asked first next time
                order.polled_at = utcnow()
                session.add(order)
        return None
    with unit_of_work(engine, write=True, settings=ctx.settings) as session:
        order = session.get(PostalOrder, order_id)
        if order is None:
            return Applied()
        return apply_reports(session, settings=ctx.settings, storage=ctx.storage, order=order, reports=reports)


def poll_now(engine: Engine, ctx: WorkerContext, *, limit: int = POLL_BATCH) -> PollReport:
    """Poll the tracking of the open orders of every push operator, one transaction per order."""
    with unit_of_work(engine, settings=ctx.settings) as session:
        order_ids = [order.id for order in open_push_orders(session, ctx.settings, limit=limit)]
    recorded = replayed = refused = errors = 0
    for order_id in order_ids:
        try:
            applied = poll_order(engine, ctx, order_id)
        except Exception:  # one order's trouble (a storage error, a lost database) must not stop the others
            log.exception("tracking of postal order %s", order_id)
            applied = None
        if applied is None:
            errors += 1
            continue
        recorded += applied.recorded
        replayed += applied.replayed
        refused += applied.refused
    return PollReport(len(order_ids), recorded, replayed, refused, errors)


@periodic("postal.poll", lambda settings: settings.postal_poll_interval_seconds)
def scheduled_poll(engine: Engine, ctx: WorkerContext) -> None:
    if operator_ids(ctx.settings, mode="push"):
        report = poll_now(engine, ctx)
        if report.orders:
            log.info("postal tracking polled: %s", report)
