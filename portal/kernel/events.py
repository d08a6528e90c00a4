"""In-transaction domain events: a package announces what happened, others react in the same transaction.

The payments package does not know dossiers; it publishes ``payment.succeeded`` and the dossier workflow,
subscribed at import, advances the dossier in the very transaction that recorded the payment, so both
happen together or not at all. Work that may be slow or may fail on its own goes to the outbox instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

Subscriber = Callable[[Session, Any], None]
_subscribers: dict[str, list[Subscriber]] = {}


def subscribe(topic: str) -> Callable[[Subscriber], Subscriber]:
    """Register a function called with (session, payload) each time `topic` is published."""

    def register(fn: Subscriber) -> Subscriber:
        listeners = _subscribers.setdefault(topic, [])
        if fn not in listeners:
            listeners.append(fn)
        return fn

    return register


def publish(session: Session, topic: str, payload: Any) -> None:
    """Call every subscriber of `topic` now, in the caller's transaction (an error rolls all of it back)."""
    for fn in list(_subscribers.get(topic, ())):
        fn(session, payload)
