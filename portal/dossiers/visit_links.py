"""The dossier's visits to the centre follow the dossier: when it closes another way than at the counter, the
visits it still has booked (or checked in at the kiosk) are cancelled in the same transaction, with a timeline
entry saying why; the kiosk's queue no longer lists them.

A completion with handover "centre" is the visit itself: its visit is left as it is (the counter serves it).
"""

from __future__ import annotations

from sqlmodel import Session

from portal.dossiers.events import Closed
from portal.dossiers.models import DossierEventKind, DossierStatus
from portal.dossiers.service import add_event
from portal.kernel.events import subscribe
from portal.visits import service as visits

__all__ = ["on_closed", "reason_of"]


def reason_of(event: Closed) -> str | None:
    """Why the visits are cancelled, as the code the timeline entry keeps; None: they stay."""
    if event.status == DossierStatus.WITHDRAWN:
        return "dossier_withdrawn"
    if event.status == DossierStatus.REJECTED:
        return "dossier_rejected"
    if event.status == DossierStatus.COMPLETED and event.handover in ("online", "post"):
        return f"handed_over_{event.handover}"
    return None


@subscribe(Closed)
def on_closed(session: Session, event: Closed) -> None:
    """Cancel the closed dossier's booked and checked-in visits (none cancelled twice: a repeat finds none)."""
    reason = reason_of(event)
    if reason is None:
        return
    dossier = event.dossier
    for visit in visits.cancel_open(session=session, owner_id=dossier.id):
        add_event(
            session,
            dossier,
            DossierEventKind.VISIT_CANCELLED,
            actor="system",
            visit_id=visit.id,
            number=visits.queue_label(visit.agency_code, visit.queue_number),
            day=visit.day.isoformat(),
            slot=visit.slot,
            reason=reason,
        )
