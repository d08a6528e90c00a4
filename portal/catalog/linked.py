"""Linked procedures (thủ tục liên thông, docs/LINKED.md): one application for several member procedures.

A catalogue entry of kind ``linked`` names its members (single procedures of the catalogue, each with its
own agency, deadline, fees and back-office). The loader composes from them, with `compose`, the entry's
form (shared answers asked once, a member's own questions only when that member applies), its components
(each uploaded once), fees, deadline and payment timing. At run time `members_of`, `applies`, `project` and
`shared_component` turn the one application into each member's dossier.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from forms.definition import NAME_RE, FieldType, FormDefinition, FormDefinitionError, LocalText, check_definition
from forms.validation import visible_fields
from portal.catalog.errors import CatalogError
from portal.catalog.models import Component, Procedure

# The field of the composed form where the applicant ticks the optional members they apply for: a
# multi-choice checkbox whose option values are the members' procedure codes (first step, first field).
MEMBERS_FIELD = "thu_tuc_lien_thong"
MEMBERS_FIELD_LABEL = {
    "vi": "Các thủ tục liên thông bạn đăng ký cùng",
    "en": "Linked procedures you also apply for",
}
MEMBERS_FIELD_HELP = {
    "vi": "Đánh dấu các thủ tục bạn muốn làm cùng hồ sơ này; "
    "câu hỏi riêng của một thủ tục chỉ cần khai khi bạn chọn nó.",
    "en": "Tick the procedures you want done with this application; the questions of a procedure "
    "are needed only when you tick it.",
}
MEMBER_KEYS = frozenset({"procedure", "depends_on", "from_result", "optional", "fields", "components", "reduction"})
ID_RE = re.compile(r"^[a-z0-9_]+$")


@dataclasses.dataclass(frozen=True)
class Member:
    """One member procedure of a linked entry, as normalized by the loader (`Procedure.members`)."""

    procedure: str
    depends_on: tuple[str, ...] = ()
    # member component id -> code of the member whose result fills it (a member it depends on)
    from_result: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)
    # the label of its checkbox when the applicant may leave it out; None: it always applies
    optional: LocalText | None = None
    # member field -> shared field of the composed form (a field not listed keeps its name)
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)
    # member component -> shared component of the composed list (a component not listed keeps its id)
    components: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)
    # a reduction category of the member procedure applied to all its fees in this entry (e.g. the child of a
    # birth registration is exempt from the residence registration fee); None: its fees in full
    reduction: str | None = None

    def shared_field(self, name: str) -> str:
        """The composed form's name of this member's field."""
        return self.fields.get(name, name)

    def to_json(self) -> dict[str, Any]:
        """The normalized form stored in `Procedure.members`."""
        return {
            "procedure": self.procedure,
            "depends_on": list(self.depends_on),
            "from_result": dict(self.from_result),
            "optional": self.optional.model_dump() if self.optional is not None else None,
            "fields": dict(self.fields),
            "components": dict(self.components),
            "reduction": self.reduction,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Member:
        optional = raw.get("optional")
        return cls(
            procedure=str(raw["procedure"]),
            depends_on=tuple(str(c) for c in raw.get("depends_on") or ()),
            from_result={str(k): str(v) for k, v in (raw.get("from_result") or {}).items()},
            optional=LocalText.model_validate(optional) if optional else None,
            fields={str(k): str(v) for k, v in (raw.get("fields") or {}).items()},
            components={str(k): str(v) for k, v in (raw.get("components") or {}).items()},
            reduction=str(raw["reduction"]) if raw.get("reduction") else None,
        )


def _dependency_order(members: Sequence[Member]) -> list[Member]:
    """Members whose dependencies come first, otherwise in the catalogue's order."""
    placed: list[Member] = []
    done: set[str] = set()
    rest = list(members)
    while rest:
        ready = next((m for m in rest if all(d in done for d in m.depends_on)), rest[0])
        placed.append(ready)
        done.add(ready.procedure)
        rest.remove(ready)
    return placed


def members_of(linked: Procedure) -> list[Member]:
    """The members of a linked entry in dependency order (a member after those it depends on; otherwise
    the catalogue's order). Empty for a single procedure."""
    return _dependency_order([Member.from_json(raw) for raw in linked.members or []])


def _ticked(shared: Mapping[str, Any], code: str) -> bool:
    value = shared.get(MEMBERS_FIELD)
    values = value if isinstance(value, list | tuple) else [value]
    return code in {str(v) for v in values if v is not None}


def applies(linked: Procedure, member: Member, shared: Mapping[str, Any]) -> bool:
    """Whether the member is part of this application: always for a member that is not optional, else
    when its box is ticked; and only when every member it depends on applies too (it needs their result)."""
    by_code = {m.procedure: m for m in members_of(linked)}

    def chosen(m: Member, seen: frozenset[str]) -> bool:
        if m.procedure in seen:
            return False
        if m.optional is not None and not _ticked(shared, m.procedure):
            return False
        return all(chosen(by_code[d], seen | {m.procedure}) for d in m.depends_on if d in by_code)

    return chosen(member, frozenset())


def component_applies(linked: Procedure, component: Component, shared: Mapping[str, Any]) -> bool:
    """Whether a composed component is needed by this application: some member needing it applies."""
    by_code = {m.procedure: m for m in members_of(linked)}
    return any(applies(linked, by_code[c], shared) for c in component.members if c in by_code) or not component.members


def project(
    linked: Procedure, member: Member, member_defn: FormDefinition, shared: Mapping[str, Any]
) -> dict[str, Any]:
    """The member's form data from the shared answers: its own field names (renames undone), only its
    fields, and None for a field its own conditions hide (as validation stores a hidden field)."""
    fields = member_defn.all_fields()
    values = {f.name: shared.get(member.shared_field(f.name)) for f in fields}
    shown, env = visible_fields(fields, values)
    out: dict[str, Any] = {}
    for f in fields:
        value = values[f.name] if f.name in shown else None
        if f.type is FieldType.GROUP and isinstance(value, list):
            rows = []
            for row in value:
                row = row if isinstance(row, Mapping) else {}
                row_shown, _ = visible_fields(f.fields, row, env)
                rows.append({s.name: row.get(s.name) if s.name in row_shown else None for s in f.fields})
            value = rows
        out[f.name] = value
    return out


def shared_component(member: Member, member_component_id: str) -> str:
    """The composed list's id of a member's component (its rename, or the same id)."""
    return member.components.get(member_component_id, member_component_id)


# --- Composition (the loader) -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Composed:
    """What the loader stores on a linked entry's Procedure row (and its composed form)."""

    members: list[dict[str, Any]]
    form: FormDefinition
    components: list[Component]
    fees: list[dict[str, Any]]
    deadline_days: int
    payment_timing: str
    in_person: bool
    originals: list[str]
    min_assurance: int


def _mapping(raw: Any, what: str, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise CatalogError(f"{where}: {what} is a mapping of names to names")
    return dict(raw)


def parse_members(raw: Any, where: str, singles: Mapping[str, Procedure], linked_codes: Iterable[str]) -> list[Member]:
    """The `members` of a linked entry, checked: known single procedures, each once; dependencies on other
    members of the entry, without cycles; `from_result` naming a member it depends on."""
    if not isinstance(raw, list) or len(raw) < 2:
        raise CatalogError(f"{where}: members lists at least two member procedures")
    linked = set(linked_codes)
    members: list[Member] = []
    for item in raw:
        if not isinstance(item, Mapping) or not item.get("procedure"):
            raise CatalogError(f"{where}: each member is a mapping with 'procedure' (a procedure code)")
        code = str(item["procedure"])
        unknown = sorted(set(item) - MEMBER_KEYS)
        if unknown:
            raise CatalogError(
                f"{where}: member {code} has unknown key(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(MEMBER_KEYS))}"
            )
        if code in linked:
            raise CatalogError(f"{where}: member {code} is a linked entry; members must be single procedures")
        if code not in singles:
            raise CatalogError(f"{where}: unknown member procedure {code}")
        if any(m.procedure == code for m in members):
            raise CatalogError(f"{where}: member {code} is listed twice")
        depends = item.get("depends_on") or []
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise CatalogError(f"{where}: member {code}: depends_on lists procedure codes (in quotes)")
        optional = item.get("optional")
        if optional is not None and (
            not isinstance(optional, Mapping) or not optional.get("vi") or not optional.get("en")
        ):
            raise CatalogError(f"{where}: member {code}: optional is the label of its checkbox, with both vi and en")
        fields = _mapping(item.get("fields"), f"member {code}: fields", where)
        for shared in fields.values():
            if not re.fullmatch(NAME_RE, shared):
                raise CatalogError(f"{where}: member {code}: shared field name {shared!r} must match {NAME_RE}")
        components = _mapping(item.get("components"), f"member {code}: components", where)
        reduction = item.get("reduction")
        if reduction is not None:
            categories = [str(r["category"]) for r in singles[code].reductions]
            if not isinstance(reduction, str) or reduction not in categories:
                raise CatalogError(
                    f"{where}: member {code}: reduction {reduction!r} is not a reduction category of {code} "
                    f"(its categories: {', '.join(categories) or 'none'})"
                )
        for shared in components.values():
            if not ID_RE.fullmatch(shared):
                raise CatalogError(f"{where}: member {code}: shared component id {shared!r} uses a-z, 0-9 and _")
        members.append(
            Member(
                procedure=code,
                depends_on=tuple(dict.fromkeys(depends)),
                from_result=_mapping(item.get("from_result"), f"member {code}: from_result", where),
                optional=LocalText(vi=str(optional["vi"]), en=str(optional["en"])) if optional else None,
                fields=fields,
                components=components,
                reduction=reduction,
            )
        )
    codes = [m.procedure for m in members]
    for m in members:
        for dep in m.depends_on:
            if dep == m.procedure:
                raise CatalogError(f"{where}: member {m.procedure} depends on itself")
            if dep not in codes:
                raise CatalogError(
                    f"{where}: member {m.procedure} depends on {dep}, which is not a member of the entry"
                )
        for comp, source in m.from_result.items():
            if source not in m.depends_on:
                raise CatalogError(
                    f"{where}: member {m.procedure}: from_result {comp}: {source} must be a member it depends on"
                )
    cycle = _find_cycle(members)
    if cycle:
        raise CatalogError(f"{where}: the members' dependencies form a cycle: {' → '.join(cycle)}")
    return members


def _find_cycle(members: Sequence[Member]) -> list[str] | None:
    """A dependency cycle as a path of codes that returns to its start, or None."""
    deps = {m.procedure: m.depends_on for m in members}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(code: str) -> list[str] | None:
        state[code] = 1
        path.append(code)
        for dep in deps.get(code, ()):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[code] = 2
        return None

    for m in members:
        if m.procedure not in state and (found := visit(m.procedure)):
            return found
    return None


def _rename_condition(cond: dict[str, Any], rename: Callable[[str], str]) -> dict[str, Any]:
    out = {**cond, "field": rename(cond["field"])}
    if cond.get("also"):
        out["also"] = _rename_condition(cond["also"], rename)
    return out


def _member_field(fdict: dict[str, Any], member: Member) -> dict[str, Any]:
    """A member's field (as a minimal dict) under its shared name, its conditions' targets renamed too."""
    out = {**fdict, "name": member.shared_field(fdict["name"])}
    if out.get("show_if"):
        out["show_if"] = _rename_condition(out["show_if"], member.shared_field)
    if out.get("fields"):
        siblings = {s["name"] for s in out["fields"]}

        def rename(name: str) -> str:
            return name if name in siblings else member.shared_field(name)

        out["fields"] = [
            {**s, "show_if": _rename_condition(s["show_if"], rename)} if s.get("show_if") else s for s in out["fields"]
        ]
    return out


_AGREE = ("type", "min", "max", "integer")


def _disagreement(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """What makes two definitions of one field incompatible (None when they agree)."""
    for key in _AGREE:
        if a.get(key) != b.get(key):
            return f"{key} {a.get(key)!r} / {b.get(key)!r}"
    values_a = [o["value"] for o in a.get("options") or []]
    values_b = [o["value"] for o in b.get("options") or []]
    if values_a != values_b:
        return f"options {values_a} / {values_b}"
    if a.get("show_if") != b.get("show_if"):
        return f"show_if {a.get('show_if')} / {b.get('show_if')}"
    subs_a, subs_b = a.get("fields") or [], b.get("fields") or []
    if [s["name"] for s in subs_a] != [s["name"] for s in subs_b]:
        return f"group fields {[s['name'] for s in subs_a]} / {[s['name'] for s in subs_b]}"
    for sa, sb in zip(subs_a, subs_b, strict=True):
        problem = _disagreement(sa, sb)
        if problem:
            return f"group field {sa['name']}: {problem}"
    return None


def _merge_field(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two agreeing definitions as one: required if either is, the tighter length and row limits."""
    out = dict(a)
    if b.get("required"):
        out["required"] = True
    for key in ("help", "prefill"):
        if key not in out and key in b:
            out[key] = b[key]
    if "max_length" in b:
        out["max_length"] = min(out.get("max_length", b["max_length"]), b["max_length"])
    if "min_items" in b:
        out["min_items"] = max(out.get("min_items", 0), b["min_items"])
    if "max_items" in b:
        out["max_items"] = min(out.get("max_items", b["max_items"]), b["max_items"])
    if a.get("fields"):
        out["fields"] = [_merge_field(sa, sb) for sa, sb in zip(a["fields"], b["fields"], strict=True)]
    return out


def _member_name(member: Member, shared: str, field_names: Mapping[str, str]) -> str:
    own = field_names.get(shared, shared)
    return member.procedure if own == shared else f"{member.procedure} (its field {own})"


def compose_form(
    code: str,
    name: LocalText,
    form_ref: tuple[str, int],
    members: Sequence[Member],
    definitions: Mapping[str, FormDefinition],
    where: str,
) -> FormDefinition:
    """The linked entry's form from its members' forms (`definitions` by member code), in catalogue order:
    a shared field asked once (definitions must agree), required if any member requires it; a field of
    optional members only gated on their box (combined with its own show_if through `also`)."""
    holders: dict[str, list[tuple[Member, dict[str, Any]]]] = {}
    own_names: dict[str, dict[str, str]] = {}  # member code -> shared name -> its own name
    steps: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for member in members:
        defn = definitions[member.procedure]
        names = {f.name for f in defn.all_fields()}
        for own in member.fields:
            if own not in names:
                raise CatalogError(
                    f"{where}: linked entry {code}: member {member.procedure} renames field {own}, "
                    f"which its form {defn.id} v{defn.version} does not have"
                )
        mapped: dict[str, str] = {}
        for own in sorted(names):
            shared = member.shared_field(own)
            if shared == MEMBERS_FIELD:
                raise CatalogError(f"{where}: linked entry {code}: the field name {MEMBERS_FIELD} is the loader's own")
            if shared in mapped:
                raise CatalogError(
                    f"{where}: linked entry {code}: member {member.procedure} maps fields {mapped[shared]} and {own} "
                    f"onto one field {shared}"
                )
            mapped[shared] = own
        own_names[member.procedure] = mapped
        for step in defn.steps:
            title = step.title.model_dump()
            for f in step.fields:
                fdict = _member_field(f.model_dump(mode="json", by_alias=True, exclude_defaults=True), member)
                shared = fdict["name"]
                if shared not in holders:
                    holders[shared] = []
                    steps.setdefault(step.id, (title, []))[1].append(shared)
                holders[shared].append((member, fdict))

    merged: dict[str, dict[str, Any]] = {}
    for shared, held in holders.items():
        first_member, field = held[0]
        for member, other in held[1:]:
            problem = _disagreement(field, other)
            if problem is None and max(field.get("min_items", 0), other.get("min_items", 0)) > min(
                field.get("max_items", 20), other.get("max_items", 20)
            ):
                problem = "min_items / max_items leave no number of rows"
            if problem:
                raise CatalogError(
                    f"{where}: linked entry {code}: field {shared} of members "
                    f"{_member_name(first_member, shared, own_names[first_member.procedure])} and "
                    f"{_member_name(member, shared, own_names[member.procedure])} conflict ({problem})"
                )
            field = _merge_field(field, other)
        if all(m.optional is not None for m, _ in held):
            codes = [m.procedure for m, _ in held]
            gate: dict[str, Any] = {"field": MEMBERS_FIELD}
            gate.update({"equals": codes[0]} if len(codes) == 1 else {"in": codes})
            if field.get("show_if"):
                gate["also"] = field["show_if"]
            field = {**field, "show_if": gate}
        merged[shared] = field

    body_steps: list[dict[str, Any]] = [
        {"id": sid, "title": title, "fields": [merged[n] for n in names]}
        for sid, (title, names) in steps.items()
        if names
    ]
    optional = [m for m in members if m.optional is not None]
    if optional:
        body_steps[0]["fields"].insert(
            0,
            {
                "name": MEMBERS_FIELD,
                "type": "checkbox",
                "label": MEMBERS_FIELD_LABEL,
                "help": MEMBERS_FIELD_HELP,
                "options": [{"value": m.procedure, "label": m.optional.model_dump()} for m in optional if m.optional],
            },
        )
    body = {"id": form_ref[0], "version": form_ref[1], "title": name.model_dump(), "steps": body_steps}
    try:
        defn = FormDefinition.model_validate(body)
        check_definition(defn, f"composed form {form_ref[0]} v{form_ref[1]}")
    except (ValueError, FormDefinitionError) as exc:
        raise CatalogError(f"{where}: linked entry {code}: the composed form is not valid: {exc}") from exc
    return defn


def compose_components(
    code: str, members: Sequence[Member], procs: Mapping[str, Procedure], where: str
) -> list[Component]:
    """Each component once under its shared id, with the members needing it; the ones filled by another
    member's result are left out. Two members' components on one shared id must be compatible."""
    composed: dict[str, Component] = {}
    for member in members:
        proc = procs[member.procedure]
        own = [c for c in proc.component_list if not c.reduction_proof]
        ids = {c.id for c in own}
        for key, what in ((member.components, "components"), (member.from_result, "from_result")):
            for cid in key:
                if cid not in ids:
                    raise CatalogError(
                        f"{where}: linked entry {code}: member {member.procedure}: {what} names component {cid}, "
                        f"which the procedure does not have"
                    )
        seen: dict[str, str] = {}
        for comp in own:
            if comp.id in member.from_result:
                continue
            sid = shared_component(member, comp.id)
            if sid in seen:
                raise CatalogError(
                    f"{where}: linked entry {code}: member {member.procedure} maps components "
                    f"{seen[sid]} and {comp.id} onto one component {sid}"
                )
            seen[sid] = comp.id
            mine = comp.model_copy(update={"id": sid, "members": (member.procedure,)})
            if sid not in composed:
                composed[sid] = mine
                continue
            composed[sid] = _merge_component(code, composed[sid], mine, where)
    return list(composed.values())


def _merge_component(code: str, a: Component, b: Component, where: str) -> Component:
    def conflict(why: str) -> CatalogError:
        return CatalogError(
            f"{where}: linked entry {code}: component {a.id} of members {', '.join(a.members)} and "
            f"{', '.join(b.members)} conflict ({why})"
        )

    accepts = tuple(t for t in a.accepts if t in b.accepts)
    if not accepts:
        raise conflict(f"no file type in common: {list(a.accepts)} / {list(b.accepts)}")
    if a.doc_type and b.doc_type and a.doc_type != b.doc_type:
        raise conflict(f"doc_type {a.doc_type} / {b.doc_type}")
    application = a.application or b.application
    if application and "pdf" not in accepts:
        raise conflict("one is the application form, which must accept pdf, and pdf is not accepted by both")
    return a.model_copy(
        update={
            "accepts": accepts,
            "mandatory": a.mandatory or b.mandatory,
            "multiple": a.multiple and b.multiple,
            "signature_required": a.signature_required or b.signature_required,
            "application": application,
            "doc_type": a.doc_type or b.doc_type,
            "members": (*a.members, *b.members),
        }
    )


def name_application(code: str, components: list[Component], raw: Any, where: str) -> list[Component]:
    """The entry's `application` ({vi, en}): the name of the composed application form (the component with
    `application: true`, one signed application for every member), instead of the first member's own form's
    name. Absent: the components as composed."""
    if raw is None:
        return components
    if (
        not isinstance(raw, Mapping)
        or set(raw) != {"vi", "en"}
        or not all(isinstance(v, str) and v.strip() for v in raw.values())
    ):
        raise CatalogError(
            f"{where}: linked entry {code}: application is the shared application form's name, {{vi, en}}"
        )
    forms = [c.id for c in components if c.application]
    if len(forms) != 1:
        found = f"{len(forms)} ({', '.join(forms)})" if forms else "none"
        raise CatalogError(
            f"{where}: linked entry {code}: application names the shared application form, but the composed "
            f"components have {found} marked application: true in its members"
        )
    name = LocalText(vi=str(raw["vi"]).strip(), en=str(raw["en"]).strip())
    return [c.model_copy(update={"name": name}) if c.application else c for c in components]


def member_fee(member: Member, proc: Procedure, fee: Mapping[str, Any]) -> dict[str, Any]:
    """A member's fee item as the linked entry charges it: with the member's agency and code, a per-unit
    field under its shared name, and the member's reduction applied (the reduced amount, the reduction named
    in the item's name, and what it was before in `reduction`)."""
    item: dict[str, Any] = {**fee, "agency": proc.agency_code, "member": member.procedure}
    if fee.get("per"):
        item["per"] = member.shared_field(str(fee["per"]))
    declared = proc.reduction(member.reduction)
    if declared is None:
        return item
    percent = int(declared["percent"])
    amount = int(fee["amount"])
    names = declared["name"]
    what_vi = "miễn" if percent == 100 else f"giảm {percent}%"
    what_en = "exempt" if percent == 100 else f"{percent}% off"
    item["name"] = {
        "vi": f"{fee['name']['vi']} ({what_vi}: {_lower_first(str(names['vi']))})",
        "en": f"{fee['name']['en']} ({what_en}: {_lower_first(str(names['en']))})",
    }
    item["amount"] = amount - amount * percent // 100
    item["reduction"] = {"category": declared["category"], "name": dict(names), "percent": percent, "amount": amount}
    return item


def _lower_first(text: str) -> str:
    """A category's name inside a sentence ("Trẻ em dưới 16 tuổi" -> "trẻ em dưới 16 tuổi")."""
    return text[:1].lower() + text[1:]


def longest_chain(members: Sequence[Member], days: Mapping[str, int]) -> int:
    """Working days of the longest chain of members along their dependencies."""
    by_code = {m.procedure: m for m in members}
    finish: dict[str, int] = {}
    for m in _dependency_order(members):
        finish[m.procedure] = days[m.procedure] + max((finish[d] for d in m.depends_on if d in by_code), default=0)
    return max(finish.values(), default=0)


def compose(
    code: str,
    doc: Mapping[str, Any],
    where: str,
    procs: Mapping[str, Procedure],
    linked_codes: Iterable[str],
    member_forms: Callable[[Procedure], FormDefinition],
    name: LocalText,
) -> Composed:
    """Everything derived for a linked entry from its members (`procs`: the single procedures by code)."""
    members = parse_members(doc.get("members"), where, procs, linked_codes)
    delivery = list(doc.get("delivery") or [])
    if "post" in delivery:
        raise CatalogError(f"{where}: delivery by post is not offered for linked entries (yet)")
    for m in members:
        missing = [d for d in delivery if d not in procs[m.procedure].delivery]
        if missing:
            raise CatalogError(f"{where}: delivery {', '.join(missing)} is not offered by member {m.procedure}")
    form_ref = (str(doc["form"]["id"]), int(doc["form"]["version"]))
    form = compose_form(
        code, name, form_ref, members, {m.procedure: member_forms(procs[m.procedure]) for m in members}, where
    )
    components = name_application(code, compose_components(code, members, procs, where), doc.get("application"), where)
    kept = {c.id for c in components}
    originals: list[str] = []
    for m in members:
        for cid in procs[m.procedure].originals:
            sid = shared_component(m, cid)
            if sid in kept and sid not in originals:
                originals.append(sid)
    fees = [member_fee(m, procs[m.procedure], fee) for m in members for fee in procs[m.procedure].fees]
    default_assurance = 2 if doc.get("level") == "full" else 1
    return Composed(
        members=[m.to_json() for m in members],
        form=form,
        components=components,
        fees=fees,
        deadline_days=longest_chain(members, {m.procedure: procs[m.procedure].deadline_days for m in members}),
        payment_timing="before" if any(procs[m.procedure].payment_timing == "before" for m in members) else "after",
        in_person=any(procs[m.procedure].in_person for m in members),
        originals=originals,
        min_assurance=max(
            [doc.get("min_assurance") or default_assurance, *(procs[m.procedure].required_assurance for m in members)]
        ),
    )
