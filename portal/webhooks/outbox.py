"""The outbox payload of one push: what the delivery worker sends, written in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlmodel import Session

from portal.kernel.clock import utcnow
from portal.kernel.outbox import OutboxPayload, enqueue


class DeliverWebhook(OutboxPayload):
    """One event for one agency's back-office. `event_id` is the `webhook-id` header: the same on every retry."""

    topic: ClassVar[str] = "webhook.deliver"

    event_id: str
    agency_code: str
    type: str
    timestamp: datetime
    data: dict[str, Any]


def new_event_id() -> str:
    """A fresh `webhook-id`: "msg_" and a random UUID in hex (Standard Webhooks' recommended shape)."""
    return f"msg_{uuid.uuid4().hex}"


def publish(session: Session, *, agency_code: str, type: str, data: dict[str, Any]) -> str:
    """Enqueue the push of event `type` with `data` to `agency_code`'s back-office, in the caller's
    transaction (so it is sent only if the change commits); returns the event id (the `webhook-id` header)."""
    event_id = new_event_id()
    enqueue(
        session,
        DeliverWebhook(event_id=event_id, agency_code=agency_code, type=type, timestamp=utcnow(), data=data),
    )
    return event_id
