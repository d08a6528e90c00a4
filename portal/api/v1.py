"""`/api/v1`: the JSON API for partner machines (agency back-offices, postal operators).

Every route takes a bearer token of one scope (see `auth.bearer`), sees only what its client is bound
to (one agency, or one postal operator) and answers with pydantic models, so `/api/openapi.json`
documents it. Another agency's dossier is a 404, never a 403: the API does not reveal that it exists.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from auth.bearer import Partner, PartnerAPIRoute, require_partner
from portal.dossiers import queries
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.db import SessionDep
from portal.kernel.errors import Invalid
from portal.kernel.i18n import N_

# Every delivery by post goes, for now, to this one operator; a postal client bound to another operator
# sees no orders. When several operators serve the province, the dossier (or its postal order) will name one.
DEFAULT_POSTAL_OPERATOR = "vnpost"
MAX_PAGE_SIZE = 100

PROBLEM = {"content": {"application/problem+json": {"schema": {"type": "object"}}}}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No, an invalid, an expired or a revoked access token", **PROBLEM},
    403: {"description": "The token lacks the scope of this route", **PROBLEM},
    422: {"description": "Invalid query parameters", **PROBLEM},
}

router = APIRouter(prefix="/api/v1", route_class=PartnerAPIRoute, responses=AUTH_RESPONSES)

BackOffice = Annotated[Partner, Depends(require_partner("backoffice"))]
PostalOperator = Annotated[Partner, Depends(require_partner("postal"))]


class DossierSummary(BaseModel):
    """A submitted dossier as an agency's back-office lists it."""

    id: str
    code: str
    procedure_code: str
    agency_code: str
    status: DossierStatus
    submitted_at: datetime | None
    due_date: date | None = Field(description="The appointment date (ngày hẹn trả kết quả).")
    delivery_method: str | None = Field(description="online, centre or post")
    applicant_name: str
    business_id: str | None = Field(description="Set when the dossier was filed for a business.")


class DossierPage(BaseModel):
    items: list[DossierSummary]
    page: int
    page_size: int
    total: int


class DossierFileInfo(BaseModel):
    component: str
    filename: str
    sha256: str
    size: int
    pages: int
    media_type: str


class DossierDetail(DossierSummary):
    """One dossier with its form answers and the list of its files."""

    form_id: str
    form_version: int
    answers: dict[str, Any]
    files: list[DossierFileInfo]


class PostalOrder(BaseModel):
    """A dossier whose result goes to the applicant by post."""

    dossier_code: str
    agency_code: str
    agency_name: str
    status: DossierStatus
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
Since = Annotated[datetime | None, Query(description="Only dossiers submitted at or after this instant (ISO 8601).")]


def _summary(dossier: Dossier, applicant_name: str) -> dict[str, Any]:
    return {
        "id": dossier.id,
        "code": dossier.code,
        "procedure_code": dossier.procedure_code,
        "agency_code": dossier.agency_code,
        "status": dossier.status,
        "submitted_at": dossier.submitted_at,
        "due_date": dossier.due_date,
        "delivery_method": dossier.delivery_method,
        "applicant_name": applicant_name,
        "business_id": dossier.business_id,
    }


@router.get("/backoffice/dossiers", tags=["partner: back-office"], response_model=DossierPage)
def list_agency_dossiers(
    partner: BackOffice,
    session: SessionDep,
    status: Annotated[DossierStatus | None, Query()] = None,
    since: Since = None,
    page: Page = 1,
    page_size: PageSize = 50,
) -> DossierPage:
    """The submitted dossiers of the client's agency, newest first."""
    if status == DossierStatus.DRAFT:
        raise Invalid(N_("Drafts are not sent to back-offices; choose another status."))
    found = queries.agency_dossiers(
        session, partner.agency_code, status=status, since=since, page=page, page_size=page_size
    )
    return DossierPage(
        items=[DossierSummary.model_validate(_summary(d, name)) for d, name in found.rows],
        page=page,
        page_size=page_size,
        total=found.total,
    )


@router.get("/backoffice/dossiers/{code}", tags=["partner: back-office"], response_model=DossierDetail)
def get_agency_dossier(partner: BackOffice, session: SessionDep, code: str) -> DossierDetail:
    """One submitted dossier of the client's agency, with its answers and files (any other code: 404)."""
    dossier, name, dossier_files = queries.agency_dossier_detail(session, code, partner.agency_code)
    files = [
        DossierFileInfo(
            component=f.component_id,
            filename=f.filename,
            sha256=f.sha256,
            size=f.size,
            pages=f.pages,
            media_type=f.media_type,
        )
        for f in dossier_files
    ]
    return DossierDetail.model_validate(
        {
            **_summary(dossier, name),
            "form_id": dossier.form_id,
            "form_version": dossier.form_version,
            "answers": dict(dossier.data),
            "files": files,
        }
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
            status=DossierStatus(d.status),
            submitted_at=d.submitted_at,
            appointment_date=d.due_date,
            recipient_name=name,
        )
        for d, name, agency_name in found.rows
    ]
    return PostalOrderPage(items=items, page=page, page_size=page_size, total=found.total)
