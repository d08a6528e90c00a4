"""Load agencies, procedures and form definitions from the data files (idempotent)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlmodel import Session, select

from forms.address import normalize_province_code
from forms.definition import FieldType, FormDefinition, FormDefinitionError, LocalText, load_all_definitions
from forms.models import FormVersion
from portal.catalog.errors import CatalogError
from portal.catalog.linked import compose
from portal.catalog.models import Agency, Component, Procedure
from portal.kernel.audit import record
from portal.kernel.text import fold
from postal.models import WeightClass

DATA_DIR = Path(__file__).resolve().parent / "data"
FORMS_DIR = Path(__file__).resolve().parents[2] / "forms" / "definitions"
LEVELS = {"full", "partial"}
DELIVERY = {"online", "centre", "post"}
FILE_TYPES = {"pdf", "jpeg", "png"}
PAYMENT_TIMINGS = {"before", "after"}
# The component that holds the proof of a declared fee reduction; added to every procedure that has
# reductions, and mandatory only while a reduction is declared.
REDUCTION_PROOF = "fee_reduction_proof"
REDUCTION_PROOF_NAME = {
    "vi": "Giấy tờ chứng minh thuộc đối tượng được miễn, giảm phí, lệ phí",
    "en": "Proof of eligibility for the fee exemption or reduction",
}
# What a component of a data file may say; reduction_proof and members are the loader's own.
COMPONENT_KEYS = frozenset(Component.model_fields) - {"reduction_proof", "members"}
KINDS = {"single", "linked"}
# What a fee item of a single procedure may say: `per` names the form's whole-number field it is charged per
# unit of (e.g. the copies requested); a linked entry's items also get agency, member and reduction (derived).
FEE_KEYS = frozenset({"name", "amount", "per", "code"})
DOC_TYPE_RE = re.compile(r"^[a-z0-9_]{1,40}$")
# A linked entry (docs/LINKED.md): what its file may say, and what it must not (derived from the members).
LINKED_KEYS = frozenset(
    {"code", "kind", "slug", "agency", "name", "field", "level", "description", "result", "delivery", "form", "members"}
    | {"min_assurance", "application"}
)
LINKED_DERIVED = frozenset(
    {"fees", "components", "reductions", "originals", "cod", "in_person", "payment", "deadline_days"}
    | {"refundable", "result_doc_type", "result_valid_days", "result_weight_class"}
)

__all__ = ["CatalogError", "LoadReport", "load_catalog"]


@dataclass(frozen=True)
class LoadReport:
    agencies: int
    procedures: int
    forms: int


def _need(doc: dict[str, Any], key: str, source: Path) -> Any:
    if key not in doc or doc[key] in (None, ""):
        raise CatalogError(f"{source}: missing '{key}'")
    return doc[key]


def _text(doc: dict[str, Any], key: str, source: Path, *, required: bool = True) -> tuple[str, str]:
    value = doc.get(key)
    if value is None and not required:
        return "", ""
    if not isinstance(value, dict) or not value.get("vi") or not value.get("en"):
        raise CatalogError(f"{source}: '{key}' needs both vi and en")
    return str(value["vi"]), str(value["en"])


def _check_procedure(
    doc: dict[str, Any], source: Path, agencies: set[str], forms: dict[tuple[str, int], FormDefinition]
) -> None:
    for key in ("code", "slug", "agency", "level", "deadline_days", "components", "delivery", "form"):
        _need(doc, key, source)
    if doc["agency"] not in agencies:
        raise CatalogError(f"{source}: unknown agency {doc['agency']!r}")
    if doc["level"] not in LEVELS:
        raise CatalogError(f"{source}: level must be one of {sorted(LEVELS)}")
    if not isinstance(doc["deadline_days"], int) or doc["deadline_days"] < 1:
        raise CatalogError(f"{source}: deadline_days must be a positive integer")
    if doc.get("min_assurance") not in (None, 1, 2):
        raise CatalogError(f"{source}: min_assurance is the sign-in assurance level needed, 1 or 2")
    if not isinstance(doc.get("centre_check", False), bool):
        raise CatalogError(f"{source}: centre_check is true or false (the centre checks results before return)")
    if not set(doc["delivery"]) <= DELIVERY or not doc["delivery"]:
        raise CatalogError(f"{source}: delivery must be a non-empty subset of {sorted(DELIVERY)}")
    for fee in doc.get("fees") or []:
        if not isinstance(fee, dict):
            raise CatalogError(f"{source}: each fee is a mapping with name and amount, not {fee!r}")
        _text(fee, "name", source)
        if isinstance(fee.get("amount"), bool) or not isinstance(fee.get("amount"), int) or fee["amount"] < 0:
            raise CatalogError(f"{source}: fee amounts are whole numbers of đồng")
        unknown = sorted(set(fee) - FEE_KEYS)
        if unknown:
            raise CatalogError(
                f"{source}: fee {fee['name']['vi']!r} has unknown key(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(FEE_KEYS))}"
            )
    if doc.get("payment", "before") not in PAYMENT_TIMINGS:
        raise CatalogError(f"{source}: payment must be one of {sorted(PAYMENT_TIMINGS)}")
    categories: set[str] = set()
    for reduction in doc.get("reductions") or []:
        category = _need(reduction, "category", source)
        if category in categories:
            raise CatalogError(f"{source}: duplicate reduction category {category!r}")
        categories.add(category)
        _text(reduction, "name", source)
        percent = reduction.get("percent")
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 < percent <= 100:
            raise CatalogError(f"{source}: reduction {category} needs a whole percent from 1 to 100")
    seen: set[str] = {REDUCTION_PROOF}
    for comp in doc["components"]:
        _component(comp, source, seen)
    originals = doc.get("originals") or []
    if not isinstance(originals, list) or not set(originals) <= seen - {REDUCTION_PROOF}:
        raise CatalogError(f"{source}: originals lists ids of the procedure's components")
    if doc.get("result_weight_class", WeightClass.DOCUMENT) not in {w.value for w in WeightClass}:
        raise CatalogError(f"{source}: result_weight_class must be one of {[w.value for w in WeightClass]}")
    if doc.get("cod") and "post" not in doc["delivery"]:
        raise CatalogError(f"{source}: cod (paying the courier at delivery) needs the delivery method post")
    form = doc["form"]
    if (form.get("id"), form.get("version")) not in forms:
        raise CatalogError(f"{source}: form {form} has no definition in forms/definitions")
    for fee in doc.get("fees") or []:
        if "per" in fee:
            _check_per(fee, forms[(form["id"], form["version"])], source)
    _check_result_keys(doc, source)


def _check_per(fee: dict[str, Any], defn: FormDefinition, source: Path) -> None:
    """A fee charged per unit of an answer: `per` names a top-level number field of the procedure's form with
    `integer: true` and a `max` (so that the bill is bounded)."""
    per, what = fee["per"], f"fee {fee['name']['vi']!r}"
    field = next((f for f in defn.all_fields() if f.name == per), None) if isinstance(per, str) else None
    if field is None:
        raise CatalogError(
            f"{source}: {what}: per {per!r} is not a field of the form {defn.id} v{defn.version} "
            f"(a top-level number field, the units the amount is charged for)"
        )
    if field.type is not FieldType.NUMBER or not field.integer:
        raise CatalogError(
            f"{source}: {what}: per field {per} of the form {defn.id} v{defn.version} must be a whole number "
            f"(type number, integer: true), not {field.type.value}{'' if field.integer else ' without integer: true'}"
        )
    if field.max is None:
        raise CatalogError(f"{source}: {what}: per field {per} of the form {defn.id} v{defn.version} needs a max")


def _check_result_keys(doc: dict[str, Any], source: Path) -> None:
    """`result_doc_type` (the result's type in the citizen's store) and `result_valid_days` (its validity)."""
    doc_type = doc.get("result_doc_type")
    if doc_type is not None and not (isinstance(doc_type, str) and DOC_TYPE_RE.fullmatch(doc_type)):
        raise CatalogError(f"{source}: result_doc_type uses a-z, 0-9 and _ (at most 40)")
    days = doc.get("result_valid_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise CatalogError(f"{source}: result_valid_days must be a positive whole number of days")


def _check_linked(
    doc: dict[str, Any], source: Path, agencies: set[str], forms: dict[tuple[str, int], FormDefinition]
) -> None:
    """The keys of a linked entry's file (the rest is checked while composing it from its members)."""
    derived = sorted(set(doc) & LINKED_DERIVED)
    if derived:
        raise CatalogError(
            f"{source}: {', '.join(derived)} not allowed on a linked entry: derived from its member procedures"
        )
    unknown = sorted(set(doc) - LINKED_KEYS)
    if unknown:
        raise CatalogError(f"{source}: unknown key(s) {', '.join(unknown)} on a linked entry")
    for key in ("code", "slug", "agency", "level", "delivery", "form", "members"):
        _need(doc, key, source)
    if doc["agency"] not in agencies:
        raise CatalogError(f"{source}: unknown agency {doc['agency']!r}")
    if doc["level"] not in LEVELS:
        raise CatalogError(f"{source}: level must be one of {sorted(LEVELS)}")
    if doc.get("min_assurance") not in (None, 1, 2):
        raise CatalogError(f"{source}: min_assurance is the sign-in assurance level needed, 1 or 2")
    if not isinstance(doc["delivery"], list) or not set(doc["delivery"]) <= DELIVERY or not doc["delivery"]:
        raise CatalogError(f"{source}: delivery must be a non-empty subset of {sorted(DELIVERY)}")
    form = doc["form"]
    if not isinstance(form, dict) or not isinstance(form.get("id"), str) or not isinstance(form.get("version"), int):
        raise CatalogError(f"{source}: form is {{id, version}} of the composed form")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", form["id"]) or form["version"] < 1:
        raise CatalogError(f"{source}: form id uses a-z, 0-9, _ and -, and version is at least 1")
    if any(form_id == form["id"] for form_id, _ in forms):
        raise CatalogError(
            f"{source}: form {form['id']} is composed from the members' forms: remove forms/definitions/{form['id']}"
        )


def _store_form(session: Session, defn: FormDefinition) -> None:
    """Insert or update one form version (its body and sha256)."""
    body = defn.model_dump(mode="json", by_alias=True)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    row = session.get(FormVersion, (defn.id, defn.version))
    if row is None:
        session.add(FormVersion(form_id=defn.id, version=defn.version, body=body, sha256=digest))
    elif row.sha256 != digest:
        row.body, row.sha256 = body, digest
        session.add(row)


def _component(comp: Any, source: Path, seen: set[str]) -> Component:
    """One component of a data file, checked: known keys only, a unique id, both names, accepted types."""
    if not isinstance(comp, dict):
        raise CatalogError(f"{source}: each component is a mapping, not {comp!r}")
    cid = _need(comp, "id", source)
    if cid in seen:
        raise CatalogError(f"{source}: duplicate component id {cid!r}")
    seen.add(cid)
    unknown = sorted(set(comp) - COMPONENT_KEYS)
    if unknown:
        raise CatalogError(
            f"{source}: component {cid} has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(COMPONENT_KEYS))}"
        )
    _text(comp, "name", source)
    if not set(comp.get("accepts") or []) <= FILE_TYPES or not comp.get("accepts"):
        raise CatalogError(f"{source}: component {cid} accepts must be a subset of {sorted(FILE_TYPES)}")
    if comp.get("application") and "pdf" not in comp["accepts"]:
        raise CatalogError(f"{source}: component {cid} is the application form, so it must accept pdf")
    if comp.get("doc_type") is not None and not DOC_TYPE_RE.fullmatch(str(comp["doc_type"])):
        raise CatalogError(f"{source}: component {cid}: doc_type uses a-z, 0-9 and _ (at most 40)")
    try:
        return Component.model_validate(comp)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CatalogError(f"{source}: component {cid}: {problems}") from exc


def _yaml(source: Path) -> Any:
    """A data file's content; a file that is not YAML (or not UTF-8) is a CatalogError naming it and the line."""
    try:
        return yaml.safe_load(source.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{source}: not valid YAML: {exc}") from exc


def load_catalog(session: Session, *, data_dir: Path = DATA_DIR, forms_dir: Path = FORMS_DIR) -> LoadReport:
    """Upsert everything from the data files; running it twice changes nothing."""
    try:
        definitions = load_all_definitions(forms_dir)
    except FormDefinitionError as exc:
        raise CatalogError(str(exc)) from exc
    for defn in definitions.values():
        _store_form(session, defn)

    agency_docs = _yaml(data_dir / "agencies.yaml") or []
    agency_names: dict[str, tuple[str, str]] = {}
    for doc in agency_docs:
        code = _need(doc, "code", data_dir / "agencies.yaml")
        vi, en = _text(doc, "name", data_dir / "agencies.yaml")
        agency_names[code] = (vi, en)
        agency = session.get(Agency, code) or Agency(code=code, name_vi=vi, name_en=en)
        agency.name_vi, agency.name_en = vi, en
        agency.address, agency.phone, agency.email = doc.get("address", ""), doc.get("phone", ""), doc.get("email", "")
        province = str(doc.get("province", ""))
        if province and normalize_province_code(province) != province:
            raise CatalogError(f"{data_dir / 'agencies.yaml'}: agency {code}: province must be a two-digit code")
        agency.province_code = province
        session.add(agency)
    session.flush()

    files = sorted((data_dir / "procedures").glob("*.yaml"))
    codes: set[str] = set()
    slugs: set[str] = set()
    docs: list[tuple[Path, dict[str, Any]]] = []
    for source in files:
        doc = _yaml(source)
        if not isinstance(doc, dict):
            raise CatalogError(f"{source}: expected a mapping")
        kind = doc.get("kind", "single")
        if not isinstance(kind, str) or kind not in KINDS:
            raise CatalogError(f"{source}: kind must be one of {sorted(KINDS)}")
        code, slug = str(_need(doc, "code", source)), str(_need(doc, "slug", source))
        if code in codes:
            raise CatalogError(f"{source}: duplicate procedure code {code}")
        if slug in slugs:
            raise CatalogError(f"{source}: duplicate slug {slug}")
        codes.add(code)
        slugs.add(slug)
        docs.append((source, doc))
    singles: dict[str, Procedure] = {}
    # Single procedures first: a linked entry is composed from them.
    for source, doc in docs:
        if doc.get("kind", "single") != "single":
            continue
        _check_procedure(doc, source, set(agency_names), definitions)
        code = str(doc["code"])
        name_vi, name_en = _text(doc, "name", source)
        field_vi, field_en = _text(doc, "field", source)
        desc_vi, desc_en = _text(doc, "description", source, required=False)
        res_vi, res_en = _text(doc, "result", source, required=False)
        proc = session.get(Procedure, code) or Procedure(
            code=code,
            slug=doc["slug"],
            agency_code=doc["agency"],
            name_vi=name_vi,
            name_en=name_en,
            field_vi=field_vi,
            field_en=field_en,
            level=doc["level"],
            deadline_days=doc["deadline_days"],
            form_id=doc["form"]["id"],
            form_version=doc["form"]["version"],
        )
        proc.slug, proc.agency_code = doc["slug"], doc["agency"]
        proc.name_vi, proc.name_en, proc.field_vi, proc.field_en = name_vi, name_en, field_vi, field_en
        proc.level, proc.deadline_days = doc["level"], doc["deadline_days"]
        proc.min_assurance = doc.get("min_assurance")
        proc.description_vi, proc.description_en, proc.result_vi, proc.result_en = desc_vi, desc_en, res_vi, res_en
        proc.fees = list(doc.get("fees") or [])
        components = [Component.model_validate(c) for c in doc["components"]]
        if doc.get("reductions"):
            components.append(
                Component(
                    id=REDUCTION_PROOF,
                    name=LocalText(**REDUCTION_PROOF_NAME),
                    mandatory=False,
                    accepts=("pdf", "jpeg", "png"),
                    multiple=True,
                    reduction_proof=True,
                )
            )
        proc.components = [c.model_dump(mode="json") for c in components]
        proc.payment_timing = doc.get("payment", "before")
        proc.refundable = bool(doc.get("refundable", False))
        proc.reductions = [
            {"category": r["category"], "name": r["name"], "percent": r["percent"]} for r in doc.get("reductions") or []
        ]
        proc.delivery = list(doc["delivery"])
        proc.originals = list(doc.get("originals") or [])
        proc.result_weight_class = doc.get("result_weight_class", WeightClass.DOCUMENT.value)
        proc.cod_allowed = bool(doc.get("cod", False))
        proc.in_person = bool(doc.get("in_person", False))
        proc.centre_check = bool(doc.get("centre_check", False))
        proc.form_id, proc.form_version = doc["form"]["id"], doc["form"]["version"]
        proc.kind, proc.members = "single", []
        proc.result_doc_type, proc.result_valid_days = doc.get("result_doc_type"), doc.get("result_valid_days")
        proc.active = True
        agency_vi, agency_en = agency_names[doc["agency"]]
        proc.search_text = fold(" ".join([code, name_vi, name_en, field_vi, field_en, agency_vi, agency_en]))
        session.add(proc)
        singles[code] = proc
    linked_codes = {str(doc["code"]) for _, doc in docs if doc.get("kind") == "linked"}
    composed_forms = 0
    for source, doc in docs:
        if doc.get("kind") != "linked":
            continue
        _check_linked(doc, source, set(agency_names), definitions)
        _load_linked(session, doc, source, singles, linked_codes, definitions, agency_names)
        composed_forms += 1
    for stale in session.exec(select(Procedure).where(Procedure.active == True)):
        if stale.code not in codes:
            stale.active = False
            session.add(stale)
    report = LoadReport(agencies=len(agency_names), procedures=len(codes), forms=len(definitions) + composed_forms)
    record(
        session,
        "catalog.loaded",
        actor_kind="system",
        agencies=report.agencies,
        procedures=report.procedures,
        forms=report.forms,
        data_dir=str(data_dir),
    )
    session.flush()
    return report


def _load_linked(
    session: Session,
    doc: dict[str, Any],
    source: Path,
    singles: dict[str, Procedure],
    linked_codes: set[str],
    definitions: dict[tuple[str, int], FormDefinition],
    agency_names: dict[str, tuple[str, str]],
) -> None:
    """Compose a linked entry from its (already loaded) members and store it with its composed form."""
    code = str(doc["code"])
    name_vi, name_en = _text(doc, "name", source)
    field_vi, field_en = _text(doc, "field", source)
    desc_vi, desc_en = _text(doc, "description", source, required=False)
    res_vi, res_en = _text(doc, "result", source, required=False)
    done = compose(
        code,
        doc,
        str(source),
        singles,
        linked_codes,
        lambda member: definitions[(member.form_id, member.form_version)],
        LocalText(vi=name_vi, en=name_en),
    )
    _store_form(session, done.form)
    proc = session.get(Procedure, code) or Procedure(
        code=code,
        slug=doc["slug"],
        agency_code=doc["agency"],
        name_vi=name_vi,
        name_en=name_en,
        field_vi=field_vi,
        field_en=field_en,
        level=doc["level"],
        deadline_days=done.deadline_days,
        form_id=done.form.id,
        form_version=done.form.version,
    )
    proc.slug, proc.agency_code = doc["slug"], doc["agency"]
    proc.name_vi, proc.name_en, proc.field_vi, proc.field_en = name_vi, name_en, field_vi, field_en
    proc.level, proc.deadline_days = doc["level"], done.deadline_days
    proc.min_assurance = done.min_assurance
    proc.description_vi, proc.description_en, proc.result_vi, proc.result_en = desc_vi, desc_en, res_vi, res_en
    proc.kind, proc.members = "linked", done.members
    proc.fees = done.fees
    proc.components = [c.model_dump(mode="json") for c in done.components]
    proc.payment_timing, proc.refundable, proc.reductions = done.payment_timing, False, []
    proc.delivery = list(doc["delivery"])
    proc.originals = done.originals
    proc.result_weight_class = WeightClass.DOCUMENT.value
    proc.cod_allowed, proc.in_person = False, done.in_person
    proc.centre_check = False  # each member's own procedure says whether the centre checks its result
    proc.result_doc_type, proc.result_valid_days = None, None
    proc.form_id, proc.form_version = done.form.id, done.form.version
    proc.active = True
    agency_vi, agency_en = agency_names[doc["agency"]]
    member_names = [t for m in done.members for t in (singles[m["procedure"]].name_vi, singles[m["procedure"]].name_en)]
    proc.search_text = fold(
        " ".join(
            [
                code,
                name_vi,
                name_en,
                field_vi,
                field_en,
                agency_vi,
                agency_en,
                *[m["procedure"] for m in done.members],
                *member_names,
            ]
        )
    )
    session.add(proc)
