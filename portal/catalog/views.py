"""The public catalogue: search and procedure pages."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from auth.deps import OptionalAccount
from portal.catalog.deps import CatalogDep
from portal.kernel.deps import SettingsDep
from portal.kernel.errors import NotFound
from portal.kernel.i18n import N_
from portal.kernel.text import search_terms
from portal.kernel.web import render

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
async def procedure_detail(request: Request, code: str, account: OptionalAccount, catalog: CatalogDep) -> Response:
    snapshot = await catalog.current()
    proc = snapshot.find(code)
    if proc is None:
        raise NotFound(N_("There is no procedure with this code."))
    return render(request, "catalog/detail.html", {"proc": proc, "agency": snapshot.agencies.get(proc.agency_code)})
