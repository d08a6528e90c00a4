"""One delivery per chosen channel: the fan-out of a notification, the provider receipts, what pages read.

record_receipt(session, *, provider, callback_id, provider_message_id, status, at, detail="") -> bool
    Apply a provider's delivery-status callback: `status` is DeliveryStatus.DELIVERED or FAILED.
    False when `callback_id` was already applied (a replay) or no delivery has this provider message id
    (nothing is recorded then: the provider may send it again once the delivery knows its id); True when
    the callback is recorded. A receipt never moves a delivery backwards: one already delivered or failed
    keeps its status.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from auth.models import Account
from portal.kernel.i18n import N_
from portal.kernel.outbox import enqueue
from portal.kernel.settings import Settings
from portal.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationDelivery,
    ProviderCallback,
)
from portal.notifications.outbox import SendDelivery
from portal.notifications.preferences import choice_of

# Why a delivery failed, as its `last_error` starts: refused for good by the provider, still failing after the
# last try, or reported undelivered by the provider's receipt.
REJECTED = "rejected: "
GAVE_UP = "gave up: "
RECEIPT = "receipt: "

# The words shown to the citizen for each status (msgids).
STATUS_LABELS = {
    DeliveryStatus.QUEUED: N_("waiting to be sent"),
    DeliveryStatus.SENT: N_("sent"),
    DeliveryStatus.DELIVERED: N_("delivered"),
    DeliveryStatus.FAILED: N_("failed"),
}
CHANNEL_LABELS = {
    NotificationChannel.EMAIL: N_("Email"),
    NotificationChannel.SMS: N_("SMS"),
    NotificationChannel.ZALO: N_("Zalo"),
}
_RANK = {DeliveryStatus.QUEUED: 0, DeliveryStatus.SENT: 1, DeliveryStatus.DELIVERED: 2, DeliveryStatus.FAILED: 2}


def provider_of(channel: str, settings: Settings) -> str:
    """The plugin id that sends `channel` under these settings."""
    if channel == NotificationChannel.SMS:
        return settings.sms_provider
    if channel == NotificationChannel.ZALO:
        return settings.zalo_provider
    return settings.notify_channel


def fan_out(session: Session, notification: Notification, settings: Settings) -> list[NotificationDelivery]:
    """One delivery for each channel the account chose and can be reached by, each queued for sending.

    A channel that already has a delivery of this notification gets no second one (a fan-out run twice adds
    nothing). The notification's `channel` and `recipient` keep saying where its email went ("log": none).
    """
    account = session.get(Account, notification.account_id)
    if account is None:
        return []
    choice = choice_of(session, account)
    existing = set(
        session.exec(
            select(NotificationDelivery.channel).where(NotificationDelivery.notification_id == notification.id)
        ).all()
    )
    created: list[NotificationDelivery] = []
    for channel in choice.reachable():
        if channel in existing:
            continue
        delivery = NotificationDelivery(
            notification_id=notification.id,
            account_id=notification.account_id,
            channel=channel,
            provider=provider_of(channel, settings),
            recipient=choice.recipient(channel),
        )
        session.add(delivery)
        created.append(delivery)
    session.flush()
    for delivery in created:
        enqueue(session, SendDelivery(id=delivery.id))
    emailed = NotificationChannel.EMAIL in choice.reachable()
    notification.channel = NotificationChannel.EMAIL if emailed else NotificationChannel.LOG
    notification.recipient = choice.recipient(NotificationChannel.EMAIL) if emailed else ""
    session.add(notification)
    session.flush()
    return created


def record_receipt(
    session: Session,
    *,
    provider: str,
    callback_id: str,
    provider_message_id: str,
    status: str,
    at: datetime,
    detail: str = "",
) -> bool:
    """Apply a provider's delivery receipt once (see the module's docstring)."""
    if status not in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        raise ValueError(f"a receipt says delivered or failed, not {status!r}")
    if not callback_id or len(callback_id) > 128 or not provider_message_id:
        raise ValueError("a receipt needs a callback id (1 to 128 characters) and a provider message id")
    delivery = session.exec(
        select(NotificationDelivery)
        .where(
            NotificationDelivery.provider == provider, NotificationDelivery.provider_message_id == provider_message_id
        )
        .with_for_update()
    ).first()
    if delivery is None:
        return False
    table = ProviderCallback.__table__  # type: ignore[attr-defined]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(table)
        .values(**ProviderCallback(provider=provider, callback_id=callback_id).model_dump(exclude={"id"}))
        .on_conflict_do_nothing(index_elements=["provider", "callback_id"])
        .returning(table.c.id)
    )
    if session.execute(stmt).scalar_one_or_none() is None:
        return False  # this very callback was applied before: a replay
    if _RANK[status] > _RANK.get(delivery.status, 0):
        delivery.status = status
        delivery.status_at = at
        if status == DeliveryStatus.FAILED:
            delivery.last_error = (RECEIPT + (detail or "undelivered"))[:2000]
        session.add(delivery)
    session.flush()
    return True


def failure_reason(delivery: NotificationDelivery) -> str | None:
    """Why a failed delivery failed, in words for the citizen (a msgid); None when it did not fail."""
    if delivery.status != DeliveryStatus.FAILED:
        return None
    error = delivery.last_error or ""
    if error.startswith(REJECTED):
        if delivery.channel == NotificationChannel.EMAIL:
            return N_("The mail server refused this address. Check your email address.")
        if delivery.channel == NotificationChannel.ZALO:
            return N_(
                "Zalo could not deliver it: this number may not use Zalo, or has blocked messages from the portal."
            )
        return N_("The SMS provider refused this number. Check it on the notification preferences page.")
    if error.startswith(RECEIPT):
        return N_("The provider could not deliver it to your phone (it may have been off or out of reach).")
    return N_("We could not reach the provider after several tries. The message is still in your inbox here.")


def deliveries_by_notification(
    session: Session, notification_ids: Sequence[str]
) -> dict[str, list[NotificationDelivery]]:
    """The deliveries of these notifications, by notification id, in channel order."""
    if not notification_ids:
        return {}
    order = {channel: i for i, channel in enumerate((NotificationChannel.EMAIL, "sms", "zalo"))}
    rows = session.exec(
        select(NotificationDelivery).where(col(NotificationDelivery.notification_id).in_(list(notification_ids)))
    ).all()
    grouped: dict[str, list[NotificationDelivery]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: order.get(r.channel, 9)):
        grouped[row.notification_id].append(row)
    return dict(grouped)


def recent_deliveries(session: Session, *, limit: int = 100) -> Sequence[NotificationDelivery]:
    """Every account's latest deliveries, newest first (the development page)."""
    return session.exec(
        select(NotificationDelivery)
        .order_by(col(NotificationDelivery.created_at).desc(), col(NotificationDelivery.id).desc())
        .limit(limit)
    ).all()
