"""Dossiers, their files, their timeline and the per-agency daily sequence."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, Column, ColumnElement, Text
from sqlmodel import Field, SQLModel, col

from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.kernel.labels import LabelledEnum
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class DossierStatus(LabelledEnum):
    DRAFT = "draft", N_("Draft")
    SUBMITTED = "submitted", N_("Submitted")
    # A member of a linked application waiting for another member's result (chờ liên thông).
    WAITING = "waiting", N_("Waiting for a linked procedure")
    RECEIVED = "received", N_("Received")
    IN_PROCESS = "in_process", N_("Being processed")
    SUPPLEMENT_REQUESTED = "supplement_requested", N_("Supplement requested")
    # The agency issued its result and the centre checks it before it is returned (procedure.centre_check).
    RESULT_CHECK = "result_check", N_("Result being checked by the centre")
    RESULT_READY = "result_ready", N_("Result ready")
    COMPLETED = "completed", N_("Completed")
    REJECTED = "rejected", N_("Rejected")
    WITHDRAWN = "withdrawn", N_("Withdrawn")


class DossierEventKind(LabelledEnum):
    """What a timeline entry records (`DossierEvent.kind` stores the value)."""

    CREATED = "created", N_("Dossier started")
    SUBMITTED = "submitted", N_("Dossier submitted")
    RECEIPT_ISSUED = "receipt_issued", N_("Receipt issued")
    APPLICATION_SIGNED = "application_signed", N_("Application signed digitally")
    SIGNATURE_REFUSED = "signature_refused", N_("Signing attempt refused")
    PAYMENT_SUCCEEDED = "payment_succeeded", N_("Fee paid")
    PAYMENT_FAILED = "payment_failed", N_("Payment not completed")
    PAYMENT_CANCELLED = "payment_cancelled", N_("Payment cancelled")
    PAYMENT_DUPLICATE = "payment_duplicate", N_("Fee paid twice: the second payment is being refunded")
    PAYMENT_REFUNDED = "payment_refunded", N_("Fee refunded")
    PAYMENT_REFUND_FAILED = (
        "payment_refund_failed",
        N_("Refund refused by the payment service: the agency will contact you"),
    )
    WITHDRAWN = "withdrawn", N_("Dossier withdrawn")
    REJECTED = "rejected", N_("Dossier rejected")
    REGISTERED_AT_COUNTER = "registered_at_counter", N_("Dossier registered at the counter")
    RECEIVED = "received", N_("Dossier received by the agency")
    PROCESSING_STARTED = "processing_started", N_("Processing started")
    SUB_STATUS = "sub_status", N_("Processing step")
    SUPPLEMENT_REQUESTED = "supplement_requested", N_("Additional documents requested")
    SUPPLEMENT_ANSWERED = "supplement_answered", N_("Additional documents sent")
    RESULT_ISSUED = "result_issued", N_("Result issued")
    # The centre's check of a result (procedure.centre_check, portal/dossiers/centre_check.py).
    RESULT_CHECK = "result_check", N_("Result being checked by the centre")
    RESULT_RETURNED = "result_returned", N_("Result sent back to the agency by the centre")
    APOLOGY = "apology", N_("Apology for the delay and new appointment date")
    OVERDUE = "overdue", N_("Appointment date passed")
    COMPLETED = "completed", N_("Result handed over")
    RATED = "rated", N_("Service rated")
    # Postal service and visits (issue 13); the event's data carries the parcel ("pickup" or "delivery") and
    # its tracking number.
    DELIVERY_CHANGED = "delivery_changed", N_("Choice of delivery changed")
    POSTAL_CREATED = "postal_created", N_("Postal order created")
    POSTAL_CLAIMED = "postal_claimed", N_("Postal operator accepted the order")
    POSTAL_PICKED_UP = "postal_picked_up", N_("Parcel picked up by the postal service")
    POSTAL_IN_TRANSIT = "postal_in_transit", N_("Parcel in transit")
    POSTAL_ATTEMPTED = "postal_attempted", N_("Delivery attempted, the parcel could not be handed over")
    POSTAL_DELIVERED = "postal_delivered", N_("Parcel delivered")
    POSTAL_RETURNED = "postal_returned", N_("Parcel returned to the sender")
    POSTAL_CANCELLED = "postal_cancelled", N_("Postal order cancelled")
    ORIGINALS_ARRIVED = "originals_arrived", N_("Paper originals arrived at the agency")
    VISIT_BOOKED = "visit_booked", N_("Visit to the centre booked")
    VISIT_CANCELLED = "visit_cancelled", N_("Visit to the centre cancelled")
    # Linked procedures (issue 15): on the parent, the children's creation and failures; on a child, its
    # wait for another member's result, the result attached and its release to the agency.
    LINKED_CREATED = "linked_created", N_("Linked dossiers created, one per agency")
    LINKED_WAITING = "linked_waiting", N_("Waiting for the result of a linked procedure")
    LINKED_RESULT_ATTACHED = "linked_result_attached", N_("Result of a linked procedure attached")
    LINKED_RELEASED = "linked_released", N_("Sent to the agency after the linked result")
    LINKED_MEMBER_FAILED = "linked_member_failed", N_("One part of the linked application failed")
    DOCUMENT_REUSED = "document_reused", N_("Document taken from the personal document store")


class Channel(LabelledEnum):
    """How the dossier reached the agency."""

    ONLINE = "online", N_("Online")
    COUNTER = "counter", N_("At the counter")


class Timeliness(LabelledEnum):
    """How a completed dossier stands against its official appointment date (docs/DEADLINES.md)."""

    EARLY = "early", N_("Early")
    ON_TIME = "on_time", N_("On time")
    LATE = "late", N_("Late")


class Dossier(SQLModel, table=True):
    """One application by one applicant for one procedure."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    code: str | None = Field(default=None, unique=True, index=True, max_length=40)
    procedure_code: str = Field(foreign_key="procedure.code", index=True)
    agency_code: str = Field(foreign_key="agency.code")
    applicant_id: str = Field(foreign_key="account.id", index=True)
    # Filed on behalf of a business: its representatives (and only they) see it.
    business_id: str | None = Field(default=None, foreign_key="business.id", index=True, max_length=32)
    status: str = Field(default=DossierStatus.DRAFT, index=True, max_length=24)
    form_id: str = Field(max_length=80)
    form_version: int
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_step: str | None = Field(default=None, max_length=40)
    answers_checked: bool = False
    delivery_method: str | None = Field(default=None, max_length=10)
    # Where the result goes when it goes by post: {"name", "phone", "province", "ward", "street", "notes"}
    # (`postal.addresses.PostalAddress`); and where the postal service picks up the paper originals, when the
    # applicant chose a pickup (None: no pickup).
    delivery_address: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    pickup_address: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The applicant pays the fees to the courier when the result is delivered (thu hộ, COD).
    pay_on_delivery: bool = False
    # The fee reduction category the applicant declared (one of the procedure's), proven by a file of the
    # component REDUCTION_PROOF.
    fee_reduction: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_date: date | None = None
    receipt_key: str | None = Field(default=None, max_length=200)
    receipt_sha256: str | None = Field(default=None, max_length=64, index=True)
    # Online, or handed in on paper at the centre's counter (then the officer who registered it).
    channel: str = Field(default=Channel.ONLINE, max_length=10)
    intake_officer: str | None = Field(default=None, max_length=120)
    # The back-office's reception: when, by whom; the official appointment date counted from it, which only
    # supplement pauses move (lateness is measured against it). `due_date` is the date promised to the
    # applicant: the official one, or the new date of the latest apology.
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    received_by: str | None = Field(default=None, max_length=120)
    official_due_date: date | None = None
    # A step of the agency's own workflow inside the main status, shown under it (code and both texts).
    sub_status: str | None = Field(default=None, max_length=60)
    sub_status_vi: str | None = Field(default=None, max_length=200)
    sub_status_en: str | None = Field(default=None, max_length=200)
    result_ready_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # How the result was handed over: online, centre (at the counter) or post.
    handover: str | None = Field(default=None, max_length=10)
    timeliness: str | None = Field(default=None, max_length=10)  # a Timeliness, set at completion
    # When the periodic job found the dossier past its official date (once; the agency and applicant are told).
    overdue_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The change feed of partner APIs: the value of the dossier change counter at its latest change.
    change_seq: int = Field(default=0, index=True)
    # Linked procedures (docs/LINKED.md): "parent" (the citizen's one application: no agency handles it, the
    # statistics never count it) or "child" (one member, handled by its own agency), None otherwise. A child
    # names its parent; `waiting_on` lists the member procedure codes whose results it still waits for.
    linked_role: str | None = Field(default=None, max_length=10)
    parent_id: str | None = Field(default=None, foreign_key="dossier.id", index=True, max_length=32)
    waiting_on: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class DossierFile(SQLModel, table=True):
    """A file uploaded for a component, stored as PDF."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    dossier_id: str = Field(foreign_key="dossier.id", index=True)
    component_id: str = Field(max_length=40)
    filename: str = Field(max_length=255)
    storage_key: str = Field(max_length=200)
    sha256: str = Field(max_length=64, index=True)
    media_type: str = Field(default="application/pdf", max_length=40)
    original_media_type: str = Field(max_length=40)
    size: int
    pages: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # How the file came to be signed: None (not signed), "portal" (signed here with a one-time code) or
    # "uploaded" (signed elsewhere, validated at upload); the validation report as shown to the citizen.
    signature: str | None = Field(default=None, max_length=10)
    signature_report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Where the file came from when the applicant did not upload it here: a document of their personal store
    # (`StoredDocument.id`), or the result of another member of a linked application (`DossierResult.id`).
    # Files that share a storage key are never deleted from storage while another row names the key.
    reused_from: str | None = Field(default=None, max_length=32, index=True)
    from_result: str | None = Field(default=None, max_length=32)


class DossierEvent(SQLModel, table=True):
    """One entry of a dossier's timeline."""

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: str = Field(foreign_key="dossier.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    kind: str = Field(max_length=40)  # a DossierEventKind
    actor: str = Field(default="", max_length=80)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class DossierChangeCounter(SQLModel, table=True):
    """One row: the last change number given to a dossier (see `lifecycle.touch`). Incrementing it locks the
    row until commit, so change numbers become visible in their order and a poller's cursor misses none."""

    id: int = Field(default=1, primary_key=True)
    last: int = 0


class SupplementRequest(SQLModel, table=True):
    """The agency asks for more: the items (a component or a form answer, and why) and a message."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    dossier_id: str = Field(foreign_key="dossier.id", index=True)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    requested_by: str = Field(max_length=120)
    message: str = Field(sa_type=Text)
    # [{"kind": "component" | "field", "target": id or field name, "reason": text}]
    items: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_by: str | None = Field(default=None, max_length=120)


class DossierPause(SQLModel, table=True):
    """A stop of the deadline clock while a supplement is awaited (ended_at: when it was answered)."""

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: str = Field(foreign_key="dossier.id", index=True)
    supplement_id: str = Field(foreign_key="supplementrequest.id", index=True, max_length=32)
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DossierResult(SQLModel, table=True):
    """A result document issued by the agency: its signed PDF as uploaded, and the portal's sealed copy."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    dossier_id: str = Field(foreign_key="dossier.id", index=True)
    filename: str = Field(max_length=255)
    storage_key: str = Field(max_length=200)
    sha256: str = Field(max_length=64, index=True)
    size: int
    pages: int
    sealed_key: str = Field(max_length=200)
    sealed_sha256: str = Field(max_length=64, index=True)
    signature_report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    uploaded_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The centre's check (procedure.centre_check): confirmed, or sent back to the agency with a reason (a
    # refused result is kept, never shown to the citizen; the agency issues a new one).
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    checked_by: str | None = Field(default=None, max_length=120)
    refused_reason: str | None = Field(default=None, sa_type=Text)


class DossierApology(SQLModel, table=True):
    """The agency's apology letter for a late dossier (Decree 61/2018), with the new date it promises."""

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: str = Field(foreign_key="dossier.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    by: str = Field(max_length=120)
    reason: str = Field(sa_type=Text)
    previous_date: date | None = None
    new_date: date


class DossierRating(SQLModel, table=True):
    """The applicant's rating of the service, once per completed dossier (criterion → 1..5)."""

    dossier_id: str = Field(foreign_key="dossier.id", primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True)
    scores: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    comment: str | None = Field(default=None, sa_type=Text)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DossierSequence(SQLModel, table=True):
    """The last sequence number used per agency per local day (the primary key makes each pair unique)."""

    agency_code: str = Field(primary_key=True, max_length=10)
    day: str = Field(primary_key=True, max_length=6)
    last: int = 0


def submitted_only() -> tuple[ColumnElement[bool], ...]:
    """Conditions for dossiers that have left the applicant's hands (a code, not a draft): the only ones that
    anyone but the applicant (the public lookup, /verify, partner systems) may learn of."""
    return (col(Dossier.status) != DossierStatus.DRAFT, col(Dossier.code).is_not(None))
