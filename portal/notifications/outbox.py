"""The notifications package's outbox messages: fan a notification out to its channels, send one delivery."""

from __future__ import annotations

from typing import ClassVar

from portal.kernel.outbox import OutboxPayload


class SendNotification(OutboxPayload):
    """Fan the notification `id` out: one delivery per channel its account chose (each a SendDelivery)."""

    topic: ClassVar[str] = "notification.send"

    id: str


class SendDelivery(OutboxPayload):
    """Send the delivery `id` (one channel's copy of a notification) through that channel's plugin."""

    topic: ClassVar[str] = "notification.deliver"

    id: str
