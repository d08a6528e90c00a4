"""The dossier page's "Who accessed my dossier": the audit trail's reads and changes by others, made readable.

`portal.audit.access.accesses_of` finds them; this module names each actor the way the citizen knows them (the
agency's name, the officer, the postal operator) and labels the status a change moved the dossier to. A linked
application's page shows its members' accesses too (each with the member's code).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from portal.audit.access import accesses_of
from portal.catalog.models import Agency
from portal.dossiers import linked_pages
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.i18n import N_

__all__ = ["AccessRow", "access_rows"]

# Who, when the event names no agency: the centre's own staff, a postal operator, another partner.
_CENTRE = N_("The public administration service centre")
_POSTAL = N_("Postal operator")
_PARTNER = N_("Partner system")
_STATUSES = frozenset(s.value for s in DossierStatus)


@dataclass(frozen=True)
class AccessRow:
    """One line of the table: when, who (an organisation and, below it, the person or system), why, what."""

    at: datetime
    organisation: dict[str, str] | None  # an agency's {vi, en} name
    organisation_msgid: str | None  # or a generic organisation (the centre, a postal operator)
    person: str | None  # the officer or the partner system, as recorded
    purpose: str | None  # a message id
    what: str  # a message id, formatted with `params`
    params: dict[str, Any]
    member_code: str | None  # a linked application's member the access was to


def access_rows(session: Session, dossier: Dossier) -> list[AccessRow]:
    """Who read or changed this dossier (and, for a linked application, its members), newest first."""
    members = linked_pages.children_of(session, dossier) if linked_pages.is_parent(dossier) else []
    codes = {m.id: m.code for m in members}
    found = accesses_of(session, [dossier.id, *codes])
    agency_codes = {a.agency_code for a in found if a.agency_code}
    agencies = {
        a.code: {"vi": a.name_vi, "en": a.name_en}
        for a in session.exec(select(Agency).where(col(Agency.code).in_(agency_codes))).all()
    }
    rows = []
    for access in found:
        organisation = agencies.get(access.agency_code or "")
        if access.actor_kind == "staff" and access.detail.get("role") != "officer":
            organisation = None  # the centre's supervisors act on the agency's dossier, not for the agency
        generic = None
        if organisation is None:
            generic = {"postal": _POSTAL, "staff": _CENTRE}.get(access.actor_kind, _PARTNER)
        params = dict(access.params)
        status = str(params.get("status") or "")
        if access.kind == "dossier.status" and status in _STATUSES:
            params["status"] = DossierStatus(status)  # the translator shows its label
        rows.append(
            AccessRow(
                at=access.at,
                organisation=organisation,
                organisation_msgid=generic,
                person=access.actor,
                purpose=access.purpose_label,
                what=access.what,
                params=params,
                member_code=codes.get(access.dossier_id),
            )
        )
    return rows
