"""Sending a notification, from the outbox: first the fan-out (one delivery per channel the account chose), then
each delivery on its own, so a failing SMS provider never holds back the email.

`notification.send` (SendNotification) fans out. `notification.deliver` (SendDelivery) is `Staged`: the message
is rendered in the account's language from the database (prepare), handed to the channel's plugin with no
database held (perform), and recorded (finish): sent with the provider's message id; failed at once when the
provider refuses it for good (NotifierRejected: a bouncing address, a number it does not serve); otherwise
HandlerFailed keeps the try's record (attempts, last error) and the outbox retries, the last try marking the
delivery failed as the outbox marks the message dead (`portal outbox list --dead`); `portal outbox replay ID`
tries a failed delivery again. A delivery already sent is never sent twice. The dossier is never touched.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from auth.models import Account
from portal.kernel.clock import utcnow
from portal.kernel.outbox import (
    HandlerFailed,
    OutboxMessage,
    Staged,
    WorkerContext,
    current_message_id,
    handler,
    staged,
)
from portal.kernel.settings import Settings
from portal.notifications import sms, sms_text, templates, zalo
from portal.notifications.channels import (
    NotifierConfigError,
    NotifierError,
    NotifierRejected,
    OutgoingMessage,
    SmsMessage,
    ZaloMessage,
    absolute_link,
    compose,
    notifier_from_settings,
    sms_registry,
    zalo_registry,
)
from portal.notifications.deliveries import GAVE_UP, REJECTED, fan_out, provider_of
from portal.notifications.models import DeliveryStatus, Notification, NotificationChannel, NotificationDelivery
from portal.notifications.outbox import SendDelivery, SendNotification
from portal.notifications.preferences import choice_of

log = logging.getLogger("portal.notifications")


@handler(SendNotification)
def send_notification(session: Session, payload: SendNotification, ctx: WorkerContext) -> None:
    """The fan-out: one delivery per chosen, reachable channel, each queued (the inbox row is already there)."""
    notification = session.get(Notification, payload.id)
    if notification is None or notification.sent_at is not None:
        return  # gone, or fanned out by an earlier delivery of this message: never twice
    fan_out(session, notification, ctx.settings)
    notification.sent_at = utcnow()
    session.add(notification)
    session.flush()


# --- one delivery ------------------------------------------------------------------------------------------

Message = OutgoingMessage | SmsMessage | ZaloMessage


@dataclass(frozen=True)
class Job:
    """One try of one delivery, as prepared in the database: plain values, no ORM rows (on SQLite the call
    runs after the preparing transaction has ended)."""

    delivery_id: str
    channel: str
    provider: str
    recipient: str
    content: dict[str, Any]
    message: Message | None
    problem: str | None = None  # it can never be sent (no recipient, no template): fails without a call


@dataclass(frozen=True)
class Outcome:
    job: Job
    provider_message_id: str | None = None
    error: str | None = None
    rejected: bool = False  # refused for good: no retry


def _params(notification: Notification, settings: Settings) -> dict[str, str]:
    """The template's parameters: the notification's, and `link`, its absolute link."""
    return {**notification.params, templates.LINK: absolute_link(settings.base_url, notification.link)}


def _render(
    channel: str, notification: Notification, delivery_id: str, recipient: str, locale: str, plain: bool, s: Settings
) -> tuple[dict[str, Any], Message]:
    """What the channel sends, and the record of it (the delivery's `content`)."""
    if channel == NotificationChannel.EMAIL:
        mail = compose(
            notification_id=notification.id,
            kind=notification.kind,
            recipient=recipient,
            subject={lang: notification.subject_in(lang) for lang in ("vi", "en")},
            body={lang: notification.body_in(lang) for lang in ("vi", "en")},
            link=notification.link,
            base_url=s.base_url,
            locale=locale,
        )
        return {"language": locale, "to": recipient, "subject": mail.subject, "text": mail.text}, mail
    params = _params(notification, s)
    if channel == NotificationChannel.SMS:
        if templates.has_template(notification.kind):
            text = templates.sms_text(notification.kind, params, locale)
        else:  # a notification written before the template files: its subject and the link
            text = f"{notification.subject_in(locale)} {params[templates.LINK]}"
        fitted = sms_text.fit(text, plain=plain, max_segments=s.sms_max_segments)
        content = {
            "language": locale,
            "to": recipient,
            "text": fitted.text,
            "encoding": fitted.encoding,
            "segments": fitted.segments,
            "shortened": fitted.shortened,
            "plain": plain,
        }
        return content, SmsMessage(delivery_id=delivery_id, phone=recipient, text=fitted.text, encoding=fitted.encoding)
    if not templates.has_template(notification.kind):
        raise LookupError(f"no Zalo template for {notification.kind!r}: Zalo sends template messages only")
    zns = templates.zalo_template(notification.kind, params)
    content = {"to": recipient, "template_id": zns.template_id, "data": dict(zns.data)}
    return content, ZaloMessage(delivery_id=delivery_id, phone=recipient, template_id=zns.template_id, data=zns.data)


def _replayed(session: Session) -> bool:
    """Whether the message being handled was replayed by an operator: its tries start again from none, which
    a message finding its delivery already failed can only mean."""
    message = session.get(OutboxMessage, current_message_id(session))
    return message is not None and message.attempts == 0


def prepare(session: Session, payload: SendDelivery, ctx: WorkerContext) -> Job | None:
    """The message in the account's language, to where the account is reached now; None when there is nothing
    to send (the delivery is gone, or was sent or failed already)."""
    delivery = session.get(NotificationDelivery, payload.id)
    if delivery is not None and delivery.status == DeliveryStatus.FAILED and _replayed(session):
        # An operator replayed the message (`portal outbox replay ID`): the failed delivery is tried again.
        delivery.status, delivery.status_at = DeliveryStatus.QUEUED, None
        session.add(delivery)
        session.flush()
    if delivery is None or delivery.status != DeliveryStatus.QUEUED:
        return None
    notification = session.get(Notification, delivery.notification_id)
    account = session.get(Account, delivery.account_id)
    if notification is None or account is None:
        return None
    choice = choice_of(session, account)
    # The address at sending time wins (the citizen may have changed it since the event), else the fan-out's.
    recipient = choice.recipient(delivery.channel) or delivery.recipient
    provider = provider_of(delivery.channel, ctx.settings)
    if not recipient:
        return Job(delivery.id, delivery.channel, provider, "", {}, None, f"no {delivery.channel} address or number")
    try:
        content, message = _render(
            delivery.channel, notification, delivery.id, recipient, choice.language, choice.sms_plain, ctx.settings
        )
    except (LookupError, ValueError) as exc:  # a template missing or that cannot be filled: never sendable
        return Job(delivery.id, delivery.channel, provider, recipient, {}, None, f"{type(exc).__name__}: {exc}")
    return Job(delivery.id, delivery.channel, provider, recipient, content, message)


# sms and zalo register their plugins on import: a worker process (`portal worker`) imports no router.
PLUGIN_MODULES = (sms, zalo)
_senders: dict[tuple[str, int, str], Any] = {}
_senders_lock = threading.Lock()


def _provider(channel: str, settings: Settings) -> Any:
    """The SMS or Zalo plugin of these settings, built once per process and configuration (it may keep an
    HTTP connection pool)."""
    registry, plugin_id, options = (
        (sms_registry, settings.sms_provider, settings.sms_options)
        if channel == NotificationChannel.SMS
        else (zalo_registry, settings.zalo_provider, settings.zalo_options)
    )
    key = (plugin_id, id(registry.plugin_class(plugin_id)), json.dumps(options, sort_keys=True, default=str))
    with _senders_lock:
        sender = _senders.get(key)
        if sender is None:
            sender = registry.create(plugin_id, options)
            sender.check_config()
            _senders[key] = sender
        return sender


def _call(job: Job, message: Message, settings: Settings) -> str | None:
    """Hand the message to its plugin; the provider's message id (email has none)."""
    if isinstance(message, OutgoingMessage):
        notifier = notifier_from_settings(settings)
        notifier.check_config()
        notifier.send(message)
        return None
    return str(_provider(job.channel, settings).send(message))


def perform(job: Job | None, ctx: WorkerContext) -> Outcome | None:
    """The call to the provider (no database is held meanwhile on SQLite); raises nothing for what it does."""
    if job is None:
        return None
    if job.problem is not None or job.message is None:
        return Outcome(job, error=job.problem or "nothing to send", rejected=True)
    try:
        return Outcome(job, provider_message_id=_call(job, job.message, ctx.settings))
    except NotifierRejected as exc:
        return Outcome(job, error=str(exc) or type(exc).__name__, rejected=True)
    except NotifierError as exc:
        return Outcome(job, error=str(exc) or type(exc).__name__)
    except (NotifierConfigError, ValidationError, ValueError) as exc:  # the operator's settings: retried
        return Outcome(job, error=f"configuration of {job.provider}: {exc}")


def finish(session: Session, payload: SendDelivery, outcome: Outcome | None, ctx: WorkerContext) -> None:
    """Record the try: sent, failed for good, or (raising HandlerFailed, the record kept) to be tried again."""
    if outcome is None:
        return
    job = outcome.job
    delivery = session.get(NotificationDelivery, job.delivery_id)
    if delivery is None or delivery.status != DeliveryStatus.QUEUED:
        return
    message = session.get(OutboxMessage, current_message_id(session))
    attempt = (message.attempts if message is not None else delivery.attempts) + 1
    now = utcnow()
    delivery.attempts = attempt
    delivery.provider, delivery.recipient = job.provider, job.recipient or delivery.recipient
    if job.content:
        delivery.content = job.content
    if outcome.error is None:
        delivery.status, delivery.sent_at = DeliveryStatus.SENT, now
        delivery.provider_message_id = outcome.provider_message_id
        session.add(delivery)
        session.flush()
        return
    if outcome.rejected:
        delivery.status, delivery.status_at = DeliveryStatus.FAILED, now
        delivery.last_error = (REJECTED + outcome.error)[:2000]
        session.add(delivery)
        session.flush()
        log.warning("delivery %s (%s) refused for good: %s", delivery.id, delivery.channel, outcome.error)
        return
    delivery.last_error = outcome.error[:2000]
    if attempt >= ctx.settings.outbox_max_attempts:  # the outbox marks the message dead with this try
        delivery.status, delivery.status_at = DeliveryStatus.FAILED, now
        delivery.last_error = (GAVE_UP + outcome.error)[:2000]
    # The try is rolled back with the handler's savepoint; the row, taken out of the session, is kept.
    session.expunge(delivery)
    raise HandlerFailed(
        f"{job.channel} delivery {job.delivery_id} via {job.provider}: {outcome.error}", keep=[delivery]
    )


def _lease(settings: Settings) -> float:
    """Longer than a try can take: each phase of an SMTP exchange (connect, TLS, login, send) or of a provider's
    HTTP call may take its timeout."""
    timeouts = [settings.smtp_timeout_seconds, 30.0]
    for options in (settings.sms_options, settings.zalo_options):
        for key in ("timeout", "timeout_seconds"):  # Zalo's option and the SMS gateway's
            value = options.get(key)
            if isinstance(value, int | float):
                timeouts.append(float(value))
    return 5 * max(timeouts) + 60


deliver = staged(SendDelivery, Staged(prepare=prepare, perform=perform, finish=finish, lease=_lease))
