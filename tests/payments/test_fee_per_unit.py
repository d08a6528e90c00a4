"""Fees charged per unit of an answer (`per`: the copies of a birth certificate, 8.000 đ each): the bill with 0
and 2 copies, a hidden field counting nothing, the lines' names, a linked application's bill (copies for the
commune, the newborn exempt from the residence fee), a member's share, and a paid bill refusing a change."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

import pytest
from sqlmodel import Session

from forms.models import FormVersion
from payments.fees import compute_fees, line_from_record, line_record, units
from portal.catalog.linked import MEMBERS_FIELD
from portal.catalog.models import Procedure
from portal.dossiers import billing, service
from portal.dossiers.models import Dossier
from portal.kernel.errors import Conflict
from portal.kernel.settings import Settings
from tests import factories

pytestmark = pytest.mark.db

BIRTH, RESIDENCE, CARD, LINKED = "1.001193", "1.004222", "BHXH.TE6", "LT.KS"
COPY = {"name": {"vi": "Phí cấp bản sao", "en": "Certified copies"}, "amount": 8000, "per": "copies"}
FIXED = {"name": {"vi": "Lệ phí", "en": "Fee"}, "amount": 20000}


# -- compute_fees


@pytest.mark.parametrize(("answer", "count"), [(2, 2), (2.0, 2), ("3", 3), (0, 0), (None, 0), ("", 0), (True, 0)])
def test_units_counts_a_whole_number_answer(answer: Any, count: int) -> None:
    assert units(answer) == count


def test_two_copies_are_one_line_that_says_the_count() -> None:
    bill = compute_fees(fee_items=[FIXED, COPY], postal_fee=None, reduction=None, answers={"copies": 2})
    assert [(ln.code, ln.name_vi, ln.name_en, ln.amount) for ln in bill.lines] == [
        ("fee-1", "Lệ phí", "Fee", 20000),
        ("fee-2", "Phí cấp bản sao × 2", "Certified copies × 2", 16000),
    ]
    assert bill.total == 36000
    line = bill.lines[1]
    assert (line.quantity, line.unit_amount) == (2, 8000)
    # The payment keeps the count and the unit price with the line, and reads them back.
    record = line_record(line)
    assert record["quantity"] == 2 and record["unit_amount"] == 8000 and line_from_record(record) == line
    assert "quantity" not in line_record(bill.lines[0])


@pytest.mark.parametrize("answers", [{"copies": 0}, {"copies": None}, {}, None])
def test_no_copy_asked_leaves_the_item_off_the_bill(answers: dict[str, Any] | None) -> None:
    bill = compute_fees(fee_items=[FIXED, COPY], postal_fee=None, reduction=None, answers=answers)
    assert [ln.code for ln in bill.lines] == ["fee-1"] and bill.total == 20000


def test_a_malformed_per_is_refused() -> None:
    with pytest.raises(ValueError, match="per that is not a field name"):
        compute_fees(fee_items=[{**COPY, "per": 3}], postal_fee=None, reduction=None, answers={"copies": 1})


# -- the dossier's bill (billing.bill_for)


def _birth(db: Session, copies: Any) -> Dossier:
    return factories.dossier(db, procedure_code=BIRTH, data={"copies": copies})


@pytest.mark.parametrize(("copies", "total"), [(0, 0), (2, 16000), (10, 80000)])
def test_a_birth_registration_bills_its_copies(db: Session, settings: Settings, copies: int, total: int) -> None:
    proc = db.get(Procedure, BIRTH)
    assert proc is not None and proc.fee_total == 0  # free but for the copies
    bill = billing.bill_for(proc, _birth(db, copies), settings)
    assert bill.total == total
    assert [ln.name_vi for ln in bill.lines] == ([f"Phí cấp bản sao Giấy khai sinh × {copies}"] if copies else [])
    db.rollback()


def _procedure_with_hidden_copies(db: Session) -> Procedure:
    """A procedure whose copies are asked only when the applicant wants copies (show_if)."""
    form_id = f"fx-per-unit-{secrets.token_hex(4)}"
    body = {
        "id": form_id,
        "version": 1,
        "title": {"vi": "Thử", "en": "Test"},
        "steps": [
            {
                "id": "s1",
                "title": {"vi": "Bản sao", "en": "Copies"},
                "fields": [
                    {"name": "want_copies", "type": "checkbox", "label": {"vi": "Cấp bản sao", "en": "Copies"}},
                    {
                        "name": "copies",
                        "type": "number",
                        "label": {"vi": "Số bản", "en": "How many"},
                        "integer": True,
                        "min": 1,
                        "max": 5,
                        "show_if": {"field": "want_copies", "equals": True},
                    },
                ],
            }
        ],
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    db.add(FormVersion(form_id=form_id, version=1, body=body, sha256=digest))
    code = f"9.{secrets.randbelow(10**6):06d}"
    proc = Procedure(
        code=code,
        slug=f"thu-{code}",
        agency_code="UBXA",
        name_vi="Thử",
        name_en="Test",
        field_vi="Thử",
        field_en="Test",
        level="full",
        deadline_days=1,
        form_id=form_id,
        form_version=1,
        fees=[COPY],
        delivery=["centre"],
    )
    db.add(proc)
    db.flush()
    return proc


def test_a_hidden_copies_field_counts_nothing(db: Session, settings: Settings) -> None:
    proc = _procedure_with_hidden_copies(db)
    hidden = factories.dossier(db, procedure_code=proc.code, data={"want_copies": False, "copies": 3})
    assert billing.bill_for(proc, hidden, settings).total == 0  # a stale answer of a hidden field
    shown = factories.dossier(db, procedure_code=proc.code, data={"want_copies": True, "copies": 3})
    assert billing.bill_for(proc, shown, settings).total == 24000
    db.rollback()


# -- a linked application


def _linked_draft(db: Session, **answers: Any) -> tuple[Procedure, Dossier]:
    linked = db.get(Procedure, LINKED)
    assert linked is not None
    parent = service.create_draft(session=db, procedure=linked, by=factories.account(db))
    parent.data = answers
    db.add(parent)
    db.flush()
    return linked, parent


def test_the_birth_package_bills_copies_to_the_commune_and_exempts_the_newborn(db: Session, settings: Settings) -> None:
    linked, parent = _linked_draft(db, copies=2, **{MEMBERS_FIELD: [RESIDENCE]})
    bill = billing.bill_for(linked, parent, settings)
    assert [(ln.agency_code, ln.member, ln.name_vi, ln.amount) for ln in bill.lines] == [
        ("UBXA", BIRTH, "Phí cấp bản sao Giấy khai sinh × 2", 16000),
        ("CAXA", RESIDENCE, "Lệ phí đăng ký thường trú (nộp trực tuyến) (miễn: trẻ em dưới 16 tuổi)", 0),
    ]
    assert bill.lines[1].name_en == "Permanent residence registration fee (online filing) (exempt: children under 16)"
    assert (bill.lines[1].reduction_category, bill.lines[1].amount_before_reduction) == ("tre-em", 10000)
    assert bill.total == 16000 and bill.reductions == ()
    # The payment's lines keep the reduction (category, percent, amount before it).
    record = line_record(bill.lines[1])
    assert (record["reduction_category"], record["reduction_percent"], record["amount_before_reduction"]) == (
        "tre-em",
        100,
        10000,
    )
    db.rollback()


def test_the_birth_package_without_copies_or_residence_is_free(db: Session, settings: Settings) -> None:
    linked, parent = _linked_draft(db, copies=0, **{MEMBERS_FIELD: []})
    bill = billing.bill_for(linked, parent, settings)
    assert bill.lines == () and bill.total == 0
    db.rollback()


def test_a_member_owes_its_share_paid_with_its_application(db: Session, settings: Settings) -> None:
    """A member (child) bills its lines of the application, counted on the application's answers, and owes
    nothing once the application's payment collected them."""
    linked, parent = _linked_draft(db, copies=2, **{MEMBERS_FIELD: [RESIDENCE]})
    birth = factories.dossier(db, procedure_code=BIRTH, data={}, linked_role="child", parent_id=parent.id)
    residence = factories.dossier(db, procedure_code=RESIDENCE, data={}, linked_role="child", parent_id=parent.id)
    birth_proc, residence_proc = db.get(Procedure, BIRTH), db.get(Procedure, RESIDENCE)
    assert birth_proc is not None and residence_proc is not None
    assert billing.bill_for(birth_proc, birth, settings).total == 16000
    assert billing.bill_for(residence_proc, residence, settings).total == 0  # not 10.000 đ: the child is exempt
    assert billing.amount_left(db, birth_proc, birth, settings) == 16000
    bill = billing.bill_for(linked, parent, settings)
    factories.payment(db, dossier=parent, amount=bill.total, lines=[line_record(ln) for ln in bill.lines])
    assert billing.amount_left(db, birth_proc, birth, settings) == 0
    assert billing.amount_left(db, residence_proc, residence, settings) == 0
    db.rollback()


# -- a paid bill refuses a change of the copies


def test_a_paid_bill_refuses_a_change_of_the_copies(db: Session, settings: Settings) -> None:
    proc = db.get(Procedure, BIRTH)
    assert proc is not None
    draft = _birth(db, 2)
    defn = service.get_definition(db, proc.form_id, proc.form_version)
    # Before any payment the answer changes the bill.
    service.save_step(session=db, dossier=draft, defn=defn, step_id="parents", raw={"copies": ["3"]}, settings=settings)
    assert draft.data["copies"] == 3 and billing.bill_for(proc, draft, settings).total == 24000
    factories.payment(db, dossier=draft, amount=24000)
    with pytest.raises(Conflict):
        service.save_step(
            session=db, dossier=draft, defn=defn, step_id="parents", raw={"copies": ["1"]}, settings=settings
        )
    assert draft.data["copies"] == 3  # nothing of the refused step kept
    assert billing.bill_for(proc, draft, settings).total == 24000
    # The same count is no change of the bill: the step is saved.
    service.save_step(
        session=db,
        dossier=draft,
        defn=defn,
        step_id="parents",
        raw={"copies": ["3"], "mother_name": ["Nguyễn Thị Hường"]},
        settings=settings,
    )
    assert draft.data["mother_name"] == "Nguyễn Thị Hường"
    db.rollback()


def test_a_paid_linked_application_refuses_ticking_another_member(db: Session, settings: Settings) -> None:
    """The members ticked change the bill too: once paid, ticking a member with a fee is refused."""
    linked, parent = _linked_draft(db, copies=1, **{MEMBERS_FIELD: []})
    defn = service.get_definition(db, linked.form_id, linked.form_version)
    factories.payment(db, dossier=parent, amount=billing.bill_for(linked, parent, settings).total)
    step = defn.step_ids[0]
    # The residence fee is 0 for the newborn: ticking it does not change the bill, so it is allowed.
    service.save_step(
        session=db, dossier=parent, defn=defn, step_id=step, raw={MEMBERS_FIELD: [RESIDENCE]}, settings=settings
    )
    assert parent.data[MEMBERS_FIELD] == [RESIDENCE]
    copies_step = defn.step_of("copies").id
    with pytest.raises(Conflict):
        service.save_step(
            session=db, dossier=parent, defn=defn, step_id=copies_step, raw={"copies": ["4"]}, settings=settings
        )
    assert parent.data["copies"] == 1
    db.rollback()
