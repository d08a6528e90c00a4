"""In-transaction domain events: a package announces what happened, others react in the same transaction.

The payments package does not know dossiers; it publishes ``PaymentSucceeded`` and the dossier workflow,
subscribed at import, advances the dossier in the very transaction that recorded the payment, so both
happen together or not at all. Work that may be slow or may fail on its own goes to the outbox instead.

An event is a frozen dataclass (or pydantic model) defined by the package that publishes it; subscribers
register by its class and receive it typed::

    @subscribe(PaymentSucceeded)
    def on_paid(session: Session, event: PaymentSucceeded) -> None: ...

    publish(session, PaymentSucceeded(payment=payment))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import Session

from portal.kernel.plugins import Resettable

E = TypeVar("E")
Subscriber = Callable[[Session, E], None]
_Subscribers = dict[type[Any], list[Callable[[Session, Any], None]]]


class EventBus(Resettable[_Subscribers]):
    """Subscribers by event class; `publish` calls those of the event's class and of its base classes."""

    def __init__(self) -> None:
        self._subscribers: _Subscribers = {}

    def subscribe(self, event_type: type[E]) -> Callable[[Subscriber[E]], Subscriber[E]]:
        """Register a function called with (session, event) each time an `event_type` is published."""

        def register(fn: Subscriber[E]) -> Subscriber[E]:
            listeners = self._subscribers.setdefault(event_type, [])
            if fn not in listeners:
                listeners.append(fn)
            return fn

        return register

    def subscribers(self, event_type: type[Any]) -> list[Callable[[Session, Any], None]]:
        """Who receives an event of this class, in the order they subscribed (its own class first)."""
        return [fn for cls in event_type.__mro__ for fn in self._subscribers.get(cls, ())]

    def publish(self, session: Session, event: object) -> None:
        """Call every subscriber of the event's class now, in the caller's transaction (an error rolls all of it
        back)."""
        for fn in self.subscribers(type(event)):
            fn(session, event)

    def snapshot(self) -> _Subscribers:
        return {cls: list(fns) for cls, fns in self._subscribers.items()}

    def restore(self, state: _Subscribers) -> None:
        self._subscribers = {cls: list(fns) for cls, fns in state.items()}

    def reset(self) -> None:
        self._subscribers = {}


# The application's bus: modules subscribe at import (`portal.wiring` imports them all).
bus = EventBus()


def subscribe(event_type: type[E]) -> Callable[[Subscriber[E]], Subscriber[E]]:
    """Register a subscriber of `event_type` on the application's bus."""
    return bus.subscribe(event_type)


def publish(session: Session, event: object) -> None:
    """Publish `event` on the application's bus, in the caller's transaction."""
    bus.publish(session, event)
