"""`/api/v1`: the JSON API for partner machines (agency back-offices, postal operators).

Every route takes a bearer token of one scope (see `auth.bearer`), sees only what its client is bound
to (one agency, or one postal operator) and answers with pydantic models, so `/api/openapi.json`
documents it. Another agency's dossier is a 404, never a 403: the API does not reveal that it exists.

The back-office's feed, dossier detail and downloads are in `portal.api.backoffice`, its transitions in
`portal.api.transitions`, fees in `portal.api.v1_payments`; the postal operators' API is `portal.api.postal`.
This router includes them (but the fees).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from portal.api import backoffice, intake, postal, transitions, visits
from portal.api.deps import BackOffice, PartnerRoute, PostalOperator
from portal.api.problems import COMMON
from portal.api.schemas import DossierSummary
from portal.api.strict import PartnerStatus, StrictInstant
from portal.dossiers import queries
from portal.dossiers.models import DossierStatus
from portal.kernel.db import SessionDep

MAX_PAGE_SIZE = 100

# Kept for importers of the old name: every partner route documents these refusals.
AUTH_RESPONSES = COMMON

router = APIRouter(prefix="/api/v1", route_class=PartnerRoute, responses=COMMON)
router.include_router(backoffice.router)
router.include_router(transitions.router)
router.include_router(intake.router)
router.include_router(postal.router)
router.include_router(visits.router)

__all__ = ["AUTH_RESPONSES", "BackOffice", "DossierSummary", "PostalOperator", "router"]


class DossierPage(BaseModel):
    items: list[DossierSummary]
    page: int
    page_size: int
    total: int


Page = Annotated[int, Query(ge=1, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Since = Annotated[
    StrictInstant | None,
    Query(description="Only dossiers submitted at or after this instant (RFC 3339 with a time zone)."),
]


@router.get("/backoffice/dossiers", tags=["partner: back-office"], response_model=DossierPage)
def list_agency_dossiers(
    partner: BackOffice,
    session: SessionDep,
    status: Annotated[PartnerStatus | None, Query()] = None,
    since: Since = None,
    page: Page = 1,
    page_size: PageSize = 50,
) -> DossierPage:
    """The submitted dossiers of the client's agency, newest first."""
    found = queries.agency_dossiers(
        session,
        partner.agency_code,
        status=DossierStatus(status.value) if status else None,
        since=since,
        page=page,
        page_size=page_size,
    )
    return DossierPage(
        items=[DossierSummary.model_validate(backoffice.summary_fields(d, name)) for d, name in found.rows],
        page=page,
        page_size=page_size,
        total=found.total,
    )
