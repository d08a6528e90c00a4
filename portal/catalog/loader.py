"""Load agencies, procedures and form definitions from the data files (idempotent)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlmodel import Session, select

from forms.address import normalize_province_code
from forms.definition import FormDefinition, FormDefinitionError, LocalText, load_all_definitions
from forms.models import FormVersion
from portal.catalog.models import Agency, Component, Procedure
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
# What a component of a data file may say; reduction_proof is the loader's own.
COMPONENT_KEYS = frozenset(Component.model_fields) - {"reduction_proof"}


class CatalogError(Exception):
    """A data file is wrong; the message names the file."""


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
    if not set(doc["delivery"]) <= DELIVERY or not doc["delivery"]:
        raise CatalogError(f"{source}: delivery must be a non-empty subset of {sorted(DELIVERY)}")
    for fee in doc.get("fees") or []:
        _text(fee, "name", source)
        if not isinstance(fee.get("amount"), int) or fee["amount"] < 0:
            raise CatalogError(f"{source}: fee amounts are whole numbers of đồng")
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
    try:
        return Component.model_validate(comp)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CatalogError(f"{source}: component {cid}: {problems}") from exc


def load_catalog(session: Session, *, data_dir: Path = DATA_DIR, forms_dir: Path = FORMS_DIR) -> LoadReport:
    """Upsert everything from the data files; running it twice changes nothing."""
    try:
        definitions = load_all_definitions(forms_dir)
    except FormDefinitionError as exc:
        raise CatalogError(str(exc)) from exc
    for (form_id, version), defn in definitions.items():
        body = defn.model_dump(mode="json", by_alias=True)
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        row = session.get(FormVersion, (form_id, version))
        if row is None:
            session.add(FormVersion(form_id=form_id, version=version, body=body, sha256=digest))
        elif row.sha256 != digest:
            row.body, row.sha256 = body, digest
            session.add(row)

    agency_docs = yaml.safe_load((data_dir / "agencies.yaml").read_text(encoding="utf-8")) or []
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
    for source in files:
        doc = yaml.safe_load(source.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise CatalogError(f"{source}: expected a mapping")
        _check_procedure(doc, source, set(agency_names), definitions)
        code = str(doc["code"])
        if code in codes:
            raise CatalogError(f"{source}: duplicate procedure code {code}")
        codes.add(code)
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
        proc.form_id, proc.form_version = doc["form"]["id"], doc["form"]["version"]
        proc.active = True
        agency_vi, agency_en = agency_names[doc["agency"]]
        proc.search_text = fold(" ".join([code, name_vi, name_en, field_vi, field_en, agency_vi, agency_en]))
        session.add(proc)
    for stale in session.exec(select(Procedure).where(Procedure.active == True)):
        if stale.code not in codes:
            stale.active = False
            session.add(stale)
    session.flush()
    return LoadReport(agencies=len(agency_names), procedures=len(codes), forms=len(definitions))
