"""The registry of pushed event types and their payload models (documented in OpenAPI's `webhooks`)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from portal.kernel.plugins import Resettable


@dataclass(frozen=True)
class EventType:
    """One pushed event: its name, the `type` of the envelope (e.g. "dossier.received"), the model of its
    `data`, a description."""

    name: str
    model: type[BaseModel]
    description: str


class EventRegistry(Resettable[dict[str, EventType]]):
    """Every event type the portal pushes to back-offices, by type."""

    def __init__(self) -> None:
        self._types: dict[str, EventType] = {}

    def register(self, type: str, model: type[BaseModel], description: str) -> None:
        existing = self._types.get(type)
        if existing is not None and existing.model is not model:
            raise ValueError(f"two payload models for the webhook event {type}")
        self._types[type] = EventType(type, model, description)

    def get(self, type: str) -> EventType | None:
        return self._types.get(type)

    def all(self) -> list[EventType]:
        return [self._types[name] for name in sorted(self._types)]

    def snapshot(self) -> dict[str, EventType]:
        return dict(self._types)

    def restore(self, state: dict[str, EventType]) -> None:
        self._types = dict(state)

    def reset(self) -> None:
        self._types = {}


# The application's event types: the domains register theirs at import (portal.dossiers.pushes).
registry = EventRegistry()


def register_event(type: str, model: type[BaseModel], description: str) -> None:
    """Declare a pushed event type with the pydantic model of its `data` and a description (OpenAPI)."""
    registry.register(type, model, description)


def event_types() -> list[EventType]:
    """The registered event types, sorted by type."""
    return registry.all()
