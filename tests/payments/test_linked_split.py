"""One payment for a linked application (thủ tục liên thông), split per agency: the bill's and the payment's
lines name their agency, each agency issues its own e-receipt in its own numbering, the daily report credits
each agency with its lines and debits it with its refunds, and one member's rejection gives back that
member's fee only, once, under its agency — where its own procedure allows a refund.

The rows (agencies, member procedures, the linked procedure, the parent and its children, the payment) are
written directly: fresh codes each time, in the rolled-back `session`.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from auth.models import Account
from payments import queries, report
from payments import service as payments
from payments.ereceipt import receipt_parts, render_e_receipt_pdf
from payments.fees import FeeLine, agency_shares, compute_fees, line_from_record, line_record
from payments.gateways.base import GatewayResult, Outcome, PaymentOrder, PaymentStart
from payments.models import Payment, PaymentEvent, PaymentReceipt, PaymentStatus, Refund, RefundStatus
from payments.serialize import member_payment_info, payment_info
from payments.tasks import e_receipt_data, ensure_e_receipt
from portal.catalog.models import Agency, Procedure
from portal.dossiers import billing, issued
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.clock import local, utcnow
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from tests import factories
from tests.pdftools import extract_text

pytestmark = pytest.mark.db


@dataclass
class Linked:
    receiving: str  # the parent's agency (một cửa); also member A's
    agency_b: str
    agency_c: str
    linked: Procedure
    member_a: str  # refundable, 8 000 đ, collected by the receiving agency
    member_b: str  # refundable, 20 000 + 5 000 đ
    member_c: str  # not refundable (unless asked), 15 000 đ, collected by agency_c (agency_b's when asked)
    parent: Dossier
    children: dict[str, Dossier]


def _fee(name: str, amount: int, agency: str | None = None, member: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"name": {"vi": f"Lệ phí {name}", "en": f"Fee {name}"}, "amount": amount}
    if agency:
        item["agency"], item["member"] = agency, member
    return item


def _procedure(session: Session, code: str, agency: str, **over: Any) -> Procedure:
    values: dict[str, Any] = {
        "agency_code": agency,
        "name_vi": f"Thủ tục {code}",
        "name_en": f"Procedure {code}",
        "members": [],
        "kind": "single",
    }
    row = factories.procedure_copy(session, code, slug="split", **{**values, **over})
    session.add(row)
    session.flush()
    return row


def linked_application(
    session: Session,
    *,
    submitted: bool = True,
    applicant: Account | None = None,
    c_of_b: bool = False,
    c_refundable: bool = False,
) -> Linked:
    """`c_of_b`: member C is agency B's too (two members of one agency); `c_refundable`: C's fee is refundable."""
    suffix = secrets.token_hex(3).upper()
    receiving, agency_b = f"R{suffix}", f"B{suffix}"
    agency_c = agency_b if c_of_b else f"C{suffix}"
    names = {receiving: "UBND xã", agency_b: "Công an"} | ({} if c_of_b else {agency_c: "Bảo hiểm xã hội"})
    for code, name in names.items():
        session.add(Agency(code=code, name_vi=f"{name} {suffix}", name_en=f"{name} {suffix}", address="Ninh Bình"))
    session.flush()
    a, b, c = f"SA.{suffix}", f"SB.{suffix}", f"SC.{suffix}"
    _procedure(session, a, receiving, fees=[_fee("khai sinh", 8_000)], refundable=True)
    _procedure(session, b, agency_b, fees=[_fee("thường trú", 20_000), _fee("thẻ", 5_000)], refundable=True)
    _procedure(session, c, agency_c, fees=[_fee("BHYT", 15_000)], refundable=c_refundable)
    linked = _procedure(
        session,
        f"LT.{suffix}",
        receiving,
        kind="linked",
        members=[
            {"procedure": a, "depends_on": [], "from_result": {}, "optional": None, "fields": {}, "components": {}},
            {"procedure": b, "depends_on": [a], "from_result": {}, "optional": None, "fields": {}, "components": {}},
            {"procedure": c, "depends_on": [a], "from_result": {}, "optional": None, "fields": {}, "components": {}},
        ],
        fees=[
            _fee("khai sinh", 8_000, receiving, a),
            _fee("thường trú", 20_000, agency_b, b),
            _fee("thẻ", 5_000, agency_b, b),
            _fee("BHYT", 15_000, agency_c, c),
        ],
        refundable=False,
    )
    parent = factories.dossier(
        session, procedure_code=linked.code, submitted=submitted, linked_role="parent", applicant=applicant
    )
    children = {}
    if submitted:
        for code in (a, b, c):
            children[code] = factories.dossier(
                session,
                procedure_code=code,
                applicant=session.get(Account, parent.applicant_id),
                submitted=True,
                linked_role="child",
                parent_id=parent.id,
            )
    return Linked(receiving, agency_b, agency_c, linked, a, b, c, parent, children)


class Bank:
    """A gateway that accepts every start (the test says what it answers)."""

    id = "sandbox"

    def start_payment(self, order: PaymentOrder, *, return_url: str, notify_url: str) -> PaymentStart:
        return PaymentStart(redirect_url=f"https://bank.example/{order.reference}", gateway_ref=f"G{order.reference}")


def paid(session: Session, app: Linked, settings: Settings) -> Payment:
    """The parent's bill paid in one payment, as the payment page starts it and the bank confirms it."""
    bill = billing.bill_for(app.linked, app.parent, settings)
    started = payments.start_payment(
        session=session,
        gateway=Bank(),  # type: ignore[arg-type]
        order_id=app.parent.id,
        account_id=app.parent.applicant_id,
        agency_code=app.parent.agency_code,
        bill=bill,
        description="Lệ phí liên thông",
        base_url="http://testserver",
        expiry_minutes=15,
    )
    payment = started.payment
    result = GatewayResult(payment.reference, Outcome.SUCCEEDED, payment.amount, "VND", gateway_ref="BANK1")
    applied = payments.apply_result(session=session, gateway_id="sandbox", result=result, source="notification")
    assert applied.changed and payment.status == PaymentStatus.SUCCEEDED
    return payment


def settle(session: Session, refunds: list[Refund]) -> None:
    """The gateway paid these refunds back (as execute_refund records it)."""
    now = utcnow()
    for refund in refunds:
        refund.status, refund.settled_at = RefundStatus.SUCCEEDED, now
        payment = session.get(Payment, refund.payment_id)
        assert payment is not None
        payment.refunded_amount += refund.amount
        session.add_all([refund, payment])
    session.flush()


def today() -> Any:
    return local(utcnow()).date()


# -- the lines


def test_fee_items_keep_their_agency_and_member_and_old_lines_still_read() -> None:
    bill = compute_fees(
        fee_items=[_fee("a", 1_000, "UBXA", "1.001193"), _fee("b", 2_000)], postal_fee=None, reduction=None
    )
    assert [(ln.agency_code, ln.member) for ln in bill.lines] == [("UBXA", "1.001193"), (None, None)]
    assert line_record(bill.lines[0])["agency_code"] == "UBXA" and line_record(bill.lines[0])["member"] == "1.001193"
    assert "agency_code" not in line_record(bill.lines[1])  # a single procedure's line is stored as before
    old = {"code": "fee-1", "name_vi": "Lệ phí", "name_en": "Fee", "amount": 30_000}
    assert line_from_record(old) == FeeLine("fee-1", "Lệ phí", "Fee", 30_000)
    assert line_from_record(line_record(bill.lines[0])) == bill.lines[0]
    with pytest.raises(ValueError, match="agency"):
        compute_fees(fee_items=[{**_fee("a", 1), "agency": 7}], postal_fee=None, reduction=None)
    # Shares always add up to the amount; a reduction (single agency only) stays with the payment's agency.
    assert agency_shares([old], amount=27_000, agency_code="CAT") == {"CAT": 27_000}
    assert agency_shares([line_record(x) for x in bill.lines], amount=3_000, agency_code="SXD") == {
        "UBXA": 1_000,
        "SXD": 2_000,
    }


def test_the_parents_bill_and_payment_carry_each_members_agency(session: Session, settings: Settings) -> None:
    app = linked_application(session)
    bill = billing.bill_for(app.linked, app.parent, settings)
    assert bill.total == 48_000
    groups = billing.bill_by_agency(session, bill, app.parent.agency_code)
    assert [(g.agency_code, g.subtotal) for g in groups] == [
        (app.receiving, 8_000),
        (app.agency_b, 25_000),
        (app.agency_c, 15_000),
    ]
    payment = paid(session, app, settings)
    assert [(ln["agency_code"], ln["member"], ln["amount"]) for ln in payment.lines] == [
        (app.receiving, app.member_a, 8_000),
        (app.agency_b, app.member_b, 20_000),
        (app.agency_b, app.member_b, 5_000),
        (app.agency_c, app.member_c, 15_000),
    ]
    info = payment_info(payment, [])
    assert {line.agency_code for line in info.lines} == {app.receiving, app.agency_b, app.agency_c}


def test_an_optional_member_not_ticked_is_not_billed(session: Session, settings: Settings) -> None:
    app = linked_application(session, submitted=False)
    app.linked.members[2]["optional"] = {"vi": "Cấp thẻ BHYT", "en": "Health insurance card"}
    assert app.parent.status == DossierStatus.DRAFT
    assert billing.bill_for(app.linked, app.parent, settings).total == 33_000  # C's box not ticked


# -- e-receipts


def test_each_agency_issues_its_own_e_receipt_in_its_own_numbering(session: Session, settings: Settings) -> None:
    app = linked_application(session)
    first = paid(session, app, settings)
    receipts = queries.agency_receipts(session, first)
    year = f"{local(utcnow()):%y}"
    assert [(r.agency_code, r.symbol, r.number) for r in receipts] == [
        (app.receiving, f"{app.receiving}-{year}E", "0000001"),
        (app.agency_b, f"{app.agency_b}-{year}E", "0000001"),
        (app.agency_c, f"{app.agency_c}-{year}E", "0000001"),
    ]
    assert first.receipt_label == f"{app.receiving}-{year}E/0000001"
    # Recorded as one PaymentReceipt row per collecting agency (the first mirrored on the payment's row), not as
    # payment events.
    rows = session.exec(
        select(PaymentReceipt).where(PaymentReceipt.payment_id == first.id).order_by(col(PaymentReceipt.id))
    ).all()
    assert [(r.agency_code, r.amount, r.number, r.storage_key) for r in rows] == [
        (app.receiving, 8_000, "0000001", None),
        (app.agency_b, 25_000, "0000001", None),
        (app.agency_c, 15_000, "0000001", None),
    ]
    assert [r.amount for r in receipts] == [8_000, 25_000, 15_000]
    kinds = {e.kind for e in session.exec(select(PaymentEvent).where(PaymentEvent.payment_id == first.id))}
    assert "receipt_numbered" not in kinds
    parts = {p.agency_code: p for p in receipt_parts(first)}
    assert {code: p.total for code, p in parts.items()} == {
        app.receiving: 8_000,
        app.agency_b: 25_000,
        app.agency_c: 15_000,
    }

    data = e_receipt_data(session, first, settings, agency_code=app.agency_b)
    assert data.receipt_symbol == f"{app.agency_b}-{year}E" and data.total == 25_000
    assert [line.amount for line in data.lines] == [20_000, 5_000]
    assert data.collector_name.startswith("Công an") and f"Thủ tục {app.member_b}" in data.procedure_name
    assert data.dossier_code == app.children[app.member_b].code  # the agency's own dossier
    text = extract_text(render_e_receipt_pdf(data))
    amounts = set(re.findall(r"(?<![\d.])\d{1,3}(?:\.\d{3})+", text))
    assert {"25.000", "20.000", "5.000", "48.000"} <= amounts and not {"8.000", "15.000"} & amounts
    assert "Hai mươi lăm nghìn đồng" in text and "thu cùng các biên lai" in text

    store = LocalStorage(Path(settings.storage_dir))
    stored = {
        r.agency_code: ensure_e_receipt(session, first, storage=store, settings=settings, agency_code=r.agency_code)
        for r in receipts
    }
    again = queries.agency_receipts(session, first)
    assert all(r.key and r.sha256 for r in again) and len({r.sha256 for r in again}) == 3
    for row in rows:
        session.refresh(row)
    assert [(r.storage_key, r.sha256) for r in rows] == [(r.key, r.sha256) for r in again]
    assert (first.receipt_key, first.receipt_sha256) == (again[0].key, again[0].sha256)  # the first, mirrored
    assert not [
        e
        for e in session.exec(select(PaymentEvent).where(PaymentEvent.payment_id == first.id))
        if e.kind == "receipt_issued" and ("key" in e.detail or "sha256" in e.detail or e.dedupe_key)
    ]  # the events only say that it happened
    assert (
        ensure_e_receipt(session, first, storage=store, settings=settings, agency_code=app.agency_c)
        == stored[app.agency_c]
    )
    # /verify knows the other agencies' receipts too.
    other = again[2]
    assert other.sha256
    [found] = list(billing.agency_e_receipts(session, other.sha256, 10))
    assert found.kind == "e_receipt" and found.reference == app.parent.code
    # The first agency's is found once, through the payment's row.
    assert again[0].sha256
    assert list(billing.agency_e_receipts(session, again[0].sha256, 10)) == []
    [by_payment] = list(issued.e_receipts(session, again[0].sha256, 10))
    assert by_payment.reference == app.parent.code
    assert list(billing.agency_e_receipts(session, "0" * 64, 10)) == []
    # A second linked payment takes the next number in each agency's own sequence.
    second_app = Linked(
        **{
            **app.__dict__,
            "parent": factories.dossier(session, procedure_code=app.linked.code, submitted=True, linked_role="parent"),
            "children": {},
        }
    )
    second = paid(session, second_app, settings)
    assert [r.number for r in queries.agency_receipts(session, second)] == ["0000002"] * 3


def test_a_single_agency_payment_keeps_its_one_receipt(session: Session, settings: Settings) -> None:
    dossier = factories.dossier(session, submitted=True)
    payment = factories.payment(
        session,
        dossier=dossier,
        lines=[{"code": "fee-1", "name_vi": "Lệ phí", "name_en": "Fee", "amount": 30_000}],
        amount=30_000,
        receipt_symbol="UBXA-26E",
        receipt_number="0000009",
    )
    [receipt] = queries.agency_receipts(session, payment)
    assert (receipt.agency_code, receipt.label) == (dossier.agency_code, "UBXA-26E/0000009")
    [part] = receipt_parts(payment)
    assert part.total == 30_000 and part.agency_code == dossier.agency_code


def test_a_linked_payment_collected_by_one_agency_has_that_agencys_one_receipt(
    session: Session, settings: Settings
) -> None:
    """Only member B's agency collects anything (A's and C's fees are 0 đ, e.g. exempt): one e-receipt, on the
    payment's row, in B's series and naming B (not the receiving agency whose payment it is)."""
    app = linked_application(session)
    app.linked.fees = [{**item, "amount": 0} if item["member"] != app.member_b else item for item in app.linked.fees]
    session.add(app.linked)
    session.flush()
    payment = paid(session, app, settings)
    assert payment.amount == 25_000
    year = f"{local(utcnow()):%y}"
    [receipt] = queries.agency_receipts(session, payment)
    assert (receipt.agency_code, receipt.symbol, receipt.amount) == (app.agency_b, f"{app.agency_b}-{year}E", 25_000)
    assert payment.receipt_symbol == f"{app.agency_b}-{year}E"
    assert session.exec(select(PaymentReceipt).where(PaymentReceipt.payment_id == payment.id)).all() == []
    data = e_receipt_data(session, payment, settings)
    assert data.collector_name.startswith("Công an") and data.total == 25_000
    assert data.dossier_code == app.children[app.member_b].code and data.shared_payment is None
    info = payment_info(payment, [], queries.agency_receipts(session, payment))
    assert [(r.agency_code, r.amount) for r in info.receipts] == [(app.agency_b, 25_000)]
    assert payment_info(payment, []).receipts[0].agency_code == app.agency_b  # read from the payment's lines


def test_payment_info_lists_every_agencys_receipt(session: Session, settings: Settings) -> None:
    app = linked_application(session)
    payment = paid(session, app, settings)
    info = payment_info(payment, [], queries.agency_receipts(session, payment))
    year = f"{local(utcnow()):%y}"
    assert info.receipt == f"{app.receiving}-{year}E/{payment.receipt_number}"  # the first, as before
    assert [(r.agency_code, r.symbol, r.amount) for r in info.receipts] == [
        (app.receiving, f"{app.receiving}-{year}E", 8_000),
        (app.agency_b, f"{app.agency_b}-{year}E", 25_000),
        (app.agency_c, f"{app.agency_c}-{year}E", 15_000),
    ]
    assert all(re.fullmatch(r"\d{7}", r.number) for r in info.receipts)
    # One member's share, as that member's agency reads it.
    [refund] = billing.refund_member(session, app.children[app.member_b], "rejected")
    settle(session, [refund])
    refunds = queries.refunds_of(session, [payment])
    mine = member_payment_info(
        payment, refunds, queries.agency_receipts(session, payment), member=app.member_b, agency_code=app.agency_b
    )
    assert (mine.member, mine.amount, mine.refunded_amount) == (app.member_b, 25_000, 25_000)
    assert [line.amount for line in mine.lines] == [20_000, 5_000]
    assert [(r.agency_code, r.member) for r in mine.refunds] == [(app.agency_b, app.member_b)]
    assert [r.agency_code for r in mine.receipts] == [
        app.agency_b
    ] and mine.receipt == f"{mine.receipts[0].symbol}/{mine.receipts[0].number}"
    other = member_payment_info(
        payment, refunds, queries.agency_receipts(session, payment), member=app.member_c, agency_code=app.agency_c
    )
    assert (other.amount, other.refunded_amount, other.refunds) == (15_000, 0, [])


# -- refunds of one member


def test_refund_member_gives_back_only_that_members_fee_once(session: Session, settings: Settings) -> None:
    app = linked_application(session)
    payment = paid(session, app, settings)
    child_b = app.children[app.member_b]
    [refund] = billing.refund_member(session, child_b, "rejected")
    assert (refund.amount, refund.agency_code, refund.member, refund.reason) == (
        25_000,
        app.agency_b,
        app.member_b,
        "rejected",
    )
    assert billing.refund_member(session, child_b, "rejected") == []  # pending: nothing more
    settle(session, [refund])
    assert billing.refund_on_exit(session, child_b, reason="rejected") == []  # done: nothing more either
    # Member C's procedure gives nothing back; the parent's linked procedure neither.
    assert billing.refund_member(session, app.children[app.member_c], "rejected") == []
    assert billing.refund_on_exit(session, app.parent, reason="withdrawn") == []
    # Member A (the receiving agency's) through refund_on_exit, as the rejection of a child calls it.
    [refund_a] = billing.refund_on_exit(session, app.children[app.member_a], reason="withdrawn")
    assert (refund_a.amount, refund_a.agency_code) == (8_000, app.receiving)
    assert payments.kept_amount(session, app.parent.id) == 15_000  # C's fee stays
    session.refresh(payment)
    assert payment.refunded_amount == 25_000


def test_a_full_refund_of_a_linked_payment_is_split_per_agency(session: Session, settings: Settings) -> None:
    app = linked_application(session)
    payment = paid(session, app, settings)
    settle(session, billing.refund_member(session, app.children[app.member_b], "rejected"))
    refunds = payments.refund_order(session=session, order_id=app.parent.id, reason="agency")
    assert sorted((r.agency_code, r.amount) for r in refunds) == sorted(
        [(app.receiving, 8_000), (app.agency_c, 15_000)]
    )
    assert billing.refund_member(session, app.children[app.member_a], "rejected") == []  # already on its way
    assert sum(r.amount for r in refunds) + payment.refunded_amount == payment.amount


# -- the daily report


def _rows(session: Session, app: Linked, **kw: Any) -> dict[str, report.ReportRow]:
    mine = {app.receiving, app.agency_b, app.agency_c}
    return {r.agency_code: r for r in report.daily_report(session, today(), **kw) if r.agency_code in mine}


def test_the_daily_report_splits_a_linked_payment_and_its_refunds_per_agency(
    session: Session, settings: Settings
) -> None:
    app = linked_application(session)
    payment = paid(session, app, settings)
    rows = _rows(session, app)
    assert {code: (r.payments, r.amount) for code, r in rows.items()} == {
        app.receiving: (1, 8_000),
        app.agency_b: (1, 25_000),
        app.agency_c: (1, 15_000),
    }
    assert sum(r.amount for r in rows.values()) == payment.amount  # what the gateway took
    settle(session, billing.refund_member(session, app.children[app.member_b], "rejected"))
    rows = _rows(session, app)
    assert (rows[app.agency_b].refunds, rows[app.agency_b].refunded, rows[app.agency_b].net) == (1, 25_000, 0)
    assert rows[app.receiving].refunded == 0 and rows[app.agency_c].net == 15_000
    # One agency's report: its own share, though the payment is the receiving agency's.
    [only] = report.daily_report(session, today(), agency_code=app.agency_c)
    assert (only.agency_code, only.amount, only.gateway) == (app.agency_c, 15_000, "sandbox")
    lines = list(csv.reader(io.StringIO(report.report_csv(list(rows.values())))))
    assert lines[0] == list(report.REPORT_HEADER)
    assert sorted(line[1:] for line in lines[1:]) == sorted(
        [
            [app.receiving, "sandbox", "1", "8000", "0", "0", "8000"],
            [app.agency_b, "sandbox", "1", "25000", "1", "25000", "0"],
            [app.agency_c, "sandbox", "1", "15000", "0", "0", "15000"],
        ]
    )


def test_old_payments_without_agencies_in_lines_report_as_before(session: Session) -> None:
    code = f"O{secrets.token_hex(3).upper()}"
    session.add(Agency(code=code, name_vi="Sở cũ", name_en="Old department"))
    session.flush()
    dossier = factories.dossier(session, submitted=True)
    old_lines = [{"code": "fee-1", "name_vi": "Lệ phí", "name_en": "Fee", "amount": 20_000}]
    reduced = [{"category": "x", "name_vi": "Giảm", "name_en": "Cut", "percent": 50, "amount": 10_000}]
    factories.payment(session, dossier=dossier, agency_code=code, amount=10_000, lines=old_lines, reductions=reduced)
    factories.payment(session, dossier=dossier, agency_code=code, amount=7_000, lines=[], gateway="vnpay")
    earlier = factories.payment(session, dossier=dossier, agency_code=code, amount=5_000)
    earlier.settled_at = utcnow() - timedelta(days=2)
    session.add(Refund(payment_id=earlier.id, amount=5_000, reason="rejected", status="succeeded", settled_at=utcnow()))
    session.flush()
    rows = [r for r in report.daily_report(session, today(), agency_code=code)]
    assert [(r.gateway, r.payments, r.amount, r.refunds, r.refunded) for r in rows] == [
        ("sandbox", 1, 10_000, 1, 5_000),
        ("vnpay", 1, 7_000, 0, 0),
    ]
