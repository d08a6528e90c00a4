"""What the catalogue answers for the packages below it."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from auth.assurance import level_needed_at
from auth.client_service import agency_exists
from portal.catalog.models import Agency, Procedure

PROCEDURE_PAGE = re.compile(r"^/procedures/([^/?#]+)")


@level_needed_at.provide
def level_needed_at_page(session: Session, path: str) -> int:
    """The sign-in level a procedure's page (or its start) needs; 1 for any other page."""
    match = PROCEDURE_PAGE.match(path)
    if match is None:
        return 1
    key = match.group(1)
    procedure = session.get(Procedure, key) or session.exec(select(Procedure).where(Procedure.slug == key)).first()
    return procedure.required_assurance if procedure is not None else 1


@agency_exists.provide
def is_agency(session: Session, code: str) -> bool:
    """Whether `code` names an agency of the catalogue (a back-office client must be bound to one)."""
    return session.get(Agency, code) is not None
