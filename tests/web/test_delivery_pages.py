"""The postal choices' page over HTTP, as a browser with and without JavaScript (HTMX) would use it."""

from __future__ import annotations

import re
import secrets

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from forms.address import wards
from payments import service as payments
from payments.models import PaymentStatus, Refund
from portal.dossiers.models import Dossier
from postal.models import ParcelKind, ParcelStatus, PostalOrder
from tests import factories
from tests.conftest import csrf, signup
from tests.payments.helpers import pay
from tests.web.flow import fill_marital, post_step, start, submit

LICENCE = "3.000347"  # đổi giấy phép lái xe: the form asks the delivery method and address itself
HCM = "79"  # another region than the agencies' Ninh Bình (37): the inter-region price
HTMX = {"HX-Request": "true"}


def form(province: str = HCM, **over: str) -> dict[str, str]:
    return {
        "method": "post",
        "delivery.name": "Nguyễn Thị Hường",
        "delivery.phone": "0912 345 678",
        "delivery.province": province,
        "delivery.ward": wards(province)[0][0],
        "delivery.street": "45 Nguyễn Huệ",
        "delivery.notes": "Gọi trước khi giao",
        **over,
    }


def post(client: TestClient, dossier_id: str, data: dict[str, str], **kwargs: object):
    token = csrf(client, f"/dossiers/{dossier_id}/delivery")
    return client.post(f"/dossiers/{dossier_id}/delivery", data={**data, "csrf_token": token}, **kwargs)


def test_the_page_offers_the_procedures_methods_and_an_address_prefilled(citizen: TestClient) -> None:
    dossier_id = fill_marital(citizen)
    page = citizen.get(f"/dossiers/{dossier_id}/delivery")
    assert page.status_code == 200
    assert "Cách thức nhận kết quả" in page.text
    for method in ("online", "centre", "post"):
        assert f'id="delivery-{method}"' in page.text
    assert 'value="Nguyễn Thị Hường"' in page.text  # the applicant's name, from the form's answers
    assert 'name="delivery.province"' in page.text and 'hx-get="/forms/wards"' in page.text
    assert 'value="refresh"' in page.text  # without JavaScript, a button shows the wards of the province
    assert 'name="pay_on_delivery"' not in page.text  # not offered for this procedure
    assert 'name="pickup"' not in page.text  # no originals needed


def test_saving_by_post_shows_the_tariffs_line_on_the_review(citizen: TestClient, db: Session) -> None:
    dossier_id = fill_marital(citizen)
    r = post(citizen, dossier_id, form())
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}/review"
    review = citizen.get(f"/dossiers/{dossier_id}/review")
    assert "Cước chuyển phát kết quả qua bưu chính (liên vùng; bì thư tài liệu, đến 100 g)" in review.text
    assert "45 Nguyễn Huệ" in review.text
    db.rollback()  # a new snapshot
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.delivery_method == "post"
    assert dossier.delivery_address is not None and dossier.delivery_address["phone"] == "0912345678"
    assert dossier.delivery_address["notes"] == "Gọi trước khi giao"


def test_errors_are_shown_in_vietnamese_and_nothing_is_lost(citizen: TestClient, db: Session) -> None:
    dossier_id = fill_marital(citizen)
    bad = form(**{"delivery.ward": wards("01")[0][0], "delivery.phone": "+1 212 555 0100", "delivery.name": ""})
    r = post(citizen, dossier_id, bad)
    assert r.status_code == 422
    assert 'id="error-summary"' in r.text
    assert 'id="pa-delivery-ward-error"' in r.text and 'id="pa-delivery-phone-error"' in r.text
    assert re.search(r'id="pa-delivery-name-error"\s*>', r.text)  # shown, not hidden
    assert 'value="45 Nguyễn Huệ"' in r.text and "Gọi trước khi giao" in r.text  # what was typed is kept
    db.rollback()  # a new snapshot
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.delivery_address is None  # nothing saved


def test_refresh_shows_the_wards_and_the_fee_without_saving(citizen: TestClient, db: Session) -> None:
    dossier_id = fill_marital(citizen)
    r = post(citizen, dossier_id, {**form(), "_action": "refresh"})
    assert r.status_code == 200
    ward_code, ward_name = wards(HCM)[0]
    assert f'<option value="{ward_code}" selected>{ward_name}</option>' in r.text
    assert "liên vùng" in r.text  # the fee of these choices, before saving
    db.rollback()  # a new snapshot
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.delivery_address is None


def test_with_htmx_the_form_is_swapped_and_a_success_redirects(citizen: TestClient) -> None:
    dossier_id = fill_marital(citizen)
    r = post(citizen, dossier_id, form(**{"delivery.phone": "123"}), headers=HTMX)
    assert r.status_code == 422
    assert r.text.lstrip().startswith('<form method="post"') and "<html" not in r.text
    r = post(citizen, dossier_id, form(), headers=HTMX)
    assert r.status_code == 200 and r.headers["HX-Redirect"] == f"/dossiers/{dossier_id}/review"
    wards_list = citizen.get("/forms/wards", params={"name": "delivery.province", "delivery.province": HCM})
    assert wards(HCM)[0][1] in wards_list.text


def test_csrf_is_required(citizen: TestClient) -> None:
    dossier_id = fill_marital(citizen)
    assert citizen.post(f"/dossiers/{dossier_id}/delivery", data=form()).status_code == 403
    assert citizen.post(f"/dossiers/{dossier_id}/delivery", data={**form(), "csrf_token": "forged"}).status_code == 403


def test_another_citizen_gets_a_404(citizen: TestClient, app: object) -> None:
    dossier_id = start(citizen)
    other = TestClient(app, follow_redirects=False)  # type: ignore[arg-type]
    signup(other)
    assert other.get(f"/dossiers/{dossier_id}/delivery").status_code == 404
    token = csrf(other, "/dossiers")
    assert other.post(f"/dossiers/{dossier_id}/delivery", data={**form(), "csrf_token": token}).status_code == 404


def test_after_submission_the_change_page_and_a_claimed_order(citizen: TestClient, db: Session) -> None:
    dossier_id = fill_marital(citizen)
    assert submit(citizen, dossier_id, "online").status_code == 303
    page = citizen.get(f"/dossiers/{dossier_id}")
    assert f'href="/dossiers/{dossier_id}/delivery"' in page.text
    change = citizen.get(f"/dossiers/{dossier_id}/delivery")
    assert change.status_code == 200 and "Thay đổi hình thức nhận kết quả" in change.text

    r = post(citizen, dossier_id, form())
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}?delivery_changed=1"
    db.rollback()  # a new snapshot
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.delivery_method == "post"

    db.add(
        PostalOrder(
            number=f"T{secrets.token_hex(6)}",
            kind=ParcelKind.DELIVERY,
            operator="vnpost",
            status=ParcelStatus.CLAIMED,
            owner_id=dossier_id,
            reference=dossier.code or "",
            province_code=HCM,
            recipient=dossier.delivery_address or {},
            weight_class="document",
        )
    )
    db.commit()
    r = post(citizen, dossier_id, {"method": "online"})
    assert r.status_code == 409
    assert "Bưu chính đã nhận bưu gửi kết quả của bạn" in r.text
    db.rollback()  # a new snapshot
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.delivery_method == "post"  # unchanged


def test_a_form_asking_the_delivery_address_prefills_the_postal_address(citizen: TestClient, db: Session) -> None:
    dossier_id = start(citizen, LICENCE)
    answers = {"delivery_method": "post", **{f"delivery_address.{k}": v for k, v in factories.address().items()}}
    post_step(citizen, dossier_id, "licence", answers, action="save")  # saved, other answers still missing
    page = citizen.get(f"/dossiers/{dossier_id}/delivery")
    assert 'value="12 Lý Thái Tổ"' in page.text  # the form's own answer
    assert f'<option value="{factories.address()["ward"]}" selected>' in page.text
    review = citizen.get(f"/dossiers/{dossier_id}/review")
    db.rollback()  # a new snapshot
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.delivery_method == "post"
    if dossier.delivery_address is None:  # no phone known yet: the review sends the citizen to the delivery page
        assert "chưa có địa chỉ" in review.text
    else:
        assert dossier.delivery_address["street"] == "12 Lý Thái Tổ"


def test_a_change_after_payment_is_paid_as_a_top_up_then_refunded(
    citizen: TestClient, app: FastAPI, db: Session
) -> None:
    dossier_id = fill_marital(citizen)
    assert submit(citizen, dossier_id, "online").status_code == 303
    pay(citizen, app, dossier_id)  # the fee (this procedure takes it after submission)
    fee = sum(p.amount for p in payments.payments_of(db, dossier_id) if p.status == PaymentStatus.SUCCEEDED)

    page = citizen.get(f"/dossiers/{dossier_id}/delivery")
    assert "Đã nộp" not in page.text  # same bill: nothing to pay or refund
    r = post(citizen, dossier_id, {**form(), "_action": "refresh"})
    assert "cần nộp thêm 28.000" in r.text  # the difference, before saving
    r = post(citizen, dossier_id, form())
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}/payment"
    pay(citizen, app, dossier_id)
    db.rollback()  # a new snapshot
    paid = [p for p in payments.payments_of(db, dossier_id) if p.status == PaymentStatus.SUCCEEDED]
    assert sorted(p.amount for p in paid) == sorted([fee, 28_000])
    top_up = next(p for p in paid if p.amount == 28_000)
    assert [line["code"] for line in top_up.lines] == [payments.TOPUP_LINE_CODE]

    r = post(citizen, dossier_id, {"method": "online"})  # back online: the postage is refunded
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}?delivery_changed=1"
    db.rollback()  # a new snapshot
    refunds = db.exec(select(Refund).where(col(Refund.payment_id).in_([p.id for p in paid]))).all()
    assert [(r.amount, r.reason) for r in refunds] == [(28_000, "delivery_changed")]
