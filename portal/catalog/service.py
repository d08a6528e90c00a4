"""What the catalogue answers for the packages below it."""

from __future__ import annotations

from sqlmodel import Session

from auth.client_service import agency_exists
from portal.catalog.models import Agency


@agency_exists.provide
def is_agency(session: Session, code: str) -> bool:
    """Whether `code` names an agency of the catalogue (a back-office client must be bound to one)."""
    return session.get(Agency, code) is not None
