"""A linked application of the catalogue (LT.KS: birth registration, permanent residence, health-insurance card)
filed over HTTP as a browser without JavaScript: the composed form's steps, one upload per component, one signed
application, the review, one payment, the submission; then the one dossier the citizen sees (members, merged
timeline), the receipt with every member's code, and the public lookup.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from portal.dossiers.models import Dossier, DossierStatus
from tests import factories
from tests.payments.helpers import pay
from tests.pdftools import extract_text
from tests.web.flow import post_step, sign_online, start, submit, upload

pytestmark = pytest.mark.db

LINKED = "LT.KS"
RESIDENCE = "1.004222"


def address(prefix: str) -> dict[str, str]:
    return {f"{prefix}.province": "01", f"{prefix}.ward": "00004", f"{prefix}.street": "12 Lý Thái Tổ"}


STEPS: dict[str, dict[str, Any]] = {
    "applicant": {
        "thu_tuc_lien_thong": RESIDENCE,
        "full_name": "Nguyễn Thị Hường",
        "cccd": "001190012345",
        **address("address"),
        "phone": "0912345678",
        "email": "huong@example.vn",
        "relationship": "mother",
    },
    "child": {
        "child_name": "Trần Minh An",
        "child_gender": "male",
        "child_birth_date": "2026-11-20",
        "birth_place_type": "health_facility",
        "birth_facility": "Bệnh viện Sản Nhi Ninh Bình",
        "birth_place": "Phường Hoa Lư, tỉnh Ninh Bình",
        "child_ethnicity": "Kinh",
        "child_nationality": "Việt Nam",
        "child_hometown": "Ninh Bình",
        "kcb_facility": "Bệnh viện Sản Nhi Ninh Bình",
    },
    "parents": {
        "mother_name": "Nguyễn Thị Hường",
        "mother_birth_date": "1990-05-17",
        "mother_ethnicity": "Kinh",
        "mother_nationality": "Việt Nam",
        "mother_cccd": "001190012345",
        **address("mother_address"),
        "father_known": "no",
        "copies": "1",
        "declaration": "true",
    },
    "registrant": {"relation_to_declarant": "child"},
    "residence": {**address("residence_address"), "residence_basis": "own_home"},
}


def test_a_linked_application_filed_through_the_usual_pages(signer: TestClient, app: FastAPI, db: Session) -> None:
    client = signer
    dossier_id = start(client, LINKED)
    for step, data in STEPS.items():
        page = client.get(f"/dossiers/{dossier_id}/steps/{step}")
        assert page.status_code == 200, (step, page.text)
        r = post_step(client, dossier_id, step, data)
        assert r.status_code == 303, (step, r.text[:3000])
    files = client.get(f"/dossiers/{dossier_id}/files")
    assert files.status_code == 200, files.text
    up = upload(client, dossier_id, "giay_chung_sinh", "chung-sinh.pdf", factories.pdf_bytes(), "application/pdf")
    assert up.status_code == 303, up.text
    sign_online(client, dossier_id)
    review = client.get(f"/dossiers/{dossier_id}/review")
    assert review.status_code == 200, review.text
    sent = submit(client, dossier_id)
    # The residence fee is paid first (payment before), for all members in one payment.
    assert sent.status_code == 303 and sent.headers["location"] == f"/dossiers/{dossier_id}/payment", sent.text
    assert client.get(f"/dossiers/{dossier_id}/payment").status_code == 200
    pay(client, app, dossier_id)

    db.rollback()
    parent = db.get(Dossier, dossier_id)
    assert parent is not None and parent.linked_role == "parent" and parent.code
    assert parent.status != DossierStatus.DRAFT
    children = list(db.exec(select(Dossier).where(col(Dossier.parent_id) == parent.id)))
    assert {c.procedure_code for c in children} == {"1.001193", RESIDENCE, "BHXH.TE6"}

    # One dossier in the list; its page lists every part, with its agency and code.
    listing = client.get("/dossiers").text
    assert parent.code in listing and not any(str(c.code) in listing for c in children)
    for lang in ("vi", "en"):
        client.cookies.set("lang", lang)
        page = client.get(f"/dossiers/{parent.id}")
        assert page.status_code == 200, page.text
        members = page.text.split('id="linked-members"', 1)[1].split("</section>", 1)[0]
        for child in children:
            assert f'id="member-{child.id}"' in members and str(child.code) in members
        waiting = [c for c in children if c.status == DossierStatus.WAITING]
        assert len(waiting) == 2  # both wait for the birth certificate
        assert members.count('class="sub-status waiting-for"') == 2
        timeline = page.text.split('class="timeline"', 1)[1].split("</ol>", 1)[0]
        assert 'class="meta member"' in timeline
    # The receipt: every member's code, agency and date; the waiting ones marked as estimated.
    receipt = client.get(f"/dossiers/{parent.id}/receipt.pdf")
    assert receipt.status_code == 200
    text = " ".join(extract_text(receipt.content).split())
    assert parent.code in text and all(str(c.code) in text for c in children) and "(dự kiến)" in text
    # The public lookup of the application's code names each part and its state.
    lookup = client.get(f"/lookup?code={parent.code}")
    assert lookup.status_code == 200 and all(str(c.code) in lookup.text for c in children)
