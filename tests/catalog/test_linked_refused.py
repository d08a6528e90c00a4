"""Linked entries the loader refuses, each with a message naming the file, the entry and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from tests.catalog.linked_helpers import BHYT, KS, TT, edit, fixture_tree, refused

pytestmark = pytest.mark.db

MEMBERS_TT = """  - procedure: "9.000002"
    depends_on: ["9.000001"]"""


def test_conflicting_field_types_are_refused_naming_the_field_and_both_members(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    target = root / "forms" / "fx-bhyt" / "v1.yaml"
    edit(target, "{name: child_name, type: text", "{name: child_name, type: date")
    message = refused(db, root)
    assert "fx-lien-thong.yaml" in message and "linked entry LT.9001" in message
    assert f"field child_name of members {KS} and {BHYT} conflict" in message
    assert "type 'text' / 'date'" in message


def test_conflict_on_a_renamed_field_names_the_members_own_name(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    edit(root / "forms" / "fx-tt" / "v1.yaml", "{name: ho_ten, type: text", "{name: ho_ten, type: textarea")
    message = refused(db, root)
    assert f"field full_name of members {KS} and {TT} (its field ho_ten) conflict" in message


def test_conflicting_options_and_conditions_are_refused(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    edit(
        root / "forms" / "fx-bhyt" / "v1.yaml",
        '{name: card_hospital, type: text, label: {vi: "Nơi khám ban đầu", en: "Initial clinic"}, required: true}',
        '{name: card_hospital, type: select, label: {vi: "Nơi khám", en: "Clinic"}, '
        "options: [{value: a, label: {vi: A, en: A}}]}",
    )
    assert f"field card_hospital of members {TT} and {BHYT} conflict" in refused(db, root)


def test_a_dependency_cycle_is_refused_and_named(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    edit(
        root / "procedures" / "fx-lien-thong.yaml",
        '  - procedure: "9.000001"\n',
        f'  - procedure: "{KS}"\n    depends_on: ["{BHYT}"]\n',
    )
    edit(
        root / "procedures" / "fx-lien-thong.yaml",
        'depends_on: ["9.000001"]\n    from_result: {giay_khai_sinh: "9.000001"}\n    optional: {vi: "Cấp',
        f'depends_on: ["{KS}"]\n    from_result: {{giay_khai_sinh: "{KS}"}}\n    optional: {{vi: "Cấp',
    )
    message = refused(db, root)
    assert "cycle" in message and f"{KS} → {BHYT} → {KS}" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('procedure: "9.000003"', 'procedure: "9.999999"', "unknown member procedure 9.999999"),
        (MEMBERS_TT, '  - procedure: "9.000002"\n    depends_on: ["9.000002"]', f"member {TT} depends on itself"),
        (
            MEMBERS_TT,
            '  - procedure: "9.000002"\n    depends_on: ["1.000000"]',
            "depends on 1.000000, which is not a member",
        ),
        (
            MEMBERS_TT,
            '  - procedure: "9.000002"\n    depends_on: []',
            f"from_result giay_khai_sinh: {KS} must be a member it depends on",
        ),
        (
            'from_result: {giay_khai_sinh: "9.000001"}\n    optional: {vi: "Đăng',
            'from_result: {nope: "9.000001"}\n    optional: {vi: "Đăng',
            "from_result names component nope",
        ),
        ("fields: {ho_ten: full_name}", "fields: {ten: full_name}", "renames field ten"),
        ("fields: {ho_ten: full_name}", "fields: {ho_ten: full_name, cccd: full_name}", "maps fields"),
        ("components: {to_khai_thay_doi: to_khai}", "components: {to_khai_thay_doi: giay_to_cho_o}", "maps components"),
        (
            "components: {to_khai_thay_doi: to_khai}",
            "components: {khong_co: to_khai}",
            "components names component khong_co",
        ),
        (
            "delivery: [online, centre]",
            "delivery: [online, post]",
            "delivery by post is not offered for linked entries",
        ),
        ("delivery: [online, centre]", "delivery: [online, centre]\nfees: []", "fees not allowed on a linked entry"),
        (
            "delivery: [online, centre]",
            "delivery: [online, centre]\ndeadline_days: 3\ncomponents: []",
            "components, deadline_days not allowed",
        ),
        (
            "delivery: [online, centre]",
            "delivery: [online, centre]\npayment: after",
            "payment not allowed on a linked entry",
        ),
        ("delivery: [online, centre]", "delivery: [online, centre]\ncolour: red", "unknown key(s) colour"),
        (
            'optional: {vi: "Cấp thẻ BHYT cho trẻ", en: "Health insurance card for the child"}',
            'optional: {vi: "Cấp thẻ"}',
            "optional is the label of its checkbox",
        ),
        (
            '    optional: {vi: "Cấp',
            '    colour: red\n    optional: {vi: "Cấp',
            f"member {BHYT} has unknown key(s) colour",
        ),
        ("kind: linked", "kind: bundle", "kind must be one of"),
    ],
)
def test_bad_linked_entries_are_refused(db: Session, tmp_path: Path, old: str, new: str, expected: str) -> None:
    root = fixture_tree(tmp_path)
    edit(root / "procedures" / "fx-lien-thong.yaml", old, new)
    message = refused(db, root)
    assert "fx-lien-thong.yaml" in message and expected in message


def test_a_member_that_is_itself_linked_is_refused(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    second = (root / "procedures" / "fx-lien-thong.yaml").read_text(encoding="utf-8")
    second = second.replace('code: "LT.9001"', 'code: "LT.9002"').replace("slug: fx-lien-thong", "slug: fx-lt-2")
    second = second.replace('  - procedure: "9.000003"', '  - procedure: "LT.9001"').replace(
        "id: fx-lien-thong", "id: fx-lt-2"
    )
    (root / "procedures" / "fx-lt-2.yaml").write_text(second, encoding="utf-8")
    assert "member LT.9001 is a linked entry; members must be single procedures" in refused(db, root)


def test_incompatible_shared_components_are_refused_naming_both_members(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    edit(root / "procedures" / "fx-tt.yaml", "accepts: [pdf, jpeg]", "accepts: [jpeg]")
    message = refused(db, root)
    assert f"component to_khai of members {KS} and {TT} conflict" in message and "no file type in common" in message


def test_a_form_file_for_the_composed_form_is_refused(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    (root / "forms" / "fx-lien-thong").mkdir()
    text = (root / "forms" / "fx-ks" / "v1.yaml").read_text(encoding="utf-8").replace("id: fx-ks", "id: fx-lien-thong")
    (root / "forms" / "fx-lien-thong" / "v1.yaml").write_text(text, encoding="utf-8")
    assert "is composed from the members' forms" in refused(db, root)


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("fx-ks.yaml", "doc_type: giay_chung_sinh", "doc_type: Giấy chứng sinh", "doc_type uses a-z, 0-9 and _"),
        ("fx-ks.yaml", "result_doc_type: giay_khai_sinh", "result_doc_type: GKS", "result_doc_type uses a-z"),
        ("fx-bhyt.yaml", "result_valid_days: 365", "result_valid_days: 0", "result_valid_days must be a positive"),
        ("fx-bhyt.yaml", "result_valid_days: 365", "result_valid_days: true", "result_valid_days must be a positive"),
        ("fx-ks.yaml", "slug: fx-khai-sinh", "slug: fx-bhyt", "duplicate slug fx-bhyt"),
    ],
)
def test_new_keys_of_every_procedure_are_checked(
    db: Session, tmp_path: Path, file: str, old: str, new: str, expected: str
) -> None:
    root = fixture_tree(tmp_path)
    edit(root / "procedures" / file, old, new)
    message = refused(db, root)
    assert file in message and expected in message
