"""The statistics of the console, /staff/stats (docs/STAFF.md, "Pages"): the public figures (`portal.stats`)
for the member's scope, with a drill-down province → agency → procedure → the dossiers behind a figure (links
to /staff/dossiers with the matching filters). Supervisors see the province; an officer only their agency.

The figures are computed afresh (not from the public page's cache): staff look at them to act.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from auth.staff_models import StaffRole
from portal.catalog.models import Agency, Procedure
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import SessionDep
from portal.kernel.i18n import N_
from portal.kernel.web import render, translator
from portal.staff.deps import StaffViewer, staff_roles
from portal.staff.queries import OpenCounts, open_counts
from portal.stats.figures import RankingRow, StatsQuery, StatsQueryError, StatsResult
from portal.stats.query import compute, parse_query
from portal.stats.views import percent

router = APIRouter(prefix="/staff")

PARAMS = ("from", "to", "agency", "procedure")
MAX_SHOWN = 200


@dataclass(frozen=True)
class DrillRow:
    """One agency (province level) or procedure (agency level) of the breakdown."""

    code: str
    name: dict[str, str]
    resolved: int
    early: int
    on_time: int
    late: int
    on_time_rate: float | None
    open: int
    overdue: int
    stats_href: str  # the next level of the drill-down
    params: dict[str, str]  # the dossier filters of this row (agency / procedure)


def _query_params(request: Request) -> dict[str, list[str]]:
    return {name: request.query_params.getlist(name) for name in PARAMS if name in request.query_params}


def _scoped_query(session: Session, viewer: StaffViewer, raw: dict[str, list[str]], today: date) -> StatsQuery:
    """The public filters, checked, and narrowed to the member's agency (an officer asking another is refused)."""
    if viewer.role == StaffRole.OFFICER:
        asked = [v for v in raw.get("agency", []) if v.strip()]
        if asked and any(v.strip() != viewer.agency_code for v in asked):
            raise StatsQueryError(
                N_("Your account sees the figures of {own} only, not those of {value}."),
                param="agency",
                own=viewer.agency_code or "",
                value=asked[0].strip()[:40],
            )
        raw = {**raw, "agency": [viewer.agency_code or ""]}
    return parse_query(session, raw, today=today)


def dossier_link(request: Request, query: StatsQuery, **filters: str) -> str:
    """The /staff/dossiers list behind a figure: the same agency/procedure and `filters`."""
    params: dict[str, str] = {}
    if query.agency:
        params["agency"] = query.agency
    if query.procedure:
        params["procedure"] = query.procedure
    params.update(filters)
    return f"{request.app.url_path_for('staff_dossiers')}?{urlencode(params)}"


def _rows(
    request: Request,
    session: Session,
    query: StatsQuery,
    result: StatsResult,
    today: date,
) -> tuple[str, list[DrillRow]]:
    """The breakdown of the current level: ("agency", per agency) for the province, ("procedure", …) for an
    agency, ("", []) for a procedure."""
    if query.procedure:
        return "", []
    by = "procedure" if query.agency else "agency"
    ranking: tuple[RankingRow, ...] = result.procedures if query.agency else result.agencies
    ranked = {r.code: r for r in ranking}
    counts = open_counts(session, by=by, agency=query.agency, today=today)
    model: type[Agency] | type[Procedure] = Procedure if query.agency else Agency
    codes: set[str] = set(ranked) | set(counts)
    if query.agency:
        # Every procedure of the agency is a row, even without figures: a drill-down shows where nothing happens.
        own: list[str] = list(
            session.exec(
                select(Procedure.code).where(
                    col(Procedure.agency_code) == query.agency, col(Procedure.kind) != "linked"
                )
            )
        )
        codes |= set(own)
    names = {
        code: {"vi": vi, "en": en}
        for code, vi, en in session.exec(
            select(model.code, model.name_vi, model.name_en).where(col(model.code).in_(codes))
        )
    }
    base = str(request.app.url_path_for("staff_stats"))
    period = {"from": query.date_from.isoformat(), "to": query.date_to.isoformat()}
    rows = []
    for code in sorted(codes, key=lambda c: (names.get(c, {"vi": c})["vi"], c)):
        r = ranked.get(code)
        c = counts.get(code, OpenCounts())
        level = {"agency": query.agency, "procedure": code} if query.agency else {"agency": code}
        rows.append(
            DrillRow(
                code=code,
                name=names.get(code, {"vi": code, "en": code}),
                resolved=r.resolved if r else 0,
                early=r.early if r else 0,
                on_time=r.on_time if r else 0,
                late=r.late if r else 0,
                on_time_rate=r.on_time_rate if r else None,
                open=c.open,
                overdue=c.overdue,
                stats_href=f"{base}?{urlencode({**period, **level})}",
                params=level,
            )
        )
    return by, rows


@router.get("/stats", name="staff_stats")
def stats(
    request: Request,
    session: SessionDep,
    viewer: StaffViewer = Depends(staff_roles(StaffRole.SUPERVISOR, StaffRole.OFFICER)),
) -> Response:
    today = local_date(utcnow())
    raw = _query_params(request)
    form = {name: (raw.get(name) or [""])[0][:MAX_SHOWN] for name in PARAMS}
    error: StatsQueryError | None = None
    query: StatsQuery | None = None
    result: StatsResult | None = None
    by, rows = "", list[DrillRow]()
    try:
        query = _scoped_query(session, viewer, raw, today)
    except StatsQueryError as refused:
        error = refused
    else:
        result = compute(session, query, today=today)
        by, rows = _rows(request, session, query, result, today)
        form = {
            "from": query.date_from.isoformat(),
            "to": query.date_to.isoformat(),
            "agency": query.agency or "",
            "procedure": query.procedure or "",
        }
    scope = viewer.agency_scope
    agencies = session.exec(
        select(Agency)
        .order_by(col(Agency.name_vi))
        .where(*([col(Agency.code).in_(scope)] if scope is not None else []))
    ).all()
    procedures = session.exec(
        select(Procedure)
        .where(col(Procedure.kind) != "linked", *([col(Procedure.agency_code).in_(scope)] if scope is not None else []))
        .order_by(col(Procedure.name_vi))
    ).all()
    links: dict[str, str] = {}
    crumbs: list[tuple[str, str]] = []
    if query is not None:
        period = {"from": query.date_from.isoformat(), "to": query.date_to.isoformat()}
        received = {"received_from": period["from"], "received_to": period["to"]}
        resolved = {"resolved_from": period["from"], "resolved_to": period["to"]}
        links = {
            "received": dossier_link(request, query, **received),
            "resolved": dossier_link(request, query, **resolved),
            "early": dossier_link(request, query, **resolved, timeliness="early"),
            "on_time": dossier_link(request, query, **resolved, timeliness="on_time"),
            "late": dossier_link(request, query, **resolved, timeliness="late"),
            "overdue_now": dossier_link(request, query, overdue="1"),
        }
        base = str(request.app.url_path_for("staff_stats"))
        if viewer.role == StaffRole.SUPERVISOR:
            crumbs.append((f"{base}?{urlencode(period)}", "province"))
        if query.agency:
            crumbs.append((f"{base}?{urlencode({**period, 'agency': query.agency})}", "agency"))
    context: dict[str, Any] = {
        "viewer": viewer,
        "form": form,
        "error": error,
        "error_param": (error.param or "from") if error else "",
        "query": query,
        "result": result,
        "by": by,
        "rows": rows,
        "links": links,
        "crumbs": crumbs,
        "agencies": agencies,
        "procedures": procedures,
        "percent": lambda value: percent_of(request, value),
        "row_link": lambda row, **filters: (
            dossier_link(request, _row_query(query, row), **filters) if query is not None else ""
        ),
        "period": {"from": form["from"], "to": form["to"]},
    }
    return render(request, "staff/stats.html", context, status_code=error.status_code if error else 200)


def _row_query(query: StatsQuery, row: DrillRow) -> StatsQuery:
    return StatsQuery(
        date_from=query.date_from,
        date_to=query.date_to,
        agency=row.params.get("agency"),
        procedure=row.params.get("procedure"),
    )


def percent_of(request: Request, value: float | None) -> str:
    return percent(translator(request), value)
