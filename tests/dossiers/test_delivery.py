"""The applicant's postal choices: the bill from the tariff, pickup, paying at delivery, changes after submission."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from sqlmodel import Session, select

from auth.models import Account
from forms.address import wards
from payments import service as payments
from payments.fees import POSTAL_LINE_CODE
from payments.gateways.base import GatewayResult, Outcome, PaymentOrder, PaymentStart
from payments.models import PaymentStatus, Refund
from portal.catalog.models import Procedure
from portal.dossiers import billing, delivery, service
from portal.dossiers.models import Dossier, DossierEvent, DossierEventKind
from portal.kernel.errors import Conflict
from portal.kernel.settings import Settings
from postal import service as postal
from postal.models import ParcelKind, ParcelStatus, PostalOrder
from tests import factories

MARITAL = factories.MARITAL  # UBXA (Ninh Bình, 37), post offered, fee after submission
JUDICIAL = "3.000333"  # CAT (37), fee before submission, paying at delivery allowed
LICENCE = "3.000347"  # CAT (37), centre or post, originals (the old licence), paying at delivery allowed
BUILDING = "1.013225"  # UBXA (37), result a thick envelope, two originals
BIRTH = "1.001193"  # UBXA (37), free of charge, post offered

# The shipped tariff (postal/data/tariff.yaml): Ninh Bình (37) and Hà Nội (01) are both in the north,
# Hồ Chí Minh (79) in the south.
PRICES = {
    ("intra_province", "document"): 16_000,
    ("intra_region", "document"): 22_000,
    ("inter_region", "document"): 28_000,
    ("intra_province", "thick"): 22_000,
    ("inter_region", "thick"): 38_000,
}
PICKUP_SURCHARGE = 10_000


def address(province: str, **over: str) -> dict[str, str]:
    return {
        "name": "Nguyễn Thị Hường",
        "phone": "0912345678",
        "province": province,
        "ward": wards(province)[0][0],
        "street": "12 Lý Thái Tổ",
        "notes": "",
        **over,
    }


def procedure_of(session: Session, code: str) -> Procedure:
    proc = session.get(Procedure, code)
    assert proc is not None
    return proc


def choices(
    proc: Procedure, method: str, *, to: str | None = None, pickup: str | None = None, cod: bool = False
) -> delivery.Choices:
    values: dict[str, Any] = {
        "method": method,
        "delivery": address(to) if to else {},
        "pickup_wanted": pickup is not None,
        "pickup": address(pickup) if pickup else {},
        "pay_on_delivery": cod,
    }
    chosen, errors = delivery.clean_choices(proc, values)
    assert chosen is not None, errors
    return chosen


def postal_lines(bill: Any) -> dict[str, int]:
    return {line.code: line.amount for line in bill.lines if line.code.startswith("postal")}


# -- the bill


@pytest.mark.parametrize(
    ("province", "zone"), [("37", "intra_province"), ("01", "intra_region"), ("79", "inter_region")]
)
def test_the_postal_line_comes_from_the_tariff_by_zone(
    session: Session, settings: Settings, province: str, zone: str
) -> None:
    proc = procedure_of(session, MARITAL)
    dossier = factories.dossier(session, delivery_method="post", delivery_address=address(province))
    bill = billing.bill_for(proc, dossier, settings)
    assert postal_lines(bill) == {POSTAL_LINE_CODE: PRICES[(zone, "document")]}
    assert bill.total == proc.fee_total + PRICES[(zone, "document")]
    line = next(line for line in bill.lines if line.code == POSTAL_LINE_CODE)
    zone_vi = billing.ZONE_NAMES[zone][0]
    assert zone_vi in line.name_vi and "bì thư tài liệu" in line.name_vi  # zone and weight class named
    assert billing.ZONE_NAMES[zone][1] in line.name_en


def test_the_weight_class_of_the_result_sets_the_price(session: Session, settings: Settings) -> None:
    proc = procedure_of(session, BUILDING)
    assert proc.result_weight_class == "thick"
    dossier = factories.dossier(
        session, procedure_code=BUILDING, delivery_method="post", delivery_address=address("79")
    )
    assert postal_lines(billing.bill_for(proc, dossier, settings)) == {
        POSTAL_LINE_CODE: PRICES[("inter_region", "thick")]
    }


def test_no_postal_line_without_post(session: Session, settings: Settings) -> None:
    proc = procedure_of(session, MARITAL)
    dossier = factories.dossier(session, delivery_method="online", delivery_address=address("79"))
    bill = billing.bill_for(proc, dossier, settings)
    assert postal_lines(bill) == {} and bill.total == proc.fee_total


def test_a_pickup_adds_its_own_line(session: Session, settings: Settings) -> None:
    proc = procedure_of(session, LICENCE)
    dossier = factories.dossier(
        session,
        procedure_code=LICENCE,
        delivery_method="post",
        delivery_address=address("37"),
        pickup_address=address("01"),
    )
    lines = postal_lines(billing.bill_for(proc, dossier, settings))
    assert lines == {
        POSTAL_LINE_CODE: PRICES[("intra_province", "document")],
        billing.PICKUP_LINE_CODE: PRICES[("intra_region", "document")] + PICKUP_SURCHARGE,
    }


def test_a_free_procedure_by_post_owes_the_postage(session: Session, settings: Settings) -> None:
    proc = procedure_of(session, BIRTH)
    assert proc.fee_total == 0
    dossier = factories.dossier(session, procedure_code=BIRTH, delivery_method="post", delivery_address=address("37"))
    assert billing.bill_for(proc, dossier, settings).total == PRICES[("intra_province", "document")]


def test_a_reduction_never_touches_the_postage(session: Session, settings: Settings) -> None:
    proc = procedure_of(session, JUDICIAL)
    category = proc.reductions[0]["category"]
    dossier = factories.dossier(
        session,
        procedure_code=JUDICIAL,
        delivery_method="post",
        delivery_address=address("79"),
        fee_reduction=category,
    )
    bill = billing.bill_for(proc, dossier, settings)
    cut = sum(amount for _, amount in bill.reductions)
    assert cut == proc.fee_total * proc.reductions[0]["percent"] // 100
    assert bill.total == proc.fee_total - cut + PRICES[("inter_region", "document")]


# -- choosing


def test_post_takes_the_applicants_address_when_it_is_complete(session: Session, settings: Settings) -> None:
    phone = f"09{secrets.randbelow(10**8):08d}"  # phones are unique, and tests that commit share the database
    applicant = factories.account(session, phone=phone)
    answers = {k: v for k, v in factories.marital_answers().items() if k != "phone"}
    dossier = factories.dossier(session, applicant=applicant, delivery_method=None, data=answers)
    service.set_delivery(
        session=session, dossier=dossier, procedure=procedure_of(session, MARITAL), method="post", settings=settings
    )
    assert dossier.delivery_address is not None
    assert dossier.delivery_address["phone"] == phone  # the account's, the form asked none
    assert dossier.delivery_address["name"] == answers["full_name"] and dossier.delivery_address["province"]


@pytest.mark.parametrize(
    ("part", "value", "key"),
    [
        ("ward", "00004", "delivery.ward"),  # a ward of Hà Nội, with Hồ Chí Minh chosen
        ("phone", "+1 212 555 0100", "delivery.phone"),
        ("name", "  ", "delivery.name"),
    ],
)
def test_bad_addresses_are_refused_by_part(session: Session, part: str, value: str, key: str) -> None:
    proc = procedure_of(session, MARITAL)
    chosen, errors = delivery.clean_choices(
        proc, {"method": "post", "delivery": address("79", **{part: value}), "pickup_wanted": False}
    )
    assert chosen is None and key in errors


def test_paying_at_delivery_only_where_allowed(session: Session) -> None:
    marital = procedure_of(session, MARITAL)
    assert not marital.cod_allowed
    _, errors = delivery.clean_choices(marital, {"method": "post", "delivery": address("37"), "pay_on_delivery": True})
    assert "pay_on_delivery" in errors
    judicial = procedure_of(session, JUDICIAL)
    _, errors = delivery.clean_choices(judicial, {"method": "online", "pay_on_delivery": True})
    assert "pay_on_delivery" in errors  # by post only


def test_paying_at_delivery_unblocks_the_submission(session: Session, settings: Settings) -> None:
    proc = procedure_of(session, JUDICIAL)
    assert proc.payment_timing == "before"
    dossier = factories.dossier(session, procedure_code=JUDICIAL, delivery_method="online")
    assert billing.payment_blocks_submission(session, proc, dossier, settings) == proc.fee_total
    delivery.choose(
        session=session, settings=settings, procedure=proc, dossier=dossier, choices=choices(proc, "post", to="79")
    )
    due = billing.payment_blocks_submission(session, proc, dossier, settings)
    assert due == proc.fee_total + PRICES[("inter_region", "document")]  # by post, still paid first
    delivery.choose(
        session=session,
        settings=settings,
        procedure=proc,
        dossier=dossier,
        choices=choices(proc, "post", to="79", cod=True),
    )
    assert dossier.pay_on_delivery and billing.payment_blocks_submission(session, proc, dossier, settings) == 0


def test_a_pickup_for_a_procedure_without_originals_is_refused(session: Session) -> None:
    proc = procedure_of(session, MARITAL)
    _, errors = delivery.clean_choices(proc, {"method": "online", "pickup_wanted": True, "pickup": address("37")})
    assert "pickup" in errors


def test_a_draft_choice_that_would_change_a_paid_bill_is_refused_and_not_kept(
    session: Session, settings: Settings
) -> None:
    proc = procedure_of(session, JUDICIAL)
    dossier = factories.dossier(session, procedure_code=JUDICIAL, delivery_method="online")
    factories.payment(session, dossier=dossier)
    with pytest.raises(Conflict):
        delivery.choose(
            session=session, settings=settings, procedure=proc, dossier=dossier, choices=choices(proc, "post", to="01")
        )
    assert (dossier.delivery_method, dossier.delivery_address) == ("online", None)


# -- after submission


def order(session: Session, dossier: Dossier, kind: ParcelKind, status: ParcelStatus, **over: Any) -> PostalOrder:
    row = PostalOrder(
        number=f"T{secrets.token_hex(6)}",
        kind=kind,
        operator="vnpost",
        status=status,
        owner_id=dossier.id,
        reference=dossier.code or "",
        province_code="37",
        sender={},
        recipient=dossier.delivery_address or {},
        weight_class="document",
        **over,
    )
    session.add(row)
    session.flush()
    return row


def submitted(session: Session, code: str, **over: Any) -> tuple[Dossier, Procedure]:
    return factories.dossier(session, procedure_code=code, submitted=True, **over), procedure_of(session, code)


def change(
    session: Session,
    settings: Settings,
    proc: Procedure,
    dossier: Dossier,
    method: str,
    *,
    to: str | None = None,
    pickup: str | None = None,
) -> delivery.Change:
    """The applicant changes the submitted dossier's choices to `choices(proc, method, to=…, pickup=…)`."""
    applicant = session.get(Account, dossier.applicant_id)
    assert applicant is not None
    return delivery.change(
        session=session,
        settings=settings,
        procedure=proc,
        dossier=dossier,
        choices=choices(proc, method, to=to, pickup=pickup),
        by=applicant,
    )


def events(session: Session, dossier: Dossier) -> list[DossierEvent]:
    return list(session.exec(select(DossierEvent).where(DossierEvent.dossier_id == dossier.id)))


def test_a_change_without_orders_changes_the_dossier_and_the_timeline(session: Session, settings: Settings) -> None:
    dossier, proc = submitted(session, MARITAL, delivery_method="online")
    result = change(session, settings, proc, dossier, "post", to="01")
    assert (
        dossier.delivery_method == "post" and dossier.delivery_address and dossier.delivery_address["province"] == "01"
    )
    assert result.total_after == result.total_before + PRICES[("intra_region", "document")]
    assert result.top_up == 0  # nothing paid yet: the fee (paid after submission) is the new bill
    changed = [e for e in events(session, dossier) if e.kind == DossierEventKind.DELIVERY_CHANGED]
    assert len(changed) == 1 and changed[0].details["method"] == "post"
    assert changed[0].details["previous_method"] == "online"


def test_a_claimed_delivery_order_cannot_be_changed(session: Session, settings: Settings) -> None:
    dossier, proc = submitted(session, MARITAL, delivery_method="post", delivery_address=address("37"))
    claimed = order(session, dossier, ParcelKind.DELIVERY, ParcelStatus.CLAIMED)
    with pytest.raises(Conflict) as refused:
        change(session, settings, proc, dossier, "online")
    assert refused.value.status_code == 409 and refused.value.params["number"] == claimed.number
    assert dossier.delivery_method == "post" and dossier.delivery_address == address("37")


def test_a_claimed_pickup_blocks_only_a_pickup_change(session: Session, settings: Settings) -> None:
    dossier, proc = submitted(session, LICENCE, delivery_method="centre", pickup_address=address("37"))
    order(session, dossier, ParcelKind.PICKUP, ParcelStatus.PICKED_UP)
    with pytest.raises(Conflict):
        change(session, settings, proc, dossier, "centre", pickup="01")
    # The result's delivery may still change: its order does not exist yet.
    change(session, settings, proc, dossier, "post", to="79", pickup="37")
    assert dossier.delivery_method == "post"


# -- money after a change


@dataclass
class FakeGateway:
    """A gateway that answers every start with a page (the real ones are tested in tests/payments)."""

    id: ClassVar[str] = "sandbox"

    def start_payment(self, order: PaymentOrder, *, return_url: str, notify_url: str) -> PaymentStart:
        return PaymentStart(redirect_url=f"https://bank.test/{order.reference}", gateway_ref=None)


def test_a_higher_bill_after_payment_is_a_top_up_of_the_difference(session: Session, settings: Settings) -> None:
    dossier, proc = submitted(session, JUDICIAL, delivery_method="online")
    factories.payment(session, dossier=dossier, amount=proc.fee_total)
    result = change(session, settings, proc, dossier, "post", to="79")
    postage = PRICES[("inter_region", "document")]
    assert result.top_up == postage and result.refunds == []

    started = payments.start_payment(
        session=session,
        gateway=FakeGateway(),  # type: ignore[arg-type]
        order_id=dossier.id,
        account_id=dossier.applicant_id,
        agency_code=dossier.agency_code,
        bill=billing.bill_for(proc, dossier, settings),
        description="top-up",
        base_url="http://portal.test",
        expiry_minutes=15,
    )
    top_up = started.payment
    assert top_up.amount == postage
    assert [line["code"] for line in top_up.lines] == [payments.TOPUP_LINE_CODE]
    assert top_up.lines[0]["paid_before"] == proc.fee_total and top_up.reductions == []

    # Its success is not taken for a payment made twice: nothing is refunded.
    applied = payments.apply_result(
        session=session,
        gateway_id="sandbox",
        result=GatewayResult(reference=top_up.reference, outcome=Outcome.SUCCEEDED, amount=postage, currency="VND"),
        source="notification",
    )
    assert applied.changed and top_up.status == PaymentStatus.SUCCEEDED
    assert session.exec(select(Refund).where(Refund.payment_id == top_up.id)).all() == []
    assert payments.kept_amount(session, dossier.id) == billing.bill_for(proc, dossier, settings).total


def test_a_lower_bill_after_payment_refunds_the_difference(session: Session, settings: Settings) -> None:
    dossier, proc = submitted(session, JUDICIAL, delivery_method="post", delivery_address=address("79"))
    paid = billing.bill_for(proc, dossier, settings).total
    payment = factories.payment(session, dossier=dossier, amount=paid)
    result = change(session, settings, proc, dossier, "post", to="37")
    difference = PRICES[("inter_region", "document")] - PRICES[("intra_province", "document")]
    assert [(r.payment_id, r.amount, r.reason) for r in result.refunds] == [
        (payment.id, difference, "delivery_changed")
    ]
    assert result.top_up == 0
    assert payments.kept_amount(session, dossier.id) == billing.bill_for(proc, dossier, settings).total
    # A second change back and forth does not refund twice what is already being refunded.
    result = change(session, settings, proc, dossier, "online")
    assert sum(r.amount for r in result.refunds) == PRICES[("intra_province", "document")]


# -- orders not yet claimed follow the change


def created_order(
    session: Session, settings: Settings, dossier: Dossier, kind: ParcelKind, applicant_side: dict[str, str], fee: int
) -> PostalOrder:
    centre = address("37", name="Trung tâm Phục vụ hành chính công")
    pickup = kind == ParcelKind.PICKUP
    return postal.create_order(
        session=session,
        settings=settings,
        kind=kind,
        owner_id=dossier.id,
        reference=dossier.code or "",
        sender=applicant_side if pickup else centre,
        recipient=centre if pickup else applicant_side,
        province_code=applicant_side["province"],
        contents=[],
        weight_class="document",
        fee=fee,
    )


def test_an_unclaimed_delivery_order_gets_the_new_address_or_is_cancelled(session: Session, settings: Settings) -> None:
    dossier, proc = submitted(session, MARITAL, delivery_method="post", delivery_address=address("37"))
    order_ = created_order(
        session, settings, dossier, ParcelKind.DELIVERY, address("37"), PRICES[("intra_province", "document")]
    )
    change(session, settings, proc, dossier, "post", to="79")
    session.refresh(order_)
    assert order_.status == ParcelStatus.CREATED
    assert order_.recipient["province"] == "79" and order_.fee == PRICES[("inter_region", "document")]
    change(session, settings, proc, dossier, "online")
    session.refresh(order_)
    assert order_.status == ParcelStatus.CANCELLED and dossier.delivery_method == "online"


def test_an_unclaimed_pickup_order_gets_the_new_address_or_is_cancelled(session: Session, settings: Settings) -> None:
    dossier, proc = submitted(session, LICENCE, delivery_method="centre", pickup_address=address("37"))
    order_ = created_order(
        session, settings, dossier, ParcelKind.PICKUP, address("37"), PRICES[("intra_province", "document")]
    )
    change(session, settings, proc, dossier, "centre", pickup="01")
    session.refresh(order_)
    assert order_.status == ParcelStatus.CREATED and order_.sender["province"] == "01"
    assert order_.fee == PRICES[("intra_region", "document")] + PICKUP_SURCHARGE
    change(session, settings, proc, dossier, "centre")
    session.refresh(order_)
    assert order_.status == ParcelStatus.CANCELLED and dossier.pickup_address is None
