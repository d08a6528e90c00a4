"""One typed registry for every kind of plugin: signers, payment gateways, notifiers.

Built-ins register with ``@registry.register("id")``; the id is what settings and the database store.
``create`` validates the options with the plugin's own pydantic ``options_model``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel


class Plugin(Protocol):
    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]]

    def __init__(self, options: Any) -> None: ...


P = TypeVar("P", bound=Plugin)


class Registry(Generic[P]):
    """Plugin classes of one kind by id (`kind` names them in error messages: "signer plugin", ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[P]] = {}

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
