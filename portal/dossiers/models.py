"""Dossiers, their files, their timeline and the per-agency daily sequence."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, Column, ColumnElement
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
    RECEIVED = "received", N_("Received")
    IN_PROCESS = "in_process", N_("Being processed")
    SUPPLEMENT_REQUESTED = "supplement_requested", N_("Supplement requested")
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
    # The fee reduction category the applicant declared (one of the procedure's), proven by a file of the
    # component REDUCTION_PROOF.
    fee_reduction: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_date: date | None = None
    receipt_key: str | None = Field(default=None, max_length=200)
    receipt_sha256: str | None = Field(default=None, max_length=64, index=True)


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


class DossierEvent(SQLModel, table=True):
    """One entry of a dossier's timeline."""

    id: int | None = Field(default=None, primary_key=True)
    dossier_id: str = Field(foreign_key="dossier.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    kind: str = Field(max_length=40)  # a DossierEventKind
    actor: str = Field(default="", max_length=80)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class DossierSequence(SQLModel, table=True):
    """The last sequence number used per agency per local day (the primary key makes each pair unique)."""

    agency_code: str = Field(primary_key=True, max_length=10)
    day: str = Field(primary_key=True, max_length=6)
    last: int = 0


def submitted_only() -> tuple[ColumnElement[bool], ...]:
    """Conditions for dossiers that have left the applicant's hands (a code, not a draft): the only ones that
    anyone but the applicant (the public lookup, /verify, partner systems) may learn of."""
    return (col(Dossier.status) != DossierStatus.DRAFT, col(Dossier.code).is_not(None))
