"""Enums whose members carry the label people see, so a status and its wording are written in one place.

A member is declared as ``DRAFT = "draft", N_("Draft")``: its value (what the database stores) stays the
plain string, and ``label`` is a gettext msgid translated where it is shown. Every such enum is known by
its class name, so a template can label a plain string read from the database: ``label("DossierStatus",
dossier.status)``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

_ENUMS: dict[str, type[LabelledEnum]] = {}


class LabelledEnum(StrEnum):
    """A string enum whose members are ``value, label``; the label is a msgid (`N_`).

    `label` has a default only so that a lookup, ``Status("draft")``, type-checks: members always give one.
    """

    _value_: str
    label: str

    def __new__(cls, value: str, label: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _ENUMS[cls.__name__] = cls


def label_msgid(enum_name: str, value: object) -> str | None:
    """The msgid labelling `value` in the enum named `enum_name`; None for a value it does not know."""
    enum = _ENUMS.get(enum_name)
    if enum is None:
        raise LookupError(f"no labelled enum named {enum_name!r}")
    try:
        return enum(str(value)).label
    except ValueError:
        return None
