"""Rows of a linked application (thủ tục liên thông) written directly, for the scope and statistics tests: a
receiving agency with the linked procedure, two member agencies each with its member procedure, a parent
dossier and its children as docs/LINKED.md describes them (parent: linked_role "parent", the receiving agency's
code; a child per member: linked_role "child", parent_id, its own agency, code and files; a member depending on
another waits (WAITING, `waiting_on`, a LINKED_WAITING event) until it is released (LINKED_RELEASED)).

Every code is fresh per call (the shared test database keeps committed rows).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from auth.models import Account
from portal.catalog.models import Agency, Procedure
from portal.dossiers.models import Dossier, DossierEvent, DossierEventKind, DossierFile, DossierStatus
from portal.dossiers.service import add_event
from portal.kernel.clock import utcnow
from tests import factories


@dataclass
class Linked:
    """A linked entry's catalogue rows: the receiving agency and the members' agencies and procedures."""

    suffix: str
    receiving: str  # agency of the parent (một cửa)
    agency_a: str
    agency_b: str
    linked: str  # procedure codes
    member_a: str
    member_b: str  # depends on member_a
    field_vi: str
    applicant: Account
    rows: list[Any] = field(default_factory=list)

    def add(self, session: Session, row: Any) -> Any:
        session.add(row)
        session.flush()
        self.rows.append(row)
        return row


def _procedure(session: Session, *, code: str, agency: str, field_vi: str, **over: Any) -> Procedure:
    return factories.procedure_copy(
        session,
        code,
        slug="lien-thong",
        agency_code=agency,
        name_vi=f"Thủ tục {code}",
        name_en=f"Procedure {code}",
        field_vi=field_vi,
        field_en=f"Linked field {field_vi[-6:]}",
        **over,
    )


def catalogue(session: Session) -> Linked:
    """Three agencies and three procedures (two members, member B depending on member A's result)."""
    suffix = secrets.token_hex(3).upper()
    found = Linked(
        suffix=suffix,
        receiving=f"R{suffix}",
        agency_a=f"M{suffix}",
        agency_b=f"N{suffix}",
        linked=f"LT.{suffix}",
        member_a=f"LA.{suffix}",
        member_b=f"LB.{suffix}",
        field_vi=f"Lĩnh vực liên thông {suffix}",
        applicant=Account(full_name="Nguyễn Thị Liên", email=f"lien-thong-{suffix.lower()}@example.vn"),
    )
    for code, name in ((found.receiving, "một cửa"), (found.agency_a, "thành viên A"), (found.agency_b, "B")):
        found.add(session, Agency(code=code, name_vi=f"Cơ quan {name} {suffix}", name_en=f"Agency {name} {suffix}"))
    found.add(session, _procedure(session, code=found.member_a, agency=found.agency_a, field_vi=found.field_vi))
    found.add(session, _procedure(session, code=found.member_b, agency=found.agency_b, field_vi=found.field_vi))
    members = [
        {"procedure": found.member_a, "depends_on": [], "from_result": {}, "optional": None},
        {"procedure": found.member_b, "depends_on": [found.member_a], "from_result": {}, "optional": None},
    ]
    fees = [
        {
            "name": {"vi": "Lệ phí A", "en": "Fee A"},
            "amount": 100_000,
            "agency": found.agency_a,
            "member": found.member_a,
        },
        {
            "name": {"vi": "Lệ phí B", "en": "Fee B"},
            "amount": 50_000,
            "agency": found.agency_b,
            "member": found.member_b,
        },
    ]
    found.add(
        session,
        _procedure(
            session,
            code=found.linked,
            agency=found.receiving,
            field_vi=found.field_vi,
            kind="linked",
            members=members,
            fees=fees,
        ),
    )
    found.add(session, found.applicant)
    return found


def _code(agency: str) -> str:
    return f"{agency}-{secrets.randbelow(10**8):08d}"


def parent(session: Session, cat: Linked, **over: Any) -> Dossier:
    """The citizen's one application (submitted unless `over` says otherwise)."""
    now = utcnow()
    values: dict[str, Any] = {
        "procedure_code": cat.linked,
        "agency_code": cat.receiving,
        "applicant_id": cat.applicant.id,
        "form_id": "lien-thong-test",
        "form_version": 1,
        "status": DossierStatus.SUBMITTED,
        "code": _code(cat.receiving),
        "submitted_at": now,
        "linked_role": "parent",
        "data": {"ho_ten": "Nguyễn Thị Liên"},
    }
    return cat.add(session, Dossier(**{**values, **over}))


def child(session: Session, cat: Linked, of: Dossier, member: str, **over: Any) -> Dossier:
    """A member's dossier of the application `of`; WAITING (with its LINKED_WAITING event) when `over` says so."""
    agency = cat.agency_a if member == cat.member_a else cat.agency_b
    values: dict[str, Any] = {
        "procedure_code": member,
        "agency_code": agency,
        "applicant_id": of.applicant_id,
        "form_id": "lien-thong-test",
        "form_version": 1,
        "status": DossierStatus.SUBMITTED,
        "code": _code(agency),
        "submitted_at": of.submitted_at,
        "linked_role": "child",
        "parent_id": of.id,
        "channel": of.channel,
    }
    values.update(over)
    row = cat.add(session, Dossier(**values))
    if row.status == DossierStatus.WAITING:
        row.waiting_on = row.waiting_on or [cat.member_a]
        event(session, cat, row, DossierEventKind.LINKED_WAITING, at=row.submitted_at)
    return row


def event(session: Session, cat: Linked, dossier: Dossier, kind: str, *, at: datetime | None = None) -> DossierEvent:
    """A timeline event through `service.add_event` (which gives the dossier its next change number)."""
    row = add_event(session, dossier, kind, actor="test")
    if at is not None:
        row.at = at
    session.flush()
    cat.rows.append(row)
    return row


def release(session: Session, cat: Linked, dossier: Dossier) -> None:
    """A waiting member released to its agency, as B1's subscriber does: SUBMITTED, nothing awaited, an event."""
    dossier.status = DossierStatus.SUBMITTED
    dossier.waiting_on = []
    session.add(dossier)
    event(session, cat, dossier, DossierEventKind.LINKED_RELEASED)


def file_of(session: Session, cat: Linked, dossier: Dossier, component_id: str, **over: Any) -> DossierFile:
    row = factories.dossier_file(session, dossier, component_id=component_id, **over)
    cat.rows.append(row)
    return row


def copy_file(session: Session, cat: Linked, original: DossierFile, to: Dossier, component_id: str) -> DossierFile:
    """A copy of a parent's file for a child: the same stored file (storage key and digest), the member's id."""
    return file_of(
        session,
        cat,
        to,
        component_id,
        storage_key=original.storage_key,
        sha256=original.sha256,
        filename=original.filename,
    )
