"""The pages payments serve to a signed-in payer keep the signed-in header (payments/views.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.payments.helpers import local_path, start_payment
from tests.web.flow import fill_marital

pytestmark = pytest.mark.db

SIGNED_IN = 'class="who"'


def test_the_sandbox_bank_page_keeps_the_signed_in_header(citizen: TestClient) -> None:
    dossier_id = fill_marital(citizen)
    r = start_payment(citizen, dossier_id)
    assert r.status_code == 303, r.text
    bank = citizen.get(local_path(r.headers["location"]))
    assert bank.status_code == 200
    assert SIGNED_IN in bank.text and "Đăng xuất" in bank.text
    refused = citizen.get("/sandbox-bank/pay?order=forged")
    assert refused.status_code == 422
    assert SIGNED_IN in refused.text


def test_a_refused_return_keeps_the_signed_in_header(citizen: TestClient) -> None:
    # Back from the bank without a result or a reference: refused, shown under the payer's own header.
    refused = citizen.get("/payments/return/sandbox")
    assert refused.status_code == 400
    assert "Không xác thực được kết quả thanh toán" in refused.text
    assert SIGNED_IN in refused.text and "Đăng xuất" in refused.text
    unknown = citizen.get("/payments/return/sandbox?reference=PAYNOSUCHTHING")
    assert unknown.status_code == 404
    assert SIGNED_IN in unknown.text


def test_anonymous_visitor_sees_the_signed_out_header(client: TestClient) -> None:
    refused = client.get("/payments/return/sandbox")
    assert refused.status_code == 400
    assert SIGNED_IN not in refused.text
