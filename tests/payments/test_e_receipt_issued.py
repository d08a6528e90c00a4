"""The e-receipt of a payment leaves the portal sealed, is stored once, and /verify recognises it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from payments.models import Payment
from portal.kernel.outbox import WorkerContext, drain
from signing.pki import get_pki
from signing.verify import verify_pdf
from tests.payments.helpers import pay
from tests.web.flow import fill_marital, submit

pytestmark = pytest.mark.db


def test_e_receipt_is_sealed_stored_once_and_recognised(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_marital(citizen)
    assert submit(citizen, dossier_id).status_code == 303
    reference = pay(citizen, app, dossier_id)
    ctx = WorkerContext(settings=app.state.settings, storage=app.state.storage, gateways=app.state.gateways)
    while drain(app.state.engine, ctx):  # everything due (other tests' messages come first, by id)
        pass
    with Session(app.state.engine) as s:
        payment = s.exec(select(Payment).where(Payment.reference == reference)).one()
        assert payment.status == "succeeded" and payment.receipt_key and payment.receipt_sha256
        fingerprint, payment_id = payment.receipt_sha256, payment.id
        symbol, number = payment.receipt_symbol, payment.receipt_number
    assert symbol and symbol.startswith("UBXA-") and number and number.isdigit()
    pdf = citizen.get(f"/dossiers/{dossier_id}/payments/{payment_id}/receipt.pdf").content
    assert citizen.get(f"/dossiers/{dossier_id}/payments/{payment_id}/receipt.pdf").content == pdf  # stored copy
    pki = get_pki(app)
    report = verify_pdf(pdf, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok and report.sha256 == fingerprint, report
    anonymous = TestClient(app)
    anonymous.cookies.set("lang", "en")
    page = anonymous.get(f"/verify?sha256={fingerprint}")
    assert page.status_code == 200 and "E-receipt of the dossier&#39;s fee" in page.text, page.text[:2000]
    assert "Nguyễn Thị Hường" not in page.text  # no personal data on a public page
