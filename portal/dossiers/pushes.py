"""What the agency's back-office is pushed when a dossier changes: one payload model per event type.

Every push carries the dossier's state after the change (`DossierPush`) and what the event adds. `push`
writes it to the outbox in the caller's transaction (`portal.webhooks.publish`), so the back-office hears of
a change exactly when it is committed; the types and their models are declared to the webhooks registry,
which documents them in the OpenAPI document's `webhooks` section.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from portal.catalog.models import Procedure
from portal.dossiers.models import Dossier
from portal.kernel.clock import utcnow
from portal.national import reporting
from portal.webhooks import publish
from portal.webhooks.events import register_event


class LinkedPush(BaseModel):
    """The linked application (thủ tục liên thông) a dossier belongs to, when it is one member of it."""

    model_config = ConfigDict(extra="forbid")

    parent_code: str = Field(description="The code of the citizen's one application (the parent dossier).")
    member: str = Field(description="The member procedure this dossier is (its procedure code).")
    depends_on: list[str] = Field(
        default_factory=list,
        description="The codes of the other members' dossiers whose results this one needs: it is pushed as "
        "submitted only once they are issued, and their sealed results are among its files.",
    )


class DossierPush(BaseModel):
    """The dossier as it is after the event (every pushed event carries these fields)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="The dossier's code (mã hồ sơ).")
    agency_code: str
    procedure_code: str
    status: str = Field(description="The main status after the event (draft is never pushed).")
    sub_status: str | None = Field(default=None, description="The agency's own step code, if one is set.")
    due_date: date | None = Field(default=None, description="The date promised to the applicant (local date).")
    official_due_date: date | None = Field(
        default=None, description="The official appointment date, against which lateness is measured."
    )
    change_seq: int = Field(description="The dossier's position in the change feed after this event.")
    occurred_at: datetime
    linked: LinkedPush | None = Field(
        default=None,
        description="Set when the dossier is one member of a linked application (liên thông); null otherwise.",
    )


class SubmittedPush(DossierPush):
    channel: str
    submitted_at: datetime | None = None


class RegisteredPush(DossierPush):
    channel: str
    intake_officer: str
    submitted_at: datetime | None = None


class WithdrawnPush(DossierPush):
    pass


class PaidPush(DossierPush):
    amount: int = Field(description="Đồng.")
    payment_reference: str
    gateway: str


class RefundedPush(DossierPush):
    amount: int = Field(description="Đồng.")
    reason: str | None = None


class SupplementAnsweredPush(DossierPush):
    supplement_id: str
    paused_working_days: int = Field(description="Working days the deadline clock was stopped.")


class ReceivedPush(DossierPush):
    received_by: str
    received_at: datetime


class ProcessingStartedPush(DossierPush):
    pass


class SubStatusChangedPush(DossierPush):
    sub_status_vi: str
    sub_status_en: str


class SupplementItemPush(BaseModel):
    kind: Literal["component", "field"]
    target: str
    reason: str


class SupplementRequestedPush(DossierPush):
    supplement_id: str
    items: list[SupplementItemPush]
    message: str


class RejectedPush(DossierPush):
    reason: str


class ResultRef(BaseModel):
    id: str
    filename: str
    sha256: str = Field(description="SHA-256 of the signed PDF as the agency uploaded it.")


class ResultIssuedPush(DossierPush):
    results: list[ResultRef]


class ResultConfirmedPush(DossierPush):
    results: list[ResultRef] = Field(description="The results the centre confirmed (now the applicant's).")
    checked_by: str = Field(description="The centre's supervisor who confirmed them.")
    checked_at: datetime = Field(description="When: the dossier's result_ready_at.")


class ResultReturnedPush(DossierPush):
    results: list[ResultRef] = Field(description="The results the centre sent back (kept, never returned).")
    reason: str = Field(description="Why the centre sent them back: issue a new result.")
    returned_by: str = Field(description="The centre's supervisor who sent them back.")


class ApologisedPush(DossierPush):
    reason: str
    previous_date: date | None
    new_date: date


class OverduePush(DossierPush):
    pass


class CompletedPush(DossierPush):
    handover: Literal["online", "centre", "post"]
    timeliness: Literal["early", "on_time", "late"]


class RatedPush(DossierPush):
    scores: dict[str, int]
    comment: str | None = None


class ParcelUpdatedPush(DossierPush):
    parcel: Literal["pickup", "delivery"] = Field(
        description="pickup: the paper originals from the applicant to the agency; delivery: the result to the "
        "applicant."
    )
    number: str = Field(description="The portal's number of the postal order.")
    operator: str = Field(description="The postal operator serving the order.")
    tracking_number: str | None = Field(description="The operator's tracking number, once the order is claimed.")
    event_status: Literal[
        "created", "claimed", "picked_up", "in_transit", "delivery_attempted", "delivered", "returned", "cancelled"
    ] = Field(description="What the event reports.")
    changed: bool = Field(
        description="Whether the event moved the parcel's status (an older event that arrived late does not)."
    )
    event_at: datetime = Field(description="When it happened, as the operator reported it.")
    event_id: str = Field(description="The reporter's id of the event.")
    reason: str | None = Field(default=None, description="Why a delivery attempt failed.")
    attempts: int = Field(default=0, description="Failed delivery attempts so far.")
    cod_collected: int | None = Field(default=None, description="Đồng collected by the courier at delivery (COD).")


class OriginalRef(BaseModel):
    id: str = Field(description="The procedure's component id.")
    name_vi: str
    name_en: str


class OriginalsArrivedPush(DossierPush):
    number: str = Field(description="The portal's number of the pickup order.")
    operator: str
    tracking_number: str | None
    arrived_at: datetime = Field(description="When the parcel was delivered to the agency.")
    received_by: str | None = Field(default=None, description="Who signed for it at the agency.")
    originals: list[OriginalRef] = Field(description="The paper originals the parcel holds.")


EVENT_TYPES: dict[str, tuple[type[DossierPush], str]] = {
    "dossier.submitted": (SubmittedPush, "The applicant submitted a dossier online."),
    "dossier.registered": (RegisteredPush, "A paper dossier was registered at the counter (received at once)."),
    "dossier.withdrawn": (WithdrawnPush, "The applicant withdrew a dossier before it was received."),
    "dossier.paid": (PaidPush, "The applicant paid the dossier's fee."),
    "dossier.refunded": (RefundedPush, "A payment of the dossier was refunded."),
    "dossier.supplement_answered": (
        SupplementAnsweredPush,
        "The applicant sent what a supplement request asked for; the deadline clock runs again.",
    ),
    "dossier.received": (ReceivedPush, "The agency received the dossier; the official appointment date is set."),
    "dossier.processing_started": (ProcessingStartedPush, "The agency started processing the dossier."),
    "dossier.sub_status_changed": (SubStatusChangedPush, "The agency set a step of its own workflow."),
    "dossier.supplement_requested": (
        SupplementRequestedPush,
        "The agency asked for more documents or answers; the deadline clock stops.",
    ),
    "dossier.rejected": (RejectedPush, "The agency rejected the dossier."),
    "dossier.result_issued": (
        ResultIssuedPush,
        "The agency issued the signed result documents (status result_check when the procedure's results are "
        "checked by the centre before they are returned, else result_ready).",
    ),
    "dossier.result_confirmed": (
        ResultConfirmedPush,
        "The centre confirmed the result it was checking: the result is ready and the applicant is told.",
    ),
    "dossier.result_returned": (
        ResultReturnedPush,
        "The centre sent the result back with a reason; the dossier is in_process again: issue a new result.",
    ),
    "dossier.apologised": (ApologisedPush, "The agency apologised for a late dossier and promised a new date."),
    "dossier.overdue": (OverduePush, "The dossier passed its official appointment date without a result."),
    "dossier.completed": (CompletedPush, "The result was handed over; the dossier is judged early, on time or late."),
    "dossier.rated": (RatedPush, "The applicant rated the service."),
    "dossier.parcel_updated": (
        ParcelUpdatedPush,
        "A postal order of the dossier was created, claimed or reported on by its operator (every event, also one "
        "that arrived late and did not move the status).",
    ),
    "dossier.originals_arrived": (
        OriginalsArrivedPush,
        "The postal pickup delivered the applicant's paper originals to the agency.",
    ),
}

for _type, (_model, _description) in EVENT_TYPES.items():
    register_event(_type, _model, _description)


def linked_of(session: Session, dossier: Dossier) -> LinkedPush | None:
    """What a child of a linked application tells its agency of the application (None for any other dossier):
    the parent's code, its member and the codes of its siblings whose results it needs."""
    if dossier.linked_role != "child" or dossier.parent_id is None:
        return None
    parent = session.get(Dossier, dossier.parent_id)
    linked = session.get(Procedure, parent.procedure_code) if parent is not None else None
    if parent is None or linked is None:
        return None
    entry = next((m for m in linked.members if m.get("procedure") == dossier.procedure_code), {})
    needs = [str(code) for code in entry.get("depends_on") or ()]
    siblings = session.exec(
        select(Dossier.procedure_code, Dossier.code).where(
            col(Dossier.parent_id) == parent.id, col(Dossier.procedure_code).in_(needs)
        )
    ).all()
    codes = {member: code for member, code in siblings if code}
    return LinkedPush(
        parent_code=parent.code or "",
        member=dossier.procedure_code,
        depends_on=[codes[code] for code in needs if code in codes],
    )


def payload(dossier: Dossier, type: str, *, linked: LinkedPush | None = None, **extra: Any) -> DossierPush:
    """The validated payload of event `type` for the dossier as it is now (KeyError for an unknown type)."""
    model, _ = EVENT_TYPES[type]
    return model(
        code=dossier.code or "",
        agency_code=dossier.agency_code,
        procedure_code=dossier.procedure_code,
        status=str(dossier.status),
        sub_status=dossier.sub_status,
        due_date=dossier.due_date,
        official_due_date=dossier.official_due_date,
        change_seq=dossier.change_seq,
        occurred_at=utcnow(),
        linked=linked,
        **extra,
    )


def national_facts(dossier: Dossier) -> reporting.DossierFacts:
    """The dossier as the national reporting needs it."""
    return reporting.DossierFacts(
        code=dossier.code or "",
        procedure_code=dossier.procedure_code,
        agency_code=dossier.agency_code,
        status=str(dossier.status),
        change_seq=dossier.change_seq,
        channel=str(dossier.channel),
        postal_pickup=dossier.pickup_address is not None,
        submitted_at=dossier.submitted_at,
        received_at=dossier.received_at,
        due_date=dossier.due_date,
        official_due_date=dossier.official_due_date,
        result_ready_at=dossier.result_ready_at,
        completed_at=dossier.completed_at,
        handover=dossier.handover,
        timeliness=dossier.timeliness,
        linked_role=dossier.linked_role,
    )


def push(session: Session, dossier: Dossier, type: str, **extra: Any) -> str:
    """Queue the push of event `type` to the dossier's agency in the caller's transaction, and its report to
    the national portal when it is a status change or a rating (docs/NATIONAL_REPORTING.md); the event id.

    The parent of a linked application is never pushed nor reported (no agency handles it: its children are
    pushed, each to its own agency): "" and nothing queued.
    """
    if dossier.linked_role == "parent":
        return ""
    event = payload(dossier, type, linked=linked_of(session, dossier), **extra)
    reporting.report(
        session,
        national_facts(dossier),
        type,
        reason=extra.get("reason"),
        scores=extra.get("scores"),
        comment=extra.get("comment"),
        at=event.occurred_at,
    )
    data = event.model_dump(mode="json")
    return publish(session, agency_code=dossier.agency_code, type=type, data=data)
