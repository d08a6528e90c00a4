"""Step, field and whole-form validation of submitted inputs against a FormDefinition."""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from forms.address import clean_address
from forms.definition import ADDRESS_PARTS, Field, FieldType, FormDefinition
from forms.fields import clean_value
from forms.messages import UNKNOWN_FIELD, Msg
from portal.kernel.i18n import N_

__all__ = [
    "Msg",
    "StepResult",
    "group_add_row",
    "group_remove_row",
    "validate_data",
    "validate_field",
    "validate_step",
    "values_to_raw",
]

Raw = Mapping[str, Sequence[str]]
MAX_VALUE_CHARS = 100_000  # longer submitted values are cut before any processing
MAX_VALUES_PER_KEY = 200


@dataclass(frozen=True)
class StepResult:
    """Canonical values of a step's top-level fields and errors keyed by input path."""

    values: dict[str, Any]
    errors: dict[str, Msg]

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors


def _to_str(item: object) -> str | None:
    """Coerce one submitted value to a bounded string (None for files, containers and other objects)."""
    if isinstance(item, bytes):
        item = item.decode("utf-8", "replace")
    elif isinstance(item, int | float) and not isinstance(item, bool):
        item = str(item)
    if not isinstance(item, str):
        return None
    return item[:MAX_VALUE_CHARS]


def _values(raw: Raw, key: str) -> list[str]:
    """All submitted values for ``key``, hostile shapes tolerated."""
    try:
        getlist = getattr(raw, "getlist", None)  # Starlette/Werkzeug multi-dicts
        found: Any = getlist(key) if callable(getlist) else raw.get(key)
    except Exception:
        return []
    if found is None:
        return []
    if isinstance(found, str | bytes) or not isinstance(found, list | tuple):
        found = [found]
    out = [_to_str(item) for item in found[:MAX_VALUES_PER_KEY]]
    return [s for s in out if s is not None]


def _first(raw: Raw, key: str) -> str:
    """The first submitted value for ``key`` or ""."""
    values = _values(raw, key)
    return values[0] if values else ""


Cleaner = Callable[[Field, Mapping[str, Any]], tuple[Any, dict[str, Msg]]]


def _walk(
    fields: Sequence[Field], outer: Mapping[str, Any], on_visible: Callable[[Field, Mapping[str, Any]], Any]
) -> tuple[dict[str, Any], set[str], Mapping[str, Any]]:
    """Decide show_if for every field (a condition's target first, groups last; a hidden field counts as
    empty); `on_visible` gives each shown field's value. Returns the values, the shown names, and the
    values conditions see (these fields over `outer`)."""
    effective: dict[str, Any] = {}
    env: ChainMap[str, Any] = ChainMap(effective, dict(outer))
    local = {f.name: f for f in fields}
    shown: set[str] = set()
    pending: set[str] = set()

    def visit(f: Field) -> None:
        if f.name in effective or f.name in pending:
            return
        pending.add(f.name)
        visible = True
        if f.show_if is not None:
            # Every field the condition reads (its `also` targets too) is decided first.
            for name in f.show_if.fields:
                target = local.get(name)
                if target is not None:
                    visit(target)
            visible = f.show_if.holds(env)
        effective[f.name] = on_visible(f, env) if visible else None
        if visible:
            shown.add(f.name)
        pending.discard(f.name)

    # Groups last: their rows may depend on any top-level value.
    for f in sorted(fields, key=lambda f: f.type is FieldType.GROUP):
        visit(f)
    return effective, shown, env


def visible_fields(
    fields: Sequence[Field], values: Mapping[str, Any], outer: Mapping[str, Any] | None = None
) -> tuple[set[str], Mapping[str, Any]]:
    """The names of the fields shown for these stored answers, and the values conditions see."""
    _, shown, env = _walk(fields, outer or {}, lambda f, _env: values.get(f.name))
    return shown, env


def _resolve(fields: Sequence[Field], clean: Cleaner, outer: Mapping[str, Any]) -> StepResult:
    """Evaluate show_if (targets first) and clean visible fields; hidden fields become None."""
    errors: dict[str, Msg] = {}

    def cleaned(f: Field, env: Mapping[str, Any]) -> Any:
        value, errs = clean(f, env)
        errors.update(errs)
        return value

    effective, _, _ = _walk(fields, outer, cleaned)
    return StepResult({f.name: effective.get(f.name) for f in fields}, errors)


def _row_count(group: Field, raw: Raw, key: str) -> tuple[int, Msg | None]:
    """Number of submitted rows (from ``<group>.count`` or the highest index) and a too-many error."""
    count_text = _first(raw, f"{key}.count").strip()
    if re.fullmatch(r"[0-9]{1,6}", count_text):
        count = int(count_text)
    else:
        pattern = re.compile(re.escape(key) + r"\.([0-9]{1,6})\.")
        indexes = [int(m.group(1)) for k in _keys(raw) if (m := pattern.match(k))]
        count = max(indexes) + 1 if indexes else 0
    if count > group.max_items:
        return group.max_items, Msg(N_("The maximum number of entries is {max}."), {"max": group.max_items})
    return count, None


def _keys(raw: Raw) -> list[str]:
    """The string keys of the raw mapping."""
    try:
        return [k for k in raw if isinstance(k, str)]
    except Exception:
        return []


def _cleaner(raw: Raw, prefix: str, today: date | None) -> Cleaner:
    """A cleaner reading inputs named ``prefix + field.name`` from ``raw``."""

    def clean(f: Field, env: Mapping[str, Any]) -> tuple[Any, dict[str, Msg]]:
        key = prefix + f.name
        if f.type is FieldType.ADDRESS:
            parts = [_first(raw, f"{key}.{part}") for part in ADDRESS_PARTS]
            value, errs = clean_address(*parts, required=f.required)
            return value, {f"{key}.{part}": msg for part, msg in errs.items()}
        if f.type is FieldType.GROUP:
            return _clean_group(f, raw, key, env, today)
        value, error = clean_value(f, _values(raw, key), today=today)
        return value, ({key: error} if error is not None else {})

    return clean


def _clean_group(
    group: Field, raw: Raw, key: str, env: Mapping[str, Any], today: date | None
) -> tuple[list[dict[str, Any]], dict[str, Msg]]:
    """Clean every row of a repeatable group and check the number of rows."""
    count, error = _row_count(group, raw, key)
    rows: list[dict[str, Any]] = []
    errors: dict[str, Msg] = {}
    for index in range(count):
        row = _resolve(group.fields, _cleaner(raw, f"{key}.{index}.", today), env)
        rows.append(row.values)
        errors.update(row.errors)
    minimum = max(group.min_items, 1 if group.required else 0)
    if error is None and count < minimum:
        error = Msg(N_("The minimum number of entries is {min}."), {"min": minimum})
    if error is not None:
        errors[key] = error
    return rows, errors


def validate_step(
    defn: FormDefinition,
    step_id: str,
    raw: Raw,
    *,
    context: Mapping[str, Any] | None = None,
    today: date | None = None,
) -> StepResult:
    """Validate the submitted inputs of one step (KeyError for an unknown step id)."""
    step = defn.step(step_id)
    return _resolve(step.fields, _cleaner(raw, "", today), dict(context or {}))


def validate_field(
    defn: FormDefinition,
    path: str,
    raw: Raw,
    *,
    context: Mapping[str, Any] | None = None,
    today: date | None = None,
) -> Msg | None:
    """Inline validation of one input path (``raw`` should hold the whole step's inputs)."""
    try:
        defn.find_field(path)
        step = defn.step_of(path)
    except KeyError:
        return UNKNOWN_FIELD
    result = validate_step(defn, step.id, raw, context=context, today=today)
    return result.errors.get(path)


def _scalar_to_raw(value: Any) -> list[str]:
    """Submitted-form representation of a stored scalar."""
    if value is None or value is False:
        return []
    if value is True:
        return ["true"]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and not isinstance(v, dict | list)]
    if isinstance(value, float):
        return [repr(value)]
    return [str(value)]


def values_to_raw(fields: Sequence[Field], values: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """Turn stored canonical values back into submitted-input form (for redisplay or revalidation)."""
    raw: dict[str, list[str]] = {}
    for f in fields:
        key = prefix + f.name
        value = values.get(f.name) if isinstance(values, Mapping) else None
        if f.type is FieldType.ADDRESS:
            parts = value if isinstance(value, Mapping) else {}
            for part in ADDRESS_PARTS:
                raw[f"{key}.{part}"] = _scalar_to_raw(parts.get(part)) if isinstance(parts.get(part), str) else []
        elif f.type is FieldType.GROUP:
            rows = value if isinstance(value, list) else []
            raw[f"{key}.count"] = [str(len(rows))]
            for index, row in enumerate(rows):
                raw.update(values_to_raw(f.fields, row if isinstance(row, Mapping) else {}, f"{key}.{index}."))
        else:
            raw[key] = _scalar_to_raw(value)
    return raw


def validate_data(defn: FormDefinition, data: Mapping[str, Any], *, today: date | None = None) -> dict[str, Msg]:
    """Revalidate the stored canonical data of the whole form (all steps merged)."""
    fields = defn.all_fields()
    raw = values_to_raw(fields, data if isinstance(data, Mapping) else {})
    return _resolve(fields, _cleaner(raw, "", today), {}).errors


def group_add_row(values: Mapping[str, Any], group: Field) -> dict[str, Any]:
    """Return a copy of ``values`` with an empty row appended to ``group`` (no-op at max_items)."""
    rows = list(values.get(group.name) or [])
    if len(rows) < group.max_items:
        rows.append({f.name: None for f in group.fields})
    return {**values, group.name: rows}


def group_remove_row(values: Mapping[str, Any], group: Field, index: int) -> dict[str, Any]:
    """Return a copy of ``values`` without row ``index`` of ``group`` (no-op if out of range)."""
    rows = list(values.get(group.name) or [])
    if 0 <= index < len(rows):
        del rows[index]
    return {**values, group.name: rows}
