"""Sending a notification: once, from the outbox; a failed send raises so the outbox retries it."""

from __future__ import annotations

from sqlmodel import Session, col, select

from auth.models import Account
from portal.kernel.clock import utcnow
from portal.kernel.outbox import OutboxMessage, WorkerContext, handler
from portal.notifications.channels import Notifier, compose, notifier_from_settings, registry
from portal.notifications.models import Notification, NotificationChannel
from portal.notifications.outbox import SendNotification
from portal.notifications.service import contact_email


def _failed_attempts(session: Session, notification_id: str) -> tuple[int, str | None]:
    """Earlier failed sends, as the outbox counted them.

    A failing handler's changes are rolled back with its savepoint, so the notification itself cannot
    count its failures; the outbox message can, and is read back when the send finally succeeds.
    """
    row = session.exec(
        select(OutboxMessage.attempts, OutboxMessage.last_error)
        .where(
            OutboxMessage.topic == SendNotification.topic,
            col(OutboxMessage.processed_at).is_(None),
            col(OutboxMessage.payload)["id"].as_string() == notification_id,
        )
        .order_by(col(OutboxMessage.attempts).desc())
    ).first()
    return (row[0], row[1]) if row else (0, None)


@handler(SendNotification)
def send_notification(session: Session, payload: SendNotification, ctx: WorkerContext) -> None:
    notification = session.get(Notification, payload.id)
    if notification is None or notification.sent_at is not None:
        return  # gone, or already sent by an earlier delivery of this message: never twice
    account = session.get(Account, notification.account_id)
    email = contact_email(account) if account else None
    # The address at sending time wins: the citizen may have changed it since the event.
    notification.channel = NotificationChannel.EMAIL if email else NotificationChannel.LOG
    notification.recipient = email or ""
    notifier: Notifier = notifier_from_settings(ctx.settings) if email else registry.create("log")
    notifier.check_config()
    notifier.send(
        compose(
            notification_id=notification.id,
            kind=notification.kind,
            recipient=notification.recipient,
            subject={"vi": notification.subject_vi, "en": notification.subject_en},
            body={"vi": notification.body_vi, "en": notification.body_en},
            link=notification.link,
            base_url=ctx.settings.base_url,
        )
    )
    failures, last_error = _failed_attempts(session, notification.id)
    notification.attempts = failures + 1
    notification.last_error = last_error
    notification.sent_at = utcnow()
    session.add(notification)
    session.flush()
