"""The centre's kiosk (`/kiosk`): the queue being served, a dossier's public status by its code or its receipt's
QR code, and checking in with a visit ticket's QR code. No sign-in; large type; back to the start after a
minute without use (a `<noscript>` refresh without JavaScript, static/js/kiosk.js with it).

A barcode scanner types what the code holds: the receipt's QR code holds the lookup address
(`<base_url>/lookup?code=<code>`, portal/dossiers/tasks.py), the ticket's the check-in token. The lookup shows
only what the public lookup shows (`queries.public_status`: submitted dossiers, no personal data).
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlmodel import Session, select

from portal.catalog.models import Agency
from portal.dossiers.queries import public_status
from portal.kernel.audit import client_ip
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import SessionDep
from portal.kernel.deps import LimiterDep, SettingsDep
from portal.kernel.errors import DomainError
from portal.kernel.i18n import N_
from portal.kernel.ratelimit import check
from portal.kernel.settings import Settings
from portal.kernel.web import render
from portal.visits import service as visits
from portal.visits.hours import hours_of

router = APIRouter()
CODE_RE = re.compile(r"^[A-Z]{2,10}-\d{6}-\d{4,6}$")
# Seconds without use after which a page without JavaScript goes back to the start page (and the start page
# reloads its queue board).
IDLE_SECONDS = 60
BOARD_SECONDS = 15


def code_from_scan(text: str) -> str:
    """The dossier code typed, or read from the receipt's QR code (an address with `?code=`)."""
    text = text.strip()
    if "://" in text or text.startswith("/"):
        parts = urlsplit(text)
        return (parse_qs(parts.query).get("code") or [""])[0].strip().upper()
    return text.upper()


def _agencies(session: Session) -> dict[str, dict[str, str]]:
    return {a.code: {"vi": a.name_vi, "en": a.name_en} for a in session.exec(select(Agency)).all()}


def _kiosk(
    request: Request,
    session: Session,
    settings: Settings,
    *,
    query: str = "",
    result: object = None,
    lookup_error: object = None,
    checked_in: object = None,
    check_in_error: object = None,
    status_code: int = 200,
    agency: str = "",
) -> Response:
    today = local_date(utcnow())
    agencies = _agencies(session)
    agency_code = agency if agency in agencies else ""
    home = str(request.app.url_path_for("kiosk"))
    at_home = result is None and lookup_error is None and checked_in is None and check_in_error is None
    return render(
        request,
        "kiosk/index.html",
        {
            "serving": visits.now_serving(session, day=today, agency_code=agency_code or None),
            "waiting": visits.next_numbers(session, day=today, agency_code=agency_code or None),
            "agencies": agencies,
            "today": today,
            "query": query,
            "result": result,
            "lookup_error": lookup_error,
            "checked_in": checked_in,
            "check_in_error": check_in_error,
            "at_home": at_home,
            "home": home,
            "idle_seconds": IDLE_SECONDS if not at_home else BOARD_SECONDS * 2,
            "board_seconds": BOARD_SECONDS,
            "agency_code": agency_code,
        },
        status_code=status_code,
        block="board",
    )


@router.get("/kiosk", name="kiosk")
def kiosk(
    request: Request, session: SessionDep, settings: SettingsDep, agency: Annotated[str, Query(max_length=10)] = ""
) -> Response:
    """The start page: the numbers being served and the next ones, and the two scanning fields."""
    return _kiosk(request, session, settings, agency=agency)


@router.get("/kiosk/lookup", name="kiosk_lookup")
def kiosk_lookup(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    q: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    """A dossier's public status by its code or its receipt's QR code."""
    if not q.strip():
        return _kiosk(request, session, settings)
    check(limiter, "lookup:ip", client_ip(request))
    code = code_from_scan(q)
    if not CODE_RE.match(code):
        error = (N_("“{code}” is not a dossier code. A code looks like STP-261122-0001."), {"code": code[:40]})
        return _kiosk(request, session, settings, query=q.strip()[:40], lookup_error=error, status_code=422)
    found = public_status(session, code)
    if found is None:
        error = (N_("No dossier has the code {code}. Check the code printed on your receipt."), {"code": code})
        return _kiosk(request, session, settings, query=code, lookup_error=error, status_code=404)
    return _kiosk(request, session, settings, query=code, result=found)


@router.post("/kiosk/check-in", name="kiosk_check_in")
def kiosk_check_in(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    token: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Check in with the visit ticket's QR code: the number is then waiting to be called."""
    check(limiter, "lookup:ip", client_ip(request))
    try:
        if not token.strip():
            raise DomainError(N_("Scan the QR code on your ticket."), status_code=422)
        visit = visits.check_in(session=session, token=token)
    except DomainError as exc:
        return _kiosk(request, session, settings, check_in_error=exc, status_code=exc.status_code)
    slot = hours_of(settings).of(visit.agency_code).slot_at(visit.day, visit.slot)
    ahead = [
        w.number
        for w in visits.next_numbers(session, day=visit.day, agency_code=visit.agency_code, limit=200)
        if (w.slot, w.number) < (visit.slot, visits.queue_label(visit.agency_code, visit.queue_number))
    ]
    checked = {
        "number": visits.queue_label(visit.agency_code, visit.queue_number),
        "agency_code": visit.agency_code,
        "slot": visit.slot,
        "slot_end": slot.end if slot else None,
        "ahead": len(ahead),
        "called": visit.status == "called",
        "counter": visit.counter,
    }
    return _kiosk(request, session, settings, checked_in=checked)
