"""What pages read from the catalogue tables (the catalogue pages themselves read the in-memory snapshot)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from portal.catalog.models import Procedure


def popular_procedures(session: Session, limit: int = 6) -> list[Procedure]:
    """The procedures the home page offers first: active ones, by name."""
    return list(
        session.exec(select(Procedure).where(col(Procedure.active)).order_by(col(Procedure.name_vi)).limit(limit))
    )
