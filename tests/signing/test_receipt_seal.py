"""Receipts leave the portal sealed: PAdES, a timestamp, validation data; pyHanko and poppler agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.dossiers.models import Dossier
from portal.dossiers.tasks import ensure_receipt
from signing.pki import get_pki
from signing.verify import verify_pdf
from tests.signing.helpers import nss_db, pdfsig
from tests.web.flow import fill_marital, submit

pytestmark = pytest.mark.db


def test_receipt_is_sealed_with_a_timestamp_and_validates(citizen: TestClient, app: FastAPI, tmp_path: Path) -> None:
    dossier_id = fill_marital(citizen)
    assert submit(citizen, dossier_id).status_code == 303
    with Session(app.state.engine) as s:
        dossier = s.get(Dossier, dossier_id)
        assert dossier is not None
        pdf = ensure_receipt(s, dossier, storage=app.state.storage, settings=app.state.settings)
        s.commit()
        recorded = dossier.receipt_sha256
    assert citizen.get(f"/dossiers/{dossier_id}/receipt.pdf").content == pdf  # the stored, sealed copy
    pki = get_pki(app)
    report = verify_pdf(pdf, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok, report
    seal = report.signatures[0]
    assert seal.has_timestamp and seal.timestamp_valid and seal.ltv and seal.coverage == "entire_file"
    assert report.sha256 == recorded
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf)
    out = pdfsig(path, nss_db(pki, tmp_path / "nss"))
    assert "Signature is Valid." in out and "Certificate is Trusted." in out, out


def test_following_the_lookup_link_shows_the_seal_of_the_stored_receipt(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_marital(citizen)
    assert submit(citizen, dossier_id).status_code == 303
    with Session(app.state.engine) as s:
        dossier = s.get(Dossier, dossier_id)
        assert dossier is not None
        ensure_receipt(s, dossier, storage=app.state.storage, settings=app.state.settings)
        s.commit()
        code, fingerprint = dossier.code, dossier.receipt_sha256
    anonymous = TestClient(app)
    anonymous.cookies.set("lang", "en")
    lookup = anonymous.get(f"/lookup?code={code}")
    assert f"/verify?sha256={fingerprint}" in lookup.text
    page = anonymous.get(f"/verify?sha256={fingerprint}")
    assert page.status_code == 200
    assert "Receipt of the dossier" in page.text and str(code) in page.text
    assert "Cổng Dịch vụ công (phát triển)" in page.text  # the seal's signer, from the stored copy
    assert "Valid, from a trusted timestamp authority" in page.text
    assert "Nguyễn Thị Hường" not in page.text  # no personal data on a public page
