"""Every status change of a dossier is an audit event (`dossier.status`, docs/AUDIT.md "What is recorded").

Subscribes to the domain's own announcements (`Moved` from `service.move_status`, once per change; `Submitted`,
since submission is its own conditional update), so no transition can forget it. The event carries who acts in
the transaction (`portal.audit.access.act_as`: a back-office client, a postal operator, a staff member); when
nobody said, the change is the citizen's own (submitting, withdrawing, answering a supplement request) or the
portal's (`system`: a linked application's parent following its members, a payment submitting a paid draft).
"""

from __future__ import annotations

from sqlmodel import Session

from portal.audit.access import Actor, actor_of, record_access
from portal.dossiers.events import Moved, Submitted
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.events import subscribe

__all__ = ["on_moved", "on_submitted"]

_CITIZEN = Actor(kind="citizen", name=None)
_SYSTEM = Actor(kind="system", name=None)


def _fallback(previous: str, now: str) -> Actor:
    """Who moved the dossier when no actor was named in the transaction."""
    citizen_moves = (
        previous == DossierStatus.DRAFT
        or now == DossierStatus.WITHDRAWN
        or previous == DossierStatus.SUPPLEMENT_REQUESTED
    )
    return _CITIZEN if citizen_moves else _SYSTEM


def record_move(session: Session, dossier: Dossier, previous: str) -> None:
    now = str(dossier.status)
    actor = actor_of(session) or _fallback(previous, now)
    if actor.kind in ("citizen", "system"):
        # The actor's agency and purpose belong to partners and staff; the dossier's agency is named instead.
        actor = Actor(kind=actor.kind, name=actor.name, account_id=actor.account_id, agency_code=dossier.agency_code)
    record_access(
        session,
        "dossier.status",
        dossier_id=dossier.id,
        actor=actor,
        code=dossier.code,
        was=previous,
        to=now,
    )


@subscribe(Moved)
def on_moved(session: Session, event: Moved) -> None:
    record_move(session, event.dossier, str(event.previous))


@subscribe(Submitted)
def on_submitted(session: Session, event: Submitted) -> None:
    record_move(session, event.dossier, DossierStatus.DRAFT.value)
