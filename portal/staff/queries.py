"""The console's scoped reads (docs/STAFF.md, "Pages"): which dossiers a staff member may see, the filters of
/staff/dossiers, one dossier's read-only page, and the per-agency figures of the statistics drill-down.

Scope, applied to every read here:
- supervisor: every submitted dossier of the province, linked applications' parents included (with their
  children);
- officer: their agency's dossiers as its back-office sees them (`filed_with_agency`: a linked member counts for
  its own agency once filed with it, a parent is never listed);
- postal desk: the dossiers with a postal order (pickup or delivery) of their operator, and only what a postal
  desk needs (no answers, no files, no timeline).

A dossier out of scope is "not found" (no oracle: the console never says a dossier exists elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine, and_, case, exists, func
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from auth.models import Account
from auth.staff_models import StaffRole
from portal.catalog.models import Agency, Procedure
from portal.dossiers import queries as dossier_queries
from portal.dossiers.deadline import judge
from portal.dossiers.models import (
    Dossier,
    DossierFile,
    DossierResult,
    DossierStatus,
    Timeliness,
    submitted_only,
)
from portal.kernel.audit import AuditEvent
from portal.kernel.calendar import MAX_TYPED_DAY, MIN_TYPED_DAY, TZ, DayOutOfRange, local_date, typed_day
from portal.kernel.errors import Invalid, NotFound
from portal.kernel.i18n import N_
from portal.staff.deps import StaffViewer
from portal.stats import rollup
from portal.stats.query import OPEN, RUNNING
from postal.models import PostalOrder

PAGE_SIZE = 50
MAX_TEXT = 40
MIN_DAY, MAX_DAY = MIN_TYPED_DAY, MAX_TYPED_DAY

# The query parameters of /staff/dossiers and its CSV (the statistics drill-down links use them too).
FILTER_PARAMS = (
    "status",
    "agency",
    "procedure",
    "overdue",
    "due_week",
    "received_from",
    "received_to",
    "resolved_from",
    "resolved_to",
    "timeliness",
    "q",
)
_CODE = re.compile(r"^[A-Za-z0-9.\-]+$", re.ASCII)
_FLAG = {"": False, "0": False, "1": True, "on": True, "true": True}


class FilterError(Invalid):
    """A refused filter of the console (422): `param` names the filter at fault; `message` is the msgid."""

    def __init__(self, message: str, *, param: str, **params: Any) -> None:
        super().__init__(message, params)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class DossierFilters:
    """What /staff/dossiers shows (empty = no condition); dates are local days, both bounds included."""

    status: str | None = None
    agency: str | None = None
    procedure: str | None = None
    overdue: bool = False
    due_week: bool = False
    received_from: date | None = None
    received_to: date | None = None
    resolved_from: date | None = None
    resolved_to: date | None = None
    timeliness: str | None = None
    q: str | None = None
    page: int = 1

    def params(self) -> dict[str, str]:
        """The filters as query parameters (without the page), for links and the CSV."""
        out: dict[str, str] = {}
        for name in FILTER_PARAMS:
            value = getattr(self, name)
            if value is None or value is False:
                continue
            out[name] = "1" if value is True else value.isoformat() if isinstance(value, date) else str(value)
        return out

    def query_string(self) -> str:
        return urlencode(self.params())


def _shown(value: str) -> str:
    printable = "".join(ch if ch.isprintable() else "?" for ch in value)
    return printable if len(printable) <= 40 else printable[:39] + "…"


def parse_day(raw: str, param: str) -> date | None:
    """A day typed in filter `param` (YYYY-MM-DD or DD/MM/YYYY; empty: None), or a FilterError naming it."""
    if not raw.strip():
        return None
    try:
        return typed_day(raw)
    except DayOutOfRange:
        raise FilterError(
            N_("Dates must be between {min} and {max}."),
            param=param,
            min=MIN_DAY.strftime("%d/%m/%Y"),
            max=MAX_DAY.strftime("%d/%m/%Y"),
        ) from None
    except ValueError:
        raise FilterError(
            N_("The date {value} is not a date: write it as YYYY-MM-DD or DD/MM/YYYY, e.g. 2026-01-31."),
            param=param,
            value=_shown(raw.strip()),
        ) from None


def _single(params: Mapping[str, str | Sequence[str] | None], name: str) -> str:
    raw = params.get(name)
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if len(raw) > 1:
        raise FilterError(N_("The filter {name} is given more than once."), param=name, name=name)
    return raw[0] if raw else ""


def parse_filters(
    session: Session, viewer: StaffViewer, params: Mapping[str, str | Sequence[str] | None]
) -> DossierFilters:
    """The filters as typed, checked (a FilterError names the first one refused)."""
    values = {name: _single(params, name).strip() for name in (*FILTER_PARAMS, "page")}
    status = values["status"] or None
    if status is not None and status not in {s.value for s in DossierStatus if s != DossierStatus.DRAFT}:
        raise FilterError(N_("There is no dossier status {value}."), param="status", value=_shown(status))
    agency = values["agency"] or None
    if agency is not None:
        if len(agency) > MAX_TEXT or not agency.isprintable() or session.get(Agency, agency) is None:
            raise FilterError(N_("There is no agency with the code {value}."), param="agency", value=_shown(agency))
        if not viewer.sees_agency(agency) and viewer.role != StaffRole.POSTAL:
            raise FilterError(
                N_("Your account sees the dossiers of {own} only, not those of {value}."),
                param="agency",
                own=viewer.agency_code or "",
                value=agency,
            )
    procedure = values["procedure"] or None
    if procedure is not None:
        # A NUL is refused here: PostgreSQL would refuse the lookup (a 400 page without the filters typed).
        found = session.get(Procedure, procedure) if len(procedure) <= MAX_TEXT and procedure.isprintable() else None
        if found is None:
            raise FilterError(
                N_("There is no procedure with the code {value}."), param="procedure", value=_shown(procedure)
            )
    flags = {}
    for name in ("overdue", "due_week"):
        if values[name].lower() not in _FLAG:
            raise FilterError(N_("The filter {name} is either on (1) or off."), param=name, name=name)
        flags[name] = _FLAG[values[name].lower()]
    days = {
        name: parse_day(values[name], name) for name in ("received_from", "received_to", "resolved_from", "resolved_to")
    }
    for start, end in (("received_from", "received_to"), ("resolved_from", "resolved_to")):
        first, last = days[start], days[end]
        if first is not None and last is not None and first > last:
            raise FilterError(
                N_("The period is reversed: it starts on {start}, after its end on {end}."),
                param=start,
                start=first.strftime("%d/%m/%Y"),
                end=last.strftime("%d/%m/%Y"),
            )
    timeliness = values["timeliness"] or None
    if timeliness is not None and timeliness not in {t.value for t in Timeliness}:
        raise FilterError(
            N_("The timeliness is early, on_time or late, not {value}."), param="timeliness", value=_shown(timeliness)
        )
    q = values["q"] or None
    if q is not None and (len(q) > MAX_TEXT or not _CODE.match(q)):
        raise FilterError(
            N_("A dossier code has letters, digits, dots and dashes only (at most {n} characters)."),
            param="q",
            n=MAX_TEXT,
        )
    page_raw = values["page"] or "1"
    if not page_raw.isascii() or not page_raw.isdigit() or not 1 <= int(page_raw) <= 100_000:
        raise FilterError(N_("The page number {value} is not a page."), param="page", value=_shown(page_raw))
    return DossierFilters(
        status=status,
        agency=agency,
        procedure=procedure,
        overdue=flags["overdue"],
        due_week=flags["due_week"],
        received_from=days["received_from"],
        received_to=days["received_to"],
        resolved_from=days["resolved_from"],
        resolved_to=days["resolved_to"],
        timeliness=timeliness,
        q=q.upper() if q else None,
        page=int(page_raw),
    )


# -- scope


def _postal_orders_of(operator: str | None) -> ColumnElement[bool]:
    return exists().where(
        col(PostalOrder.owner_kind) == "dossier",
        col(PostalOrder.owner_id) == col(Dossier.id),
        col(PostalOrder.operator) == (operator or ""),
    )


def scope_conditions(viewer: StaffViewer) -> list[ColumnElement[bool]]:
    """The dossiers this member may see (see the module's docstring)."""
    if viewer.role == StaffRole.SUPERVISOR:
        return list(submitted_only())
    if viewer.role == StaffRole.OFFICER:
        return [col(Dossier.agency_code) == (viewer.agency_code or ""), *dossier_queries.filed_with_agency()]
    if viewer.role == StaffRole.POSTAL:
        return [*submitted_only(), _postal_orders_of(viewer.postal_operator)]
    return [col(Dossier.id).is_(None)]  # an unknown role sees nothing


def _bounds(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(first, time(0), tzinfo=TZ) if first else None
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=TZ) if last else None
    return start, end


def week_of(today: date) -> tuple[date, date]:
    """Monday and Sunday of the week of `today`."""
    monday = today - timedelta(days=today.weekday())
    return monday, monday + timedelta(days=6)


def filter_conditions(filters: DossierFilters, *, today: date) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.status:
        conditions.append(col(Dossier.status) == filters.status)
    if filters.agency:
        conditions.append(col(Dossier.agency_code) == filters.agency)
    if filters.procedure:
        conditions.append(col(Dossier.procedure_code) == filters.procedure)
    if filters.overdue:
        # As the statistics' "overdue now": the clock runs and the official date has passed.
        conditions += [col(Dossier.status).in_(RUNNING), col(Dossier.official_due_date) < today, *rollup.counted()]
    if filters.due_week:
        monday, sunday = week_of(today)
        conditions += [col(Dossier.due_date) >= monday, col(Dossier.due_date) <= sunday]
    start, end = _bounds(filters.received_from, filters.received_to)
    if start is not None:
        conditions.append(col(Dossier.received_at) >= start)
    if end is not None:
        conditions.append(col(Dossier.received_at) < end)
    start, end = _bounds(filters.resolved_from, filters.resolved_to)
    if start is not None:
        conditions.append(col(Dossier.result_ready_at) >= start)
    if end is not None:
        conditions.append(col(Dossier.result_ready_at) < end)
    if filters.resolved_from or filters.resolved_to or filters.timeliness:
        # The statistics' resolved dossiers: counted ones with a result.
        conditions += [col(Dossier.result_ready_at).is_not(None), *rollup.counted()]
    if filters.timeliness:
        conditions.append(rollup._judged() == filters.timeliness)
    if filters.q:
        conditions.append(col(Dossier.code).contains(filters.q, autoescape=True))
    return conditions


# -- the list and its CSV


@dataclass(frozen=True)
class DossierRow:
    """One line of the console's list (and of its CSV)."""

    id: str
    code: str | None
    procedure_code: str
    procedure: dict[str, str]
    agency_code: str
    agency: dict[str, str]
    status: str
    received_at: datetime | None
    due_date: date | None
    official_due_date: date | None
    channel: str
    applicant: str
    linked_role: str | None
    overdue_days: int


def overdue_days(status: str, official: date | None, ready: datetime | None, today: date) -> int:
    """Working on: days past the official date today; resolved: days late at the result; else 0."""
    if official is None:
        return 0
    if ready is not None:
        return max(0, (local_date(ready) - official).days)
    if status in {s.value for s in RUNNING}:
        return max(0, (today - official).days)
    return 0


_LIST_COLUMNS: tuple[Any, ...] = (
    Dossier.id,
    Dossier.code,
    Dossier.procedure_code,
    Procedure.name_vi,
    Procedure.name_en,
    Dossier.agency_code,
    Agency.name_vi,
    Agency.name_en,
    Dossier.status,
    Dossier.received_at,
    Dossier.due_date,
    Dossier.official_due_date,
    Dossier.channel,
    Account.full_name,
    Dossier.linked_role,
    Dossier.result_ready_at,
)


def _list_select(conditions: list[ColumnElement[bool]]) -> Any:
    return (
        sa_select(*_LIST_COLUMNS)
        .select_from(Dossier)
        .join(Procedure, col(Procedure.code) == col(Dossier.procedure_code))
        .join(Agency, col(Agency.code) == col(Dossier.agency_code))
        .join(Account, col(Account.id) == col(Dossier.applicant_id))
        .where(*conditions)
        .order_by(
            case((col(Dossier.due_date).is_(None), 1), else_=0),
            col(Dossier.due_date),
            col(Dossier.code),
            col(Dossier.id),
        )
    )


def _row(values: Sequence[Any], today: date) -> DossierRow:
    (did, code, proc, proc_vi, proc_en, agency, ag_vi, ag_en, status, received, due, official, channel, name,
     linked_role, ready) = values  # fmt: skip
    return DossierRow(
        id=did,
        code=code,
        procedure_code=proc,
        procedure={"vi": proc_vi, "en": proc_en},
        agency_code=agency,
        agency={"vi": ag_vi, "en": ag_en},
        status=status,
        received_at=received,
        due_date=due,
        official_due_date=official,
        channel=channel,
        applicant=name or "",
        linked_role=linked_role,
        overdue_days=overdue_days(status, official, ready, today),
    )


@dataclass(frozen=True)
class DossierPage:
    rows: list[DossierRow]
    total: int
    page: int
    pages: int


def list_dossiers(
    session: Session, viewer: StaffViewer, filters: DossierFilters, *, today: date, page_size: int = PAGE_SIZE
) -> DossierPage:
    """One page of the dossiers in scope matching `filters`, by due date (none last), then code."""
    conditions = [*scope_conditions(viewer), *filter_conditions(filters, today=today)]
    total = int(session.exec(select(func.count()).select_from(Dossier).where(*conditions)).one())
    pages = max(1, -(-total // page_size))
    page = min(filters.page, pages)
    rows = session.execute(_list_select(conditions).offset((page - 1) * page_size).limit(page_size)).all()
    return DossierPage(rows=[_row(r, today) for r in rows], total=total, page=page, pages=pages)


def iter_dossiers(engine: Engine, viewer: StaffViewer, filters: DossierFilters, *, today: date) -> Iterator[DossierRow]:
    """Every dossier in scope matching `filters` (no paging), read in batches in a session of its own."""
    conditions = [*scope_conditions(viewer), *filter_conditions(filters, today=today)]
    with Session(engine) as session:
        result = session.execute(_list_select(conditions).execution_options(yield_per=500))
        for values in result:
            yield _row(values, today)


# -- one dossier


@dataclass(frozen=True)
class ResultView:
    result: DossierResult
    state: str  # "waiting" (the centre checks it) | "confirmed" | "refused" | "issued"


@dataclass(frozen=True)
class DossierDetail:
    """What the console shows of one dossier; the lists are empty for the postal desk (not its business)."""

    dossier: Dossier
    procedure: Procedure
    agency: Agency
    applicant: Account | None
    full: bool  # supervisor or officer: answers-free but with timeline, files, results and audit
    can_download: bool
    overdue_days: int
    timeliness: str | None
    files: list[DossierFile] = field(default_factory=list)
    results: list[ResultView] = field(default_factory=list)
    orders: list[PostalOrder] = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)
    parent: Dossier | None = None
    children: list[tuple[Dossier, Agency | None]] = field(default_factory=list)


def scoped_dossier(session: Session, viewer: StaffViewer, dossier_id: str) -> Dossier:
    """The dossier if this member may see it; NotFound otherwise (malformed, unknown or out of scope alike)."""
    if not dossier_id or len(dossier_id) > 32 or not dossier_id.isalnum():
        raise NotFound(N_("Dossier not found."))
    found = session.exec(select(Dossier).where(col(Dossier.id) == dossier_id, *scope_conditions(viewer))).first()
    if found is None:
        raise NotFound(N_("Dossier not found."))
    return found


def _result_state(dossier: Dossier, result: DossierResult) -> str:
    if result.refused_reason:
        return "refused"
    if result.checked_at is not None:
        return "confirmed"
    if dossier.status == DossierStatus.RESULT_CHECK:
        return "waiting"
    return "issued"


def dossier_detail(session: Session, viewer: StaffViewer, dossier_id: str, *, today: date) -> DossierDetail:
    dossier = scoped_dossier(session, viewer, dossier_id)
    procedure = session.get(Procedure, dossier.procedure_code)
    agency = session.get(Agency, dossier.agency_code)
    assert procedure is not None and agency is not None  # foreign keys
    full = viewer.role in (StaffRole.SUPERVISOR, StaffRole.OFFICER)
    judged = dossier.timeliness
    if judged is None and dossier.result_ready_at is not None:
        judged = judge(dossier).value
    orders_q = select(PostalOrder).where(
        col(PostalOrder.owner_kind) == "dossier", col(PostalOrder.owner_id) == dossier.id
    )
    if viewer.role == StaffRole.POSTAL:
        orders_q = orders_q.where(col(PostalOrder.operator) == (viewer.postal_operator or ""))
    detail = DossierDetail(
        dossier=dossier,
        procedure=procedure,
        agency=agency,
        applicant=session.get(Account, dossier.applicant_id),
        full=full,
        can_download=full and viewer.sees_agency(dossier.agency_code),
        overdue_days=overdue_days(dossier.status, dossier.official_due_date, dossier.result_ready_at, today),
        timeliness=judged,
        orders=list(session.exec(orders_q.order_by(col(PostalOrder.created_at)))),
    )
    if not full:
        return detail
    files = list(
        session.exec(
            select(DossierFile)
            .where(col(DossierFile.dossier_id) == dossier.id)
            .order_by(col(DossierFile.created_at), col(DossierFile.id))
        )
    )
    results = [
        ResultView(r, _result_state(dossier, r))
        for r in session.exec(
            select(DossierResult)
            .where(col(DossierResult.dossier_id) == dossier.id)
            .order_by(col(DossierResult.created_at), col(DossierResult.id))
        )
    ]
    audit = list(
        session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.dossier_id) == dossier.id)
            .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
            .limit(500)
        )
    )
    parent = None
    children: list[tuple[Dossier, Agency | None]] = []
    if viewer.role == StaffRole.SUPERVISOR:
        if dossier.parent_id:
            parent = session.get(Dossier, dossier.parent_id)
        if dossier.linked_role == dossier_queries.PARENT:
            kids = session.exec(
                select(Dossier).where(col(Dossier.parent_id) == dossier.id).order_by(col(Dossier.agency_code))
            ).all()
            children = [(kid, session.get(Agency, kid.agency_code)) for kid in kids]
    return replace(detail, files=files, results=results, audit=audit, parent=parent, children=children)


def scoped_file(session: Session, viewer: StaffViewer, dossier_id: str, file_id: str) -> tuple[Dossier, DossierFile]:
    """A file of a dossier this member may download (supervisor, officer of its agency); NotFound otherwise."""
    dossier = scoped_dossier(session, viewer, dossier_id)
    if not (viewer.role in (StaffRole.SUPERVISOR, StaffRole.OFFICER) and viewer.sees_agency(dossier.agency_code)):
        raise NotFound(N_("File not found."))
    row = session.get(DossierFile, file_id) if file_id.isalnum() and len(file_id) <= 32 else None
    if row is None or row.dossier_id != dossier.id:
        raise NotFound(N_("File not found."))
    return dossier, row


# -- the statistics' drill-down: per agency or per procedure, what is open and overdue now


@dataclass(frozen=True)
class OpenCounts:
    open: int = 0
    overdue: int = 0


def open_counts(
    session: Session, *, by: str, agency: str | None = None, procedure: str | None = None, today: date
) -> dict[str, OpenCounts]:
    """Open (received and not closed) and overdue-now dossiers as the statistics count them, per agency or
    procedure (`by`), within the optional agency/procedure filter."""
    key = col(Dossier.agency_code) if by == "agency" else col(Dossier.procedure_code)
    overdue = and_(col(Dossier.status).in_(RUNNING), col(Dossier.official_due_date) < today)
    conditions: list[ColumnElement[bool]] = [col(Dossier.status).in_([s.value for s in OPEN]), *rollup.counted()]
    if agency:
        conditions.append(col(Dossier.agency_code) == agency)
    if procedure:
        conditions.append(col(Dossier.procedure_code) == procedure)
    rows = session.exec(
        select(key, func.count(), func.sum(case((overdue, 1), else_=0))).where(*conditions).group_by(key)
    ).all()
    return {code: OpenCounts(int(n), int(late or 0)) for code, n, late in rows}
