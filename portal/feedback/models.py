"""A citizen's or a business's feedback or complaint, and its answer."""

from __future__ import annotations

from datetime import date, datetime
from uuid import uuid4

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.kernel.labels import LabelledEnum
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class FeedbackKind(LabelledEnum):
    FEEDBACK = "feedback", N_("Feedback (phản ánh)")
    SUGGESTION = "suggestion", N_("Suggestion (kiến nghị)")
    COMPLAINT = "complaint", N_("Complaint")


class FeedbackAbout(LabelledEnum):
    PROCEDURE = "procedure", N_("A procedure")
    DOSSIER = "dossier", N_("A dossier")
    AGENCY = "agency", N_("An agency")


class FeedbackStatus(LabelledEnum):
    OPEN = "open", N_("Waiting for an answer")
    ANSWERED = "answered", N_("Answered")


class Feedback(SQLModel, table=True):
    """One item. `agency_code` is the agency that must answer (the procedure's or the dossier's, or the one named)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    code: str = Field(unique=True, index=True, max_length=24)  # the tracking code given to the filer
    kind: str = Field(max_length=20)  # FeedbackKind
    about: str = Field(max_length=20)  # FeedbackAbout
    procedure_code: str | None = Field(default=None, max_length=20)
    dossier_id: str | None = Field(default=None, max_length=32, index=True)
    dossier_code: str | None = Field(default=None, max_length=40)
    agency_code: str = Field(max_length=10, index=True)
    title: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    # The filer: a contact is required (email or phone); the account when signed in.
    name: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=20)
    account_id: str | None = Field(default=None, max_length=32, index=True)
    language: str = Field(default="vi", max_length=5)
    public_consent: bool = False  # the filer agrees that the answered item is published without personal data
    # The attachment, checked like a dossier's uploads (type sniffed, size, PDF or image).
    attachment_name: str | None = Field(default=None, max_length=255)
    attachment_key: str | None = Field(default=None, max_length=200)
    attachment_type: str | None = Field(default=None, max_length=60)
    attachment_size: int | None = None
    attachment_sha256: str | None = Field(default=None, max_length=64)
    status: str = Field(default=FeedbackStatus.OPEN, max_length=20, index=True)
    filed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    due_on: date  # the last working day to answer (PORTAL_FEEDBACK_ANSWER_DAYS after filing)
    answer: str | None = Field(default=None, sa_type=Text)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_by: str | None = Field(default=None, max_length=120)  # the staff member's name, as shown
    answered_by_staff_id: str | None = Field(default=None, max_length=32)
    # The published version (personal data removed by the answering officer's review), shown when consented.
    public_title: str | None = Field(default=None, max_length=200)
    public_body: str | None = Field(default=None, sa_type=Text)
