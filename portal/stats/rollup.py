"""The daily roll-up (`StatsDay`): additive counts per local day, agency and procedure, built by the worker for
settled days, and the same counts read from the dossiers for the days not rolled up.

A figure of `/stats` is the sum of the rolled-up days and of the other days counted live, so it never depends on
the worker having run: a day is read from the roll-up only when its rows are current (`StatsDayState.built ==
changes`). Today and yesterday are always counted live (a change committed just after midnight can still be
dated the day before). Every change to a settled day's data bumps its `changes`:

- rows written through the ORM (a dossier, its events, ratings, payments, refunds, supplement requests, postal
  pickups: new, changed or deleted) mark the local days of their dates, old and new (`_mark_flushed`);
- the compare-and-set updates of the workflow set their dates to now, which is always counted live;
- a postal pickup cancelled later changes the day its dossier was received (`_on_parcel`).

A linked application (docs/LINKED.md) counts through its children only, each once for its own agency and member
procedure (`counted`): the parent (the citizen's one application) is never counted, and a member is counted once
filed with its agency (not while it waits for another member's result). The one payment of a linked application
is made on the parent: each child counts its member's lines of it, and the refunds of its member (`Refund.member`),
else of its agency (`_linked_fees`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, event, false, func, not_, or_
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from portal.dossiers import queries as dossier_queries
from portal.dossiers.lifecycle import RatingCriterion
from portal.dossiers.models import (
    Channel,
    Dossier,
    DossierEvent,
    DossierEventKind,
    DossierRating,
    DossierStatus,
    SupplementRequest,
    Timeliness,
)
from portal.kernel.calendar import TZ, local_date
from portal.kernel.clock import as_utc, utcnow
from portal.kernel.events import subscribe
from portal.kernel.outbox import WorkerContext, periodic
from portal.kernel.uow import unit_of_work
from portal.stats.localtime import LocalDay, LocalMonth
from portal.stats.models import MEASURE_COLUMNS, StatsDay, StatsDayState
from postal.events import ParcelEvent
from postal.models import ParcelKind, ParcelStatus, PostalOrder

log = logging.getLogger("portal.stats")

Key = tuple[Any, str, str]  # (bucket: a day or a "YYYY-MM" month, agency code, procedure code)
Ranges = Sequence[tuple[datetime, datetime]]
INDEX = {name: i for i, name in enumerate(MEASURE_COLUMNS)}
REJECTED, WITHDRAWN = DossierEventKind.REJECTED.value, DossierEventKind.WITHDRAWN.value
CLOSING_KINDS = (REJECTED, WITHDRAWN)
# A linked member's wait for another member's result and its release to its agency (whether it counts).
LINKED_KINDS = (DossierEventKind.LINKED_WAITING.value, DossierEventKind.LINKED_RELEASED.value)
# Days built per run of the worker's job (a backfill of years proceeds a month at a time).
BUILD_DAYS_PER_RUN = 31
BUILD_EVERY_SECONDS = 300.0


# -- local days


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of a local day."""
    return datetime.combine(day, time(0), tzinfo=TZ), datetime.combine(day + timedelta(days=1), time(0), tzinfo=TZ)


def ranges_of(days: Iterable[date]) -> list[tuple[datetime, datetime]]:
    """The days as the fewest UTC ranges (consecutive days merged)."""
    ranges: list[tuple[datetime, datetime]] = []
    previous: date | None = None
    for day in sorted(set(days)):
        start, end = day_bounds(day)
        if previous is not None and day == previous + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
        previous = day
    return ranges


def live_from(today: date) -> date:
    """The first day always counted live (yesterday)."""
    return today - timedelta(days=1)


def _within(column: Any, ranges: Ranges) -> ColumnElement[bool]:
    if not ranges:
        return false()
    return or_(*(and_(column >= start, column < end) for start, end in ranges))


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def counted() -> tuple[ColumnElement[bool], ...]:
    """The dossiers the statistics count: every dossier but a linked application's parent, and a member of one
    only once filed with its agency (`portal.dossiers.queries.never_filed`)."""
    return (
        dossier_queries.not_parent(),
        or_(col(Dossier.linked_role).is_(None), not_(dossier_queries.never_filed())),
    )


# -- the fees of a linked application: one payment on the parent, counted by each child for its member


def _line_key(line: Mapping[str, Any]) -> str | None:
    """Whose a bill line is: its member procedure, else its agency (None: neither, e.g. a postal charge)."""
    member, agency = line.get("member"), line.get("agency_code")
    if isinstance(member, str) and member:
        return "member:" + member
    if isinstance(agency, str) and agency:
        return "agency:" + agency
    return None


def allocate(amount: int, lines: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """`amount` (đồng) shared among the members (or agencies) of a linked bill's lines in proportion to their
    lines, so that the shares add up to `amount` exactly: a reduction, or a charge of no member (spread over
    them), is shared the same way; what rounding leaves goes to the first member of the bill."""
    weights: dict[str, int] = {}
    total = 0
    for line in lines:
        value = line.get("amount")
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        total += value
        key = _line_key(line)
        if key is not None:
            weights[key] = weights.get(key, 0) + value
    owned = sum(weights.values())
    if not weights or owned <= 0:
        return {}
    shares = {key: amount * weight // owned for key, weight in weights.items()}
    first = next(iter(shares))
    shares[first] += amount - sum(shares.values())
    return shares


def share_of(amount: int, lines: Sequence[Mapping[str, Any]], member: str, agency: str) -> int:
    """The part of `amount` paid for a child (its member procedure and agency) of a linked bill's `lines`."""
    shares = allocate(amount, lines)
    return shares.get("member:" + member, shares.get("agency:" + agency, 0))


def refund_share(
    amount: int,
    refund_agency: str | None,
    lines: Sequence[Mapping[str, Any]],
    member: str,
    agency: str,
    refund_member: str | None = None,
) -> int:
    """The part of a refund of a linked application's payment given back for a child: all of it for the child
    of the refund's member (`Refund.member`) when it names one; else all of it for the child of the refund's
    agency (the first member of the bill of that agency), else nothing; a refund of no agency is shared like
    the payment."""
    if refund_member:
        return amount if member == refund_member and agency == (refund_agency or agency) else 0
    if refund_agency is None:
        return share_of(amount, lines, member, agency)
    if agency != refund_agency:
        return 0
    members = [line.get("member") for line in lines if line.get("agency_code") == refund_agency]
    first = next((m for m in members if isinstance(m, str) and m), None)
    return amount if first is None or first == member else 0


# -- the measures from the dossiers


def _dossiers_with(kind: str) -> ColumnElement[int]:
    """How many distinct dossiers have an event of `kind` among the grouped events."""
    return func.count(distinct(case((col(DossierEvent.kind) == kind, col(DossierEvent.dossier_id)))))


def _judged() -> ColumnElement[str]:
    """Early / on time / late as `portal.dossiers.deadline.judge` decides: the stored judgement of a completed
    dossier, else the local day of the result against the official date (an apology's date never counts)."""
    official = func.coalesce(col(Dossier.official_due_date), col(Dossier.due_date))
    ready = LocalDay(col(Dossier.result_ready_at))
    return case(
        (col(Dossier.timeliness).is_not(None), col(Dossier.timeliness)),
        (official.is_(None), Timeliness.ON_TIME.value),
        (ready < official, Timeliness.EARLY.value),
        (ready == official, Timeliness.ON_TIME.value),
        else_=Timeliness.LATE.value,
    )


def measures(
    session: Session, ranges: Ranges, *, by: str, scope: Sequence[ColumnElement[bool]] = ()
) -> dict[Key, list[int]]:
    """Every measure of the dossiers in `ranges`, per bucket (`by`: "day" or "month", local), agency and procedure.

    `scope` are conditions on the dossier (the statistics filters).
    """
    bucket_of = LocalDay if by == "day" else LocalMonth
    found: dict[Key, list[int]] = {}
    if not ranges:
        return found

    def add(rows: Iterable[Any], names: Sequence[str]) -> None:
        for bucket, agency, procedure, *values in rows:
            if isinstance(bucket, str) and by == "day":
                bucket = date.fromisoformat(bucket)
            counts = found.setdefault((bucket, agency, procedure), [0] * len(MEASURE_COLUMNS))
            for name, value in zip(names, values, strict=True):
                counts[INDEX[name]] += int(value or 0)

    agency, procedure = col(Dossier.agency_code), col(Dossier.procedure_code)
    dossiers = Dossier.__table__  # type: ignore[attr-defined]

    def count(moment: Any, columns: Mapping[str, Any], *conditions: Any, source: Any = dossiers) -> None:
        """The aggregates `columns` (measure → expression) of the rows of `source` whose `moment` is in `ranges`,
        per bucket of `moment`, agency and procedure."""
        bucket = bucket_of(moment)
        stmt = (
            sa_select(bucket, agency, procedure, *columns.values())
            .select_from(source)
            .where(_within(moment, ranges), *conditions, *counted(), *scope)
            .group_by(bucket, agency, procedure)
        )
        add(session.execute(stmt), tuple(columns))

    # received: the pickup and the supplement by outer joins to the dossiers that have one (no EXISTS per row)
    pickups = (
        sa_select(col(PostalOrder.owner_id).label("dossier_id"))
        .where(
            col(PostalOrder.owner_kind) == "dossier",
            col(PostalOrder.kind) == ParcelKind.PICKUP.value,
            col(PostalOrder.status) != ParcelStatus.CANCELLED.value,
        )
        .distinct()
        .subquery("pickups")
    )
    supplements = sa_select(col(SupplementRequest.dossier_id)).distinct().subquery("supplements")
    online = col(Dossier.channel) == Channel.ONLINE.value
    count(
        col(Dossier.received_at),
        {
            "received": func.count(),
            "received_online": _count_if(online),
            "received_pickup": _count_if(and_(online, pickups.c.dossier_id.is_not(None))),
            "received_counter": _count_if(col(Dossier.channel) == Channel.COUNTER.value),
            "supplemented": _count_if(supplements.c.dossier_id.is_not(None)),
        },
        source=dossiers.outerjoin(pickups, pickups.c.dossier_id == dossiers.c.id).outerjoin(
            supplements, supplements.c.dossier_id == dossiers.c.id
        ),
    )
    judged = _judged()
    count(
        col(Dossier.result_ready_at),
        {
            "resolved": func.count(),
            "early": _count_if(judged == Timeliness.EARLY.value),
            "on_time": _count_if(judged == Timeliness.ON_TIME.value),
            "late": _count_if(judged == Timeliness.LATE.value),
        },
    )
    events = DossierEvent.__table__.join(dossiers, dossiers.c.id == DossierEvent.__table__.c.dossier_id)  # type: ignore[attr-defined]
    count(
        col(DossierEvent.at),
        {
            "rejected": func.count(distinct(case((col(DossierEvent.kind) == REJECTED, col(DossierEvent.dossier_id))))),
            "withdrawn": func.count(
                distinct(case((col(DossierEvent.kind) == WITHDRAWN, col(DossierEvent.dossier_id))))
            ),
        },
        col(DossierEvent.kind).in_(CLOSING_KINDS),
        source=events,
    )
    count(
        col(Dossier.completed_at),
        {"by_post": func.count()},
        col(Dossier.status) == DossierStatus.COMPLETED.value,
        col(Dossier.handover) == "post",
    )
    payments = Payment.__table__.join(dossiers, dossiers.c.id == Payment.__table__.c.order_id)  # type: ignore[attr-defined]
    count(
        col(Payment.settled_at),
        {"fees_paid": func.coalesce(func.sum(Payment.amount), 0)},
        col(Payment.order_kind) == "dossier",
        col(Payment.status) == PaymentStatus.SUCCEEDED.value,
        source=payments,
    )
    count(
        col(Refund.settled_at),
        {"fees_refunded": func.coalesce(func.sum(Refund.amount), 0)},
        col(Payment.order_kind) == "dossier",
        col(Refund.status) == RefundStatus.SUCCEEDED.value,
        source=Refund.__table__.join(payments, Payment.__table__.c.id == Refund.__table__.c.payment_id),  # type: ignore[attr-defined]
    )
    ratings: dict[str, Any] = {"ratings": func.count()}
    for criterion in RatingCriterion:
        score = col(DossierRating.scores)[criterion.value].as_integer()
        ratings[f"{criterion.value}_sum"] = func.coalesce(func.sum(score), 0)
        ratings[f"{criterion.value}_n"] = func.count(score)
    count(
        col(DossierRating.at),
        ratings,
        source=DossierRating.__table__.join(dossiers, dossiers.c.id == DossierRating.__table__.c.dossier_id),  # type: ignore[attr-defined]
    )
    _linked_fees(session, ranges, bucket_of, scope, found)
    return found


def _linked_fees(
    session: Session,
    ranges: Ranges,
    bucket_of: Any,
    scope: Sequence[ColumnElement[bool]],
    found: dict[Key, list[int]],
) -> None:
    """The payments and refunds of linked applications' parents, counted by their children (`share_of`,
    `refund_share`): one row per payment (or refund) and child, few next to the dossiers (only linked ones)."""
    dossiers = Dossier.__table__  # type: ignore[attr-defined]
    payments = Payment.__table__  # type: ignore[attr-defined]
    child = dossiers.c.linked_role == dossier_queries.CHILD
    of_parent = payments.join(dossiers, dossiers.c.parent_id == payments.c.order_id)

    def add(bucket: Any, agency: str, procedure: str, name: str, value: int) -> None:
        if isinstance(bucket, str) and bucket_of is LocalDay:
            bucket = date.fromisoformat(bucket)
        if value:
            counts = found.setdefault((bucket, agency, procedure), [0] * len(MEASURE_COLUMNS))
            counts[INDEX[name]] += value

    def settled(at: Any, done: ColumnElement[bool], source: Any, *columns: Any) -> Any:
        """Per child of a parent whose payment (or refund) `source` settled (`at`, `done`) in the ranges: its
        bucket, agency, procedure and `columns`."""
        return session.execute(
            sa_select(bucket_of(at), dossiers.c.agency_code, dossiers.c.procedure_code, *columns)
            .select_from(source)
            .where(_within(at, ranges), col(Payment.order_kind) == "dossier", done, child, *scope)
        )

    paid = settled(
        col(Payment.settled_at),
        col(Payment.status) == PaymentStatus.SUCCEEDED.value,
        of_parent,
        payments.c.amount,
        payments.c.lines,
    )
    for bucket, agency, procedure, amount, lines in paid:
        add(bucket, agency, procedure, "fees_paid", share_of(int(amount), lines or [], procedure, agency))
    refunds = Refund.__table__  # type: ignore[attr-defined]
    given = settled(
        col(Refund.settled_at),
        col(Refund.status) == RefundStatus.SUCCEEDED.value,
        refunds.join(of_parent, payments.c.id == refunds.c.payment_id),
        refunds.c.amount,
        refunds.c.agency_code,
        payments.c.lines,
        refunds.c.member,
    )
    for bucket, agency, procedure, amount, refund_agency, lines, refund_member in given:
        value = refund_share(int(amount), refund_agency, lines or [], procedure, agency, refund_member)
        add(bucket, agency, procedure, "fees_refunded", value)


# -- reading: rolled-up days and live days together


def built_days(session: Session, first: date, last: date) -> set[date]:
    """The days of [first, last] whose roll-up rows are current."""
    if last < first:
        return set()
    rows = session.execute(
        sa_select(col(StatsDayState.day)).where(
            col(StatsDayState.day) >= first,
            col(StatsDayState.day) <= last,
            col(StatsDayState.built) == col(StatsDayState.changes),
        )
    ).scalars()
    return {row if isinstance(row, date) else date.fromisoformat(str(row)) for row in rows}


def _month_of(column: Any, dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def period_measures(
    session: Session,
    first: date,
    last: date,
    *,
    scope: Sequence[ColumnElement[bool]],
    rolled_scope: Sequence[ColumnElement[bool]],
    today: date,
) -> dict[Key, list[int]]:
    """Every measure of [first, last] per local month, agency and procedure: the current roll-up rows of settled
    days, and the other days counted from the dossiers. `scope` filters dossiers, `rolled_scope` the roll-up rows."""
    settled_last = min(last, live_from(today) - timedelta(days=1))
    rolled = built_days(session, first, settled_last)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    live = [day for day in days if day not in rolled]
    found = measures(session, ranges_of(live), by="month", scope=scope)
    if rolled:
        dialect = session.get_bind().dialect.name
        month = _month_of(col(StatsDay.day), dialect)
        sums = [func.sum(getattr(StatsDay, name)) for name in MEASURE_COLUMNS]
        in_rolled = or_(
            *(and_(col(StatsDay.day) >= start, col(StatsDay.day) <= end) for start, end in _day_spans(sorted(rolled)))
        )
        rows = session.execute(
            sa_select(month, col(StatsDay.agency_code), col(StatsDay.procedure_code), *sums)
            .where(in_rolled, *rolled_scope)
            .group_by(month, col(StatsDay.agency_code), col(StatsDay.procedure_code))
        )
        for bucket, agency, procedure, *values in rows:
            counts = found.setdefault((bucket, agency, procedure), [0] * len(MEASURE_COLUMNS))
            for i, value in enumerate(values):
                counts[i] += int(value or 0)
    return found


def _day_spans(days: Sequence[date]) -> list[tuple[date, date]]:
    spans: list[tuple[date, date]] = []
    for day in days:
        if spans and day == spans[-1][1] + timedelta(days=1):
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


# -- building


def build_day(session: Session, day: date) -> int:
    """Write the roll-up rows of `day` from the dossiers and mark them current as of the day's `changes` read
    before counting (a change committed meanwhile leaves the day counted live). Returns the rows written."""
    state = session.get(StatsDayState, day)
    if state is None:
        state = StatsDayState(day=day)
        session.add(state)
        session.flush()
    seen = state.changes
    counted = measures(session, ranges_of([day]), by="day")
    session.execute(StatsDay.__table__.delete().where(StatsDay.__table__.c.day == day))  # type: ignore[attr-defined]
    for (_, agency, procedure), values in counted.items():
        counts = dict(zip(MEASURE_COLUMNS, values, strict=True))
        session.add(StatsDay(day=day, agency_code=agency, procedure_code=procedure, **counts))
    session.flush()
    session.execute(
        StatsDayState.__table__.update()  # type: ignore[attr-defined]
        .where(StatsDayState.__table__.c.day == day, StatsDayState.__table__.c.changes == seen)  # type: ignore[attr-defined]
        .values(built=seen, built_at=utcnow())
    )
    return len(counted)


def first_day(session: Session) -> date | None:
    """The first local day with statistics data: the earliest reception, closing event or payment (each the
    minimum of an index)."""
    firsts = [
        session.exec(select(func.min(Dossier.received_at))).one(),
        session.exec(select(func.min(DossierEvent.at)).where(col(DossierEvent.kind).in_(CLOSING_KINDS))).one(),
        session.exec(select(func.min(Payment.settled_at))).one(),
    ]
    found = [local_date(as_utc(value)) for value in firsts if isinstance(value, datetime)]
    return min(found) if found else None


def days_to_build(session: Session, today: date, limit: int) -> list[date]:
    """Settled days (before yesterday) whose roll-up is missing or out of date, oldest first, at most `limit`."""
    first = first_day(session)
    last = live_from(today) - timedelta(days=1)
    if first is None or last < first:
        return []
    current = built_days(session, first, last)
    due: list[date] = []
    day = first
    while day <= last and len(due) < limit:
        if day not in current:
            due.append(day)
        day += timedelta(days=1)
    return due


def build(session: Session, *, today: date | None = None, limit: int = BUILD_DAYS_PER_RUN) -> list[date]:
    """Build the roll-up of up to `limit` days that need it; returns them."""
    days = days_to_build(session, today or local_date(utcnow()), limit)
    for day in days:
        build_day(session, day)
    return days


@periodic("stats.rollup", lambda settings: BUILD_EVERY_SECONDS)
def build_job(engine: Any, ctx: WorkerContext) -> None:
    with unit_of_work(engine, write=True, settings=ctx.settings) as session:
        built = build(session)
    if built:
        log.info("statistics roll-up built for %d days (%s to %s)", len(built), built[0], built[-1])


# -- marking the days whose data changed


def mark(connection: Connection, days: Iterable[date], *, today: date | None = None) -> None:
    """Bump `changes` of each settled day in `days` (the days counted live need nothing)."""
    first_live = live_from(today or local_date(utcnow()))
    settled = sorted({day for day in days if day < first_live})
    if not settled:
        return
    table = StatsDayState.__table__  # type: ignore[attr-defined]
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    for day in settled:
        stmt = insert(table).values(day=day, changes=1)
        connection.execute(stmt.on_conflict_do_update(index_elements=["day"], set_={"changes": table.c.changes + 1}))


def _dates(obj: Any, *names: str) -> set[date]:
    """The local days of the values, old and new, of the date attributes `names` of `obj`."""
    days: set[date] = set()
    for name in names:
        history = get_history(obj, name)
        for value in (*history.added, *history.deleted, *history.unchanged):
            if isinstance(value, datetime):
                days.add(local_date(as_utc(value)))
    return days


def _changed(obj: Any, *names: str) -> bool:
    return any(get_history(obj, name).has_changes() for name in names)


def _received_day(connection: Connection, dossier_id: str | None) -> set[date]:
    if not dossier_id:
        return set()
    table = Dossier.__table__  # type: ignore[attr-defined]
    value = connection.execute(sa_select(table.c.received_at).where(table.c.id == dossier_id)).scalar()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return {local_date(as_utc(value))} if isinstance(value, datetime) else set()


def _waiting_changed(obj: Dossier) -> bool:
    """The dossier enters or leaves the WAITING status (a linked member counts only once filed)."""
    history = get_history(obj, "status")
    return DossierStatus.WAITING.value in {str(v) for v in (*history.added, *history.deleted)}


def _closed_days(connection: Connection, dossier_id: str | None) -> set[date]:
    """The local days of the dossier's closing events (rejected, withdrawn)."""
    if not dossier_id:
        return set()
    table = DossierEvent.__table__  # type: ignore[attr-defined]
    values = connection.execute(
        sa_select(table.c.at).where(table.c.dossier_id == dossier_id, table.c.kind.in_(CLOSING_KINDS))
    ).scalars()
    return {local_date(as_utc(_instant(v))) for v in values if v is not None}


def _instant(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _parent_fee_days(connection: Connection, parent_id: str | None) -> set[date]:
    """The local days the payments of a linked application's parent, and their refunds, were settled: a child
    created (or moved) counts its member's share of them."""
    if not parent_id:
        return set()
    payments = Payment.__table__  # type: ignore[attr-defined]
    refunds = Refund.__table__  # type: ignore[attr-defined]
    paid = connection.execute(
        sa_select(payments.c.settled_at).where(payments.c.order_id == parent_id, payments.c.settled_at.is_not(None))
    ).scalars()
    given = connection.execute(
        sa_select(refunds.c.settled_at)
        .select_from(refunds.join(payments, payments.c.id == refunds.c.payment_id))
        .where(payments.c.order_id == parent_id, refunds.c.settled_at.is_not(None))
    ).scalars()
    return {local_date(as_utc(_instant(v))) for v in (*paid, *given) if v is not None}


def _is_pickup(order: PostalOrder) -> bool:
    return order.owner_kind == "dossier" and order.kind == ParcelKind.PICKUP.value


def changed_days(session: OrmSession, connection: Connection) -> set[date]:
    """The local days whose statistics the pending ORM changes of `session` touch: for a new or deleted row the
    days of its dates, for a changed one those of the dates whose measures the changed attributes feed."""
    days: set[date] = set()
    whole = {id(obj) for obj in (*session.new, *session.deleted)}
    for obj in (*session.new, *session.dirty, *session.deleted):
        every = id(obj) in whole
        if isinstance(obj, Dossier):
            if every or _changed(obj, "received_at", "channel", "linked_role") or _waiting_changed(obj):
                days |= _dates(obj, "received_at")
            if obj.linked_role == dossier_queries.CHILD and (every or _changed(obj, "parent_id")):
                days |= _parent_fee_days(connection, obj.parent_id)
            if every or _changed(obj, "result_ready_at", "timeliness", "official_due_date", "due_date"):
                days |= _dates(obj, "result_ready_at")
            if every or _changed(obj, "completed_at", "status", "handover"):
                days |= _dates(obj, "completed_at")
        elif isinstance(obj, DossierEvent):
            if obj.kind in CLOSING_KINDS and (every or _changed(obj, "at", "kind", "dossier_id")):
                days |= _dates(obj, "at")
            if obj.kind in LINKED_KINDS:  # a member's wait or release: whether it counts at all
                days |= _received_day(connection, obj.dossier_id) | _closed_days(connection, obj.dossier_id)
        elif isinstance(obj, DossierRating):
            if every or _changed(obj, "at", "scores"):
                days |= _dates(obj, "at")
        elif isinstance(obj, Payment | Refund):
            if every or _changed(obj, "settled_at", "status", "amount"):
                days |= _dates(obj, "settled_at")
        elif isinstance(obj, SupplementRequest):
            if every:
                days |= _received_day(connection, obj.dossier_id)
        elif isinstance(obj, PostalOrder) and _is_pickup(obj) and (every or _changed(obj, "status")):
            days |= _received_day(connection, obj.owner_id)
    return days


@event.listens_for(OrmSession, "before_flush")
def _mark_flushed(session: OrmSession, flush_context: Any, instances: Any) -> None:
    """Mark the settled days the flush is about to change (their roll-up is read live until rebuilt)."""
    if not (session.new or session.dirty or session.deleted):
        return
    connection = session.connection()
    days = changed_days(session, connection)
    if days:
        mark(connection, days)


@subscribe(ParcelEvent)
def _on_parcel(session: Session, parcel: ParcelEvent) -> None:
    """A pickup cancelled (or any step of it) changes the figures of the day its dossier was received."""
    order = session.get(PostalOrder, parcel.order_id)
    if order is not None and _is_pickup(order):
        connection = session.connection()
        mark(connection, _received_day(connection, order.owner_id))


def totals(found: Mapping[Key, Sequence[int]]) -> list[int]:
    """The sum of every measure over all buckets."""
    total = [0] * len(MEASURE_COLUMNS)
    for values in found.values():
        for i, value in enumerate(values):
            total[i] += value
    return total
