"""The notification table: one row per event a citizen is told about."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.types import UTCDateTime


def new_id() -> str:
    return uuid4().hex


class NotificationChannel:
    """How a notification reaches the citizen (stored in ``Notification.channel``)."""

    EMAIL = "email"  # to the account's email address, through the configured notifier
    LOG = "log"  # an account without email: written to the log, read on the portal's notifications page


class Notification(SQLModel, table=True):
    """A message to one account about one event; ``dedupe_key`` makes the same event notify once."""

    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_notification_dedupe_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    kind: str = Field(max_length=40)  # payment.succeeded, payment.refunded, ...
    dedupe_key: str = Field(max_length=120)
    subject_vi: str = Field(max_length=200)
    subject_en: str = Field(max_length=200)
    body_vi: str = Field(sa_type=Text)
    body_en: str = Field(sa_type=Text)
    link: str = Field(max_length=300)  # a path in the portal, /dossiers/<id>
    channel: str = Field(default=NotificationChannel.LOG, max_length=20)
    recipient: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
