"""A booked visit to an agency's counter at the centre, with its queue number, and the day's numbering."""

from __future__ import annotations

from datetime import date, datetime
from uuid import uuid4

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.i18n import N_
from portal.kernel.labels import LabelledEnum
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class VisitPurpose(LabelledEnum):
    """Why the citizen comes."""

    COLLECT_RESULT = "collect_result", N_("Collect the result at the counter")
    IN_PERSON = "in_person", N_("Appear in person")


class VisitStatus(LabelledEnum):
    BOOKED = "booked", N_("Booked")
    CHECKED_IN = "checked_in", N_("Checked in, waiting")
    CALLED = "called", N_("Called to the counter")
    SERVED = "served", N_("Served")
    CANCELLED = "cancelled", N_("Cancelled")
    MISSED = "missed", N_("Missed")


class Visit(SQLModel, table=True):
    """One citizen's appointment at one agency's counter in one slot, with the day's queue number."""

    __tablename__ = "visit"
    __table_args__ = (UniqueConstraint("agency_code", "day", "queue_number", name="uq_visit_queue_number"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    agency_code: str = Field(foreign_key="agency.code", index=True, max_length=10)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    # The dossier the visit is about (opaque here: the dossier domain owns it), and its public code.
    owner_id: str | None = Field(default=None, index=True, max_length=32)
    reference: str | None = Field(default=None, max_length=40)
    purpose: str = Field(max_length=20)  # a VisitPurpose
    day: date = Field(index=True)
    slot: str = Field(max_length=5)  # "HH:MM", local time of the slot's start
    queue_number: int  # số thứ tự, per agency and day
    status: str = Field(default=VisitStatus.BOOKED, index=True, max_length=12)
    counter: str | None = Field(default=None, max_length=20)  # the counter that called it
    # Secret of the ticket's QR code: the kiosk checks the visitor in with it.
    token: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    called_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    served_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class VisitCounter(SQLModel, table=True):
    """The last queue number given for an agency on a day."""

    __tablename__ = "visit_counter"

    agency_code: str = Field(primary_key=True, max_length=10)
    day: date = Field(primary_key=True)
    value: int = 0
