"""Linked applications (thủ tục liên thông, docs/LINKED.md): one parent dossier, one child per member procedure.

The citizen fills, pays and signs one dossier on the linked entry (the parent). When it is submitted
(`service.submit` publishes `Submitted`) its children are created in the same transaction: one per applying
member, each with its member's procedure, agency, form, code and deadline and a copy of the files of its
components. A child whose member depends on another member's result waits (WAITING, `waiting_on`) and is
handed to its agency only once those results are attached to it (`ResultIssued` of the other child). A
rejected child stops the children still waiting on it and the applicant is told which part failed and why.
The parent is never handled by an agency: its status follows its children (`Moved`).

Subscribers only: the use cases that publish the events do not know linked applications.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from auth.models import Account
from portal.catalog.linked import Member, applies, members_of, project, shared_component
from portal.catalog.models import Agency, Procedure
from portal.dossiers import billing
from portal.dossiers.events import Closed, Moved, ResultIssued, Submitted
from portal.dossiers.models import (
    Dossier,
    DossierEvent,
    DossierEventKind,
    DossierFile,
    DossierResult,
    DossierStatus,
    Timeliness,
)
from portal.dossiers.pushes import push
from portal.dossiers.recipients import tell
from portal.dossiers.service import add_event, dossier_files, get_definition, move_status, next_sequence
from portal.kernel.calendar import add_working_days, appointment_date
from portal.kernel.clock import local, utcnow
from portal.kernel.errors import Invalid, NotFound
from portal.kernel.events import publish, subscribe
from portal.kernel.i18n import N_

__all__ = [
    "ENDED",
    "children_of",
    "create_children",
    "parent_status",
    "sync_parent",
]

PARENT = "parent"
CHILD = "child"
ENDED = (DossierStatus.COMPLETED, DossierStatus.REJECTED, DossierStatus.WITHDRAWN)
# Children rejected by the cascade of another member's rejection (their own rejection tells nothing more).
_CASCADED = "linked.cascaded"
_WORST_FIRST = (Timeliness.LATE, Timeliness.ON_TIME, Timeliness.EARLY)


# -- reading a linked application


def _linked_procedure(session: Session, parent: Dossier) -> Procedure:
    linked = session.get(Procedure, parent.procedure_code)
    if linked is None or not linked.is_linked:
        raise NotFound(N_("There is no procedure with this code."))
    return linked


def _member_procedure(session: Session, code: str) -> Procedure:
    procedure = session.get(Procedure, code)
    if procedure is None or not procedure.active:
        raise NotFound(
            N_("The procedure {procedure} of this linked application is not available at the moment."),
            {"procedure": code},
        )
    return procedure


def children_of(session: Session, parent: Dossier) -> list[Dossier]:
    """The parent's children in the order of its members (the catalogue's dependency order)."""
    rows = list(
        session.exec(
            select(Dossier)
            .where(col(Dossier.parent_id) == parent.id, col(Dossier.linked_role) == CHILD)
            .order_by(col(Dossier.created_at), col(Dossier.code))
        )
    )
    linked = session.get(Procedure, parent.procedure_code)
    if linked is None or not linked.is_linked:
        return rows
    order = {m.procedure: i for i, m in enumerate(members_of(linked))}
    return sorted(rows, key=lambda d: order.get(d.procedure_code, len(order)))


def _members(session: Session, parent: Dossier) -> dict[str, Member]:
    return {m.procedure: m for m in members_of(_linked_procedure(session, parent))}


def _parent_of(session: Session, child: Dossier) -> Dossier | None:
    if child.linked_role != CHILD or child.parent_id is None:
        return None
    return session.get(Dossier, child.parent_id)


def _names(session: Session, dossier: Dossier) -> dict[str, str]:
    """The member's procedure and agency in both languages, as notifications take them (`x@vi`, `x@en`)."""
    procedure = session.get(Procedure, dossier.procedure_code)
    agency = session.get(Agency, dossier.agency_code)
    part_vi = procedure.name_vi if procedure else dossier.procedure_code
    part_en = procedure.name_en if procedure else dossier.procedure_code
    agency_vi = agency.name_vi if agency else dossier.agency_code
    agency_en = agency.name_en if agency else dossier.agency_code
    return {
        "part": part_vi,
        "part@vi": part_vi,
        "part@en": part_en,
        "agency": agency_vi,
        "agency@vi": agency_vi,
        "agency@en": agency_en,
    }


def _part(child: Dossier) -> dict[str, Any]:
    """A child as the parent's and its dependents' timeline events name it: member procedure, code, agency."""
    return {"member": child.procedure_code, "code": child.code, "agency": child.agency_code}


def _day(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


# -- submission: the children


def _copy_files(
    session: Session, child: Dossier, procedure: Procedure, member: Member, files: Sequence[DossierFile]
) -> int:
    """Copies of the parent's files for the member's components, under the member's own component ids (the same
    stored bytes: storage key and digest). Components its dependencies' results fill are left for them."""
    copied = 0
    for component in procedure.component_list:
        if component.id in member.from_result:
            continue
        shared = shared_component(member, component.id)
        for source in files:
            if source.component_id != shared:
                continue
            session.add(
                DossierFile(
                    dossier_id=child.id,
                    component_id=component.id,
                    filename=source.filename,
                    storage_key=source.storage_key,
                    sha256=source.sha256,
                    original_media_type=source.original_media_type,
                    size=source.size,
                    pages=source.pages,
                    signature=source.signature,
                    signature_report=source.signature_report,
                    reused_from=source.reused_from,
                    from_result=source.from_result,
                    created_at=source.created_at,
                )
            )
            copied += 1
    return copied


def create_children(session: Session, parent: Dossier) -> list[Dossier]:
    """One child per applying member, in the submission's transaction (once: existing children are returned).

    A member with dependencies that apply waits for their results (WAITING, an estimated date: its
    dependencies' latest date plus its own working days); the others are SUBMITTED and pushed to their agency.
    The parent's date is the last child's.
    """
    existing = children_of(session, parent)
    if existing:
        return existing
    linked = _linked_procedure(session, parent)
    members = [m for m in members_of(linked) if applies(linked, m, parent.data)]
    if not members:
        raise Invalid(N_("None of the procedures of this linked application applies: choose at least one."))
    now = parent.submitted_at or utcnow()
    day = local(now).strftime("%y%m%d")
    files = dossier_files(session, parent)
    applicant = session.get(Account, parent.applicant_id)
    actor = applicant.full_name if applicant else ""
    applying = {m.procedure for m in members}
    estimates: dict[str, date] = {}
    children: list[Dossier] = []
    for member in members:
        procedure = _member_procedure(session, member.procedure)
        defn = get_definition(session, procedure.form_id, procedure.form_version)
        waits = [code for code in member.depends_on if code in applying]
        if waits:
            due = add_working_days(max(estimates[code] for code in waits), procedure.deadline_days)
        else:
            due = appointment_date(now, procedure.deadline_days)
        estimates[member.procedure] = due
        seq = next_sequence(session, procedure.agency_code, day)
        child = Dossier(
            code=f"{procedure.agency_code}-{day}-{seq:04d}",
            procedure_code=procedure.code,
            agency_code=procedure.agency_code,
            applicant_id=parent.applicant_id,
            business_id=parent.business_id,
            status=DossierStatus.WAITING if waits else DossierStatus.SUBMITTED,
            form_id=defn.id,
            form_version=defn.version,
            data=project(linked, member, defn, parent.data),
            answers_checked=True,
            delivery_method=parent.delivery_method,
            delivery_address=parent.delivery_address,
            channel=parent.channel,
            intake_officer=parent.intake_officer,
            submitted_at=now,
            due_date=due,
            linked_role=CHILD,
            parent_id=parent.id,
            waiting_on=waits or None,
        )
        session.add(child)
        session.flush()
        _copy_files(session, child, procedure, member, files)
        if waits:
            add_event(
                session,
                child,
                DossierEventKind.LINKED_WAITING,
                actor="system",
                code=child.code,
                parent=parent.code,
                waiting_on=waits,
                due=due.isoformat(),
            )
        else:
            add_event(
                session, child, "submitted", actor=actor, code=child.code, due=due.isoformat(), parent=parent.code
            )
        children.append(child)
    session.flush()
    for child in children:  # every child exists now: each push names the codes of those it depends on
        if child.status == DossierStatus.SUBMITTED:
            push(session, child, "dossier.submitted", channel=child.channel, submitted_at=child.submitted_at)
    parent.due_date = max(estimates.values())
    session.add(parent)
    add_event(
        session,
        parent,
        DossierEventKind.LINKED_CREATED,
        actor="system",
        children=[
            {
                **_part(c),
                "status": str(c.status),
                "due": c.due_date.isoformat() if c.due_date else None,
                "waiting_on": list(c.waiting_on or []),
            }
            for c in children
        ],
    )
    session.flush()
    return children


@subscribe(Submitted)
def on_submitted(session: Session, event: Submitted) -> None:
    """A linked application was submitted: its children are created now (an error rolls the submission back)."""
    if event.dossier.linked_role == PARENT:
        create_children(session, event.dossier)


# -- a member's result: the children waiting on it


def _attach(
    session: Session, dependent: Dossier, member: Member, source: Dossier, results: Sequence[DossierResult]
) -> None:
    """The source child's sealed results become the dependent's files of the components they fill."""
    components = [c for c, code in member.from_result.items() if code == source.procedure_code]
    for component_id in components:
        for result in results:
            session.add(
                DossierFile(
                    dossier_id=dependent.id,
                    component_id=component_id,
                    filename=result.filename,
                    storage_key=result.sealed_key,
                    sha256=result.sealed_sha256,
                    original_media_type="application/pdf",
                    # The sealed copy's size is not recorded: the signed original's (the seal adds a few KB).
                    size=result.size,
                    pages=result.pages,
                    signature="uploaded",
                    signature_report=result.signature_report,
                    from_result=result.id,
                )
            )
    session.flush()
    add_event(
        session,
        dependent,
        DossierEventKind.LINKED_RESULT_ATTACHED,
        actor="system",
        **_part(source),
        components=components,
        results=[{"id": r.id, "filename": r.filename} for r in results],
    )


def _release(session: Session, parent: Dossier, dependent: Dossier, source: Dossier) -> None:
    """WAITING → SUBMITTED: handed to its agency now, its date counted from now with its own working days."""
    procedure = _member_procedure(session, dependent.procedure_code)
    due = appointment_date(utcnow(), procedure.deadline_days)
    moved = move_status(
        session,
        dependent,
        to=DossierStatus.SUBMITTED,
        allowed=[DossierStatus.WAITING],
        refused=N_("Only a dossier waiting for a linked procedure can be released: this one is {status}."),
        waiting_on=[],
        due_date=due,
    )
    if not moved:
        return
    add_event(
        session,
        dependent,
        DossierEventKind.LINKED_RELEASED,
        actor="system",
        after=source.procedure_code,
        after_code=source.code,
        agency=dependent.agency_code,
        due=due.isoformat(),
    )
    push(session, dependent, "dossier.submitted", channel=dependent.channel, submitted_at=dependent.submitted_at)
    tell(
        session,
        parent,
        kind="linked.released",
        dedupe_key=f"linked.released:{dependent.id}",
        params={
            "code": parent.code or "",
            "part_code": dependent.code or "",
            "due": _day(due),
            **_names(session, dependent),
        },
    )


def _estimate_waiting(session: Session, children: Sequence[Dossier]) -> None:
    """The dates of the children still waiting, from the dates of those they wait for (in dependency order)."""
    by_member = {c.procedure_code: c for c in children}
    for child in children:
        if child.status != DossierStatus.WAITING or not child.waiting_on:
            continue
        dates = [d.due_date for code in child.waiting_on if (d := by_member.get(code)) and d.due_date]
        procedure = session.get(Procedure, child.procedure_code)
        if not dates or procedure is None:
            continue
        estimate = add_working_days(max(dates), procedure.deadline_days)
        if estimate != child.due_date:
            child.due_date = estimate
            session.add(child)
    session.flush()


def _last_due(children: Iterable[Dossier]) -> date | None:
    """The parent's date: the last of its children still going (of all of them once none is)."""
    children = list(children)
    going = [c.due_date for c in children if c.status not in (DossierStatus.REJECTED, DossierStatus.WITHDRAWN)]
    dates = [d for d in going if d is not None] or [c.due_date for c in children if c.due_date is not None]
    return max(dates) if dates else None


@subscribe(ResultIssued)
def on_result_issued(session: Session, event: ResultIssued) -> None:
    """A child's result: attached to each child waiting on it; one with nothing left to wait for is released."""
    source = event.dossier
    parent = _parent_of(session, source)
    if parent is None:
        return
    members = _members(session, parent)
    children = children_of(session, parent)
    for dependent in children:
        member = members.get(dependent.procedure_code)
        waiting = list(dependent.waiting_on or [])
        if (
            dependent.id == source.id
            or member is None
            or dependent.status != DossierStatus.WAITING
            or source.procedure_code not in waiting
        ):
            continue
        _attach(session, dependent, member, source, event.results)
        left = [code for code in waiting if code != source.procedure_code]
        if left:
            dependent.waiting_on = left
            session.add(dependent)
            session.flush()
        else:
            _release(session, parent, dependent, source)
    _estimate_waiting(session, children)
    sync_parent(session, parent)


# -- a member rejected: the children waiting on it stop


def _rejection_reason(session: Session, child: Dossier) -> str:
    event = session.exec(
        select(DossierEvent)
        .where(col(DossierEvent.dossier_id) == child.id, col(DossierEvent.kind) == "rejected")
        .order_by(col(DossierEvent.id).desc())
    ).first()
    return str(event.details.get("reason") or "") if event is not None else ""


def _cascade(session: Session, parent: Dossier, failed: Dossier, reason: str) -> list[Dossier]:
    """Reject the children still waiting on the failed one, directly or through another (dependency order: one
    pass reaches every level). Each names the member it depended on; its fee is refunded by its own rule."""
    members = _members(session, parent)
    names = _names(session, failed)
    stopped_members = {failed.procedure_code}
    stopped: list[Dossier] = []
    cascaded: set[str] = session.info.setdefault(_CASCADED, set())
    for child in children_of(session, parent):
        member = members.get(child.procedure_code)
        if member is None or child.status != DossierStatus.WAITING:
            continue
        if not stopped_members & set(member.depends_on):
            continue
        text = (
            f"Phụ thuộc kết quả của hồ sơ liên thông {failed.code} ({names['part@vi']}, {names['agency@vi']}), "
            f"hồ sơ này đã bị từ chối: {reason}"
        )
        moved = move_status(
            session,
            child,
            to=DossierStatus.REJECTED,
            allowed=[DossierStatus.WAITING],
            refused=N_("This dossier can no longer be rejected: it is {status}."),
            waiting_on=[],
        )
        if not moved:
            continue
        stopped_members.add(child.procedure_code)
        stopped.append(child)
        add_event(
            session,
            child,
            "rejected",
            actor="system",
            reason=text,
            linked_failed=failed.procedure_code,
            linked_failed_code=failed.code,
        )
        billing.refund_on_exit(session, child, reason="rejected")
        cascaded.add(child.id)
        publish(session, Closed(dossier=child, status=DossierStatus.REJECTED))  # its visits (visit_links.py)
    session.flush()
    return stopped


@subscribe(Closed)
def on_closed(session: Session, event: Closed) -> None:
    """A child rejected by its agency: those waiting on it are rejected too, its own fee is refunded by its own
    procedure's rule, the parent's timeline and the applicant say which part failed and why; the others go on."""
    failed = event.dossier
    if event.status != DossierStatus.REJECTED or failed.id in session.info.get(_CASCADED, ()):
        return
    parent = _parent_of(session, failed)
    if parent is None:
        return
    reason = _rejection_reason(session, failed)
    stopped = _cascade(session, parent, failed, reason)
    add_event(
        session,
        parent,
        DossierEventKind.LINKED_MEMBER_FAILED,
        actor="system",
        **_part(failed),
        reason=reason,
        stopped=[_part(c) for c in stopped],
    )
    params: dict[str, str] = {
        "code": parent.code or "",
        "part_code": failed.code or "",
        "reason": reason,
        "stops": "others" if stopped else "none",
        **_names(session, failed),
    }
    if stopped:
        stopped_names = [_names(session, c) for c in stopped]
        for suffix in ("", "@vi", "@en"):
            params[f"stopped{suffix}"] = "; ".join(
                f"{n['part' + (suffix or '@vi')]} ({c.code})" for n, c in zip(stopped_names, stopped, strict=True)
            )
    tell(session, parent, kind="linked.member_failed", dedupe_key=f"linked.member_failed:{failed.id}", params=params)
    sync_parent(session, parent)
    session.flush()


# -- the parent follows its children


def parent_status(statuses: Sequence[str]) -> DossierStatus:
    """The parent's status from its children's: all ended → completed if any completed, else rejected if any
    was, else withdrawn; a supplement asked by any → supplement requested; every open one's result ready →
    result ready; any past submitted → being processed; else submitted."""
    states = [DossierStatus(s) for s in statuses]
    open_ = [s for s in states if s not in ENDED]
    if not open_:
        if DossierStatus.COMPLETED in states:
            return DossierStatus.COMPLETED
        return DossierStatus.REJECTED if DossierStatus.REJECTED in states else DossierStatus.WITHDRAWN
    if DossierStatus.SUPPLEMENT_REQUESTED in open_:
        return DossierStatus.SUPPLEMENT_REQUESTED
    if all(s == DossierStatus.RESULT_READY for s in open_):
        return DossierStatus.RESULT_READY
    if any(s not in (DossierStatus.SUBMITTED, DossierStatus.WAITING) for s in states):
        return DossierStatus.IN_PROCESS
    return DossierStatus.SUBMITTED


def _worst(values: Iterable[str | None]) -> str | None:
    given = {v for v in values if v}
    return next((str(t) for t in _WORST_FIRST if t in given), None)


def _latest(values: Iterable[datetime | None]) -> datetime | None:
    given = [v for v in values if v is not None]
    return max(given) if given else None


def sync_parent(session: Session, parent: Dossier) -> None:
    """Bring the parent's status, dates and judgement in line with its children (an ended parent stays)."""
    if parent.status == DossierStatus.DRAFT or parent.status in ENDED:
        return
    children = children_of(session, parent)
    if not children:
        return
    due = _last_due(children)
    if due is not None and due != parent.due_date:
        parent.due_date = due
        session.add(parent)
        session.flush()
    target = parent_status([c.status for c in children])
    if target == parent.status:
        return
    values: dict[str, Any] = {}
    if target in (DossierStatus.RESULT_READY, DossierStatus.COMPLETED):
        values["result_ready_at"] = _latest(c.result_ready_at for c in children) or utcnow()
    if target in ENDED:
        values["completed_at"] = _latest(c.completed_at for c in children) or utcnow()
        values["timeliness"] = _worst(c.timeliness for c in children)
    allowed = [s for s in DossierStatus if s not in (DossierStatus.DRAFT, *ENDED, target)]
    moved = move_status(
        session,
        parent,
        to=target,
        allowed=allowed,
        refused=N_("This linked application can no longer change: it is {status}."),
        **values,
    )
    if moved and target in ENDED:
        publish(session, Closed(dossier=parent, status=target))  # its visits (visit_links.py)


@subscribe(Moved)
def on_moved(session: Session, event: Moved) -> None:
    """A child's status changed: its parent follows (the parent's own move publishes Moved too: ignored here)."""
    parent = _parent_of(session, event.dossier)
    if parent is not None:
        sync_parent(session, parent)
