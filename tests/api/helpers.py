"""Shared helpers of the back-office API tests: a change of a dossier as the lifecycle makes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from portal.dossiers.models import Dossier, DossierEvent
from portal.kernel.clock import utcnow


def bump(session: Session, dossier_id: str, *, kind: str = "sub_status", at: datetime | None = None) -> int:
    """What `touch` does for one change (next number of the counter, held locked until commit) and an event."""
    seq = int(
        session.execute(
            text("UPDATE dossierchangecounter SET last = last + 1 WHERE id = 1 RETURNING last")
        ).scalar_one()
    )
    dossier = session.get(Dossier, dossier_id)
    assert dossier is not None
    dossier.change_seq = seq
    session.add(dossier)
    session.add(DossierEvent(dossier_id=dossier_id, kind=kind, actor="test", at=at or utcnow()))
    session.flush()
    return seq
