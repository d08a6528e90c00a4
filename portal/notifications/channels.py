"""Notifier plugins: how a notification leaves the portal. Email goes through the log or an SMTP server
(`Notifier`, chosen by PORTAL_NOTIFY_CHANNEL); SMS and Zalo through their providers (`SmsSender`, `ZaloSender`,
the plugins in sms.py and zalo.py).

A plugin implements one method, ``send(message)``, and raises :class:`NotifierError` when the message
could not be handed over (the outbox then retries it later), :class:`NotifierRejected` when it never can be
(the delivery fails at once). ``check_config`` catches configuration that cannot work before anything is sent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from portal.kernel.clock import utcnow
from portal.kernel.plugins import Registry
from portal.kernel.settings import Settings

log = logging.getLogger("portal.notifications")


class NotifierError(Exception):
    """The message could not be handed over (server down, refused, timed out): try again later."""


class NotifierRejected(NotifierError):
    """Refused for good (a bouncing address, a number the provider does not serve, a template refused): the
    delivery is marked failed at once, never retried."""


class NotifierConfigError(Exception):
    """The notifier's options cannot work (no host, conflicting TLS modes): raised by ``check_config``."""


@dataclass(frozen=True)
class OutgoingMessage:
    """One notification as a notifier sends it: texts already written, the link already absolute."""

    notification_id: str
    kind: str
    recipient: str  # an email address, or "" when the account has none
    subject: str  # Vietnamese
    text: str  # plain text, Vietnamese first, then English
    link: str  # absolute URL into the portal


def absolute_link(base_url: str, path: str) -> str:
    """A portal path made absolute with PORTAL_BASE_URL."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


OTHER_LANGUAGE = {"vi": "en", "en": "vi"}
# What introduces each language's part of an email, and its "details" link, in that language.
_HEADINGS = {"vi": ("-- Tiếng Việt --", "Xem chi tiết"), "en": ("-- English --", "Details")}


def compose(
    *,
    notification_id: str,
    kind: str,
    recipient: str,
    subject: Mapping[str, str],
    body: Mapping[str, str],
    link: str,
    base_url: str,
    locale: str = "vi",
) -> OutgoingMessage:
    """The email a citizen receives: the subject and the body in the account's language (`locale`), then the
    other language's subject and body, for a reader the message is forwarded to."""
    url = absolute_link(base_url, link)
    first = locale if locale in OTHER_LANGUAGE else "vi"
    second = OTHER_LANGUAGE[first]
    heading, details = _HEADINGS[second]
    text = (
        f"{body[first].strip()}\n\n{_HEADINGS[first][1]}: {url}\n\n"
        f"{heading}\n\n{subject[second].strip()}\n\n{body[second].strip()}\n\n{details}: {url}\n"
    )
    return OutgoingMessage(
        notification_id=notification_id,
        kind=kind,
        recipient=recipient,
        subject=subject[first].strip(),
        text=text,
        link=url,
    )


class Notifier(Protocol):
    """One way out for notifications; chosen by ``PORTAL_NOTIFY_CHANNEL``."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]]

    def __init__(self, options: Any) -> None: ...

    def send(self, message: OutgoingMessage) -> None:
        """Hand the message over; raise NotifierError if it could not be (it will be retried), NotifierRejected
        if it never can be (the server refused the address: a bounce)."""
        ...

    def check_config(self) -> None:
        """Raise NotifierConfigError if the options cannot work."""
        ...


registry: Registry[Notifier] = Registry("notifier")
register = registry.register


# --- the log: the embedded default ------------------------------------------------------------------


class LogOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    level: int = logging.INFO


@register("log")
class LogNotifier:
    """Writes each message to the ``portal.notifications`` logger; the citizen reads it on /notifications."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = LogOptions

    def __init__(self, options: LogOptions) -> None:
        self.options = options

    def send(self, message: OutgoingMessage) -> None:
        log.log(
            self.options.level,
            "notification %s (%s) to %s: %s\n%s",
            message.notification_id,
            message.kind,
            message.recipient or "(no email: portal page only)",
            message.subject,
            message.text,
        )

    def check_config(self) -> None:
        return None


# --- SMTP ---------------------------------------------------------------------------------------------


class SmtpOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = ""
    port: int = Field(default=25, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    starttls: bool = False
    """Upgrade a plain connection with STARTTLS (port 587)."""
    ssl: bool = False
    """TLS from the first byte (SMTPS, port 465)."""
    from_address: str = "no-reply@dichvucong.local"
    timeout: float = Field(default=10.0, gt=0)


@register("smtp")
class SmtpNotifier:
    """Email through an SMTP server (stdlib smtplib); one connection per message."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = SmtpOptions

    def __init__(self, options: SmtpOptions) -> None:
        self.options = options

    def check_config(self) -> None:
        o = self.options
        if not o.host:
            raise NotifierConfigError("smtp: PORTAL_SMTP_HOST is empty")
        if o.ssl and o.starttls:
            raise NotifierConfigError("smtp: choose PORTAL_SMTP_SSL or PORTAL_SMTP_STARTTLS, not both")
        try:
            Address(addr_spec=o.from_address)
        except (ValueError, IndexError, MessageError) as exc:
            raise NotifierConfigError(f"smtp: PORTAL_SMTP_FROM {o.from_address!r} is not an address") from exc
        if o.username and not (o.ssl or o.starttls):
            log.warning("smtp: a password will be sent over an unencrypted connection to %s", o.host)

    def email(self, message: OutgoingMessage) -> EmailMessage:
        """The message as a UTF-8 plain-text email."""
        mail = EmailMessage()
        mail["From"] = self.options.from_address
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(utcnow())
        domain = self.options.from_address.rpartition("@")[2] or "localhost"
        # The same Message-ID on every retry of one notification, so a receiving server or mail client
        # that has already seen it (the server took it, then our commit failed) can drop the copy.
        mail["Message-ID"] = f"<{message.notification_id}@{domain}>"
        mail["X-Portal-Notification"] = message.kind
        mail.set_content(message.text, charset="utf-8", cte="quoted-printable")
        return mail

    def send(self, message: OutgoingMessage) -> None:
        if not message.recipient:
            raise NotifierRejected(f"notification {message.notification_id} has no email address")
        o = self.options
        mail = self.email(message)
        try:
            smtp: smtplib.SMTP
            if o.ssl:
                smtp = smtplib.SMTP_SSL(o.host, o.port, timeout=o.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(o.host, o.port, timeout=o.timeout)
            with smtp:
                if o.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if o.username:
                    smtp.login(o.username, o.password.get_secret_value())
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):  # 550 no such mailbox: a bounce, for good
                raise NotifierRejected(f"smtp {o.host}:{o.port} refused {message.recipient}: {exc.recipients}") from exc
            raise NotifierError(f"smtp {o.host}:{o.port}: {exc}") from exc
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:  # the message itself refused for good (554 content rejected)
                raise NotifierRejected(f"smtp {o.host}:{o.port} refused the message: {exc}") from exc
            raise NotifierError(f"smtp {o.host}:{o.port}: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifierError(f"smtp {o.host}:{o.port}: {exc}") from exc


# --- SMS and Zalo: the plugin interfaces (the plugins: sms.py, zalo.py) -------------------------------


@dataclass(frozen=True)
class SmsMessage:
    """One SMS as the provider receives it: the text already fitted (`sms_text.fit`)."""

    delivery_id: str  # the portal's id of this delivery: the provider's client reference
    phone: str  # international form without "+": 84912345678
    text: str
    encoding: str  # "gsm7" or "ucs2"


@dataclass(frozen=True)
class ZaloMessage:
    """One Zalo template message (ZNS): a registered template and its parameters, never free text."""

    delivery_id: str  # the portal's id of this delivery: ZNS `tracking_id`
    phone: str  # 84912345678
    template_id: str
    data: dict[str, str]


class SmsSender(Protocol):
    """An SMS provider; `send` returns the provider's message id (the key of its delivery receipts)."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]]

    def __init__(self, options: Any) -> None: ...

    def send(self, message: SmsMessage) -> str:
        """Hand the SMS over; NotifierError to retry, NotifierRejected when it can never be sent."""
        ...

    def check_config(self) -> None: ...


class ZaloSender(Protocol):
    """A Zalo Notification Service account; `send` returns ZNS's msg_id."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]]

    def __init__(self, options: Any) -> None: ...

    def send(self, message: ZaloMessage) -> str:
        """Hand the message over; NotifierError to retry, NotifierRejected when it can never be sent."""
        ...

    def check_config(self) -> None: ...


sms_registry: Registry[SmsSender] = Registry("sms provider")
zalo_registry: Registry[ZaloSender] = Registry("zalo provider")


def notifier_from_settings(settings: Settings) -> Notifier:
    """The notifier PORTAL_NOTIFY_CHANNEL names, with its options from the PORTAL_SMTP_* settings."""
    if settings.notify_channel == "smtp":
        return registry.create(
            "smtp",
            SmtpOptions(
                host=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=SecretStr(settings.smtp_password),
                starttls=settings.smtp_starttls,
                ssl=settings.smtp_ssl,
                from_address=settings.smtp_from,
                timeout=settings.smtp_timeout_seconds,
            ),
        )
    return registry.create(settings.notify_channel)


def check_config(settings: Settings) -> None:
    """Raise NotifierConfigError if the configured notifier cannot work (for start-up and `portal check`)."""
    notifier_from_settings(settings).check_config()
