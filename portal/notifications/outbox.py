"""The notifications package's outbox message: send one notification."""

from __future__ import annotations

from typing import ClassVar

from portal.kernel.outbox import OutboxPayload


class SendNotification(OutboxPayload):
    """Send the notification `id` through the notifier its account's contact calls for."""

    topic: ClassVar[str] = "notification.send"

    id: str
