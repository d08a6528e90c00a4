"""`/api/v1`: the JSON API for partner machines (agency back-offices, postal operators).

Every route takes a bearer token of one scope (see `auth.bearer`), sees only what its client is bound
to (one agency, or one postal operator) and answers with pydantic models, so `/api/openapi.json`
documents it. Another agency's dossier is a 404, never a 403: the API does not reveal that it exists.

The back-office's feed, dossier detail and downloads are in `portal.api.backoffice`, its transitions in
`portal.api.transitions`, fees in `portal.api.v1_payments`; this router includes the first two.
"""

from __future__ import annotations

from datetime import date, datetime
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

# Every delivery by post goes, for now, to this one operator; a postal client bound to another operator
# sees no orders. When several operators serve the province, the dossier (or its postal order) will name one.
DEFAULT_POSTAL_OPERATOR = "vnpost"
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


class PostalOrder(BaseModel):
    """A dossier whose result goes to the applicant by post."""

    dossier_code: str
    agency_code: str
    agency_name: str
    status: PartnerStatus
    submitted_at: datetime | None
    appointment_date: date | None
    recipient_name: str


class PostalOrderPage(BaseModel):
    items: list[PostalOrder]
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


@router.get("/postal/orders", tags=["partner: postal"], response_model=PostalOrderPage)
def list_postal_orders(
    partner: PostalOperator,
    session: SessionDep,
    since: Since = None,
    page: Page = 1,
    page_size: PageSize = 50,
) -> PostalOrderPage:
    """Submitted dossiers whose result is delivered by post, newest first, without form answers.

    For now every delivery by post belongs to the single configured operator, `vnpost`: its clients see
    all of them, clients of any other operator see none. The recipient is the applicant (the account
    that filed the dossier).
    """
    if partner.postal_operator != DEFAULT_POSTAL_OPERATOR:
        return PostalOrderPage(items=[], page=page, page_size=page_size, total=0)
    found = queries.postal_orders(session, since=since, page=page, page_size=page_size)
    items = [
        PostalOrder(
            dossier_code=d.code or "",
            agency_code=d.agency_code,
            agency_name=agency_name,
            status=PartnerStatus(d.status),
            submitted_at=d.submitted_at,
            appointment_date=d.due_date,
            recipient_name=name,
        )
        for d, name, agency_name in found.rows
    ]
    return PostalOrderPage(items=items, page=page, page_size=page_size, total=found.total)
