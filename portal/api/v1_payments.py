"""`/api/v1/backoffice`: fees of an agency's dossiers — payments, refunds, rejection, the daily report.

Same rules as `portal.api.v1`: a back-office token sees its own agency only; another agency's dossier is
a 404. The daily report is what the agency's accountant reconciles against the bank's statement.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from payments import report
from payments import service as payments
from payments.serialize import PaymentInfo
from portal.api.deps import BackOffice, IdempotencyDep, PartnerRoute
from portal.api.problems import CHANGE, COMMON, DOSSIER
from portal.api.strict import PartnerStatus, StrictDate
from portal.audit.access import record_reads_apart, request_actor
from portal.dossiers import billing, queries
from portal.dossiers import service as dossiers
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.db import SessionDep
from portal.kernel.deps import EngineDep
from portal.kernel.errors import Conflict
from portal.kernel.i18n import N_

router = APIRouter(prefix="/api/v1", route_class=PartnerRoute, responses=COMMON)
TAGS: list[str | Enum] = ["partner: back-office"]
ENDED = (DossierStatus.REJECTED, DossierStatus.WITHDRAWN)


class DossierPayments(BaseModel):
    code: str
    status: PartnerStatus
    payments: list[PaymentInfo]


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")  # as every other body: a misspelt field is an error, not dropped

    reason: str = Field(min_length=3, max_length=1000, description="Shown to the applicant.")


class ReportRowOut(BaseModel):
    day: StrictDate
    agency_code: str
    gateway: str
    payments: int
    amount: int
    refunds: int
    refunded: int
    net: int


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int | None = Field(
        default=None,
        gt=0,
        le=10**12,
        description="Đồng to give back (at most what is still kept; for a linked application's member, of what "
        "that member paid). Absent: everything still kept.",
    )


def _payments_out(session: Session, dossier: Dossier) -> DossierPayments:
    return DossierPayments(
        code=dossier.code or "",
        status=PartnerStatus(dossier.status),
        payments=billing.partner_payments(session, dossier),
    )


@router.get("/backoffice/dossiers/{code}/payments", tags=TAGS, response_model=DossierPayments, responses=DOSSIER)
def dossier_payments(
    request: Request, partner: BackOffice, session: SessionDep, engine: EngineDep, code: str
) -> DossierPayments:
    """The payments and refunds of one dossier of the client's agency."""
    dossier = queries.agency_dossier(session, code, partner.agency_code)
    out = _payments_out(session, dossier)
    record_reads_apart(engine, "dossier.payments_read", [dossier.id], actor=request_actor(session), request=request)
    return out


@router.post("/backoffice/dossiers/{code}/reject", tags=TAGS, response_model=DossierPayments, responses=CHANGE)
def reject_dossier(
    partner: BackOffice,
    session: SessionDep,
    idempotency: IdempotencyDep,
    code: str,
    rejection: Annotated[Rejection, Body()],
) -> DossierPayments:
    """Reject a dossier with a reason; a refundable fee is given back through its gateway (idempotent)."""
    dossier = queries.agency_dossier(session, code, partner.agency_code, lock=True)
    dossiers.reject(session=session, dossier=dossier, reason=rejection.reason, by=f"api:{partner.client_id}")
    return idempotency.answer(_payments_out(session, dossier))


@router.post("/backoffice/dossiers/{code}/refund", tags=TAGS, response_model=DossierPayments, responses=CHANGE)
def refund_dossier(
    partner: BackOffice,
    session: SessionDep,
    idempotency: IdempotencyDep,
    code: str,
    body: Annotated[RefundRequest | None, Body()] = None,
) -> DossierPayments:
    """Give back the fee of a rejected or withdrawn dossier: everything still kept, or `amount` of it (409 when
    nothing was paid, or `amount` is more than is kept).

    A member of a linked application (a child) was paid with the application's one payment: its agency gives
    back that member's share of it, within what the member paid; the other members' fees stay.
    """
    dossier = queries.agency_dossier(session, code, partner.agency_code, lock=True)
    if dossier.status not in ENDED:
        raise Conflict(N_("Only the fee of a rejected or withdrawn dossier can be refunded."))
    amount = body.amount if body is not None else None
    if dossier.linked_role == "child":
        billing.refund_member_by_agency(session, dossier, amount=amount)
    else:
        payments.refund_order(session=session, order_id=dossier.id, reason="agency", amount=amount)
    return idempotency.answer(_payments_out(session, dossier))


@router.get(
    "/backoffice/payments/report",
    tags=TAGS,
    response_model=list[ReportRowOut],
    responses={200: {"content": {"text/csv": {}}}},
)
def payment_report(
    partner: BackOffice,
    session: SessionDep,
    day: Annotated[StrictDate, Query(description="The local (Asia/Ho_Chi_Minh) day, YYYY-MM-DD.")],
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Response | list[ReportRowOut]:
    """The agency's payments and refunds of one day, per gateway (JSON, or CSV with `format=csv`)."""
    rows = report.daily_report(session, day, agency_code=partner.agency_code)
    if format == "csv":
        return PlainTextResponse(
            report.report_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="thanh-toan-{partner.agency_code}-{day}.csv"'},
        )
    return [
        ReportRowOut(net=r.net, **{k: getattr(r, k) for k in ReportRowOut.model_fields if k != "net"}) for r in rows
    ]
