"""What the citizen's pages show of a linked application (thủ tục liên thông, docs/LINKED.md): the parent
dossier is the one application the citizen filed, each child the part one agency handles.

The citizen sees one dossier: the parent's page lists the members (agency, code, status, appointment date,
what a waiting member waits for), merges every member's timeline into one, shows every member's results and
open supplement requests, and takes one rating, copied to each completed member so that each agency's
satisfaction figures count it once. The receipt and the public lookup of the parent's code list the members
too. Reads here, except `rate_parent`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from auth.models import Account
from portal.catalog.models import Agency, Procedure
from portal.dossiers import lifecycle
from portal.dossiers.models import (
    Dossier,
    DossierEvent,
    DossierEventKind,
    DossierRating,
    DossierResult,
    DossierStatus,
    SupplementRequest,
)
from portal.dossiers.service import add_event
from portal.kernel.errors import Conflict, Invalid
from portal.kernel.i18n import N_

PARENT = "parent"
CHILD = "child"

# A member has ended when its agency can do nothing more with it.
ENDED = frozenset({DossierStatus.COMPLETED, DossierStatus.REJECTED, DossierStatus.WITHDRAWN})


def is_parent(dossier: Dossier) -> bool:
    return dossier.linked_role == PARENT


def is_child(dossier: Dossier) -> bool:
    return dossier.linked_role == CHILD and dossier.parent_id is not None


def _member_order(parent_proc: Procedure | None) -> dict[str, int]:
    """Each member procedure's place in the catalogue entry (children are shown in that order)."""
    members = parent_proc.members if parent_proc is not None else []
    return {str(m.get("procedure")): i for i, m in enumerate(members or []) if isinstance(m, Mapping)}


def children_of(session: Session, parent: Dossier) -> list[Dossier]:
    """The parent's children, in the order of the catalogue entry's members (then by code)."""
    rows = list(session.exec(select(Dossier).where(col(Dossier.parent_id) == parent.id)))
    order = _member_order(session.get(Procedure, parent.procedure_code))
    return sorted(rows, key=lambda d: (order.get(d.procedure_code, len(order)), d.code or "", d.id))


def _text(vi: str, en: str) -> dict[str, str]:
    return {"vi": vi or en, "en": en or vi}


@dataclass(frozen=True)
class Member:
    """One child as the parent's page shows it."""

    dossier: Dossier
    procedure: Procedure
    agency: Agency
    waiting_for: list[dict[str, str]]  # the names ({vi, en}) of the member procedures it waits for
    rejection_reason: str | None

    @property
    def name(self) -> dict[str, str]:
        return _text(self.procedure.name_vi, self.procedure.name_en)

    @property
    def agency_name(self) -> dict[str, str]:
        return _text(self.agency.name_vi, self.agency.name_en)

    @property
    def appointment(self) -> date | None:
        """The date promised for this member: the official one once counted, else the expected one."""
        return self.dossier.due_date or self.dossier.official_due_date

    @property
    def estimated(self) -> bool:
        """A waiting member's date is an estimate: its deadline is counted once the awaited results arrive."""
        return self.dossier.status == DossierStatus.WAITING

    @property
    def ended(self) -> bool:
        return self.dossier.status in ENDED


def _procedure_names(session: Session, codes: list[str]) -> list[dict[str, str]]:
    names = []
    for code in codes:
        proc = session.get(Procedure, code)
        names.append(_text(proc.name_vi, proc.name_en) if proc is not None else _text(code, code))
    return names


def _rejection_reason(session: Session, dossier: Dossier) -> str | None:
    if dossier.status != DossierStatus.REJECTED:
        return None
    event = session.exec(
        select(DossierEvent)
        .where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == DossierEventKind.REJECTED)
        .order_by(col(DossierEvent.at).desc(), col(DossierEvent.id).desc())
    ).first()
    reason = (event.details or {}).get("reason") if event is not None else None
    return str(reason) if reason else None


def members(session: Session, parent: Dossier) -> list[Member]:
    """Every child of the parent with its procedure, agency, what it waits for and why it was rejected."""
    out = []
    for child in children_of(session, parent):
        proc = session.get(Procedure, child.procedure_code)
        agency = session.get(Agency, child.agency_code)
        if proc is None or agency is None:  # a catalogue row never disappears; skip rather than fail the page
            continue
        waiting = list(child.waiting_on or []) if child.status == DossierStatus.WAITING else []
        out.append(
            Member(
                dossier=child,
                procedure=proc,
                agency=agency,
                waiting_for=_procedure_names(session, waiting),
                rejection_reason=_rejection_reason(session, child),
            )
        )
    return out


def merged_events(session: Session, parent: Dossier, children: list[Dossier]) -> list[tuple[DossierEvent, Dossier]]:
    """The events of the parent and of every child in one timeline, oldest first, each with its dossier (the
    copies of the application's one rating on its members are the parent's entry, shown once)."""
    by_id = {d.id: d for d in [parent, *children]}
    rows = session.exec(
        select(DossierEvent)
        .where(col(DossierEvent.dossier_id).in_(list(by_id)))
        .order_by(col(DossierEvent.at), col(DossierEvent.id))
    )
    return [
        (e, by_id[e.dossier_id]) for e in rows if not (e.kind == DossierEventKind.RATED and e.dossier_id != parent.id)
    ]


def results(session: Session, children: list[Dossier]) -> list[DossierResult]:
    """Every result document of every child, oldest first (none of a child whose result the centre is
    checking, never one the centre sent back)."""
    shown = [c.id for c in children if c.status != DossierStatus.RESULT_CHECK]
    if not shown:
        return []
    return list(
        session.exec(
            select(DossierResult)
            .where(col(DossierResult.dossier_id).in_(shown), col(DossierResult.refused_reason).is_(None))
            .order_by(col(DossierResult.created_at), col(DossierResult.id))
        )
    )


def open_supplements(session: Session, children: list[Dossier]) -> list[tuple[Dossier, SupplementRequest]]:
    """The children awaiting the citizen's answer to a supplement request, with that request."""
    out = []
    for child in children:
        if child.status != DossierStatus.SUPPLEMENT_REQUESTED:
            continue
        request = lifecycle.open_supplement(session, child)
        if request is not None:
            out.append((child, request))
    return out


def can_rate(children: list[Dossier]) -> bool:
    """A linked application is rated once every member has ended and at least one was completed."""
    return (
        bool(children)
        and all(c.status in ENDED for c in children)
        and any(c.status == DossierStatus.COMPLETED for c in children)
    )


def rate_parent(
    *, session: Session, parent: Dossier, account: Account, scores: Mapping[str, int], comment: str | None
) -> DossierRating:
    """The citizen's one rating of a linked application: kept on the parent (what its page shows) and copied
    to each completed member (each agency is told, and its satisfaction figures count it once). A member
    already rated keeps its own rating. The scores are checked as for any dossier (`lifecycle.rate`)."""
    children = children_of(session, parent)
    if not can_rate(children):
        raise Conflict(
            N_("A linked application can be rated once every part of it has ended and at least one was completed.")
        )
    if session.get(DossierRating, parent.id) is not None:
        raise Conflict(N_("This dossier has already been rated."))
    copies = [
        lifecycle.rate(session=session, dossier=child, account=account, scores=scores, comment=comment)
        for child in children
        if child.status == DossierStatus.COMPLETED and session.get(DossierRating, child.id) is None
    ]
    clean: dict[str, int] = dict(copies[0].scores) if copies else lifecycle_scores(scores)
    text = copies[0].comment if copies else ((comment or "").strip() or None)
    rating = DossierRating(dossier_id=parent.id, account_id=account.id, scores=clean, comment=text)
    session.add(rating)
    add_event(session, parent, "rated", actor=account.full_name, scores=clean, members=[c.dossier_id for c in copies])
    session.flush()
    return rating


def lifecycle_scores(scores: Mapping[str, int]) -> dict[str, int]:
    """The scores checked as `lifecycle.rate` checks them, when no member rating was made to check them."""
    wanted = [str(c.value) for c in lifecycle.RatingCriterion]
    if sorted(scores) != sorted(wanted) or any(
        isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5 for v in scores.values()
    ):
        raise Invalid(N_("Each score is a whole number from 1 to 5."))
    return {c: int(scores[c]) for c in wanted}


# -- the receipt and the public lookup


@dataclass(frozen=True)
class MemberFacts:
    """A member's public facts: the receipt and the lookup show these (no personal data)."""

    code: str
    status: str
    procedure_code: str
    procedure: dict[str, str]
    agency: dict[str, str]
    due_date: date | None
    estimated: bool
    waiting_for: tuple[dict[str, str], ...] = ()


def member_facts(session: Session, parent: Dossier) -> list[MemberFacts]:
    """The submitted children of a parent, in the catalogue's order, as the receipt and the lookup show them."""
    return [
        MemberFacts(
            code=m.dossier.code or "",
            status=m.dossier.status,
            procedure_code=m.procedure.code,
            procedure=m.name,
            agency=m.agency_name,
            due_date=m.appointment,
            estimated=m.estimated,
            waiting_for=tuple(m.waiting_for),
        )
        for m in members(session, parent)
        if m.dossier.code
    ]


def context(session: Session, parent: Dossier) -> dict[str, Any]:
    """The parent page's reads that the lifecycle page turns into its own views (see lifecycle_views)."""
    found = members(session, parent)
    children = [m.dossier for m in found]
    return {
        "members": found,
        "children": children,
        "events": merged_events(session, parent, children),
        "results": results(session, children),
        "supplements": open_supplements(session, children),
        "can_rate": can_rate(children),
    }
