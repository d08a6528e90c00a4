"""Translatable validation messages (gettext message ids with parameters)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from portal.kernel.i18n import N_


@dataclass(frozen=True)
class Msg:
    """A gettext message id plus the parameters to interpolate after translation."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)

    def format(self, translate: object = None) -> str:
        """Render the message, optionally through a gettext-like callable."""
        text = translate(self.msgid) if callable(translate) else self.msgid
        try:
            return str(text).format(**self.params)
        except (KeyError, IndexError, ValueError):
            return str(text)

    def __hash__(self) -> int:
        """Hash by message id and a stable rendering of the parameters."""
        return hash((self.msgid, tuple(sorted((str(k), repr(v)) for k, v in self.params.items()))))

    def __str__(self) -> str:
        """Render the untranslated English message."""
        return self.format()


# Messages shared by several modules.
REQUIRED = Msg(N_("This field is required."))
INVALID_CHOICE = Msg(N_("Select a valid choice."))
UNKNOWN_FIELD = Msg(N_("Unknown field."))


def too_long(limit: int) -> Msg:
    """Message for a text longer than ``limit`` characters."""
    return Msg(N_("Enter no more than {max} characters."), {"max": limit})
