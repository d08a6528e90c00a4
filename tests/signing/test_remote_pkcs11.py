"""Remote signing with the citizen's key made inside a PKCS#11 token (SoftHSM2): PORTAL_SIGNING_KEY_STORE=pkcs11."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from portal.app import create_app
from portal.dossiers.models import DossierFile
from portal.kernel.clock import utcnow
from portal.kernel.settings import Settings
from signing import otp
from signing.models import SigningCredential
from signing.pki import get_pki
from signing.remote import people_folder
from signing.verify import verify_pdf
from tests.conftest import signup
from tests.signing.helpers import SOFTHSM_MODULE
from tests.signing.helpers import softhsm_token as empty_token
from tests.signing.test_sign_flow import _enrol, _give_cccd, _post
from tests.web.flow import fill_marital

pytestmark = pytest.mark.db

TOKEN, SO_PIN, PIN = "portal-citizens", "1234", "5678"


@pytest.fixture(scope="module")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty SoftHSM2 token; yields its label. SOFTHSM2_CONF is read when the library is initialised, and
    python-pkcs11 keeps one library per process: set it, then re-initialise (as test_signers.py does)."""
    with empty_token(tmp_path_factory.mktemp("softhsm-citizens"), label=TOKEN, so_pin=SO_PIN, pin=PIN):
        pkcs11.lib(SOFTHSM_MODULE).reinitialize()
        yield TOKEN


@pytest.fixture()
def hsm_app(settings: Settings, softhsm_token: str) -> Iterator[FastAPI]:
    application = create_app(
        settings.model_copy(
            update={
                "signing_key_store": "pkcs11",
                "signing_pkcs11_module": Path(SOFTHSM_MODULE),
                "signing_pkcs11_token": softhsm_token,
                "signing_pkcs11_pin": PIN,
            }
        )
    )
    with TestClient(application):
        yield application
    plugin = getattr(application.state, "pkcs11_signer", None)
    if plugin is not None:
        plugin.close()


def _token_objects(app: FastAPI, label: str) -> dict[pkcs11.ObjectClass, list[dict[str, object]]]:
    """What the token holds under `label` (the app's signing session is closed first: one login per process)."""
    app.state.pkcs11_signer.close()
    session = pkcs11.lib(SOFTHSM_MODULE).get_token(token_label=TOKEN).open(user_pin=PIN)
    try:
        found: dict[pkcs11.ObjectClass, list[dict[str, object]]] = {}
        for obj in session.get_objects({pkcs11.Attribute.LABEL: label}):
            info: dict[str, object] = {}
            if obj.object_class is pkcs11.ObjectClass.PRIVATE_KEY:
                info = {
                    "extractable": obj[pkcs11.Attribute.EXTRACTABLE],
                    "sensitive": obj[pkcs11.Attribute.SENSITIVE],
                    "never_extractable": obj[pkcs11.Attribute.NEVER_EXTRACTABLE],
                }
            elif obj.object_class is pkcs11.ObjectClass.CERTIFICATE:
                info = {"cert": x509.load_der_x509_certificate(obj[pkcs11.Attribute.VALUE])}
            assert obj.object_class is not None
            found.setdefault(obj.object_class, []).append(info)
        return found
    finally:
        session.close()


def _signed_file(app: FastAPI, client: TestClient, dossier_id: str) -> bytes:
    with Session(app.state.engine) as s:
        (file,) = s.exec(
            select(DossierFile).where(DossierFile.dossier_id == dossier_id, DossierFile.component_id == "to_khai")
        ).all()
        assert file.signature == "portal"
    return client.get(f"/dossiers/{dossier_id}/files/{file.id}").content


def _assert_valid(app: FastAPI, signed: bytes) -> None:
    pki = get_pki(app)
    report = verify_pdf(signed, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok, report
    assert report.signatures[0].signer_name == "Nguyễn Thị Hường" and report.signatures[0].has_timestamp


def test_the_key_is_made_in_the_token_and_signs_the_application(hsm_app: FastAPI) -> None:
    app = hsm_app
    citizen = TestClient(app, follow_redirects=False)
    login = signup(citizen)
    _give_cccd(app, login, "037190054321")
    citizen.cookies.set("lang", "en")
    dossier_id = fill_marital(citizen)
    secret = _enrol(citizen, dossier_id)
    url = f"/dossiers/{dossier_id}/sign/to_khai"
    r = _post(citizen, url, _action="sign", code=otp.code_at(secret, otp.current_step()))
    assert r.status_code == 303, r.text

    with Session(app.state.engine) as s:
        account = s.exec(select(Account).where(Account.email == login)).one()
        cred = s.get(SigningCredential, account.id)
        assert cred is not None
    assert cred.signer == "pkcs11" and cred.key_ref.startswith(f"citizen-{account.id}-")
    assert not (people_folder(app.state.settings) / f"{account.id}.p12").exists()
    assert not list(people_folder(app.state.settings).glob(f"{account.id}*"))

    signed = _signed_file(app, citizen, dossier_id)
    _assert_valid(app, signed)

    objects = _token_objects(app, cred.key_ref)
    assert objects[pkcs11.ObjectClass.PRIVATE_KEY] == [
        {"extractable": False, "sensitive": True, "never_extractable": True}
    ]
    (held,) = objects[pkcs11.ObjectClass.CERTIFICATE]
    cert = held["cert"]
    assert isinstance(cert, x509.Certificate) and str(cert.serial_number) == cred.cert_serial
    assert cert.issuer == get_pki(app).ca("people").cert.subject

    # Near its end the certificate is renewed at the next signature: a new key in the token, the old one gone.
    with Session(app.state.engine) as s:
        row = s.get(SigningCredential, account.id)
        assert row is not None
        row.cert_not_after = utcnow() + timedelta(days=1)
        s.add(row)
        s.commit()
    r = _post(citizen, url, _action="sign", code=otp.code_at(secret, otp.current_step() + 1))
    assert r.status_code == 303, r.text
    with Session(app.state.engine) as s:
        renewed = s.get(SigningCredential, account.id)
        assert renewed is not None
    assert renewed.signer == "pkcs11" and renewed.key_ref != cred.key_ref and renewed.cert_serial != cred.cert_serial
    _assert_valid(app, _signed_file(app, citizen, dossier_id))
    assert _token_objects(app, cred.key_ref) == {}
    assert len(_token_objects(app, renewed.key_ref)[pkcs11.ObjectClass.PRIVATE_KEY]) == 1


def test_credentials_keep_the_store_they_were_made_in(hsm_app: FastAPI, app: FastAPI) -> None:
    """A PKCS#12 credential made before the switch to the token still signs with its file."""
    citizen = TestClient(app, follow_redirects=False)
    login = signup(citizen)
    _give_cccd(app, login)
    citizen.cookies.set("lang", "en")
    dossier_id = fill_marital(citizen)
    secret = _enrol(citizen, dossier_id)  # made by the default app: a .p12 file
    with Session(app.state.engine) as s:
        account = s.exec(select(Account).where(Account.email == login)).one()
        cred = s.get(SigningCredential, account.id)
        assert cred is not None and cred.signer == "pkcs12"

    moved = TestClient(hsm_app, follow_redirects=False)  # the same browser, on the portal now using the token
    moved.cookies = citizen.cookies
    r = _post(
        moved, f"/dossiers/{dossier_id}/sign/to_khai", _action="sign", code=otp.code_at(secret, otp.current_step())
    )
    assert r.status_code == 303, r.text
    _assert_valid(hsm_app, _signed_file(hsm_app, moved, dossier_id))
