"""The public catalogue: search and procedure pages."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import col, select

from auth.deps import OptionalAccount
from portal.catalog.models import Agency, Procedure
from portal.kernel.db import SessionDep
from portal.kernel.errors import NotFound
from portal.kernel.text import search_terms
from portal.web import render

router = APIRouter()


def N_(s: str) -> str:
    return s


@router.get("/procedures", name="procedures")
def procedure_list(
    request: Request,
    session: SessionDep,
    account: OptionalAccount,
    q: Annotated[str, Query(max_length=200)] = "",
    agency: Annotated[str, Query(max_length=10)] = "",
    field: Annotated[str, Query(max_length=200)] = "",
    level: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    stmt = select(Procedure).where(Procedure.active == True)
    for term in search_terms(q):
        stmt = stmt.where(col(Procedure.search_text).contains(term, autoescape=True))
    if agency:
        stmt = stmt.where(Procedure.agency_code == agency)
    if field:
        stmt = stmt.where(Procedure.field_vi == field)
    if level in ("full", "partial"):
        stmt = stmt.where(Procedure.level == level)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    size = request.app.state.settings.page_size
    pages = max(1, math.ceil(total / size))
    page = min(page, pages)
    # Only the columns the list shows: the JSON columns (fees, components) cost more to decode than the rest.
    listed = stmt.with_only_columns(
        col(Procedure.code),
        col(Procedure.name_vi),
        col(Procedure.name_en),
        col(Procedure.agency_code),
        col(Procedure.level),
        col(Procedure.deadline_days),
    )
    rows = session.execute(listed.order_by(col(Procedure.name_vi)).offset((page - 1) * size).limit(size)).all()
    agencies = session.exec(select(Agency).order_by(col(Agency.name_vi))).all()
    fields = session.exec(
        select(Procedure.field_vi, Procedure.field_en).where(Procedure.active == True).distinct()
    ).all()
    return render(
        request,
        "catalog/list.html",
        {
            "procedures": rows,
            "agencies": {a.code: a for a in agencies},
            "fields": sorted(set(fields)),
            "filters": {"q": q, "agency": agency, "field": field, "level": level},
            "page": page,
            "pages": pages,
            "total": total,
        },
        block="results",
    )


@router.get("/procedures/{code}", name="procedure")
def procedure_detail(request: Request, code: str, session: SessionDep, account: OptionalAccount) -> Response:
    proc = session.get(Procedure, code)
    if proc is None or not proc.active:
        proc = session.exec(select(Procedure).where(Procedure.slug == code)).first()
    if proc is None or not proc.active:
        raise NotFound(N_("There is no procedure with this code."))
    agency = session.get(Agency, proc.agency_code)
    return render(request, "catalog/detail.html", {"proc": proc, "agency": agency})
