"""The citizen books a visit to the centre for a dossier: choose a day, then a time, get a ticket with the
queue number (số thứ tự) and a QR code to scan at the kiosk; cancel it before the time.

A visit is offered when the result is collected at the centre's counter (delivery "centre", result ready)
or when the procedure needs the applicant in person (any status between submission and completion). Only
the dossier's applicant (or its business's representatives) sees these pages: anyone else gets a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlmodel import Session

from auth.deps import CurrentAccount
from portal.catalog.models import Agency, DeliveryMethod, Procedure
from portal.dossiers import service
from portal.dossiers.models import Dossier, DossierEventKind, DossierStatus
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep
from portal.kernel.errors import DomainError, NotFound
from portal.kernel.i18n import N_
from portal.kernel.settings import Settings
from portal.kernel.web import redirect, render, translator
from portal.visits import service as visits
from portal.visits.hours import booking_window, hours_of
from portal.visits.models import Visit, VisitPurpose, VisitStatus

router = APIRouter()

# The applicant may have to appear in person at any point between submission and completion.
IN_PERSON_STATUSES = (
    DossierStatus.SUBMITTED,
    DossierStatus.RECEIVED,
    DossierStatus.IN_PROCESS,
    DossierStatus.SUPPLEMENT_REQUESTED,
    DossierStatus.RESULT_CHECK,
    DossierStatus.RESULT_READY,
)
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"), N_("Sunday"))


def purposes(dossier: Dossier, procedure: Procedure) -> list[VisitPurpose]:
    """Why this dossier's applicant may book a visit now (none: no visit is offered)."""
    out: list[VisitPurpose] = []
    if dossier.linked_role == "parent":
        # Each part is handed over (or seen in person) by its own agency: booked from the part's line on the
        # application's page. A visit on the parent would reach an agency that never reads the parent.
        return out
    if dossier.delivery_method == DeliveryMethod.CENTRE and dossier.status == DossierStatus.RESULT_READY:
        out.append(VisitPurpose.COLLECT_RESULT)
    if procedure.in_person and dossier.status in IN_PERSON_STATUSES:
        out.append(VisitPurpose.IN_PERSON)
    return out


@dataclass(frozen=True)
class _Dossier:
    dossier: Dossier
    procedure: Procedure
    agency: Agency


def _load(session: Session, dossier_id: str, account: Any, *, lock: bool = False) -> _Dossier:
    dossier = service.own_dossier(session, dossier_id, account, lock=lock)
    if dossier.status == DossierStatus.DRAFT:
        raise NotFound(N_("There is no dossier with this reference in your account."))
    procedure = session.get(Procedure, dossier.procedure_code)
    agency = session.get(Agency, dossier.agency_code)
    if procedure is None or agency is None:  # pragma: no cover - foreign keys
        raise NotFound(N_("There is no dossier with this reference in your account."))
    return _Dossier(dossier, procedure, agency)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def _bookable_day(settings: Settings, agency_code: str, day: date) -> bool:
    """A day of the booking window on which the centre is open (its times may all be taken or past)."""
    if day not in booking_window(local_date(utcnow()), settings.visits_booking_days):
        return False
    return bool(hours_of(settings).of(agency_code).slots_on(day))


def _booking_page(
    request: Request,
    session: Session,
    settings: Settings,
    found: _Dossier,
    *,
    day: date | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
) -> Response:
    dossier = found.dossier
    days = visits.available_days(session, settings, dossier.agency_code)
    chosen = next((d for d in days if d.day == day), None)
    return render(
        request,
        "visits/book.html",
        {
            "dossier": dossier,
            "proc": found.procedure,
            "agency": found.agency,
            "purposes": purposes(dossier, found.procedure),
            "active": visits.active_visits(session, dossier.id),
            "days": days,
            "chosen": chosen,
            "asked_day": day,
            "weekday": lambda d: WEEKDAYS[d.weekday()],
            "label_of": visits.queue_label,
            "error": error,
            "typed": typed or {},
            "just_cancelled": request.query_params.get("cancelled") == "1",
        },
        status_code=status_code,
    )


@router.get("/dossiers/{dossier_id}/visit", name="dossier_visit")
def visit_page(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
    day: str = "",
) -> Response:
    """Book a visit: the days with free times, then the times of the chosen day; the visits already booked."""
    found = _load(session, dossier_id, account)
    if found.dossier.linked_role == "parent":  # booked per part, from the application's page
        return redirect(f"/dossiers/{found.dossier.id}#linked-members")
    chosen = _day(day[:10])
    error = None
    status = 200
    if day and (chosen is None or not _bookable_day(settings, found.dossier.agency_code, chosen)):
        # Typed by hand: a past day, one the centre is closed or one beyond the window is not "full".
        chosen = None
        error, status = DomainError(N_("Choose one of the days offered.")), 422
    return _booking_page(request, session, settings, found, day=chosen, error=error, status_code=status)


@router.post("/dossiers/{dossier_id}/visit", name="book_visit")
def book_visit(
    request: Request,
    dossier_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
    day: Annotated[str, Form(max_length=10)] = "",
    slot: Annotated[str, Form(max_length=5)] = "",
    purpose: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    found = _load(session, dossier_id, account, lock=True)
    dossier = found.dossier
    offered = purposes(dossier, found.procedure)
    chosen_day = _day(day)
    typed = {"slot": slot, "purpose": purpose}
    try:
        if not offered:
            raise DomainError(N_("No visit to the centre is needed for this dossier now."), status_code=409)
        if chosen_day is None:
            raise DomainError(N_("Choose one of the days offered."), status_code=422)
        if not slot:
            raise DomainError(N_("Choose a time."), status_code=422)
        if len(offered) == 1 and not purpose:
            purpose = offered[0].value
        if purpose not in [p.value for p in offered]:
            raise DomainError(N_("Choose why you are coming."), status_code=422)
        visit = visits.book(
            session=session,
            settings=settings,
            agency_code=dossier.agency_code,
            account_id=account.id,
            owner_id=dossier.id,
            reference=dossier.code,
            purpose=VisitPurpose(purpose),
            day=chosen_day,
            slot=slot,
        )
    except DomainError as exc:
        return _booking_page(
            request, session, settings, found, day=chosen_day, error=exc, status_code=exc.status_code, typed=typed
        )
    service.add_event(
        session,
        dossier,
        DossierEventKind.VISIT_BOOKED,
        actor=account.full_name,
        visit_id=visit.id,
        number=visits.queue_label(visit.agency_code, visit.queue_number),
        day=visit.day.isoformat(),
        slot=visit.slot,
        purpose=visit.purpose,
    )
    return redirect(str(request.app.url_path_for("visit_ticket", dossier_id=dossier.id, visit_id=visit.id)))


def _visit_of(session: Session, dossier: Dossier, visit_id: str) -> Visit:
    visit = session.get(Visit, visit_id) if len(visit_id) <= 32 else None
    if visit is None or visit.owner_id != dossier.id:
        raise NotFound(N_("This dossier has no such visit."))
    return visit


def qr_svg(token: str, label: str) -> Markup:
    """The ticket's QR code (the check-in token) as inline SVG, labelled for screen readers."""
    svg = segno.make_qr(token, error="m").svg_inline(scale=5, dark="#000", light="#fff", omitsize=False)
    return Markup('<div class="ticket-qr" role="img" aria-label="{}">{}</div>').format(label, Markup(svg))


def _ticket_page(
    request: Request,
    session: Session,
    settings: Settings,
    found: _Dossier,
    visit: Visit,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    slot = hours_of(settings).of(visit.agency_code).slot_at(visit.day, visit.slot)
    number = visits.queue_label(visit.agency_code, visit.queue_number)
    cancellable = (
        visit.status in (VisitStatus.BOOKED, VisitStatus.CHECKED_IN)
        and visits.starts_at(visit.day, visit.slot) > utcnow()
    )
    return render(
        request,
        "visits/ticket.html",
        {
            "dossier": found.dossier,
            "proc": found.procedure,
            "agency": found.agency,
            "visit": visit,
            "number": number,
            "slot_end": slot.end if slot else None,
            "weekday": t(WEEKDAYS[visit.day.weekday()]),
            "qr": qr_svg(visit.token, t(N_("QR code of ticket {number}"), number=number)),
            "cancellable": cancellable,
            "active": visit.status in visits.ACTIVE,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/dossiers/{dossier_id}/visits/{visit_id}", name="visit_ticket")
def ticket(
    request: Request,
    dossier_id: str,
    visit_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
) -> Response:
    """The ticket: queue number, agency, day and time, the QR code to scan at the kiosk; printable."""
    found = _load(session, dossier_id, account)
    visit = _visit_of(session, found.dossier, visit_id)
    return _ticket_page(request, session, settings, found, visit)


@router.post("/dossiers/{dossier_id}/visits/{visit_id}/cancel", name="cancel_visit")
def cancel_visit(
    request: Request,
    dossier_id: str,
    visit_id: str,
    session: SessionDep,
    account: CurrentAccount,
    settings: SettingsDep,
) -> Response:
    found = _load(session, dossier_id, account, lock=True)
    visit = _visit_of(session, found.dossier, visit_id)
    was = visit.status
    try:
        visits.cancel(session=session, visit=visit)
    except DomainError as exc:
        return _ticket_page(request, session, settings, found, visit, error=exc, status_code=exc.status_code)
    if was != VisitStatus.CANCELLED:
        service.add_event(
            session,
            found.dossier,
            DossierEventKind.VISIT_CANCELLED,
            actor=account.full_name,
            visit_id=visit.id,
            number=visits.queue_label(visit.agency_code, visit.queue_number),
            day=visit.day.isoformat(),
            slot=visit.slot,
        )
    return redirect(str(request.app.url_path_for("dossier_visit", dossier_id=found.dossier.id)) + "?cancelled=1")
