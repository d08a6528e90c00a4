"""Signing the application online over HTTP: set up, one-time codes (limited tries), the signed PDF."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from portal.dossiers.models import DossierEvent, DossierFile
from signing import otp
from signing.pki import get_pki
from signing.verify import verify_pdf
from tests.conftest import csrf, signup
from tests.signing.helpers import nss_db, pdfsig, pdftotext
from tests.web.flow import fill_marital

pytestmark = pytest.mark.db
KEY_RE = re.compile(r'id="totp-key">([A-Z2-7 ]+)<')


def _post(client: TestClient, url: str, **data: str):
    return client.post(url, data={"csrf_token": csrf(client, url), **data})


def _give_cccd(app: FastAPI, login: str, cccd: str = "037190012345") -> None:
    """What signing in with the national SSO once would have filled in."""
    with Session(app.state.engine) as s:
        account = s.exec(select(Account).where(Account.email == login)).one()
        account.cccd = cccd
        s.add(account)
        s.commit()


def _enrol(client: TestClient, dossier_id: str) -> str:
    url = f"/dossiers/{dossier_id}/sign/to_khai"
    page = client.get(url)
    assert (page.status_code == 200 and "Set up my digital signature" in page.text) or "Thiết lập" in page.text
    r = _post(client, url, _action="setup")
    assert r.status_code == 200, r.text
    match = KEY_RE.search(r.text)
    assert match, r.text[:2000]
    return match.group(1).replace(" ", "")


def test_an_account_without_an_identity_number_is_told_what_to_do(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    signup(client)
    client.cookies.set("lang", "en")
    dossier_id = fill_marital(client)
    r = _post(client, f"/dossiers/{dossier_id}/sign/to_khai", _action="setup")
    assert r.status_code == 409 and "personal identification number" in r.text


def test_sign_the_application_with_a_one_time_code(app: FastAPI, db: Session, tmp_path: Path) -> None:
    citizen = TestClient(app, follow_redirects=False)
    _give_cccd(app, signup(citizen))
    citizen.cookies.set("lang", "en")
    dossier_id = fill_marital(citizen)  # to_khai holds an uploaded scan for now
    secret = _enrol(citizen, dossier_id)
    preview = citizen.get(f"/dossiers/{dossier_id}/sign/to_khai/preview.pdf")
    assert preview.status_code == 200 and preview.content.startswith(b"%PDF")
    url = f"/dossiers/{dossier_id}/sign/to_khai"
    wrong = _post(
        citizen, url, _action="sign", code="000000" if otp.code_at(secret, otp.current_step()) != "000000" else "111111"
    )
    assert wrong.status_code == 422 and "4 tries left" in wrong.text
    code = otp.code_at(secret, otp.current_step())
    r = _post(citizen, url, _action="sign", code=code)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/dossiers/{dossier_id}/files#c-to_khai"
    db.rollback()
    files = db.exec(
        select(DossierFile).where(DossierFile.dossier_id == dossier_id, DossierFile.component_id == "to_khai")
    ).all()
    assert len(files) == 1 and files[0].signature == "portal"  # the scan was replaced by the signed application
    signed = citizen.get(f"/dossiers/{dossier_id}/files/{files[0].id}").content
    pki = get_pki(app)
    report = verify_pdf(signed, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok, report
    assert report.signatures[0].signer_name == "Nguyễn Thị Hường" and report.signatures[0].has_timestamp
    # Independently: poppler's pdfsig, trusting only the development root through an NSS database.
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    out = pdfsig(path, nss_db(pki, tmp_path / "nss"))
    assert "Signature is Valid." in out and "Certificate is Trusted." in out, out
    assert "Nguyễn Thị Hường" in pdftotext(signed)  # the visible stamp, diacritics intact
    assert "Digitally signed" in citizen.get(f"/dossiers/{dossier_id}/files").text
    kinds = [e.kind for e in db.exec(select(DossierEvent).where(DossierEvent.dossier_id == dossier_id))]
    assert "application_signed" in kinds and "signature_refused" in kinds
    # The same code again (another signature in the same 30 s): refused, a code is good once.
    again = _post(citizen, url, _action="sign", code=code)
    assert again.status_code == 422


def test_wrong_codes_lock_signing_for_a_while(app: FastAPI) -> None:
    client = TestClient(app, follow_redirects=False)
    _give_cccd(app, signup(client))
    client.cookies.set("lang", "en")
    dossier_id = fill_marital(client)
    secret = _enrol(client, dossier_id)
    right = otp.code_at(secret, otp.current_step())
    bad = "123456" if right != "123456" else "654321"
    url = f"/dossiers/{dossier_id}/sign/to_khai"
    statuses = [_post(client, url, _action="sign", code=bad).status_code for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 429]
    r = _post(client, url, _action="sign", code=right)
    assert r.status_code == 429 and "Try again in" in r.text  # even the right code waits
    assert client.get(f"/dossiers/{dossier_id}/review").status_code == 200  # the draft is intact


def test_someone_else_cannot_sign_or_preview(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_marital(citizen)
    other = TestClient(app, follow_redirects=False)
    signup(other)
    assert other.get(f"/dossiers/{dossier_id}/sign/to_khai").status_code == 404
    assert other.get(f"/dossiers/{dossier_id}/sign/to_khai/preview.pdf").status_code == 404
    assert _post(other, f"/dossiers/{dossier_id}/sign/to_khai", _action="setup").status_code == 404
    assert citizen.get(f"/dossiers/{dossier_id}/sign/giay_to_ly_hon").status_code == 404  # not the application
