"""The back-office API on a linked application's member (a child): its payments are its member's share of the
application's one payment (lines, refunds, its agency's e-receipt), and `POST …/refund` on its code gives back
that share — within what the member paid, under its agency and member, replayed as it was with the same
Idempotency-Key; another agency's member is a 404. A single dossier's refund may give back a part (`amount`).
`PaymentInfo.receipts` lists every agency's e-receipt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from payments.models import Payment, Refund
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.db import writer
from portal.kernel.settings import Settings
from tests import factories
from tests.api.test_token_and_api import bearer, get_token, new_client
from tests.payments.test_linked_split import Linked, linked_application, paid

pytestmark = pytest.mark.db

API = "/api/v1/backoffice"


@dataclass
class Scene:
    app: Linked
    payment_id: str
    headers: dict[str, dict[str, str]]  # agency code -> bearer header


@pytest.fixture()
def scene(app, client: TestClient, settings: Settings) -> Iterator[Scene]:
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        linked = linked_application(s)
        payment = paid(s, linked, settings)
        for child in linked.children.values():
            child.status = DossierStatus.REJECTED  # by hand: no refund by rule happened
            s.add(child)
        s.commit()
    headers = {}
    for agency in (linked.receiving, linked.agency_b, linked.agency_c):
        client_id, secret = new_client(app, agency=agency)
        headers[agency] = bearer(get_token(client, client_id, secret))
    yield Scene(linked, payment.id, headers)


def _refunds(app, payment_id: str) -> list[Refund]:
    with Session(app.state.engine) as s:
        return list(s.exec(select(Refund).where(Refund.payment_id == payment_id)))


def test_a_members_payments_are_its_share_with_its_agencys_receipt(client: TestClient, scene: Scene) -> None:
    linked = scene.app
    code = linked.children[linked.member_b].code
    r = client.get(f"{API}/dossiers/{code}/payments", headers=scene.headers[linked.agency_b])
    assert r.status_code == 200, r.text
    [payment] = r.json()["payments"]
    assert (payment["member"], payment["amount"], payment["refunded_amount"]) == (linked.member_b, 25_000, 0)
    assert [line["amount"] for line in payment["lines"]] == [20_000, 5_000]
    assert {line["agency_code"] for line in payment["lines"]} == {linked.agency_b}
    [receipt] = payment["receipts"]
    assert receipt["agency_code"] == linked.agency_b and receipt["amount"] == 25_000
    assert payment["receipt"] == f"{receipt['symbol']}/{receipt['number']}"
    # The dossier's whole (its detail) shows the same share, never the other members' lines.
    r = client.get(f"{API}/dossiers/{code}", headers=scene.headers[linked.agency_b])
    assert r.status_code == 200, r.text
    [detail] = r.json()["fee"]["payments"]
    assert (detail["member"], detail["amount"]) == (linked.member_b, 25_000)
    assert {line["agency_code"] for line in detail["lines"]} == {linked.agency_b}


def test_an_agency_refunds_its_members_fee_on_the_childs_code(app, client: TestClient, scene: Scene) -> None:
    linked = scene.app
    code = linked.children[linked.member_c].code  # member C's procedure refunds nothing by rule: the agency does
    headers = scene.headers[linked.agency_c]
    url = f"{API}/dossiers/{code}/refund"

    too_much = client.post(url, json={"amount": 15_001}, headers={**headers, "Idempotency-Key": "too-much-c"})
    assert too_much.status_code == 409, too_much.text
    assert too_much.headers["content-type"].startswith("application/problem+json")
    assert "15.000" in too_much.json()["detail"] and "15.001" in too_much.json()["detail"]
    assert _refunds(app, scene.payment_id) == []

    keyed = {**headers, "Idempotency-Key": "refund-member-c"}
    first = client.post(url, json={"amount": 10_000}, headers=keyed)
    assert first.status_code == 200, first.text
    [payment] = first.json()["payments"]
    assert payment["member"] == linked.member_c and payment["amount"] == 15_000
    [refund] = payment["refunds"]
    assert (refund["amount"], refund["agency_code"], refund["member"], refund["reason"]) == (
        10_000,
        linked.agency_c,
        linked.member_c,
        "agency",
    )
    again = client.post(url, json={"amount": 10_000}, headers=keyed)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    [row] = _refunds(app, scene.payment_id)  # replayed: one refund
    assert (row.agency_code, row.member, row.amount) == (linked.agency_c, linked.member_c, 10_000)

    rest = client.post(url, headers=headers)  # no body: what the member still keeps
    assert rest.status_code == 200, rest.text
    assert sorted(r["amount"] for r in rest.json()["payments"][0]["refunds"]) == [5_000, 10_000]
    nothing = client.post(url, headers=headers)
    assert nothing.status_code == 409 and "left to refund" in nothing.json()["detail"]
    # The other members' fees stay.
    assert sum(r.amount for r in _refunds(app, scene.payment_id)) == 15_000


def test_another_agencys_member_is_a_404_and_bad_amounts_are_422(app, client: TestClient, scene: Scene) -> None:
    linked = scene.app
    code_b = linked.children[linked.member_b].code
    for agency in (linked.receiving, linked.agency_c):
        r = client.post(f"{API}/dossiers/{code_b}/refund", headers=scene.headers[agency])
        assert r.status_code == 404, r.text
    r = client.post(f"{API}/dossiers/{linked.parent.code}/refund", headers=scene.headers[linked.receiving])
    assert r.status_code == 404  # the application itself is no agency's
    for body in ({"amount": 0}, {"amount": -5}, {"amount": "many"}, {"amount": 1, "why": "x"}):
        r = client.post(f"{API}/dossiers/{code_b}/refund", json=body, headers=scene.headers[linked.agency_b])
        assert r.status_code == 422, (body, r.text)
    assert _refunds(app, scene.payment_id) == []
    # A member not ended yet cannot be refunded.
    with Session(writer(app.state.engine)) as s:
        child = s.get(Dossier, linked.children[linked.member_b].id)
        assert child is not None
        child.status = DossierStatus.IN_PROCESS
        s.add(child)
        s.commit()
    r = client.post(f"{API}/dossiers/{code_b}/refund", headers=scene.headers[linked.agency_b])
    assert r.status_code == 409 and "rejected or withdrawn" in r.json()["detail"]


def test_a_single_dossiers_refund_may_give_back_a_part(app, client: TestClient) -> None:
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        dossier = factories.dossier(s, submitted=True)
        dossier.status = DossierStatus.REJECTED
        s.add(dossier)
        older = factories.payment(s, dossier=dossier, amount=30_000, receipt_symbol="X-26E", receipt_number="0000001")
        s.commit()
    client_id, secret = new_client(app, agency=dossier.agency_code)
    headers = bearer(get_token(client, client_id, secret))
    url = f"{API}/dossiers/{dossier.code}/refund"
    r = client.post(url, json={"amount": 30_001}, headers=headers)
    assert r.status_code == 409 and "30.000" in r.json()["detail"]
    r = client.post(url, json={"amount": 12_000}, headers=headers)
    assert r.status_code == 200, r.text
    [payment] = r.json()["payments"]
    assert payment["member"] is None and payment["receipt"] == "X-26E/0000001"
    assert [(x["agency_code"], x["symbol"], x["amount"]) for x in payment["receipts"]] == [
        (dossier.agency_code, "X-26E", 30_000)
    ]
    assert [(x["amount"], x["member"]) for x in payment["refunds"]] == [(12_000, None)]
    r = client.post(url, headers=headers)
    assert r.status_code == 200
    with Session(app.state.engine) as s:
        assert sorted(x.amount for x in s.exec(select(Refund).where(Refund.payment_id == older.id))) == [
            12_000,
            18_000,
        ]
        assert s.get(Payment, older.id) is not None
