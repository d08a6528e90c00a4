"""One typed registry for every kind of plugin: signers, payment gateways, notifiers.

Built-ins register with ``@registry.register("id")``; the id is what settings and the database store.
``create`` validates the options with the plugin's own pydantic ``options_model``.

Every registry of the kernel (plugins, event subscribers, outbox handlers and periodic jobs, document
lookups, provided hooks) is a :class:`Resettable`: a test can build a fresh one, empty it, or register
inside ``with registry.isolated():`` and find it as it was afterwards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from pydantic import BaseModel

S = TypeVar("S")


class Resettable(ABC, Generic[S]):
    """A registry whose registrations can be saved, restored and emptied (for tests)."""

    @abstractmethod
    def snapshot(self) -> S:
        """A copy of what is registered now, for `restore`."""

    @abstractmethod
    def restore(self, state: S) -> None:
        """Make the registry hold exactly what `snapshot` returned."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every registration (a fresh registry)."""

    @contextmanager
    def isolated(self, *, empty: bool = False) -> Iterator[Self]:
        """Registrations made inside are forgotten on leaving; with `empty`, start from a fresh registry."""
        state = self.snapshot()
        if empty:
            self.reset()
        try:
            yield self
        finally:
            self.restore(state)


class Plugin(Protocol):
    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]]

    def __init__(self, options: Any) -> None: ...


P = TypeVar("P", bound=Plugin)


class Registry(Resettable[dict[str, type[Any]]], Generic[P]):
    """Plugin classes of one kind by id (`kind` names them in error messages: "signer plugin", ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[P]] = {}

    def snapshot(self) -> dict[str, type[Any]]:
        return dict(self._classes)

    def restore(self, state: dict[str, type[Any]]) -> None:
        self._classes = dict(state)

    def reset(self) -> None:
        self._classes = {}

    def register(self, plugin_id: str) -> Callable[[type[Any]], type[Any]]:
        def decorate(cls: type[Any]) -> type[Any]:
            existing = self._classes.get(plugin_id)
            if existing is not None and existing is not cls:
                raise ValueError(f"two {self.kind}s registered as {plugin_id!r}")
            cls.id = plugin_id
            self._classes[plugin_id] = cls
            return cls

        return decorate

    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._classes))

    def plugin_class(self, plugin_id: str) -> type[P]:
        try:
            return self._classes[plugin_id]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {plugin_id!r} (known: {', '.join(self.ids())})") from None

    def validate_id(self, plugin_id: str) -> str:
        """The id itself, or ValueError: for validating an id stored in the database or the settings."""
        self.plugin_class(plugin_id)
        return plugin_id

    def create(self, plugin_id: str, options: BaseModel | Mapping[str, Any] | None = None) -> P:
        """A new plugin with validated options (pydantic's ValidationError, a ValueError, when they are wrong)."""
        cls = self.plugin_class(plugin_id)
        if not isinstance(options, cls.options_model):
            options = cls.options_model.model_validate(dict(options or {}))
        return cls(options)
