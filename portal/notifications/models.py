"""The notification table: one row per event a citizen is told about."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.kernel.clock import utcnow
from portal.kernel.i18n import Translator
from portal.kernel.types import UTCDateTime
from portal.notifications import templates


def new_id() -> str:
    return uuid4().hex


def translate(msgid: str, params: Mapping[str, str], locale: str) -> str:
    """A message id in `locale` with its placeholders filled (KeyError when one has no value).

    A parameter given in several languages, as `name@vi` and `name@en` (a text the agency wrote in both), fills
    `{name}` with the reader's language.
    """
    values = {key: value for key, value in params.items() if "@" not in key}
    suffix = f"@{locale}"
    values.update({key.removesuffix(suffix): value for key, value in params.items() if key.endswith(suffix)})
    return Translator(locale).gettext(msgid).format(**values)


class NotificationChannel:
    """How a notification reaches the citizen (``Notification.channel`` of rows written before issue 14, and
    ``NotificationDelivery.channel``)."""

    EMAIL = "email"  # to the account's email address, through the configured notifier
    LOG = "log"  # an account without email: written to the log, read on the portal's notifications page
    SMS = "sms"  # to the preference's phone, through the SMS provider plugin (PORTAL_SMS_PROVIDER)
    ZALO = "zalo"  # a Zalo template message (ZNS) to the preference's phone (PORTAL_ZALO_PROVIDER)


# The channels a citizen may choose besides the inbox, which every notification reaches.
CHOOSABLE_CHANNELS = (NotificationChannel.EMAIL, NotificationChannel.SMS, NotificationChannel.ZALO)


class DeliveryStatus:
    """Where one channel's copy of a notification stands, as the citizen sees it ("sent / delivered / failed")."""

    QUEUED = "queued"  # waiting for the worker (or for a retry)
    SENT = "sent"  # the provider took it
    DELIVERED = "delivered"  # the provider's delivery receipt says it reached the phone or mailbox
    FAILED = "failed"  # refused for good, or still failing after PORTAL_OUTBOX_MAX_ATTEMPTS tries


class Notification(SQLModel, table=True):
    """A message to one account about one event; ``dedupe_key`` makes the same event notify once.

    Its texts are gettext message ids (English, marked with ``N_``) and the values of their placeholders,
    translated into the reader's language when shown or sent; since issue 14 a row with an empty ``subject`` is
    written from the template file of its ``kind`` (portal/notifications/templates.py) with ``params``. Rows
    written before the catalogue (migration 0006)
    keep their Vietnamese and English texts in ``texts`` and are shown as they were written.
    """

    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_notification_dedupe_key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    kind: str = Field(max_length=40)  # payment.succeeded, payment.refunded, ...
    dedupe_key: str = Field(max_length=120)
    subject: str = Field(default="", max_length=200)  # msgid: "Payment of {amount} VND received"
    body: str = Field(default="", sa_type=Text)  # msgid
    params: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Only rows written before the catalogue: {"subject": {"vi": ..., "en": ...}, "body": {...}}.
    texts: dict[str, dict[str, str]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    link: str = Field(max_length=300)  # a path in the portal, /dossiers/<id>
    channel: str = Field(default=NotificationChannel.LOG, max_length=20)
    recipient: str = Field(default="", max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)

    def _text(self, part: str, msgid: str, locale: str) -> str:
        if self.texts is not None:
            written: dict[str, Any] = self.texts.get(part) or {}
            return str(written.get(locale) or written.get("vi") or "")
        if not self.subject:
            # Written from the kind's template file (portal/notifications/templates/<kind>.yaml). Shown leniently:
            # a template edited since the row was written must not break the citizen's inbox.
            try:
                rendered = templates.texts(self.kind, self.params, locale, strict=False)
            except templates.TemplateError:
                return self.kind if part == "subject" else ""
            return rendered.subject if part == "subject" else rendered.body
        return translate(msgid, self.params, locale)

    def subject_in(self, locale: str) -> str:
        """The subject in `locale` ("vi" or "en")."""
        return self._text("subject", self.subject, locale)

    def body_in(self, locale: str) -> str:
        """The body in `locale`; paragraphs are separated by a blank line."""
        return self._text("body", self.body, locale)

    @property
    def subject_vi(self) -> str:
        return self.subject_in("vi")

    @property
    def subject_en(self) -> str:
        return self.subject_in("en")

    @property
    def body_vi(self) -> str:
        return self.body_in("vi")

    @property
    def body_en(self) -> str:
        return self.body_in("en")


class NotificationPreference(SQLModel, table=True):
    """How one account wants to be told (each representative of a business chooses for themselves).

    No row: the defaults of ``preferences.defaults`` (email when the account has an address, SMS when it has a
    Vietnamese mobile number). The inbox on the portal is always on: it is the record of every notification.
    """

    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=32)
    email: bool = True
    sms: bool = False
    zalo: bool = False
    # A Vietnamese mobile number in national form (0912345678) for SMS and Zalo; None: the account's phone.
    phone: str | None = Field(default=None, max_length=20)
    language: str = Field(default="vi", max_length=2)  # "vi" or "en": the language of every channel
    sms_plain: bool = False  # SMS without diacritics (GSM-7: 160 characters a segment instead of 70)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NotificationDelivery(SQLModel, table=True):
    """One channel's copy of a notification: what was sent, to whom, and what the provider said of it."""

    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_notificationdelivery_channel"),
        Index("ix_notificationdelivery_provider_message", "provider", "provider_message_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    notification_id: str = Field(foreign_key="notification.id", index=True, max_length=32)
    account_id: str = Field(foreign_key="account.id", index=True, max_length=32)
    channel: str = Field(max_length=10)  # a NotificationChannel: email, sms, zalo
    provider: str = Field(default="", max_length=20)  # the plugin id: smtp, log, http, zns
    recipient: str = Field(default="", max_length=255)  # the email address or the phone (84912345678)
    status: str = Field(default=DeliveryStatus.QUEUED, index=True, max_length=10)
    # Exactly what went (or, with the log plugins, would have gone) out: subject and text, or the template id and
    # its data; for SMS the encoding ("gsm7"/"ucs2"), the segments and whether the text was shortened.
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    provider_message_id: str | None = Field(default=None, max_length=100)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # when delivered or failed


class ProviderCallback(SQLModel, table=True):
    """A delivery-status callback already applied: the same one again (a replay) changes nothing."""

    __table_args__ = (UniqueConstraint("provider", "callback_id", name="uq_providercallback_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    callback_id: str = Field(max_length=128)  # the provider's event id, else the sha256 of the signed body
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
