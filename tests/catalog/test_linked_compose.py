"""A linked entry composed by the loader from its members: form, components, fees, deadline, form version."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from forms.definition import FormDefinition
from forms.models import FormVersion
from forms.validation import validate_data
from portal.catalog.linked import MEMBERS_FIELD
from portal.catalog.models import Procedure
from tests.catalog.linked_helpers import BHYT, KS, LINKED, TT, fixture_tree, load

pytestmark = pytest.mark.db


@pytest.fixture()
def session(db: Session) -> Iterator[Session]:
    load(db)
    yield db
    db.rollback()


def _form(session: Session) -> FormDefinition:
    row = session.get(FormVersion, ("fx-lien-thong", 1))
    assert row is not None
    return FormDefinition.model_validate(row.body)


def test_linked_entry_is_stored_with_derived_values(session: Session) -> None:
    proc = session.get(Procedure, LINKED)
    assert proc is not None and proc.kind == "linked" and proc.is_linked and proc.active
    assert [m["procedure"] for m in proc.members] == [KS, TT, BHYT]
    tt = proc.members[1]
    assert tt == {
        "procedure": TT,
        "depends_on": [KS],
        "from_result": {"giay_khai_sinh": KS},
        "optional": {"vi": "Đăng ký thường trú cho trẻ", "en": "Register the child's permanent residence"},
        "fields": {"ho_ten": "full_name"},
        "components": {"to_khai_thay_doi": "to_khai"},
        "reduction": None,
    }
    assert proc.members[0]["optional"] is None and proc.members[0]["depends_on"] == []
    # 1 day for the birth certificate, then 7 for the residence (the health card's 5 run alongside).
    assert proc.deadline_days == 8
    assert proc.fees == [
        {
            "name": {"vi": "Lệ phí đăng ký cư trú", "en": "Residence registration fee"},
            "amount": 20000,
            "agency": "CAT",
            "member": TT,
        }
    ]
    assert proc.fee_total == 20000
    assert proc.payment_timing == "before"  # the birth registration's default, although the residence's is after
    assert proc.refundable is False and proc.reductions == [] and proc.cod_allowed is False
    assert proc.delivery == ["online", "centre"]
    assert (proc.form_id, proc.form_version) == ("fx-lien-thong", 1)
    assert proc.result_doc_type is None
    single = session.get(Procedure, KS)
    assert single is not None and single.kind == "single" and single.members == []
    assert single.result_doc_type == "giay_khai_sinh"
    bhyt = session.get(Procedure, BHYT)
    assert bhyt is not None and bhyt.result_valid_days == 365


def test_components_are_composed_once_without_the_ones_filled_by_a_result(session: Session) -> None:
    proc = session.get(Procedure, LINKED)
    assert proc is not None
    comps = {c.id: c for c in proc.component_list}
    assert list(comps) == ["to_khai", "giay_chung_sinh", "giay_to_cho_o"]  # giay_khai_sinh comes from KS's result
    application = comps["to_khai"]
    assert application.members == (KS, TT, BHYT)
    assert application.accepts == ("pdf",)  # the only type all three accept
    assert application.application and application.mandatory and not application.multiple
    assert comps["giay_chung_sinh"].members == (KS,) and comps["giay_chung_sinh"].doc_type == "giay_chung_sinh"
    assert comps["giay_to_cho_o"].members == (TT,) and comps["giay_to_cho_o"].multiple
    assert proc.originals == ["giay_to_cho_o"]


def test_composed_form_asks_shared_fields_once_and_gates_member_fields(session: Session) -> None:
    defn = _form(session)
    assert defn.step_ids == ["applicant", "child"]  # the health card's "card" step holds nothing new
    names = [f.name for f in defn.step("applicant").fields]
    assert names == [
        MEMBERS_FIELD,
        "full_name",
        "cccd",
        "relationship",
        "relationship_detail",
        "noi_thuong_tru",
        "owner_consent",
        "consent_note",
    ]
    chooser = defn.find_field(MEMBERS_FIELD)
    assert chooser.type == "checkbox" and chooser.option_values() == [TT, BHYT]
    full_name = defn.find_field("full_name")
    assert full_name.required and full_name.max_length == 80 and full_name.show_if is None
    # The birth registration's own condition still holds, ungated (it always applies).
    detail = defn.find_field("relationship_detail").show_if
    assert detail is not None and detail.fields == ["relationship"]
    # A residence-only field appears when the residence is ticked.
    address = defn.find_field("noi_thuong_tru").show_if
    assert address is not None and (address.field, address.equals, address.also) == (MEMBERS_FIELD, TT, None)
    # ... and its own condition is kept through `also`.
    note = defn.find_field("consent_note").show_if
    assert note is not None and note.fields == [MEMBERS_FIELD, "owner_consent"]
    assert note.also is not None and note.also.accepted == ["true"]
    # A field of the two optional members: shown when either is ticked; required since one requires it.
    clinic = defn.find_field("card_hospital")
    assert clinic.required and clinic.show_if is not None and clinic.show_if.accepted == [TT, BHYT]
    assert [f.name for f in defn.step("child").fields] == ["child_name", "card_hospital"]


def test_composed_form_validates_member_fields_only_when_the_member_is_ticked(session: Session) -> None:
    defn = _form(session)
    base = {
        "full_name": "Nguyễn Văn A",
        "cccd": "001090000001",
        "relationship": "mother",
        "child_name": "Nguyễn Văn B",
    }
    assert validate_data(defn, base) == {}
    errors = validate_data(defn, {**base, MEMBERS_FIELD: [TT]})
    assert {"noi_thuong_tru.province", "card_hospital"} <= set(errors)
    assert "consent_note" not in errors  # its own condition does not hold
    errors = validate_data(defn, {**base, MEMBERS_FIELD: [TT], "owner_consent": True})
    assert "consent_note" in errors
    # Ticked consent without the residence: the note stays hidden (both conditions are needed).
    assert "consent_note" not in validate_data(defn, {**base, "owner_consent": True})


def test_loading_twice_changes_nothing(session: Session) -> None:
    row = session.get(FormVersion, ("fx-lien-thong", 1))
    assert row is not None
    digest, count = row.sha256, session.exec(select(func.count()).select_from(FormVersion)).one()
    load(session)
    row = session.get(FormVersion, ("fx-lien-thong", 1))
    assert row is not None and row.sha256 == digest
    assert session.exec(select(func.count()).select_from(FormVersion)).one() == count
    assert not session.dirty


def test_search_finds_the_entry_by_a_member_name(session: Session) -> None:
    proc = session.get(Procedure, LINKED)
    assert proc is not None and "thuong tru" in proc.search_text and TT in proc.search_text


def test_entry_changes_are_picked_up_on_reload(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    load(db, root)
    (root / "procedures" / "fx-tt.yaml").write_text(
        (root / "procedures" / "fx-tt.yaml")
        .read_text(encoding="utf-8")
        .replace("deadline_days: 7", "deadline_days: 10"),
        encoding="utf-8",
    )
    load(db, root)
    proc = db.get(Procedure, LINKED)
    assert proc is not None and proc.deadline_days == 11
    db.rollback()
