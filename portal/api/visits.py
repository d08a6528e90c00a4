"""`/api/v1/backoffice/visits`: the agency's counters call the visitors who booked a visit to the centre.

A back-office client sees and changes only its own agency's visits; another agency's visit is a 404. The
day's list, calling the next visitor to a counter (the earliest checked-in, else a booked one of the
current slot) and closing a call (served, missed). Every POST honours `Idempotency-Key`: a retried
call-next gets the visitor it called the first time, not the next one (docs/VISITS.md).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from portal.api.deps import BackOffice, IdempotencyDep, PartnerRoute
from portal.api.problems import COMMON, problems
from portal.api.strict import StrictDate
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep
from portal.kernel.errors import Forbidden
from portal.kernel.i18n import N_
from portal.visits import service as visits
from portal.visits.models import Visit

# Included by `portal.api.v1.router` (prefix /api/v1).
router = APIRouter(prefix="/backoffice/visits", route_class=PartnerRoute, responses=COMMON)
TAGS: list[str | Enum] = ["partner: back-office visits"]
CLOSE = problems(400, 404, 409)


class VisitState(StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    CALLED = "called"
    SERVED = "served"
    CANCELLED = "cancelled"
    MISSED = "missed"


class Purpose(StrEnum):
    COLLECT_RESULT = "collect_result"
    IN_PERSON = "in_person"


class VisitOut(BaseModel):
    """One booked visit to the agency's counters."""

    id: str = Field(description="The visit's id (for /served and /missed).")
    number: str = Field(description="The queue number as printed on the ticket and shown on the kiosk, e.g. STP-012.")
    queue_number: int = Field(description="The day's queue number of the agency.")
    agency_code: str
    dossier_code: str | None = Field(description="The dossier the visit is about.")
    purpose: Purpose = Field(description="collect_result (the result at the counter) or in_person.")
    day: date = Field(description="The day of the visit (local date).")
    slot: str = Field(description="The local start time of the booked slot, HH:MM.")
    status: VisitState
    counter: str | None = Field(description="The counter that called the visitor.")
    checked_in_at: datetime | None
    called_at: datetime | None
    served_at: datetime | None


class VisitList(BaseModel):
    day: date
    items: list[VisitOut]


class CallNextIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    counter: str = Field(
        min_length=1,
        max_length=20,
        pattern=r"^[\w .\-]*\w[\w .\-]*$",  # at least one letter or digit: the kiosk shows it
        description="The counter that calls (its name or number, shown on the kiosk; spaces around it are "
        "dropped), e.g. 3.",
    )


class CallNextOut(BaseModel):
    called: VisitOut | None = Field(description="The visitor called to the counter; null when nobody is waiting.")


class NoBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


def visit_out(visit: Visit) -> VisitOut:
    return VisitOut(
        id=visit.id,
        number=visits.queue_label(visit.agency_code, visit.queue_number),
        queue_number=visit.queue_number,
        agency_code=visit.agency_code,
        dossier_code=visit.reference,
        purpose=Purpose(visit.purpose),
        day=visit.day,
        slot=visit.slot,
        status=VisitState(visit.status),
        counter=visit.counter,
        checked_in_at=visit.checked_in_at,
        called_at=visit.called_at,
        served_at=visit.served_at,
    )


def _agency(partner: BackOffice) -> str:
    if not partner.agency_code:  # pragma: no cover - back-office clients are always bound to an agency
        raise Forbidden(N_("This client is not bound to an agency."))
    return partner.agency_code


@router.get("", tags=TAGS, response_model=VisitList, name="api_backoffice_visits")
def day_visits(
    partner: BackOffice,
    session: SessionDep,
    day: Annotated[
        StrictDate | None, Query(description="The local day, YYYY-MM-DD; today (Vietnam time) when omitted.")
    ] = None,
) -> VisitList:
    """The agency's visits of one day, by slot and queue number, whatever their status."""
    chosen = day or local_date(utcnow())
    return VisitList(day=chosen, items=[visit_out(v) for v in visits.day_visits(session, _agency(partner), chosen)])


@router.post("/call-next", tags=TAGS, response_model=CallNextOut, responses=problems(400, 404, 409))
def call_next(
    partner: BackOffice,
    session: SessionDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
    body: Annotated[CallNextIn, Body()],
) -> CallNextOut:
    """Call the next visitor to a counter: the earliest checked-in visit of today (by slot, then number), else
    the first booked visit of the current slot (visitors who did not scan their ticket). The visit becomes
    `called` and the kiosk shows its number with the counter. `called` is null when nobody is waiting.
    Two counters calling at the same moment never get the same visitor."""
    called = visits.call_next(session=session, settings=settings, agency_code=_agency(partner), counter=body.counter)
    return idempotency.answer(CallNextOut(called=visit_out(called) if called else None))


@router.post("/{visit_id}/served", tags=TAGS, response_model=VisitOut, responses=CLOSE)
def served(
    partner: BackOffice,
    session: SessionDep,
    idempotency: IdempotencyDep,
    visit_id: str,
    body: Annotated[NoBody | None, Body()] = None,
) -> VisitOut:
    """called (or checked_in) → served. A repeat answers the visit as it is. The body is empty."""
    visit = visits.agency_visit(session, visit_id, _agency(partner))
    visits.mark_served(session=session, visit=visit)
    return idempotency.answer(visit_out(visit))


@router.post("/{visit_id}/missed", tags=TAGS, response_model=VisitOut, responses=CLOSE)
def missed(
    partner: BackOffice,
    session: SessionDep,
    idempotency: IdempotencyDep,
    visit_id: str,
    body: Annotated[NoBody | None, Body()] = None,
) -> VisitOut:
    """booked | checked_in | called → missed: the visitor did not come. A repeat answers the visit as it is."""
    visit = visits.agency_visit(session, visit_id, _agency(partner))
    visits.mark_missed(session=session, visit=visit)
    return idempotency.answer(visit_out(visit))
