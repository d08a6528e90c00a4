"""What a newcomer met on the citizen journey (issue 11), checked over HTTP as a screen reader would read it."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from payments.models import PaymentStatus, RefundStatus
from portal.catalog.models import DeliveryMethod, ServiceLevel
from portal.dossiers.models import DossierEventKind, DossierStatus
from portal.kernel.i18n import Translator
from portal.kernel.labels import LabelledEnum, label_msgid
from portal.kernel.money import NBSP, format_vnd
from tests.factories import MARITAL, address
from tests.payments.helpers import local_path, start_payment
from tests.web.flow import DEV_OTP_RE, fill_marital, post_form, post_step, sign_online, start

pytestmark = pytest.mark.db
LICENCE = "3.000347"  # Đổi giấy phép lái xe: the form asks how the licence is delivered


# -- labels beside their enums ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "enum", [DossierStatus, DossierEventKind, PaymentStatus, RefundStatus, ServiceLevel, DeliveryMethod]
)
def test_every_member_has_a_label_translated_into_vietnamese(enum: type[LabelledEnum]) -> None:
    vi = Translator("vi")
    for member in enum:
        assert member.label, member
        assert vi(member.label) != member.label, f"no Vietnamese for {member.label!r}"
        assert label_msgid(enum.__name__, member.value) == member.label


def test_stored_values_are_unchanged() -> None:
    assert [s.value for s in DossierStatus][:2] == ["draft", "submitted"]
    assert DossierStatus("in_process") is DossierStatus.IN_PROCESS and DossierStatus.DRAFT == "draft"
    assert DossierEventKind("payment_refund_failed").label.startswith("Refund refused")
    assert label_msgid("DossierStatus", "not-a-status") is None


def test_the_timeline_and_status_are_labelled_from_the_enums(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    page = citizen.get(f"/dossiers/{dossier_id}")
    assert '<span class="status status-draft">Bản nháp</span>' in page.text
    assert Translator("vi")(DossierEventKind.CREATED.label) in page.text


# -- money ---------------------------------------------------------------------------------------------------


def test_amounts_never_break_between_the_number_and_the_unit(client: TestClient) -> None:
    assert format_vnd(15_000) == f"15.000{NBSP}đồng"
    assert Translator("vi").money(15_000) == f"15.000{NBSP}đ"
    page = client.get(f"/procedures/{MARITAL}")
    assert f"15.000{NBSP}đ" in page.text and "15.000 đ" not in page.text


# -- the procedure page --------------------------------------------------------------------------------------


def test_fee_notes_are_separate_sentences(client: TestClient) -> None:
    page = client.get(f"/procedures/{MARITAL}")
    notes = re.search(r'<p id="fee-notes">([^<]*)</p>', page.text)
    assert notes, page.text
    assert re.search(r"\.[^\s\d]", notes.group(1)) is None, notes.group(1)  # "…hồ sơ.Nếu…" ran together
    assert "sau khi nộp hồ sơ. Nếu nhận kết quả qua bưu chính" in notes.group(1)


def test_the_procedure_page_says_whether_online_signing_is_offered(client: TestClient) -> None:
    offered = client.get(f"/procedures/{MARITAL}")  # its tờ khai can be generated and signed here
    assert re.search(r'<dd id="online-signing">Có hỗ trợ: ', offered.text)
    not_offered = client.get(f"/procedures/{LICENCE}")
    assert '<dd id="online-signing">Có hỗ trợ' not in not_offered.text
    assert 'id="online-signing"' in not_offered.text


def test_signing_in_from_a_level_2_procedure_asks_the_sso_for_level_2(client: TestClient) -> None:
    page = client.get("/signin", params={"next": f"/procedures/{MARITAL}"})  # a full-online procedure
    assert '<input type="hidden" name="level" value="2">' in page.text
    plain = client.get("/signin", params={"next": "/dossiers"})
    assert 'name="level"' not in plain.text
    login = client.get("/auth/oidc/login", params={"next": f"/procedures/{MARITAL}", "level": "2"})
    assert login.status_code in (302, 303, 307)
    query = parse_qs(urlsplit(login.headers["location"]).query)
    assert query["acr_values"] == ["urn:dvc:loa:2"]
    # The development provider pre-selects what was asked for.
    authorize = client.get(local_path(login.headers["location"]))
    assert authorize.status_code == 200, authorize.text
    assert re.search(
        r'<input type="radio" id="acr-\d" name="acr" value="urn:dvc:loa:2" required checked>', authorize.text
    )


# -- the form, the documents and the review -------------------------------------------------------------------


def test_a_declaration_is_named_by_its_statement_alone(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    page = citizen.get(f"/dossiers/{dossier_id}/steps/status")
    labels = re.findall(r'<label for="f-declaration-box">([^<]*)</label>', page.text)
    assert labels == [
        "Tôi xin cam đoan những thông tin khai trên là đúng sự thật và chịu trách nhiệm trước pháp luật về lời khai "
        "của mình."
    ]


def test_each_upload_button_names_its_component(citizen: TestClient) -> None:
    dossier_id = start(citizen)
    page = citizen.get(f"/dossiers/{dossier_id}/files")
    buttons = re.findall(r'<button type="submit" class="secondary">Tải lên(.*?)</button>', page.text)
    assert buttons and all('<span class="visually-hidden">: ' in b for b in buttons)
    assert any("Tờ khai" in b for b in buttons), buttons


def _licence_answers(delivery: str) -> dict[str, str]:
    return {"delivery_method": delivery, **{f"delivery_address.{k}": v for k, v in address().items()}}


def test_the_review_page_does_not_ask_again_how_the_result_is_delivered(citizen: TestClient, db: Session) -> None:
    dossier_id = start(citizen, LICENCE)
    page = citizen.get(f"/dossiers/{dossier_id}/steps/licence")
    assert page.status_code == 200, page.text
    post_step(citizen, dossier_id, "licence", _licence_answers("post"), action="save")
    review = citizen.get(f"/dossiers/{dossier_id}/review")
    assert "Nhận kết quả bằng hình thức nào?" not in review.text
    assert '<input type="hidden" name="delivery_method" value="post">' in review.text
    from portal.dossiers.models import Dossier

    db.expire_all()
    dossier = db.get(Dossier, dossier_id)
    assert dossier is not None and dossier.delivery_method == "post"  # so the bill counts the postal fee


def test_the_review_page_still_asks_when_the_form_does_not(citizen: TestClient) -> None:
    dossier_id = fill_marital(citizen)
    review = citizen.get(f"/dossiers/{dossier_id}/review")
    assert "Nhận kết quả bằng hình thức nào?" in review.text


# -- the sandbox bank -----------------------------------------------------------------------------------------


def test_the_sandbox_bank_page_shows_the_signed_in_header(citizen: TestClient) -> None:
    dossier_id = fill_marital(citizen)
    r = start_payment(citizen, dossier_id)
    assert r.status_code == 303, r.text
    bank = citizen.get(local_path(r.headers["location"]))
    assert bank.status_code == 200
    assert 'class="who"' in bank.text and "Đăng xuất" in bank.text


# -- signing: the development one-time code -------------------------------------------------------------------


def test_the_development_signer_shows_a_code_that_signs(signer: TestClient) -> None:
    dossier_id = fill_marital(signer)
    code = sign_online(signer, dossier_id)
    # The code just used is spent: the notice gives one that still works.
    again = signer.get(f"/dossiers/{dossier_id}/sign/to_khai")
    second = DEV_OTP_RE.search(again.text)
    assert second and second.group(1) != code


def test_the_code_is_never_shown_in_production(app: FastAPI, signer: TestClient) -> None:
    dossier_id = fill_marital(signer)
    url = f"/dossiers/{dossier_id}/sign/to_khai"
    assert post_form(signer, url, _action="setup").status_code == 200
    development = app.state.settings
    app.state.settings = development.model_copy(update={"environment": "production"})
    try:
        page = signer.get(url)
    finally:
        app.state.settings = development
    assert page.status_code == 200
    assert 'id="dev-otp"' not in page.text and 'id="dev-code"' not in page.text
