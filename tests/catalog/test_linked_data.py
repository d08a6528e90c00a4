"""The real catalogue's linked packages (liên thông khai sinh, khai tử) and its document types: what the data
files say loads, and means what was intended (members, agencies, dependencies, results reused as components)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from forms.definition import FormDefinition
from forms.models import FormVersion
from portal.catalog.linked import MEMBERS_FIELD, applies, members_of, project, shared_component
from portal.catalog.loader import load_catalog
from portal.catalog.models import Agency, Procedure

pytestmark = pytest.mark.db

KHAI_SINH, THUONG_TRU, BHYT = "1.001193", "1.004222", "BHXH.TE6"
KHAI_TU, XOA_THUONG_TRU, TU_TUAT = "1.000656", "CAXA.XTT", "BHXH.TT"

# linked code -> [(member, agency, depends_on, from_result, optional)] in catalogue order
PACKAGES: dict[str, list[tuple[str, str, tuple[str, ...], dict[str, str], bool]]] = {
    "LT.KS": [
        (KHAI_SINH, "UBXA", (), {}, False),
        (THUONG_TRU, "CAXA", (KHAI_SINH,), {"giay_khai_sinh": KHAI_SINH}, True),
        (BHYT, "BHXH", (KHAI_SINH,), {"giay_khai_sinh": KHAI_SINH}, False),
    ],
    "LT.KT": [
        (KHAI_TU, "UBXA", (), {}, False),
        (XOA_THUONG_TRU, "CAXA", (KHAI_TU,), {"trich_luc_khai_tu": KHAI_TU}, False),
        (TU_TUAT, "BHXH", (KHAI_TU,), {"trich_luc_khai_tu": KHAI_TU}, True),
    ],
}

# A result kept in the citizen's store and offered again for a component of the same type:
# result type -> (procedure issuing it, validity in days or None, [(procedure, component) asking for it]).
REUSE: dict[str, tuple[str, int | None, list[tuple[str, str]]]] = {
    "giay_khai_sinh": (KHAI_SINH, None, [(THUONG_TRU, "giay_khai_sinh"), (BHYT, "giay_khai_sinh")]),
    "trich_luc_khai_tu": (KHAI_TU, None, [(XOA_THUONG_TRU, "trich_luc_khai_tu"), (TU_TUAT, "trich_luc_khai_tu")]),
    "xac_nhan_tinh_trang_hon_nhan": (
        "1.004873",
        180,
        [("1.000894", "xac_nhan_tinh_trang_hon_nhan"), ("1.004873", "giay_xac_nhan_cu")],
    ),
    "giay_chung_nhan_ket_hon": ("1.000894", None, [(KHAI_SINH, "giay_chung_nhan_ket_hon")]),
    "ly_lich_tu_phap": ("3.000333", 180, [("1.014199", "ly_lich_tu_phap")]),
    "giay_phep_lai_xe": ("3.000347", None, [("3.000347", "giay_phep_lai_xe")]),
}


@pytest.fixture()
def catalogue(db: Session) -> Any:
    """The real data files loaded again on the test's session (rolled back after)."""
    report = load_catalog(db)
    db.flush()
    yield report
    db.rollback()


def _proc(db: Session, code: str) -> Procedure:
    proc = db.get(Procedure, code)
    assert proc is not None and proc.active, f"{code} not in the catalogue"
    return proc


def _form(db: Session, proc: Procedure) -> FormDefinition:
    row = db.get(FormVersion, (proc.form_id, proc.form_version))
    assert row is not None, f"no form {proc.form_id} v{proc.form_version}"
    return FormDefinition.model_validate(row.body)


def test_real_catalogue_loads_with_both_linked_packages(db: Session, catalogue: Any) -> None:
    active = db.exec(select(Procedure).where(Procedure.active == True)).all()
    assert catalogue.procedures == len(active)
    assert {p.code for p in active if p.kind == "linked"} >= set(PACKAGES)
    for code, expected in PACKAGES.items():
        linked = _proc(db, code)
        assert linked.kind == "linked" and linked.agency_code == "UBXA"
        assert [m.procedure for m in members_of(linked)] == [e[0] for e in expected]
        for member, (mcode, agency, depends_on, from_result, optional) in zip(
            members_of(linked), expected, strict=True
        ):
            single = _proc(db, mcode)
            assert single.kind == "single" and single.agency_code == agency
            assert db.get(Agency, agency) is not None
            assert member.depends_on == depends_on
            assert dict(member.from_result) == from_result
            assert (member.optional is not None) == optional
            assert set(linked.delivery) <= set(single.delivery)
        # the longest chain: the first member's deadline, then the slower of the two that wait for it
        days = [_proc(db, e[0]).deadline_days for e in expected]
        assert linked.deadline_days == days[0] + max(days[1:])


def test_from_result_components_are_the_first_results_type_and_not_asked_again(db: Session, catalogue: Any) -> None:
    for code in PACKAGES:
        linked = _proc(db, code)
        composed = {c.id for c in linked.component_list}
        for member in members_of(linked):
            single = _proc(db, member.procedure)
            for component_id, source in member.from_result.items():
                component = single.component(component_id)
                assert component is not None, f"{member.procedure} has no component {component_id}"
                assert source in member.depends_on
                issuer = _proc(db, source)
                assert issuer.result_doc_type and component.doc_type == issuer.result_doc_type
                # filled by the result: never uploaded by the citizen on the linked application
                assert shared_component(member, component_id) not in composed


def test_one_application_signed_for_every_member(db: Session, catalogue: Any) -> None:
    for code, expected in PACKAGES.items():
        linked = _proc(db, code)
        applications = [c for c in linked.component_list if c.application]
        assert [c.id for c in applications] == ["to_khai"]
        assert set(applications[0].members) == {e[0] for e in expected}
        for member in members_of(linked):
            own = [c.id for c in _proc(db, member.procedure).component_list if c.application]
            assert len(own) <= 1 and all(shared_component(member, c) == "to_khai" for c in own)


@pytest.mark.parametrize(
    ("code", "shared", "renamed"),
    [
        (
            "LT.KS",
            ["full_name", "cccd", "address", "phone", "email", "child_name", "child_birth_date", "child_gender"],
            ["registrant_name", "registrant_birth_date", "registrant_gender", "insured_name", "insured_birth_date"],
        ),
        (
            "LT.KT",
            ["full_name", "cccd", "deceased_relationship", "deceased_name", "deceased_birth_date", "deceased_cccd"],
            ["removed_name", "removed_birth_date", "removed_cccd", "removed_address"],
        ),
    ],
)
def test_shared_answers_are_asked_once(
    db: Session, catalogue: Any, code: str, shared: list[str], renamed: list[str]
) -> None:
    names = [f.name for f in _form(db, _proc(db, code)).all_fields()]
    assert len(names) == len(set(names))
    assert set(shared) <= set(names)
    assert not set(renamed) & set(names)
    assert names[0] == MEMBERS_FIELD  # the box of the optional member


def test_projection_gives_each_member_its_own_field_names(db: Session, catalogue: Any) -> None:
    linked = _proc(db, "LT.KS")
    answers = {
        MEMBERS_FIELD: [THUONG_TRU],
        "full_name": "Nguyễn Thị Hường",
        "child_name": "Trần Minh Khôi",
        "child_birth_date": "2026-11-20",
        "child_gender": "male",
        "residence_basis": "with_family",
        "household_head_name": "Trần Văn Bình",
    }
    by_code = {m.procedure: m for m in members_of(linked)}
    residence = project(linked, by_code[THUONG_TRU], _form(db, _proc(db, THUONG_TRU)), answers)
    assert residence["registrant_name"] == "Trần Minh Khôi" and residence["registrant_gender"] == "male"
    assert residence["household_head_name"] == "Trần Văn Bình" and "child_name" not in residence
    card = project(linked, by_code[BHYT], _form(db, _proc(db, BHYT)), answers)
    assert card["insured_name"] == "Trần Minh Khôi" and card["insured_birth_date"] == "2026-11-20"
    assert applies(linked, by_code[THUONG_TRU], answers)
    assert not applies(linked, by_code[THUONG_TRU], {**answers, MEMBERS_FIELD: []})
    assert applies(linked, by_code[BHYT], {**answers, MEMBERS_FIELD: []})  # not optional


def test_fees_of_the_packages_per_agency(db: Session, catalogue: Any) -> None:
    """The copies of the birth certificate or death extract are charged per copy by the commune; the newborn is
    exempt from the residence registration fee (a child), so the police collect nothing for it."""
    fees = _proc(db, "LT.KS").fees
    copies = [f for f in fees if f["member"] == KHAI_SINH]
    assert [(f["agency"], f["amount"], f["per"]) for f in copies] == [("UBXA", 8000, "copies")]
    residence = [f for f in fees if f["member"] == THUONG_TRU]
    assert residence and all(f["agency"] == "CAXA" and f["amount"] == 0 for f in residence)
    assert all(f["reduction"]["category"] == "tre-em" and f["reduction"]["percent"] == 100 for f in residence)
    assert sum(f["reduction"]["amount"] for f in residence) == _proc(db, THUONG_TRU).fee_total
    assert not [f for f in fees if f["member"] == BHYT]
    assert [(f["agency"], f["member"], f["amount"], f["per"]) for f in _proc(db, "LT.KT").fees] == [
        ("UBXA", KHAI_TU, 8000, "copies")
    ]


@pytest.mark.parametrize("doc_type", sorted(REUSE))
def test_results_are_reusable_as_components_of_the_same_type(db: Session, catalogue: Any, doc_type: str) -> None:
    issuer, valid_days, askers = REUSE[doc_type]
    proc = _proc(db, issuer)
    assert proc.result_doc_type == doc_type and proc.result_valid_days == valid_days
    for code, component_id in askers:
        component = _proc(db, code).component(component_id)
        assert component is not None and component.doc_type == doc_type, f"{code}.{component_id}"


def test_doc_types_name_one_kind_of_document(db: Session, catalogue: Any) -> None:
    """A type is a shared key: every component of a type that some procedure issues accepts what it issues
    (the portal keeps results as PDF), and a linked entry issues no document of its own."""
    active = db.exec(select(Procedure).where(Procedure.active == True)).all()
    issued = {p.result_doc_type for p in active if p.result_doc_type}
    assert all(p.result_doc_type is None for p in active if p.kind == "linked")
    for proc in active:
        for component in proc.component_list:
            if component.doc_type in issued:
                assert "pdf" in component.accepts, f"{proc.code}.{component.id}"
