"""The public statistics, computed in SQL (docs/STATISTICS.md): a few aggregate queries per answer (GROUP BY
and conditional sums, never a loop over dossiers), on SQLite and PostgreSQL alike, cached a short time.

`parse_query` turns the filters as a browser or a machine sends them into a `StatsQuery` (or refuses them with
a `StatsQueryError`); `compute` answers one; `cached` answers from the per-process cache; `choices` lists what
the filter selects offer.

Periods are local dates (Asia/Ho_Chi_Minh). Bounds are turned into UTC instants once, so the range conditions
use the timestamp indexes; only the on-time judgement and the month of the series need a local date in SQL
(`LocalDay`, `LocalMonth`: Vietnam keeps UTC+7 all year, SQLite adds 7 hours, PostgreSQL converts by zone).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, Index, String, and_, case, distinct, func, literal, text
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select

from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from portal.catalog.models import Agency, Procedure
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
from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.stats.cache import TTLCache
from portal.stats.figures import (
    DEFINITIONS,
    MAX_PERIOD_DAYS,
    Choice,
    CriterionScore,
    Figures,
    FilterChoices,
    MonthlyPoint,
    RankingRow,
    StatsQuery,
    StatsQueryError,
    StatsResult,
)
from postal.models import ParcelKind, ParcelStatus, PostalOrder

__all__ = ["INDEXES", "KNOWN_PARAMS", "cached", "choices", "compute", "default_query", "parse_query"]

# The query parameters the filters are read from (the page's form, the JSON and the CSV).
KNOWN_PARAMS = ("from", "to", "agency", "field", "procedure")
# Dates outside these bounds are a mistake in a statistics query (and keep the UTC bounds computable).
MIN_DAY = date(1990, 1, 1)
MAX_DAY = date(2100, 12, 31)
MAX_VALUE_CHARS = 200

# The indexes the range conditions use (migration 0010 creates them). Declared here, on the tables'
# metadata, so that `test_models_and_migrations_agree` and autogenerate see them once this module is imported
# (portal.models should import it: see docs/STATISTICS.md).
INDEXES = (
    Index("ix_dossier_received_at", Dossier.__table__.c.received_at),  # type: ignore[attr-defined]
    Index("ix_dossier_result_ready_at", Dossier.__table__.c.result_ready_at),  # type: ignore[attr-defined]
    Index("ix_dossier_completed_at", Dossier.__table__.c.completed_at),  # type: ignore[attr-defined]
    Index(
        "ix_dossier_status_official_due_date",
        Dossier.__table__.c.status,  # type: ignore[attr-defined]
        Dossier.__table__.c.official_due_date,  # type: ignore[attr-defined]
    ),
    Index(
        "ix_dossierevent_kind_at",
        DossierEvent.__table__.c.kind,  # type: ignore[attr-defined]
        DossierEvent.__table__.c.at,  # type: ignore[attr-defined]
    ),
    Index("ix_dossierrating_at", DossierRating.__table__.c.at),  # type: ignore[attr-defined]
    Index("ix_refund_settled_at", Refund.__table__.c.settled_at),  # type: ignore[attr-defined]
)

# Received and not closed: the clock runs or waits for the applicant's supplement.
OPEN = (DossierStatus.RECEIVED, DossierStatus.IN_PROCESS, DossierStatus.SUPPLEMENT_REQUESTED)
# Where the deadline clock runs (portal.dossiers.deadline.RUNNING): only these can be overdue.
RUNNING = (DossierStatus.RECEIVED, DossierStatus.IN_PROCESS)

_CACHE: TTLCache[StatsResult] = TTLCache(max_entries=256)
_CHOICES: TTLCache[FilterChoices] = TTLCache(max_entries=8)


# -- local dates in SQL


class LocalDay(FunctionElement[date]):
    """The local (Asia/Ho_Chi_Minh) calendar date of a UTC timestamp column."""

    type = Date()
    inherit_cache = True


class LocalMonth(FunctionElement[str]):
    """The local month "YYYY-MM" of a UTC timestamp column."""

    type = String()
    inherit_cache = True


@compiles(LocalDay, "sqlite")
def _local_day_sqlite(element: LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '+7 hours')"


@compiles(LocalDay, "postgresql")
def _local_day_pg(element: LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE '{TZ.key}') AS DATE)"


@compiles(LocalMonth, "sqlite")
def _local_month_sqlite(element: LocalMonth, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)}, '+7 hours')"


@compiles(LocalMonth, "postgresql")
def _local_month_pg(element: LocalMonth, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)} AT TIME ZONE '{TZ.key}'), 'YYYY-MM')"


# -- reading the filters

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)  # ASCII digits: int() reads ٢ and ２ too
_VN = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", re.ASCII)


def _day(raw: str, param: str) -> date:
    text = raw.strip()
    try:
        if _ISO.match(text):
            day = date.fromisoformat(text)
        elif match := _VN.match(text):
            day = date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        else:
            raise ValueError(text)
    except ValueError:
        message = (
            N_("The start date is not a date: write it as YYYY-MM-DD or DD/MM/YYYY, e.g. 2026-01-31.")
            if param == "from"
            else N_("The end date is not a date: write it as YYYY-MM-DD or DD/MM/YYYY, e.g. 2026-12-31.")
        )
        raise StatsQueryError(message, param=param) from None
    if not MIN_DAY <= day <= MAX_DAY:
        raise StatsQueryError(
            N_("Dates must be between {min} and {max}."),
            param=param,
            min=MIN_DAY.strftime("%d/%m/%Y"),
            max=MAX_DAY.strftime("%d/%m/%Y"),
        )
    return day


def _shown(value: str) -> str:
    """A refused value as the message repeats it: short, printable."""
    printable = "".join(ch if ch.isprintable() else "?" for ch in value)
    return printable if len(printable) <= 40 else printable[:39] + "…"


def _text_value(raw: str, param: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if len(value) > MAX_VALUE_CHARS or any(not ch.isprintable() for ch in value):
        messages = {
            "agency": N_("There is no agency with the code {value}."),
            "field": N_("There is no field of procedures called {value}."),
            "procedure": N_("There is no procedure with the code {value}."),
        }
        raise StatsQueryError(messages[param], param=param, value=_shown(value))
    return value


def default_query(today: date | None = None) -> StatsQuery:
    """This year so far: from 1 January to today (local)."""
    today = today or local_date(utcnow())
    return StatsQuery(date_from=date(today.year, 1, 1), date_to=today)


def parse_query(
    session: Session,
    params: Mapping[str, str | Sequence[str] | None],
    *,
    today: date | None = None,
    strict: bool = False,
) -> StatsQuery:
    """The query the parameters ask for, checked: dates (YYYY-MM-DD or DD/MM/YYYY; the start defaults to
    1 January of the end's year, the end to today), a period of at most MAX_PERIOD_DAYS, and agency, field and
    procedure that exist and agree with each other (empty = all). A list value (a repeated parameter) is
    refused; `strict` also refuses parameters other than KNOWN_PARAMS (the machine endpoints are strict)."""
    today = today or local_date(utcnow())
    values: dict[str, str] = {}
    for name, raw in params.items():
        if name not in KNOWN_PARAMS:
            if strict:
                raise StatsQueryError(
                    N_("Unknown parameter {name}: the filters are from, to, agency, field and procedure."),
                    name=_shown(name),
                )
            continue
        if raw is None:
            continue
        if not isinstance(raw, str):
            if len(raw) > 1:
                raise StatsQueryError(N_("The filter {name} is given more than once."), param=name, name=name)
            if not raw:
                continue
            raw = raw[0]
        values[name] = raw
    date_to = _day(values["to"], "to") if values.get("to", "").strip() else today
    date_from = _day(values["from"], "from") if values.get("from", "").strip() else date(date_to.year, 1, 1)
    if date_from > date_to:
        raise StatsQueryError(
            N_("The period is reversed: it starts on {start}, after its end on {end}."),
            param="from",
            start=date_from.strftime("%d/%m/%Y"),
            end=date_to.strftime("%d/%m/%Y"),
        )
    if (date_to - date_from).days + 1 > MAX_PERIOD_DAYS:
        raise StatsQueryError(
            N_("The period is too long: at most {years} years at once."), param="from", years=MAX_PERIOD_DAYS // 366
        )
    agency = _text_value(values.get("agency", ""), "agency")
    field = _text_value(values.get("field", ""), "field")
    procedure_code = _text_value(values.get("procedure", ""), "procedure")
    if agency is not None and session.get(Agency, agency) is None:
        raise StatsQueryError(N_("There is no agency with the code {value}."), param="agency", value=_shown(agency))
    if field is not None and session.exec(select(Procedure.code).where(Procedure.field_vi == field)).first() is None:
        raise StatsQueryError(N_("There is no field of procedures called {value}."), param="field", value=_shown(field))
    if procedure_code is not None:
        procedure = session.get(Procedure, procedure_code)
        if procedure is None:
            raise StatsQueryError(
                N_("There is no procedure with the code {value}."), param="procedure", value=_shown(procedure_code)
            )
        if agency is not None and procedure.agency_code != agency:
            raise StatsQueryError(
                N_("The procedure {procedure} is not handled by the agency {agency}."),
                param="procedure",
                procedure=procedure.code,
                agency=agency,
            )
        if field is not None and procedure.field_vi != field:
            raise StatsQueryError(
                N_("The procedure {procedure} is not in the field {field}."),
                param="procedure",
                procedure=procedure.code,
                field=_shown(field),
            )
    return StatsQuery(date_from=date_from, date_to=date_to, agency=agency, field=field, procedure=procedure_code)


# -- computing


def _bounds(query: StatsQuery) -> tuple[datetime, datetime]:
    """The period as UTC instants [start, end): local midnight of the first day, and of the day after the last."""
    start = datetime.combine(query.date_from, time(0), tzinfo=TZ)
    end = datetime.combine(query.date_to + timedelta(days=1), time(0), tzinfo=TZ)
    return start, end


def _scope(query: StatsQuery) -> list[ColumnElement[bool]]:
    """The dossier conditions of the agency, field and procedure filters."""
    conditions: list[ColumnElement[bool]] = []
    if query.agency:
        conditions.append(col(Dossier.agency_code) == query.agency)
    if query.procedure:
        conditions.append(col(Dossier.procedure_code) == query.procedure)
    if query.field:
        in_field = select(Procedure.code).where(Procedure.field_vi == query.field)
        conditions.append(col(Dossier.procedure_code).in_(in_field))
    return conditions


def _within(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _judged() -> ColumnElement[str]:
    """Early / on time / late of a dossier with a result, as `portal.dossiers.deadline.judge` decides: the
    stored judgement of a completed dossier, else the local day of the result against the official date."""
    official = func.coalesce(col(Dossier.official_due_date), col(Dossier.due_date))
    ready = LocalDay(col(Dossier.result_ready_at))
    return case(
        (col(Dossier.timeliness).is_not(None), col(Dossier.timeliness)),
        (official.is_(None), literal(Timeliness.ON_TIME.value)),
        (ready < official, literal(Timeliness.EARLY.value)),
        (ready == official, literal(Timeliness.ON_TIME.value)),
        else_=literal(Timeliness.LATE.value),
    )


def _timeliness_sums() -> tuple[ColumnElement[int], ...]:
    judged = _judged()
    return (
        func.count(),
        _count_if(judged == Timeliness.EARLY.value),
        _count_if(judged == Timeliness.ON_TIME.value),
        _count_if(judged == Timeliness.LATE.value),
    )


def _percent(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 2) if whole else None


def _int(value: Any) -> int:
    return int(value or 0)


def _received(session: Session, query: StatsQuery, start: datetime, end: datetime) -> tuple[int, ...]:
    """Received in the period: all, online, online with a postal pickup, at the counter, with a supplement request.

    The pickup and the supplement are outer joins to the distinct dossiers that have one, not a correlated EXISTS
    per dossier: one hash join instead of a lookup per row (5.3 s of 11 s at 1 M dossiers, docs/PERFORMANCE.md).
    """
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
    row = session.execute(
        sa_select(
            func.count(),
            _count_if(online),
            _count_if(and_(online, pickups.c.dossier_id.is_not(None))),
            _count_if(col(Dossier.channel) == Channel.COUNTER.value),
            _count_if(supplements.c.dossier_id.is_not(None)),
        )
        .select_from(Dossier)
        .outerjoin(pickups, pickups.c.dossier_id == col(Dossier.id))
        .outerjoin(supplements, supplements.c.dossier_id == col(Dossier.id))
        .where(_within(col(Dossier.received_at), start, end), *_scope(query))
    ).one()
    return tuple(_int(v) for v in row)


def _closed_by_event(
    session: Session,
    query: StatsQuery,
    kind: DossierEventKind,
    condition: ColumnElement[bool],
    *,
    reads_dossier: bool = False,
) -> int:
    """Dossiers with an event of `kind` matching `condition` (counted once each); the dossier is joined when a
    filter or the condition (`reads_dossier`) reads it."""
    stmt = select(func.count(distinct(col(DossierEvent.dossier_id)))).where(DossierEvent.kind == kind.value, condition)
    scope = _scope(query)
    if scope or reads_dossier:
        stmt = stmt.join(Dossier, col(Dossier.id) == DossierEvent.dossier_id).where(*scope)
    return _int(session.exec(stmt).one())


def _in_process(session: Session, query: StatsQuery, end: datetime) -> int:
    """Received before `end` and neither resolved nor rejected before it: those open now, plus those whose
    result or rejection came at or after `end` (three index-friendly counts instead of one scan of all)."""
    received_before = col(Dossier.received_at) < end
    still_open = session.exec(
        select(func.count()).where(col(Dossier.status).in_(OPEN), received_before, *_scope(query))
    ).one()
    resolved_after = session.exec(
        select(func.count()).where(col(Dossier.result_ready_at) >= end, received_before, *_scope(query))
    ).one()
    rejected_after = _closed_by_event(
        session,
        query,
        DossierEventKind.REJECTED,
        and_(col(DossierEvent.at) >= end, received_before),
        reads_dossier=True,
    )
    return _int(still_open) + _int(resolved_after) + rejected_after


def _fees(session: Session, query: StatsQuery, start: datetime, end: datetime) -> tuple[int, int]:
    scope = _scope(query)  # the dossier is joined only when a filter reads it
    paid_stmt = select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.order_kind == "dossier",
        Payment.status == PaymentStatus.SUCCEEDED.value,
        _within(col(Payment.settled_at), start, end),
    )
    refunded_stmt = (
        select(func.coalesce(func.sum(Refund.amount), 0))
        .join(Payment, col(Payment.id) == Refund.payment_id)
        .where(
            Payment.order_kind == "dossier",
            Refund.status == RefundStatus.SUCCEEDED.value,
            _within(col(Refund.settled_at), start, end),
        )
    )
    if scope:
        paid_stmt = paid_stmt.join(Dossier, col(Dossier.id) == Payment.order_id).where(*scope)
        refunded_stmt = refunded_stmt.join(Dossier, col(Dossier.id) == Payment.order_id).where(*scope)
    return _int(session.exec(paid_stmt).one()), _int(session.exec(refunded_stmt).one())


def _satisfaction(
    session: Session, query: StatsQuery, start: datetime, end: datetime
) -> tuple[int, tuple[CriterionScore, ...]]:
    criteria = list(RatingCriterion)
    columns: list[ColumnElement[Any]] = [func.count()]
    for criterion in criteria:
        score = col(DossierRating.scores)[criterion.value].as_integer()
        columns += [func.avg(score), func.count(score)]
    stmt = sa_select(*columns).select_from(DossierRating).where(_within(col(DossierRating.at), start, end))
    scope = _scope(query)
    if scope:
        stmt = stmt.join(Dossier, col(Dossier.id) == DossierRating.dossier_id).where(*scope)
    row = session.execute(stmt).one()
    scores = tuple(
        CriterionScore(
            criterion=criterion.value,
            label=criterion.label,
            average=round(float(row[1 + 2 * i]), 2) if row[2 + 2 * i] else None,
            ratings=_int(row[2 + 2 * i]),
        )
        for i, criterion in enumerate(criteria)
    )
    return _int(row[0]), scores


def _months(query: StatsQuery) -> list[str]:
    months = []
    year, month = query.date_from.year, query.date_from.month
    while (year, month) <= (query.date_to.year, query.date_to.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _monthly(session: Session, query: StatsQuery, start: datetime, end: datetime) -> tuple[MonthlyPoint, ...]:
    received_month = LocalMonth(col(Dossier.received_at))
    received = {
        month: _int(count)
        for month, count in session.execute(
            sa_select(received_month, func.count())
            .where(_within(col(Dossier.received_at), start, end), *_scope(query))
            .group_by(received_month)
        )
    }
    ready_month = LocalMonth(col(Dossier.result_ready_at))
    resolved = {
        row[0]: tuple(_int(v) for v in row[1:])
        for row in session.execute(
            sa_select(ready_month, *_timeliness_sums())
            .where(_within(col(Dossier.result_ready_at), start, end), *_scope(query))
            .group_by(ready_month)
        )
    }
    points = []
    for month in _months(query):
        total, early, on_time, late = resolved.get(month, (0, 0, 0, 0))
        points.append(
            MonthlyPoint(
                month=month, received=received.get(month, 0), resolved=total, early=early, on_time=on_time, late=late
            )
        )
    return tuple(points)


def _ranking(rows: list[tuple[str, str, str, int, int, int, int]]) -> tuple[RankingRow, ...]:
    """Best on-time rate first; ties: more resolved first, then by code."""
    ranked = sorted(
        (row for row in rows if row[3] > 0),
        key=lambda r: (-((r[4] + r[5]) / r[3]), -r[3], r[0]),
    )
    return tuple(
        RankingRow(
            rank=i,
            code=code,
            name_vi=name_vi,
            name_en=name_en,
            resolved=resolved,
            early=early,
            on_time=on_time,
            late=late,
            on_time_rate=_percent(early + on_time, resolved),
        )
        for i, (code, name_vi, name_en, resolved, early, on_time, late) in enumerate(ranked, start=1)
    )


def _rankings(
    session: Session, query: StatsQuery, start: datetime, end: datetime
) -> tuple[tuple[RankingRow, ...], tuple[RankingRow, ...]]:
    resolved_in_period = _within(col(Dossier.result_ready_at), start, end)
    by_agency = session.execute(
        sa_select(col(Agency.code), col(Agency.name_vi), col(Agency.name_en), *_timeliness_sums())
        .join(Agency, col(Agency.code) == Dossier.agency_code)
        .where(resolved_in_period, *_scope(query))
        .group_by(col(Agency.code), col(Agency.name_vi), col(Agency.name_en))
    ).all()
    by_procedure = session.execute(
        sa_select(col(Procedure.code), col(Procedure.name_vi), col(Procedure.name_en), *_timeliness_sums())
        .join(Procedure, col(Procedure.code) == Dossier.procedure_code)
        .where(resolved_in_period, *_scope(query))
        .group_by(col(Procedure.code), col(Procedure.name_vi), col(Procedure.name_en))
    ).all()

    def rows(found: Sequence[Any]) -> list[tuple[str, str, str, int, int, int, int]]:
        return [(r[0], r[1], r[2], _int(r[3]), _int(r[4]), _int(r[5]), _int(r[6])) for r in found]

    return _ranking(rows(by_agency)), _ranking(rows(by_procedure))


def compute(session: Session, query: StatsQuery, *, today: date | None = None) -> StatsResult:
    """Every figure of `query` from the database, now (`today`: the local day "overdue now" is judged on)."""
    today = today or local_date(utcnow())
    start, end = _bounds(query)
    if session.get_bind().dialect.name == "postgresql":
        # A dozen aggregates, each planned once: compiling them (JIT) costs more than it saves (0.15-0.3 s each).
        session.execute(text("SET LOCAL jit = off"))
    received, online, pickup, counter, supplemented = _received(session, query, start, end)
    resolved_row = session.execute(
        sa_select(*_timeliness_sums()).where(_within(col(Dossier.result_ready_at), start, end), *_scope(query))
    ).one()
    resolved, early, on_time, late = (_int(v) for v in resolved_row)
    in_period = and_(col(DossierEvent.at) >= start, col(DossierEvent.at) < end)
    rejected = _closed_by_event(session, query, DossierEventKind.REJECTED, in_period)
    withdrawn = _closed_by_event(session, query, DossierEventKind.WITHDRAWN, in_period)
    overdue = session.exec(
        select(func.count()).where(
            col(Dossier.status).in_(RUNNING), col(Dossier.official_due_date) < today, *_scope(query)
        )
    ).one()
    by_post = session.exec(
        select(func.count()).where(
            _within(col(Dossier.completed_at), start, end),
            col(Dossier.status) == DossierStatus.COMPLETED.value,
            col(Dossier.handover) == "post",
            *_scope(query),
        )
    ).one()
    paid, refunded = _fees(session, query, start, end)
    ratings, satisfaction = _satisfaction(session, query, start, end)
    figures = Figures(
        received=received,
        received_online=online,
        received_postal_pickup=pickup,
        received_counter=counter,
        resolved=resolved,
        early=early,
        on_time=on_time,
        late=late,
        early_percent=_percent(early, resolved),
        on_time_percent=_percent(on_time, resolved),
        late_percent=_percent(late, resolved),
        on_time_rate=_percent(early + on_time, resolved),
        rejected=rejected,
        withdrawn=withdrawn,
        in_process=_in_process(session, query, end),
        overdue_now=_int(overdue),
        supplement_requested=supplemented,
        supplement_rate=_percent(supplemented, received),
        returned_by_post=_int(by_post),
        fees_paid=paid,
        fees_refunded=refunded,
        fees_collected=paid - refunded,
        ratings=ratings,
        satisfaction=satisfaction,
    )
    agencies, procedures = _rankings(session, query, start, end)
    return StatsResult(
        query=query,
        figures=figures,
        monthly=_monthly(session, query, start, end),
        agencies=agencies,
        procedures=procedures,
        computed_at=utcnow(),
        definitions=DEFINITIONS,
    )


def _engine_key(session: Session) -> str:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.url.render_as_string(hide_password=True)


def cached(session: Session, query: StatsQuery, *, seconds: float, today: date | None = None) -> StatsResult:
    """`compute`, kept `seconds` per process for the same filters, database and local day."""
    today = today or local_date(utcnow())
    key = (_engine_key(session), today.isoformat(), *query.key())
    return _CACHE.get_or_compute(key, seconds, lambda: compute(session, query, today=today))


def choices(session: Session, *, seconds: float = 0) -> FilterChoices:
    """The agencies that have procedures, the fields and the procedures (withdrawn ones too: their dossiers
    count), sorted by Vietnamese name."""

    def load() -> FilterChoices:
        agencies = session.exec(
            select(Agency.code, Agency.name_vi, Agency.name_en)
            .where(col(Agency.code).in_(select(Procedure.agency_code)))
            .order_by(col(Agency.name_vi), col(Agency.code))
        ).all()
        fields = session.exec(
            select(Procedure.field_vi, func.min(Procedure.field_en))
            .group_by(col(Procedure.field_vi))
            .order_by(col(Procedure.field_vi))
        ).all()
        procedures = session.exec(
            select(Procedure.code, Procedure.name_vi, Procedure.name_en).order_by(
                col(Procedure.name_vi), col(Procedure.code)
            )
        ).all()
        return FilterChoices(
            agencies=tuple(Choice(code, vi, en) for code, vi, en in agencies),
            fields=tuple(Choice(vi, vi, en or vi) for vi, en in fields),
            procedures=tuple(Choice(code, vi, en) for code, vi, en in procedures),
        )

    return _CHOICES.get_or_compute(_engine_key(session), seconds, load)


def clear_cache() -> None:
    """Forget every kept answer (tests; after a bulk import)."""
    _CACHE.clear()
    _CHOICES.clear()
