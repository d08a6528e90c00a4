"""Paying a dossier through the sandbox bank, as a browser without JavaScript would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient

from payments.gateways.sandbox import SandboxGateway
from tests.conftest import CSRF_RE, csrf


def sandbox(app: FastAPI) -> SandboxGateway:
    gateway = app.state.gateways["sandbox"]
    assert isinstance(gateway, SandboxGateway)
    return gateway


@contextmanager
def notify_plan(app: FastAPI, plan: str) -> Iterator[SandboxGateway]:
    """Make the sandbox bank notify `before`, `after`, `twice` or `never`; notifications reach the app in-process."""
    bank = sandbox(app)
    old_chooser, old_http = bank.chooser, bank.http
    bank.chooser = lambda: plan
    bank.http = TestClient(app, base_url="http://testserver")
    try:
        yield bank
    finally:
        bank.chooser, bank.http = old_chooser, old_http


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start_payment(client: TestClient, dossier_id: str, gateway: str = "sandbox"):
    token = csrf(client, f"/dossiers/{dossier_id}/payment")
    return client.post(f"/dossiers/{dossier_id}/payment", data={"csrf_token": token, "gateway": gateway})


def bank_choose(client: TestClient, bank_url: str, choice: str):
    """At the bank's page: press one of its buttons; returns the bank's answer (a redirect back, usually)."""
    page = client.get(local_path(bank_url))
    assert page.status_code == 200, page.text
    token = CSRF_RE.search(page.text)
    assert token
    order = urlsplit(bank_url).query.split("order=", 1)[1]
    from urllib.parse import unquote

    return client.post(
        "/sandbox-bank/pay", data={"csrf_token": token.group(1), "order": unquote(order), "choice": choice}
    )


def pay(client: TestClient, app: FastAPI, dossier_id: str, *, choice: str = "pay", plan: str = "never") -> str:
    """Pay the dossier's fee at the sandbox bank and come back; returns the payment reference."""
    with notify_plan(app, plan):
        r = start_payment(client, dossier_id)
        assert r.status_code == 303, r.text
        bank_url = r.headers["location"]
        back = bank_choose(client, bank_url, choice)
        assert back.status_code == 303, back.text
        r = client.get(local_path(back.headers["location"]))
        assert r.status_code == 303, r.text
        assert r.headers["location"].startswith(f"/dossiers/{dossier_id}/payment?payment=")
        return r.headers["location"].rsplit("=", 1)[1]
