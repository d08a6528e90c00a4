"""A linked entry's `application: {vi, en}`: the name of the one application form signed for every member
(the composed component marked `application: true`), instead of the first member's own form's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from portal.catalog.loader import load_catalog
from portal.catalog.models import Procedure
from tests.catalog.linked_helpers import LINKED, edit, fixture_tree, load, refused

pytestmark = pytest.mark.db

ENTRY = "procedures/fx-lien-thong.yaml"
FORM_LINE = "form: {id: fx-lien-thong, version: 1}\n"


def _application(db: Session) -> tuple[str, str, str]:
    proc = db.get(Procedure, LINKED)
    assert proc is not None
    [form] = [c for c in proc.component_list if c.application]
    return form.id, form.name.vi, form.name.en


def test_the_shared_application_is_named_by_the_entry(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    edit(
        root / ENTRY,
        FORM_LINE,
        FORM_LINE + 'application: {vi: "Tờ khai liên thông (thử)", en: "Linked application (test)"}\n',
    )
    try:
        load(db, root)
        form_id, vi, en = _application(db)
        assert (form_id, vi, en) == ("to_khai", "Tờ khai liên thông (thử)", "Linked application (test)")
        proc = db.get(Procedure, LINKED)
        assert proc is not None
        # Only the application is renamed; the other components keep their names and members.
        others = {c.id: c.name.vi for c in proc.component_list if not c.application}
        assert others["giay_chung_sinh"] == "Giấy chứng sinh"
        assert "Tờ khai liên thông (thử)" not in others.values()
    finally:
        db.rollback()


def test_without_the_key_the_application_keeps_the_first_member_s_name(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    try:
        load(db, root)
        assert _application(db) == ("to_khai", "Tờ khai", "Application")
    finally:
        db.rollback()


@pytest.mark.parametrize(
    "value",
    [
        '"Tờ khai liên thông"',
        '{vi: "Tờ khai liên thông"}',
        '{vi: "Tờ khai liên thông", en: ""}',
        '{vi: "Tờ khai", en: "Form", fr: "Formulaire"}',
        '{vi: 1, en: "Form"}',
        "[]",
    ],
)
def test_an_application_name_of_the_wrong_shape_is_refused(db: Session, tmp_path: Path, value: str) -> None:
    root = fixture_tree(tmp_path)
    edit(root / ENTRY, FORM_LINE, f"{FORM_LINE}application: {value}\n")
    message = refused(db, root)
    assert "fx-lien-thong.yaml" in message and f"linked entry {LINKED}" in message
    assert "application is the shared application form's name, {vi, en}" in message


def test_an_application_name_without_an_application_component_is_refused(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    edit(root / ENTRY, FORM_LINE, FORM_LINE + 'application: {vi: "Tờ khai liên thông", en: "Linked form"}\n')
    edit(root / "procedures" / "fx-ks.yaml", "    application: true\n", "")
    message = refused(db, root)
    assert f"linked entry {LINKED}: application names the shared application form" in message
    assert "have none marked application: true" in message


def test_two_application_components_are_refused_naming_both(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    edit(root / ENTRY, FORM_LINE, FORM_LINE + 'application: {vi: "Tờ khai liên thông", en: "Linked form"}\n')
    # The residence member's own form no longer mapped onto the shared one: two application forms.
    edit(root / ENTRY, "    components: {to_khai_thay_doi: to_khai}\n", "")
    edit(root / "procedures" / "fx-tt.yaml", "    mandatory: false\n", "    mandatory: false\n    application: true\n")
    message = refused(db, root)
    assert "have 2 (to_khai, to_khai_thay_doi) marked application: true" in message


@pytest.mark.parametrize(
    ("code", "vi", "en"),
    [
        (
            "LT.KS",
            "Tờ khai điện tử liên thông đăng ký khai sinh, đăng ký thường trú, "
            "cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi",
            "Linked electronic application: birth registration, permanent residence registration and a "
            "health-insurance card for a child under 6",
        ),
        (
            "LT.KT",
            "Tờ khai điện tử liên thông đăng ký khai tử, xóa đăng ký thường trú, giải quyết mai táng phí, tử tuất",
            "Linked electronic application: death registration, removal from the permanent residence register, "
            "funeral and survivors' benefits",
        ),
    ],
)
def test_the_real_packages_name_their_linked_application(db: Session, code: str, vi: str, en: str) -> None:
    try:
        load_catalog(db)
        db.flush()
        proc = db.get(Procedure, code)
        assert proc is not None
        [form] = [c for c in proc.component_list if c.application]
        assert (form.name.vi, form.name.en) == (vi, en)
        assert len(form.members) == 3  # one application signed for every member
    finally:
        db.rollback()
