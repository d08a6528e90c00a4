"""Drive a dossier through the HTTP pages, as a browser without JavaScript would."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import csrf
from tests.factories import MARITAL, jpeg_bytes, marital_step1, marital_step2, pdf_bytes

DOSSIER_RE = re.compile(r"/dossiers/([0-9a-f]{32})/steps/(\w+)")
DEV_OTP_RE = re.compile(r'<code id="dev-otp">(\d{6})</code>')  # the development signer's code of the moment


def start(client: TestClient, code: str = MARITAL) -> str:
    token = csrf(client, f"/procedures/{code}")
    r = client.post(f"/procedures/{code}/start", data={"csrf_token": token})
    assert r.status_code == 303, r.text
    match = DOSSIER_RE.search(r.headers["location"])
    assert match
    return match.group(1)


def post_step(client: TestClient, dossier_id: str, step: str, data: dict[str, str], action: str = "next"):
    token = csrf(client, f"/dossiers/{dossier_id}/steps/{step}")
    return client.post(f"/dossiers/{dossier_id}/steps/{step}", data={**data, "csrf_token": token, "_action": action})


def upload(
    client: TestClient, dossier_id: str, component: str, name: str, data: bytes, mime: str = "application/octet-stream"
):
    token = csrf(client, f"/dossiers/{dossier_id}/files")
    return client.post(
        f"/dossiers/{dossier_id}/files/{component}", data={"csrf_token": token}, files=[("files", (name, data, mime))]
    )


def fill_marital(client: TestClient) -> str:
    """A complete draft of the marital-status procedure, ready to submit."""
    dossier_id = start(client)
    assert post_step(client, dossier_id, "applicant", marital_step1()).status_code == 303
    assert post_step(client, dossier_id, "status", marital_step2()).status_code == 303
    assert upload(client, dossier_id, "to_khai", "to-khai.jpg", jpeg_bytes(), "image/jpeg").status_code == 303
    assert upload(client, dossier_id, "giay_to_ly_hon", "ban-an.pdf", pdf_bytes(), "application/pdf").status_code == 303
    return dossier_id


def submit(client: TestClient, dossier_id: str, delivery: str = "online"):
    token = csrf(client, f"/dossiers/{dossier_id}/review")
    return client.post(f"/dossiers/{dossier_id}/submit", data={"csrf_token": token, "delivery_method": delivery})


def post_form(client: TestClient, url: str, **data: str):
    """POST a form to the page at `url` with its CSRF token."""
    return client.post(url, data={"csrf_token": csrf(client, url), **data})


def sign_online(client: TestClient, dossier_id: str, component: str = "to_khai") -> str:
    """Sign the application online with the development signer's code (the account needs a CCCD); returns the
    code used."""
    url = f"/dossiers/{dossier_id}/sign/{component}"
    setup = post_form(client, url, _action="setup")
    assert setup.status_code == 200, setup.text
    code = DEV_OTP_RE.search(setup.text)
    assert code, setup.text
    signed = post_form(client, url, _action="sign", code=code.group(1))
    assert signed.status_code == 303, signed.text
    return code.group(1)
