"""Fees of the catalogue charged per unit of an answer (`per`, e.g. per copy) and a linked entry's member
`reduction` (the newborn exempt from the residence fee): what the loader composes, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from forms.definition import Field
from payments.fees import compute_fees
from portal.catalog.loader import load_catalog
from portal.catalog.models import Procedure
from tests.catalog.linked_helpers import KS, LINKED, TT, edit, fixture_tree, load, refused

pytestmark = pytest.mark.db

RESIDENCE_FEE = """fees:
  - name: {vi: "Lệ phí đăng ký cư trú", en: "Residence registration fee"}
    amount: 20000"""
# The residence fixture with a fee per copy of its own field `so_ban_sao`, and two reduction categories.
RESIDENCE_FEES = """fees:
  - name: {vi: "Lệ phí đăng ký cư trú", en: "Residence registration fee"}
    amount: 20000
  - name: {vi: "Phí cấp bản sao", en: "Copies"}
    amount: 5000
    per: so_ban_sao
reductions:
  - category: tre-em
    name: {vi: "Trẻ em dưới 16 tuổi", en: "Children under 16"}
    percent: 100
  - category: ho-can-ngheo
    name: {vi: "Hộ cận nghèo", en: "Near-poor households"}
    percent: 50"""
COPIES_FIELD = """      - {name: card_hospital, type: text, label: {vi: "Nơi khám ban đầu", en: "Initial clinic"}}
      - {name: so_ban_sao, type: number, label: {vi: "Số bản sao", en: "Copies"}, integer: true, min: 0, max: 5}"""
CARD_FIELD = """      - {name: card_hospital, type: text, label: {vi: "Nơi khám ban đầu", en: "Initial clinic"}}"""
MEMBER_TT = """    fields: {ho_ten: full_name}"""


def _tree(tmp_path: Path, *, reduction: str | None = "tre-em") -> Path:
    root = fixture_tree(tmp_path)
    edit(root / "procedures" / "fx-tt.yaml", RESIDENCE_FEE, RESIDENCE_FEES)
    edit(root / "forms" / "fx-tt" / "v1.yaml", CARD_FIELD, COPIES_FIELD)
    member = MEMBER_TT.replace("{ho_ten: full_name}", "{ho_ten: full_name, so_ban_sao: copies}")
    if reduction is not None:
        member += f"\n    reduction: {reduction}"
    edit(root / "procedures" / "fx-lien-thong.yaml", MEMBER_TT, member)
    return root


def test_a_members_reduction_and_per_copy_fee_are_composed(db: Session, tmp_path: Path) -> None:
    load(db, _tree(tmp_path))
    linked = db.get(Procedure, LINKED)
    assert linked is not None
    assert linked.members[1]["procedure"] == TT and linked.members[1]["reduction"] == "tre-em"
    assert linked.members[0]["reduction"] is None
    fixed, copies = linked.fees
    # The member's reduction applied: the reduced amount, the reduction named, what it was before.
    assert fixed["amount"] == 0 and fixed["agency"] == "CAT" and fixed["member"] == TT
    assert fixed["name"] == {
        "vi": "Lệ phí đăng ký cư trú (miễn: trẻ em dưới 16 tuổi)",
        "en": "Residence registration fee (exempt: children under 16)",
    }
    assert fixed["reduction"] == {
        "category": "tre-em",
        "name": {"vi": "Trẻ em dưới 16 tuổi", "en": "Children under 16"},
        "percent": 100,
        "amount": 20000,
    }
    # The per-copy item counts the shared field (the member's so_ban_sao is the entry's copies), reduced too.
    assert copies["per"] == "copies" and copies["amount"] == 0 and copies["reduction"]["amount"] == 5000
    assert "copies" in {f.name for s in _composed_steps(db, linked) for f in s}
    # The member procedure itself still charges in full, per its own field name.
    member = db.get(Procedure, TT)
    assert member is not None and member.fees[1]["per"] == "so_ban_sao" and member.fees[0]["amount"] == 20000
    assert member.fee_total == 20000  # the per-copy item is charged only with the answers
    db.rollback()


def _composed_steps(db: Session, linked: Procedure) -> list[list[Field]]:
    from forms.definition import FormDefinition
    from forms.models import FormVersion

    row = db.get(FormVersion, (linked.form_id, linked.form_version))
    assert row is not None
    return [list(s.fields) for s in FormDefinition.model_validate(row.body).steps]


def test_a_partial_reduction_says_its_percent_and_bills_the_rest(db: Session, tmp_path: Path) -> None:
    load(db, _tree(tmp_path, reduction="ho-can-ngheo"))
    linked = db.get(Procedure, LINKED)
    assert linked is not None
    fixed, copies = linked.fees
    assert fixed["amount"] == 10000 and copies["amount"] == 2500
    assert fixed["name"]["vi"] == "Lệ phí đăng ký cư trú (giảm 50%: hộ cận nghèo)"
    assert fixed["name"]["en"] == "Residence registration fee (50% off: near-poor households)"
    bill = compute_fees(fee_items=linked.fees, postal_fee=None, reduction=None, answers={"copies": 2})
    assert [(ln.name_vi, ln.amount) for ln in bill.lines] == [
        ("Lệ phí đăng ký cư trú (giảm 50%: hộ cận nghèo)", 10000),
        ("Phí cấp bản sao (giảm 50%: hộ cận nghèo) × 2", 5000),
    ]
    assert bill.reductions == () and bill.total == 15000  # taken off once, on the lines
    first, second = bill.lines
    assert (first.reduction_category, first.reduction_percent, first.amount_before_reduction) == (
        "ho-can-ngheo",
        50,
        20000,
    )
    assert (second.quantity, second.unit_amount, second.amount_before_reduction) == (2, 2500, 10000)
    db.rollback()


def test_an_unknown_reduction_category_is_refused_naming_the_member(db: Session, tmp_path: Path) -> None:
    message = refused(db, _tree(tmp_path, reduction="nguoi-cao-tuoi"))
    assert "fx-lien-thong.yaml" in message and f"member {TT}" in message
    assert "reduction 'nguoi-cao-tuoi' is not a reduction category" in message
    assert "tre-em, ho-can-ngheo" in message


def test_a_reduction_on_a_member_without_reductions_is_refused(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    edit(
        root / "procedures" / "fx-lien-thong.yaml",
        '  - procedure: "9.000001"\n',
        f'  - procedure: "{KS}"\n    reduction: tre-em\n',
    )
    message = refused(db, root)
    assert f"member {KS}: reduction 'tre-em' is not a reduction category of {KS} (its categories: none)" in message


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (
            "{name: so_ban_sao, type: text, label: {vi: B, en: C}}",
            "per field so_ban_sao of the form fx-tt v1 must be a whole number (type number, integer: true), not text",
        ),
        (
            "{name: so_ban_sao, type: number, label: {vi: B, en: C}, min: 0, max: 5}",
            "must be a whole number (type number, integer: true), not number without integer: true",
        ),
        (
            "{name: so_ban_sao, type: number, label: {vi: B, en: C}, integer: true, min: 0}",
            "per field so_ban_sao of the form fx-tt v1 needs a max",
        ),
        (
            "{name: so_ban, type: number, label: {vi: B, en: C}, integer: true, min: 0, max: 5}",
            "per 'so_ban_sao' is not a field of the form fx-tt v1",
        ),
    ],
)
def test_a_per_field_that_is_not_a_bounded_whole_number_is_refused(
    db: Session, tmp_path: Path, field: str, expected: str
) -> None:
    root = fixture_tree(tmp_path)
    edit(root / "procedures" / "fx-tt.yaml", RESIDENCE_FEE, RESIDENCE_FEES)
    edit(root / "forms" / "fx-tt" / "v1.yaml", CARD_FIELD, f"{CARD_FIELD}\n      - {field}")
    message = refused(db, root)
    assert "fx-tt.yaml" in message and "fee 'Phí cấp bản sao'" in message and expected in message


def test_an_unknown_fee_key_is_refused(db: Session, tmp_path: Path) -> None:
    root = fixture_tree(tmp_path)
    edit(root / "procedures" / "fx-tt.yaml", "    amount: 20000", "    amount: 20000\n    per_copy: true")
    message = refused(db, root)
    assert "fee 'Lệ phí đăng ký cư trú' has unknown key(s) per_copy" in message


def test_the_real_birth_package_exempts_the_newborn_and_charges_copies(db: Session) -> None:
    load_catalog(db)
    db.flush()
    linked = db.get(Procedure, "LT.KS")
    assert linked is not None
    residence = [f for f in linked.fees if f["member"] == "1.004222"]
    assert [f["name"]["vi"] for f in residence] == [
        "Lệ phí đăng ký thường trú (nộp trực tuyến) (miễn: trẻ em dưới 16 tuổi)"
    ]
    assert [f["name"]["en"] for f in residence] == [
        "Permanent residence registration fee (online filing) (exempt: children under 16)"
    ]
    ticked = {"thu_tuc_lien_thong": ["1.004222"], "copies": 2}
    bill = compute_fees(fee_items=linked.fees, postal_fee=None, reduction=None, answers=ticked)
    assert [(ln.agency_code, ln.amount) for ln in bill.lines] == [("UBXA", 16000), ("CAXA", 0)]
    assert bill.total == 16000
    db.rollback()
