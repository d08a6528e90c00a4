"""The run-time interface of linked entries: members in dependency order, which apply, each member's data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session

from forms.definition import FormDefinition, LocalText
from forms.models import FormVersion
from portal.catalog.linked import (
    MEMBERS_FIELD,
    Member,
    applies,
    component_applies,
    members_of,
    project,
    shared_component,
)
from portal.catalog.models import Procedure
from tests.catalog.linked_helpers import BHYT, KS, LINKED, TT, load

pytestmark = pytest.mark.db


@pytest.fixture()
def linked(db: Session) -> Iterator[Procedure]:
    load(db)
    proc = db.get(Procedure, LINKED)
    assert proc is not None
    yield proc
    db.rollback()


def _defn(db: Session, form_id: str) -> FormDefinition:
    row = db.get(FormVersion, (form_id, 1))
    assert row is not None
    return FormDefinition.model_validate(row.body)


def _entry(code: str, **over: Any) -> Procedure:
    """A catalogue row (not stored) whose texts, agency and form are placeholders: only its members matter."""
    name = code.lower()
    return Procedure(
        code=code,
        slug=name,
        agency_code="UBXA",
        name_vi=name,
        name_en=name,
        field_vi=name,
        field_en=name,
        level="full",
        deadline_days=1,
        form_id=name,
        form_version=1,
        **over,
    )


def _member(proc: Procedure, code: str) -> Member:
    return next(m for m in members_of(proc) if m.procedure == code)


def test_members_come_in_dependency_order_keeping_the_catalogue_order() -> None:
    proc = _entry(
        "LT.X",
        kind="linked",
        members=[
            {"procedure": "C", "depends_on": ["B"]},
            {"procedure": "A", "depends_on": []},
            {"procedure": "B", "depends_on": ["A"]},
            {"procedure": "D"},
        ],
    )
    assert [m.procedure for m in members_of(proc)] == ["A", "B", "C", "D"]
    assert members_of(_entry("S")) == []


def test_member_objects_read_the_stored_entry(linked: Procedure) -> None:
    tt = _member(linked, TT)
    assert tt.depends_on == (KS,) and tt.from_result == {"giay_khai_sinh": KS}
    assert tt.optional == LocalText(vi="Đăng ký thường trú cho trẻ", en="Register the child's permanent residence")
    assert tt.shared_field("ho_ten") == "full_name" and tt.shared_field("cccd") == "cccd"
    assert (
        shared_component(tt, "to_khai_thay_doi") == "to_khai"
        and shared_component(tt, "giay_to_cho_o") == "giay_to_cho_o"
    )
    assert Member.from_json(tt.to_json()) == tt


def test_optional_members_apply_only_when_ticked(linked: Procedure) -> None:
    ks, tt, bhyt = (_member(linked, c) for c in (KS, TT, BHYT))
    assert applies(linked, ks, {}) and not applies(linked, tt, {}) and not applies(linked, bhyt, {})
    shared = {MEMBERS_FIELD: [TT]}
    assert applies(linked, ks, shared) and applies(linked, tt, shared) and not applies(linked, bhyt, shared)
    assert applies(linked, bhyt, {MEMBERS_FIELD: [TT, BHYT]})
    comps = {c.id: c for c in linked.component_list}
    assert component_applies(linked, comps["to_khai"], {})  # the birth registration needs it anyway
    assert not component_applies(linked, comps["giay_to_cho_o"], {})
    assert component_applies(linked, comps["giay_to_cho_o"], shared)


def test_a_member_whose_dependency_does_not_apply_does_not_apply() -> None:
    proc = _entry(
        "LT.Y",
        kind="linked",
        members=[
            {"procedure": "A", "optional": {"vi": "a", "en": "a"}},
            {"procedure": "B", "depends_on": ["A"], "optional": {"vi": "b", "en": "b"}},
        ],
    )
    b = _member(proc, "B")
    assert not applies(proc, b, {MEMBERS_FIELD: ["B"]})
    assert applies(proc, b, {MEMBERS_FIELD: ["A", "B"]})


def test_projection_gives_each_member_its_own_fields(db: Session, linked: Procedure) -> None:
    shared = {
        MEMBERS_FIELD: [TT],
        "full_name": "Nguyễn Văn A",
        "cccd": "001090000001",
        "relationship": "other",
        "relationship_detail": "Bác ruột",
        "noi_thuong_tru": {"province": "37", "ward": "12345", "street": "Số 1"},
        "owner_consent": False,
        "consent_note": "left over from before",
        "child_name": "Nguyễn Văn B",
        "card_hospital": "Trạm y tế xã",
    }
    tt = project(linked, _member(linked, TT), _defn(db, "fx-tt"), shared)
    assert tt == {
        "ho_ten": "Nguyễn Văn A",  # renamed back to the member's own name
        "cccd": "001090000001",
        "noi_thuong_tru": {"province": "37", "ward": "12345", "street": "Số 1"},
        "owner_consent": False,
        "consent_note": None,  # hidden by the member's own condition
        "child_name": "Nguyễn Văn B",
        "card_hospital": "Trạm y tế xã",
    }
    ks = project(linked, _member(linked, KS), _defn(db, "fx-ks"), shared)
    assert ks == {
        "full_name": "Nguyễn Văn A",
        "cccd": "001090000001",
        "relationship": "other",
        "relationship_detail": "Bác ruột",
        "child_name": "Nguyễn Văn B",
    }
    ks = project(linked, _member(linked, KS), _defn(db, "fx-ks"), {**shared, "relationship": "mother"})
    assert ks["relationship_detail"] is None
    bhyt = project(linked, _member(linked, BHYT), _defn(db, "fx-bhyt"), shared)
    assert bhyt == {"full_name": "Nguyễn Văn A", "child_name": "Nguyễn Văn B", "card_hospital": "Trạm y tế xã"}
