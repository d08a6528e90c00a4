"""The payment page of a linked application's parent: the bill split per collecting agency with subtotals, and
each agency's own e-receipt to download (an agency without one is a 404, a malformed one a 422)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from portal.kernel.settings import Settings
from tests.conftest import signup
from tests.payments.test_linked_split import linked_application, paid
from tests.pdftools import extract_text

pytestmark = pytest.mark.db


def test_the_parents_payment_page_splits_the_bill_and_gives_each_agencys_e_receipt(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    login = signup(client)
    with Session(app.state.engine) as db:
        me = db.exec(select(Account).where(Account.email == login)).one()
        linked = linked_application(db, applicant=me)
        payment = paid(db, linked, settings)
        parent_id, payment_id = linked.parent.id, payment.id
        agencies = (linked.receiving, linked.agency_b, linked.agency_c)
        db.commit()
    client.cookies.set("lang", "en")
    page = client.get(f"/dossiers/{parent_id}/payment")
    assert page.status_code == 200, page.text[:2000]
    text = re.sub(r"\s+", " ", page.text)
    for code, subtotal in zip(agencies, ("8,000", "25,000", "15,000"), strict=True):
        assert f'id="agency-{code}"' in text
        group = text.split(f'id="agency-{code}"', 1)[1].split("</tbody>", 1)[0]
        # The subtotal names the agency (not its code), as the row group's heading does.
        assert re.search(rf"Subtotal collected by ([^<]+)</th><td class=\"num\">{subtotal}", group), code
        assert f"Subtotal collected by {code}<" not in group
    assert "48,000" in text and "each agency issues its own e-receipt" in text
    fees = text[text.index('<table class="table fees">') :].split("</table>", 1)[0]
    assert fees.count("<tbody>") == 3  # one row group per agency
    for code in agencies:
        assert f"/payments/{payment_id}/receipt.pdf?agency={code}" in text
    pdf = client.get(f"/dossiers/{parent_id}/payments/{payment_id}/receipt.pdf?agency={linked.agency_c}")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert f"-{linked.agency_c}.pdf" in pdf.headers["content-disposition"]
    printed = extract_text(pdf.content)
    assert f"{linked.agency_c}-" in printed and "Mười lăm nghìn đồng" in printed
    assert client.get(f"/dossiers/{parent_id}/payments/{payment_id}/receipt.pdf?agency=STP").status_code == 404
    bad = client.get(f"/dossiers/{parent_id}/payments/{payment_id}/receipt.pdf?agency=a%22b")
    assert bad.status_code == 422
    # Someone else cannot read it.
    stranger = TestClient(app, follow_redirects=False)
    signup(stranger)
    assert (
        stranger.get(f"/dossiers/{parent_id}/payments/{payment_id}/receipt.pdf?agency={linked.agency_c}").status_code
        == 404
    )


def test_a_linked_bill_collected_by_one_agency_says_so_and_gives_its_one_e_receipt(
    client: TestClient, app: FastAPI, settings: Settings
) -> None:
    login = signup(client)
    with Session(app.state.engine) as db:
        me = db.exec(select(Account).where(Account.email == login)).one()
        linked = linked_application(db, applicant=me)
        linked.linked.fees = [  # members A and C free (exempt): only agency B collects
            {**item, "amount": 0} if item["member"] != linked.member_b else item for item in linked.linked.fees
        ]
        db.add(linked.linked)
        db.flush()
        payment = paid(db, linked, settings)
        parent_id, payment_id, label = linked.parent.id, payment.id, payment.receipt_label
        agency_b = linked.agency_b
        db.commit()
    client.cookies.set("lang", "en")
    page = client.get(f"/dossiers/{parent_id}/payment")
    assert page.status_code == 200, page.text[:2000]
    text = re.sub(r"\s+", " ", page.text)
    assert text.count('<tr class="agency"') == 3  # every agency's lines are shown, 0 đ ones too
    assert "Only Công an" in text and "collects a fee for this application" in text
    assert "each agency issues its own e-receipt" not in text
    assert text.count("/receipt.pdf") == 1 and label and label.startswith(f"{agency_b}-") and label in text
    pdf = client.get(f"/dossiers/{parent_id}/payments/{payment_id}/receipt.pdf")
    assert pdf.status_code == 200 and "Hai mươi lăm nghìn đồng" in extract_text(pdf.content)
