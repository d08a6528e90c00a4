"""The centre's console at /staff, for supervisors, agency officers and the postal desk (docs/STAFF.md).

The console reads and supervises; it does not process dossiers (the back-office does that through the API),
except for the centre's check of a result before it is returned. This module is its home page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from auth.staff_models import StaffRole
from portal.dossiers.models import Dossier
from portal.dossiers.service import OPEN_STATES
from portal.feedback.models import Feedback, FeedbackStatus
from portal.kernel.clock import local, utcnow
from portal.kernel.db import SessionDep
from portal.kernel.web import render
from portal.staff.deps import CurrentStaff, StaffViewer

router = APIRouter(prefix="/staff")


@dataclass(frozen=True)
class HomeCounts:
    open_dossiers: int
    overdue_dossiers: int
    open_feedback: int
    overdue_feedback: int


def _scoped(query: Any, column: Any, scope: set[str] | None) -> Any:
    return query if scope is None else query.where(col(column).in_(scope))


def home_counts(session: Session, viewer: StaffViewer) -> HomeCounts | None:
    """What is waiting in the member's scope; None for the postal desk (its pages list its own orders)."""
    if viewer.role == StaffRole.POSTAL:
        return None
    scope = viewer.agency_scope
    today = local(utcnow()).date()
    open_q = _scoped(
        select(func.count()).select_from(Dossier).where(col(Dossier.status).in_([s.value for s in OPEN_STATES])),
        Dossier.agency_code,
        scope,
    )
    fb_q = _scoped(
        select(func.count()).select_from(Feedback).where(col(Feedback.status) == FeedbackStatus.OPEN.value),
        Feedback.agency_code,
        scope,
    )
    return HomeCounts(
        open_dossiers=session.exec(open_q).one(),
        overdue_dossiers=session.exec(open_q.where(col(Dossier.due_date) < today)).one(),
        open_feedback=session.exec(fb_q).one(),
        overdue_feedback=session.exec(fb_q.where(col(Feedback.due_on) < today)).one(),
    )


@router.get("", name="staff_home")
def home(request: Request, viewer: CurrentStaff, session: SessionDep) -> Response:
    counts = home_counts(session, viewer)
    return render(request, "staff/home.html", {"counts": counts, "viewer": viewer})
