"""Signed pushes to partner systems (Standard Webhooks): endpoints, secrets, delivery, the event registry.

The domains call ``publish(session, agency_code=..., type=..., data=...)`` in their transaction and declare
each event type with ``portal.webhooks.events.register_event``; ``portal.webhooks.tasks`` delivers.
"""

from portal.webhooks.outbox import DeliverWebhook, publish

__all__ = ["DeliverWebhook", "publish"]
