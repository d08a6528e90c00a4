"""The public catalogue: search and procedure pages."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from auth.deps import OptionalAccount
from portal.catalog.deps import CatalogDep
from portal.catalog.linked import Member, members_of
from portal.catalog.models import Agency, Procedure
from portal.catalog.snapshot import CatalogSnapshot
from portal.kernel.deps import SettingsDep
from portal.kernel.errors import NotFound
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.kernel.text import search_terms
from portal.kernel.web import render
from postal import tariff
from postal.operators import choose_operator

router = APIRouter()


@router.get("/procedures", name="procedures")
async def procedure_list(
    request: Request,
    account: OptionalAccount,
    catalog: CatalogDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=200)] = "",
    agency: Annotated[str, Query(max_length=10)] = "",
    field: Annotated[str, Query(max_length=200)] = "",
    level: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    snapshot = await catalog.current()
    found = snapshot.search(search_terms(q), agency=agency, field_vi=field, level=level)
    size = settings.page_size
    pages = max(1, math.ceil(len(found) / size))
    page = min(page, pages)
    return render(
        request,
        "catalog/list.html",
        {
            "procedures": found[(page - 1) * size : page * size],
            "agencies": snapshot.agencies,
            "fields": snapshot.fields,
            "filters": {"q": q, "agency": agency, "field": field, "level": level},
            "page": page,
            "pages": pages,
            "total": len(found),
        },
        block="results",
    )


@router.get("/procedures/{code}", name="procedure")
async def procedure_detail(
    request: Request, code: str, account: OptionalAccount, catalog: CatalogDep, settings: SettingsDep
) -> Response:
    snapshot = await catalog.current()
    proc = snapshot.find(code)
    if proc is None:
        raise NotFound(N_("There is no procedure with this code."))
    agency = snapshot.agencies.get(proc.agency_code)
    return render(
        request,
        "catalog/detail.html",
        {
            "proc": proc,
            "agency": agency,
            "postal_from": _postal_from(settings, proc, agency),
            "members": _member_rows(snapshot, proc) if proc.is_linked else [],
            "agencies": snapshot.agencies,
        },
    )


@dataclass(frozen=True)
class MemberRow:
    """One member procedure of a linked entry, as its catalogue page lists it."""

    member: Member
    proc: Procedure
    agency: Agency | None
    depends_on: list[Procedure]


def _member_rows(snapshot: CatalogSnapshot, linked: Procedure) -> list[MemberRow]:
    """The members in dependency order with their procedure, agency and the members they wait for."""
    rows = []
    for member in members_of(linked):
        proc = snapshot.by_code.get(member.procedure)
        if proc is None:  # made inactive since the entry was loaded: the next load refuses the entry
            continue
        depends = [p for code in member.depends_on if (p := snapshot.by_code.get(code)) is not None]
        rows.append(MemberRow(member, proc, snapshot.agencies.get(proc.agency_code), depends))
    return rows


def _postal_from(settings: Settings, proc: Procedure, agency: Agency | None) -> int | None:
    """The lowest postage of the procedure's result (within the agency's province), when it goes by post."""
    if "post" not in proc.delivery or agency is None or not agency.province_code:
        return None
    home = agency.province_code
    operator = choose_operator(settings, home)
    return tariff.quote(
        settings=settings,
        operator=operator,
        from_province=home,
        to_province=home,
        weight_class=proc.result_weight_class,
    ).amount
