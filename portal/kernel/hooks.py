"""A function that a lower package calls and a higher one provides: how the layers stay one-way.

`auth` needs to know which businesses an account represents and whether an agency exists, but
businesses and agencies belong to the portal's domains above it. So `auth` declares a `Provided`
slot with a safe default, and the domain that owns the answer fills it when it is imported (the
composition root imports every domain). Tests can `reset()` a slot to its default, or provide their own
inside `with slot.isolated():`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar

from portal.kernel.plugins import Resettable

P = ParamSpec("P")
R = TypeVar("R")


class Provided(Resettable[Callable[P, R]], Generic[P, R]):
    """One function, provided by a higher layer, with a default until it is."""

    def __init__(self, name: str, default: Callable[P, R]) -> None:
        self.name = name
        self._default = default
        self._fn = default

    def provide(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Use `fn` from now on (the last one provided wins); usable as a decorator."""
        self._fn = fn
        return fn

    def snapshot(self) -> Callable[P, R]:
        return self._fn

    def restore(self, state: Callable[P, R]) -> None:
        self._fn = state

    def reset(self) -> None:
        self._fn = self._default

    @property
    def is_provided(self) -> bool:
        return self._fn is not self._default

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._fn(*args, **kwargs)
