"""Declarative form definitions: pydantic models and a line-aware YAML loader."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic import Field as PField

NAME_RE = r"^[a-z][a-z0-9_]*$"
PROFILE_KEYS = frozenset({"full_name", "email", "phone", "cccd", "birth_date", "address"})
MAX_TEXT_LENGTH = 50_000
MAX_GROUP_ITEMS = 200

NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Name = Annotated[str, StringConstraints(pattern=NAME_RE)]
_MODEL = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)


class FieldType(StrEnum):
    """Supported input types."""

    TEXT = "text"
    TEXTAREA = "textarea"
    NUMBER = "number"
    DATE = "date"
    SELECT = "select"
    RADIO = "radio"
    CHECKBOX = "checkbox"
    CCCD = "cccd"
    PHONE = "phone"
    EMAIL = "email"
    ADDRESS = "address"
    GROUP = "group"


def _as_text(value: Any) -> Any:
    """Text form of a scalar (booleans as "true"/"false", 2.0 as "2"); other values unchanged."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if isinstance(value, int | float | str) else value


class LocalText(BaseModel):
    """A text in Vietnamese and English."""

    model_config = _MODEL
    vi: NonBlank
    en: NonBlank

    def get(self, locale: str) -> str:
        """Return the text for ``locale`` (falls back to Vietnamese)."""
        return self.en if str(locale).lower().startswith("en") else self.vi


class Option(BaseModel):
    """One choice of a select, radio or multi-checkbox field."""

    model_config = _MODEL
    value: NonBlank
    label: LocalText

    _coerce = field_validator("value", mode="before")(lambda value: _as_text(value))


class Condition(BaseModel):
    """A ``show_if`` condition: ``{field, equals}`` or ``{field, in}``, and optionally ``also``: a second
    condition that must hold too (an AND; a linked procedure's composed form gates a member's own
    conditions on that member being chosen)."""

    model_config = _MODEL
    field: Name
    equals: str | None = None
    in_: list[str] | None = PField(default=None, alias="in")
    also: Condition | None = None

    _coerce = field_validator("equals", "in_", mode="before")(
        lambda value: [_as_text(v) for v in value] if isinstance(value, list) else _as_text(value)
    )

    @model_serializer(mode="wrap")
    def _without_empty_also(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``also`` out when there is none, so stored bodies of forms without it stay unchanged."""
        data: dict[str, Any] = handler(self)
        if self.also is None:
            data.pop("also", None)
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        """Require exactly one of ``equals`` and ``in``."""
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("show_if needs exactly one of 'equals' or 'in'")
        return self

    @property
    def accepted(self) -> list[str]:
        """The values for which the condition holds."""
        return [self.equals] if self.equals is not None else list(self.in_ or [])

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the condition (and its ``also``) holds for the given canonical values."""
        value = values.get(self.field)
        if not any(_as_text(v) in self.accepted for v in (value if isinstance(value, list) else [value])):
            return False
        return self.also is None or self.also.holds(values)

    @property
    def chain(self) -> list[Condition]:
        """This condition and every ``also`` after it, in order."""
        out: list[Condition] = []
        current: Condition | None = self
        while current is not None:
            out.append(current)
            current = current.also
        return out

    @property
    def fields(self) -> list[str]:
        """The names of the fields the condition reads (this one's first)."""
        return [c.field for c in self.chain]


class Field(BaseModel):
    """One input (or a repeatable group of inputs)."""

    model_config = _MODEL
    name: Name
    type: FieldType
    label: LocalText
    required: bool = False
    help: LocalText | None = None
    options: list[Option] = []
    min: float | str | None = None
    max: float | str | None = None
    integer: bool = False
    max_length: int | None = None
    show_if: Condition | None = None
    fields: list[Field] = []
    min_items: int = 0
    max_items: int = 20
    prefill: str | None = None

    def option_values(self) -> list[str]:
        """The allowed option values."""
        return [o.value for o in self.options]


class Step(BaseModel):
    """One page of a multi-step form."""

    model_config = _MODEL
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$")]
    title: LocalText
    fields: Annotated[list[Field], PField(min_length=1)]


class FormDefinition(BaseModel):
    """A versioned form definition."""

    model_config = _MODEL
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    version: Annotated[int, PField(ge=1)]
    title: LocalText
    steps: Annotated[list[Step], PField(min_length=1)]

    @property
    def step_ids(self) -> list[str]:
        """Step ids in order."""
        return [s.id for s in self.steps]

    def step(self, step_id: str) -> Step:
        """The step with this id (KeyError if unknown)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def next_step(self, step_id: str) -> str | None:
        """Id of the step after ``step_id`` or None for the last one."""
        ids = self.step_ids
        i = ids.index(self.step(step_id).id)
        return ids[i + 1] if i + 1 < len(ids) else None

    def prev_step(self, step_id: str) -> str | None:
        """Id of the step before ``step_id`` or None for the first one."""
        ids = self.step_ids
        i = ids.index(self.step(step_id).id)
        return ids[i - 1] if i > 0 else None

    def all_fields(self) -> list[Field]:
        """All top-level fields of all steps in order."""
        return [f for s in self.steps for f in s.fields]

    def step_of(self, path: str) -> Step:
        """The step that holds the top-level field of an input path (KeyError if unknown)."""
        top = path.split(".", 1)[0]
        for s in self.steps:
            if any(f.name == top for f in s.fields):
                return s
        raise KeyError(path)

    def find_field(self, path: str) -> Field:
        """Field for a path like ``name``, ``home.ward``, ``children.0.cccd`` (KeyError if unknown)."""
        parts = [p for p in path.split(".") if not p.isdigit()]
        top = {f.name: f for f in self.all_fields()}
        if not parts or parts[0] not in top:
            raise KeyError(path)
        found, rest = top[parts[0]], parts[1:]
        if found.type is FieldType.GROUP and rest:
            subs = {f.name: f for f in found.fields}
            if rest[0] not in subs:
                raise KeyError(path)
            found, rest = subs[rest[0]], rest[1:]
        if rest and not (found.type is FieldType.ADDRESS and len(rest) == 1 and rest[0] in ADDRESS_PARTS):
            raise KeyError(path)
        return found


ADDRESS_PARTS = ("province", "ward", "street")


class FormDefinitionError(Exception):
    """A problem in a form definition file, located by file and line."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        """Store the location and message."""
        super().__init__(f"{source}:{line}: {message}")
        self.source, self.line, self.message = source, line, message


Path_ = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps yes/no/on/off and dates as strings."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag not in {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _map_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int], seen: set[int]) -> None:
    """Record the 1-based line of every mapping key and sequence item; reject duplicate keys."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in keys:
                raise _Problem((*path, key), f"duplicate key '{key}'", key_node.start_mark.line + 1)
            keys.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _map_lines(value_node, (*path, key), lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _map_lines(item, (*path, i), lines, seen)


class _Problem(Exception):
    """Internal: a definition problem at a path."""

    def __init__(self, path: Path_, message: str, line: int | None = None) -> None:
        """Store path, message and an optional explicit line."""
        super().__init__(message)
        self.path, self.message, self.line = path, message, line


def _line_for(path: Path_, lines: Mapping[Path_, int]) -> int | None:
    """Line of the longest known prefix of ``path``."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def _fmt_path(path: Path_) -> str:
    """Render a path like ``steps[0].fields[2].type``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _pydantic_problem(exc: ValidationError) -> _Problem:
    """Turn the first pydantic error into a located problem."""
    err = exc.errors()[0]
    loc: Path_ = tuple(err["loc"])
    message = err["msg"]
    if err["type"] == "enum" and loc and loc[-1] == "type":
        message = f"unknown field type {err['input']!r}"
    elif err["type"] == "missing":
        message = f"missing required key '{loc[-1]}'"
    elif err["type"] == "extra_forbidden":
        message = f"unknown key '{loc[-1]}'"
    return _Problem(loc, f"{_fmt_path(loc)}: {message}")


def _is_iso(value: object) -> bool:
    """Whether ``value`` is an ISO ``YYYY-MM-DD`` date string."""
    try:
        return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value))) and bool(date.fromisoformat(str(value)))
    except ValueError:
        return False


_T = FieldType
_ONLY_FOR: dict[str, set[FieldType]] = {
    "min": {_T.NUMBER, _T.DATE}, "max": {_T.NUMBER, _T.DATE}, "integer": {_T.NUMBER},
    "max_length": {_T.TEXT, _T.TEXTAREA}, "options": {_T.SELECT, _T.RADIO, _T.CHECKBOX},
    "fields": {_T.GROUP}, "min_items": {_T.GROUP}, "max_items": {_T.GROUP},
}  # fmt: skip


def _check_field(f: Field, p: Path_, in_group: bool) -> None:
    """Type-specific sanity checks of one field."""
    for key, types in _ONLY_FOR.items():
        if key in f.model_fields_set and f.type not in types:
            raise _Problem((*p, key), f"'{key}' is not allowed on {f.type} fields")
    if f.type is _T.GROUP and in_group:
        raise _Problem((*p, "type"), "nested groups are not allowed")
    if f.type is _T.GROUP and not f.fields:
        raise _Problem((*p, "fields"), "a group needs at least one field")
    if not 0 <= f.min_items <= f.max_items <= MAX_GROUP_ITEMS or f.max_items < 1:
        raise _Problem((*p, "min_items"), f"need 0 <= min_items <= max_items, 1 <= max_items <= {MAX_GROUP_ITEMS}")
    if f.type in (_T.SELECT, _T.RADIO) and not f.options:
        raise _Problem((*p, "options") if "options" in f.model_fields_set else p, f"a {f.type} field needs 'options'")
    values = f.option_values()
    for i, value in enumerate(values):
        if value in values[:i]:
            raise _Problem((*p, "options", i, "value"), f"duplicate option value '{value}'")
    for key in ("min", "max"):
        bound = getattr(f, key)
        if bound is None:
            continue
        if f.type is _T.NUMBER and not isinstance(bound, float):
            raise _Problem((*p, key), f"'{key}' of a number field must be a number")
        if f.type is _T.DATE and not (bound == "today" or _is_iso(bound)):
            raise _Problem((*p, key), f"'{key}' of a date field must be an ISO date (YYYY-MM-DD) or 'today'")
    if f.type is _T.NUMBER and f.min is not None and f.max is not None and float(f.min) > float(f.max):
        raise _Problem((*p, "min"), "'min' is greater than 'max'")
    if f.type is _T.DATE and _is_iso(f.min) and _is_iso(f.max) and str(f.min) > str(f.max):
        raise _Problem((*p, "min"), "'min' is after 'max'")
    if f.max_length is not None and not 1 <= f.max_length <= MAX_TEXT_LENGTH:
        raise _Problem((*p, "max_length"), f"'max_length' must be between 1 and {MAX_TEXT_LENGTH}")
    if f.prefill is not None and f.prefill not in PROFILE_KEYS:
        raise _Problem((*p, "prefill"), f"unknown prefill key '{f.prefill}' (use one of {sorted(PROFILE_KEYS)})")


def _check_condition(f: Field, p: Path_, scope: Mapping[str, Field], top: Mapping[str, Field]) -> None:
    """Check that a ``show_if`` (and each ``also``) refers to a usable field with plausible values."""
    if f.show_if is None:
        return
    where: Path_ = (*p, "show_if")
    for cond in f.show_if.chain:
        target = scope.get(cond.field) or top.get(cond.field)
        if target is None:
            raise _Problem((*where, "field"), f"show_if refers to unknown field '{cond.field}'")
        if target is f:
            raise _Problem((*where, "field"), "show_if cannot refer to the field itself")
        if target.type in (FieldType.GROUP, FieldType.ADDRESS):
            raise _Problem((*where, "field"), f"show_if cannot refer to a {target.type} field")
        allowed: list[str] | None = None
        if target.options:
            allowed = target.option_values()
        elif target.type is FieldType.CHECKBOX:
            allowed = ["true", "false"]
        key = "equals" if cond.equals is not None else "in"
        for value in cond.accepted:
            if allowed is not None and value not in allowed:
                raise _Problem((*where, key), f"'{value}' is not a value of field '{target.name}'")
        where = (*where, "also")
    # Cycle detection: follow every field the conditions read, and the fields their conditions read.
    seen: set[str] = set()
    todo = list(f.show_if.fields)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        nxt = scope.get(name) or top.get(name)
        if nxt is None:
            continue
        if nxt is f:
            raise _Problem((*p, "show_if", "field"), "show_if conditions form a cycle")
        if nxt.show_if is not None:
            todo.extend(nxt.show_if.fields)


def _check_definition(defn: FormDefinition) -> None:
    """Cross-field checks: unique ids and names, show_if targets, nesting."""
    step_ids: set[str] = set()
    top: dict[str, Field] = {}
    owners: dict[str, str] = {}
    for si, step in enumerate(defn.steps):
        if step.id in step_ids:
            raise _Problem(("steps", si, "id"), f"duplicate step id '{step.id}'")
        step_ids.add(step.id)
        for fi, f in enumerate(step.fields):
            p: Path_ = ("steps", si, "fields", fi)
            if f.name in top:
                raise _Problem((*p, "name"), f"duplicate field name '{f.name}' (already in step '{owners[f.name]}')")
            top[f.name], owners[f.name] = f, step.id
            _check_field(f, p, in_group=False)
            subs: dict[str, Field] = {}
            for gi, sub in enumerate(f.fields):
                sp = (*p, "fields", gi)
                if sub.name in subs:
                    raise _Problem((*sp, "name"), f"duplicate field name '{sub.name}' in group '{f.name}'")
                subs[sub.name] = sub
                _check_field(sub, sp, in_group=True)
    for si, step in enumerate(defn.steps):
        for fi, f in enumerate(step.fields):
            p = ("steps", si, "fields", fi)
            _check_condition(f, p, {}, top)
            siblings = {s.name: s for s in f.fields}
            for gi, sub in enumerate(f.fields):
                _check_condition(sub, (*p, "fields", gi), siblings, top)


def check_definition(defn: FormDefinition, source: str) -> None:
    """The cross-field checks of a definition built in code (e.g. a linked procedure's composed form)."""
    try:
        _check_definition(defn)
    except _Problem as problem:
        raise FormDefinitionError(source, None, f"{_fmt_path(problem.path)}: {problem.message}") from None


def parse_definition(text: str, source: str, *, expect: tuple[str, int] | None = None) -> FormDefinition:
    """Parse and check a YAML form definition; raise FormDefinitionError with file and line."""
    lines: dict[Path_, int] = {}
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise FormDefinitionError(source, 1, "the file is empty")
            _map_lines(node, (), lines, set())
            lines.setdefault((), node.start_mark.line + 1)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
        if not isinstance(data, dict):
            raise _Problem((), "the document must be a mapping")
        defn = FormDefinition.model_validate(data)
        _check_definition(defn)
        if expect is not None and defn.id != expect[0]:
            raise _Problem(("id",), f"id '{defn.id}' does not match the directory name '{expect[0]}'")
        if expect is not None and defn.version != expect[1]:
            raise _Problem(("version",), f"version {defn.version} does not match the file name v{expect[1]}.yaml")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = " ".join(x for x in (exc.context, exc.problem) if x)
        raise FormDefinitionError(source, line, f"YAML syntax error: {detail or exc}") from None
    except yaml.YAMLError as exc:
        raise FormDefinitionError(source, None, f"YAML error: {exc}") from None
    except ValidationError as exc:
        problem = _pydantic_problem(exc)
        raise FormDefinitionError(source, _line_for(problem.path, lines), problem.message) from None
    except _Problem as problem:
        line = problem.line or _line_for(problem.path, lines)
        raise FormDefinitionError(source, line, problem.message) from None
    return defn


def load_definition(path: Path, *, expect: tuple[str, int] | None = None) -> FormDefinition:
    """Read and parse one definition file (optionally checking its id and version)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FormDefinitionError(str(path), None, f"cannot read file: {exc}") from None
    return parse_definition(text, str(path), expect=expect)


def load_all_definitions(root: Path) -> dict[tuple[str, int], FormDefinition]:
    """Load ``root/<form_id>/v<N>.yaml`` files, checking ids and versions against paths."""
    result: dict[tuple[str, int], FormDefinition] = {}
    for form_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for file in sorted(form_dir.glob("*.y*ml")):
            match = re.fullmatch(r"v([1-9][0-9]*)\.yaml", file.name)
            if match is None:
                raise FormDefinitionError(str(file), None, "definition files must be named v<N>.yaml")
            key = (form_dir.name, int(match.group(1)))
            result[key] = load_definition(file, expect=key)
    return result
