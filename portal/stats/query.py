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

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Index, and_, distinct, func, text
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from payments.models import Refund
from portal.catalog.models import Agency, Procedure
from portal.dossiers.lifecycle import RatingCriterion
from portal.dossiers.models import (
    Dossier,
    DossierEvent,
    DossierEventKind,
    DossierRating,
    DossierStatus,
)
from portal.kernel.calendar import MAX_TYPED_DAY, MIN_TYPED_DAY, TZ, DayOutOfRange, local_date, typed_day
from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.stats import rollup
from portal.stats.cache import TTLCache
from portal.stats.feedback import counts as feedback_counts
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
from portal.stats.models import StatsDay

__all__ = ["INDEXES", "KNOWN_PARAMS", "cached", "choices", "compute", "default_query", "parse_query"]

# The query parameters the filters are read from (the page's form, the JSON and the CSV).
KNOWN_PARAMS = ("from", "to", "agency", "field", "procedure")
# Dates outside these bounds are a mistake in a statistics query (and keep the UTC bounds computable).
MIN_DAY, MAX_DAY = MIN_TYPED_DAY, MAX_TYPED_DAY
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

# Received and not closed: the clock runs or waits for the applicant's supplement (a result the centre is
# checking is still in process: result_ready_at is set when the centre confirms it).
OPEN = (
    DossierStatus.RECEIVED,
    DossierStatus.IN_PROCESS,
    DossierStatus.SUPPLEMENT_REQUESTED,
    DossierStatus.RESULT_CHECK,
)
# Where the deadline clock runs (portal.dossiers.deadline.RUNNING): only these can be overdue.
RUNNING = (DossierStatus.RECEIVED, DossierStatus.IN_PROCESS, DossierStatus.RESULT_CHECK)

_CACHE: TTLCache[StatsResult] = TTLCache(max_entries=256)
_CHOICES: TTLCache[FilterChoices] = TTLCache(max_entries=8)


# -- reading the filters


def _day(raw: str, param: str) -> date:
    try:
        return typed_day(raw)
    except DayOutOfRange:
        raise StatsQueryError(
            N_("Dates must be between {min} and {max}."),
            param=param,
            min=MIN_DAY.strftime("%d/%m/%Y"),
            max=MAX_DAY.strftime("%d/%m/%Y"),
        ) from None
    except ValueError:
        message = (
            N_("The start date is not a date: write it as YYYY-MM-DD or DD/MM/YYYY, e.g. 2026-01-31.")
            if param == "from"
            else N_("The end date is not a date: write it as YYYY-MM-DD or DD/MM/YYYY, e.g. 2026-12-31.")
        )
        raise StatsQueryError(message, param=param) from None


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
        if procedure.kind == "linked":
            raise StatsQueryError(
                N_(
                    "The procedure {procedure} is a linked application: its dossiers are counted under its member "
                    "procedures, each for its own agency."
                ),
                param="procedure",
                procedure=procedure.code,
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


def _counted_scope(query: StatsQuery) -> list[ColumnElement[bool]]:
    """The filters and the dossiers counted at all (`rollup.counted`: no linked application's parent, no member
    not yet filed with its agency), for the figures counted from the dossiers here (the roll-up's measures add
    `counted` themselves)."""
    return [*rollup.counted(), *_scope(query)]


def _percent(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 2) if whole else None


def _int(value: Any) -> int:
    return int(value or 0)


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
    scope = _counted_scope(query)
    if scope or reads_dossier:
        stmt = stmt.join(Dossier, col(Dossier.id) == DossierEvent.dossier_id).where(*scope)
    return _int(session.exec(stmt).one())


def _in_process(session: Session, query: StatsQuery, end: datetime) -> int:
    """Received before `end` and neither resolved nor rejected before it: those open now, plus those whose
    result or rejection came at or after `end` (three index-friendly counts instead of one scan of all)."""
    received_before = col(Dossier.received_at) < end
    still_open = session.exec(
        select(func.count()).where(col(Dossier.status).in_(OPEN), received_before, *_counted_scope(query))
    ).one()
    resolved_after = session.exec(
        select(func.count()).where(col(Dossier.result_ready_at) >= end, received_before, *_counted_scope(query))
    ).one()
    rejected_after = _closed_by_event(
        session,
        query,
        DossierEventKind.REJECTED,
        and_(col(DossierEvent.at) >= end, received_before),
        reads_dossier=True,
    )
    return _int(still_open) + _int(resolved_after) + rejected_after


def _months(query: StatsQuery) -> list[str]:
    months = []
    year, month = query.date_from.year, query.date_from.month
    while (year, month) <= (query.date_to.year, query.date_to.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


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


def _rolled_scope(query: StatsQuery) -> list[ColumnElement[bool]]:
    """The agency, field and procedure filters on the roll-up rows."""
    conditions: list[ColumnElement[bool]] = []
    if query.agency:
        conditions.append(col(StatsDay.agency_code) == query.agency)
    if query.procedure:
        conditions.append(col(StatsDay.procedure_code) == query.procedure)
    if query.field:
        in_field = select(Procedure.code).where(Procedure.field_vi == query.field)
        conditions.append(col(StatsDay.procedure_code).in_(in_field))
    return conditions


def _names(session: Session, model: type[Agency] | type[Procedure], codes: set[str]) -> dict[str, tuple[str, str]]:
    if not codes:
        return {}
    rows = session.execute(
        sa_select(col(model.code), col(model.name_vi), col(model.name_en)).where(col(model.code).in_(codes))
    )
    return {code: (name_vi, name_en) for code, name_vi, name_en in rows}


def compute(session: Session, query: StatsQuery, *, today: date | None = None) -> StatsResult:
    """Every figure of `query`, now (`today`: the local day "overdue now" is judged on).

    The additive figures are sums of the daily roll-up for settled days and of the dossiers themselves for the
    other days (`rollup.period_measures`); "in process" and "overdue now" are counted from the dossiers.
    """
    today = today or local_date(utcnow())
    _, end = _bounds(query)
    if session.get_bind().dialect.name == "postgresql":
        # A dozen aggregates, each planned once: compiling them (JIT) costs more than it saves (0.15-0.3 s each).
        session.execute(text("SET LOCAL jit = off"))
    found = rollup.period_measures(
        session, query.date_from, query.date_to, scope=_scope(query), rolled_scope=_rolled_scope(query), today=today
    )
    total = rollup.totals(found)

    def n(name: str) -> int:
        return total[rollup.INDEX[name]]

    overdue = session.exec(
        select(func.count()).where(
            col(Dossier.status).in_(RUNNING), col(Dossier.official_due_date) < today, *_counted_scope(query)
        )
    ).one()
    received, resolved, early, on_time, late = n("received"), n("resolved"), n("early"), n("on_time"), n("late")
    satisfaction = tuple(
        CriterionScore(
            criterion=criterion.value,
            label=criterion.label,
            average=round(n(f"{criterion.value}_sum") / n(f"{criterion.value}_n"), 2)
            if n(f"{criterion.value}_n")
            else None,
            ratings=n(f"{criterion.value}_n"),
        )
        for criterion in RatingCriterion
    )
    feedback = feedback_counts(session, query)
    figures = Figures(
        received=received,
        received_online=n("received_online"),
        received_postal_pickup=n("received_pickup"),
        received_counter=n("received_counter"),
        resolved=resolved,
        early=early,
        on_time=on_time,
        late=late,
        early_percent=_percent(early, resolved),
        on_time_percent=_percent(on_time, resolved),
        late_percent=_percent(late, resolved),
        on_time_rate=_percent(early + on_time, resolved),
        rejected=n("rejected"),
        withdrawn=n("withdrawn"),
        in_process=_in_process(session, query, end),
        overdue_now=_int(overdue),
        supplement_requested=n("supplemented"),
        supplement_rate=_percent(n("supplemented"), received),
        returned_by_post=n("by_post"),
        fees_paid=n("fees_paid"),
        fees_refunded=n("fees_refunded"),
        fees_collected=n("fees_paid") - n("fees_refunded"),
        ratings=n("ratings"),
        satisfaction=satisfaction,
        feedback_received=feedback.received,
        feedback_answered_on_time=feedback.answered_on_time,
        feedback_on_time_percent=feedback.on_time_percent,
    )
    timeliness = [rollup.INDEX[name] for name in ("resolved", "early", "on_time", "late")]
    months: dict[str, list[int]] = {}
    agencies: dict[str, list[int]] = {}
    procedures: dict[str, list[int]] = {}
    for (month, agency, procedure), values in found.items():
        point = months.setdefault(str(month), [0] * 5)
        point[0] += values[rollup.INDEX["received"]]
        for i, index in enumerate(timeliness, start=1):
            point[i] += values[index]
        for target in (agencies.setdefault(agency, [0] * 4), procedures.setdefault(procedure, [0] * 4)):
            for i, index in enumerate(timeliness):
                target[i] += values[index]
    monthly = tuple(MonthlyPoint(month, *months.get(month, [0] * 5)) for month in _months(query))
    agency_names = _names(session, Agency, {code for code, v in agencies.items() if v[0]})
    procedure_names = _names(session, Procedure, {code for code, v in procedures.items() if v[0]})
    return StatsResult(
        query=query,
        figures=figures,
        monthly=monthly,
        agencies=_ranking(
            [(code, *agency_names.get(code, (code, code)), *v) for code, v in agencies.items()]  # type: ignore[misc]
        ),
        procedures=_ranking(
            [(code, *procedure_names.get(code, (code, code)), *v) for code, v in procedures.items()]  # type: ignore[misc]
        ),
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
            select(Procedure.code, Procedure.name_vi, Procedure.name_en)
            .where(col(Procedure.kind) != "linked")  # counted under its members
            .order_by(col(Procedure.name_vi), col(Procedure.code))
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
