"""QA (issue 15): a linked application's life replayed and raced over HTTP: the citizen's double (and
concurrent) submission, the bank's double notification of the one payment, an agency's replayed rejection of one
member (one refund, one message), the citizen withdrawing the application after a member was received (409 naming
the part) or one member alone through its own address, and paying a member's fee again at the member's address."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from payments.models import Payment, PaymentStatus, Refund
from portal.dossiers.models import Dossier, DossierEvent, DossierStatus
from portal.kernel.settings import Settings
from portal.notifications.models import Notification
from tests.conftest import csrf
from tests.payments.helpers import pay
from tests.qa.linked_scene import API, A, B, C, D, browser, draft_application, partner, submitted_application
from tests.web.flow import submit

pytestmark = pytest.mark.db


def _children(app: Any, parent_id: str) -> dict[str, Dossier]:
    with Session(app.state.engine) as s:
        rows = s.exec(select(Dossier).where(col(Dossier.parent_id) == parent_id)).all()
        return {r.procedure_code: r for r in rows}


def _events(app: Any, dossier_id: str, kind: str) -> list[DossierEvent]:
    with Session(app.state.engine) as s:
        return list(
            s.exec(select(DossierEvent).where(DossierEvent.dossier_id == dossier_id, DossierEvent.kind == kind))
        )


def _refunds(app: Any, parent_id: str) -> list[Refund]:
    with Session(app.state.engine) as s:
        ids = [p.id for p in s.exec(select(Payment).where(Payment.order_id == parent_id))]
        return list(s.exec(select(Refund).where(col(Refund.payment_id).in_(ids)))) if ids else []


def _paid_application(app: Any) -> tuple[TestClient, str, dict[str, Dossier]]:
    """A linked application paid before submission, submitted and paid through the pages: the citizen's
    browser, the parent's id and its children by member."""
    client, account_id = browser(app)
    _, parent = draft_application(app, account_id, payment_timing="before")
    assert submit(client, parent, delivery="centre").status_code == 303
    pay(client, app, parent)
    return client, parent, _children(app, parent)


def test_submitting_a_linked_application_twice_makes_its_children_once(app: Any) -> None:
    client, account_id = browser(app)
    _, parent = draft_application(app, account_id)
    first = submit(client, parent, delivery="centre")
    assert first.status_code == 303, first.text
    again = submit(client, parent, delivery="centre")  # the back button, a second tab
    assert again.status_code == 303 and again.headers["location"] == first.headers["location"]
    assert set(_children(app, parent)) == {A, B, C, D}
    assert len(_events(app, parent, "linked_created")) == 1 and len(_events(app, parent, "submitted")) == 1


def test_concurrent_submissions_of_a_linked_application_make_its_children_once(app: Any) -> None:
    """Six tabs at once (PostgreSQL: the conditional update locks; SQLite: one writer at a time)."""
    owner, account_id = browser(app)
    _, parent = draft_application(app, account_id)
    token = re.search(r'name="csrf_token" value="([^"]+)"', owner.get(f"/dossiers/{parent}/review").text)
    assert token
    barrier = threading.Barrier(6)

    def tab(_: int) -> tuple[int, str]:
        c = TestClient(app, follow_redirects=False, cookies=dict(owner.cookies))
        barrier.wait()
        r = c.post(f"/dossiers/{parent}/submit", data={"csrf_token": token.group(1), "delivery_method": "centre"})
        return r.status_code, r.headers.get("location", "")

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(tab, range(6)))
    assert {status for status, _ in results} == {303}, results
    assert len({loc for _, loc in results}) == 1
    children = _children(app, parent)
    assert set(children) == {A, B, C, D} and len({c.code for c in children.values()}) == 4
    assert len(_events(app, parent, "linked_created")) == 1


def test_the_bank_notifying_the_one_payment_twice_submits_the_application_once(app: Any) -> None:
    client, account_id = browser(app)
    _, parent = draft_application(app, account_id, payment_timing="before")
    r = submit(client, parent, delivery="centre")
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{parent}/payment", r.text
    pay(client, app, parent, plan="twice")
    assert set(_children(app, parent)) == {A, B, C, D}
    assert len(_events(app, parent, "linked_created")) == 1
    assert len(_events(app, parent, "payment_succeeded")) == 1
    with Session(app.state.engine) as s:
        paid = s.exec(select(Payment).where(Payment.order_id == parent)).all()
        assert [p.status for p in paid] == [PaymentStatus.SUCCEEDED]
        assert {line.get("member") for line in paid[0].lines} >= {B, C, D}


def test_a_replayed_rejection_of_one_member_refunds_and_tells_once(app: Any, settings: Settings) -> None:
    _, parent, children = _paid_application(app)
    h = partner(app, "UBXA")
    c = f"{API}/dossiers/{children[C].code}"
    body = {"reason": "Không đủ điều kiện xác nhận"}
    for key in ("reject-1", "reject-1", "reject-2"):  # the same request again, then a new one
        r = TestClient(app).post(f"{c}/reject", json=body, headers={**h, "Idempotency-Key": key})
        assert r.status_code == 200, r.text
    refunds = _refunds(app, parent)
    assert [(r.amount, r.agency_code) for r in refunds] == [(15_000, "UBXA")]
    assert len(_events(app, parent, "linked_member_failed")) == 1
    with Session(app.state.engine) as s:
        told = s.exec(select(Notification).where(col(Notification.dedupe_key).contains(children[C].id))).all()
        assert len([n for n in told if "member_failed" in (n.dedupe_key or "")]) >= 1
        assert len({n.dedupe_key for n in told}) == len(told)
    # A's rejection stops B and D (waiting on it): their fees back once, however often it is replayed.
    a = f"{API}/dossiers/{children[A].code}"
    for key in ("a-1", "a-2"):
        assert TestClient(app).post(f"{a}/reject", json=body, headers={**h, "Idempotency-Key": key}).status_code == 200
    after = _children(app, parent)
    assert {m: str(d.status) for m, d in after.items()} == {A: "rejected", B: "rejected", C: "rejected", D: "rejected"}
    refunds = _refunds(app, parent)
    assert sorted(r.amount for r in refunds) == sorted([15_000, 200_000, 600_000])
    with Session(app.state.engine) as s:
        parent_row = s.get(Dossier, parent)
        assert parent_row is not None and parent_row.status == DossierStatus.REJECTED


def test_withdrawing_after_a_member_was_received_is_refused_naming_the_part(app: Any, settings: Settings) -> None:
    client, account_id = browser(app)
    scene = submitted_application(app, settings, account_id)
    h = partner(app, "UBXA")
    r = TestClient(app).post(f"{API}/dossiers/{scene.codes[C]}/receive", json={"officer": "Cán bộ"}, headers=h)
    assert r.status_code == 200
    token = csrf(client, f"/dossiers/{scene.parent}")
    for _ in range(2):
        r = client.post(f"/dossiers/{scene.parent}/withdraw", data={"csrf_token": token})
        assert r.status_code == 409, r.text
        assert scene.codes[C] in r.text and "tình trạng hôn nhân" in r.text.lower(), r.text  # the part, by name
    kids = _children(app, scene.parent)
    assert {m: str(d.status) for m, d in kids.items()} == {
        A: "submitted",
        B: "waiting",
        C: "received",
        D: "waiting",
    }


def test_one_member_cannot_be_withdrawn_alone_through_its_own_address(app: Any, settings: Settings) -> None:
    """Member A withdrawn alone would leave B and D waiting for its result for ever (and the application open)."""
    client, account_id = browser(app)
    scene = submitted_application(app, settings, account_id)
    token = csrf(client, f"/dossiers/{scene.parent}")
    for member in (A, B):
        r = client.post(f"/dossiers/{scene.children[member]}/withdraw", data={"csrf_token": token})
        assert r.status_code == 409, (member, r.status_code, r.text[:300])
    kids = _children(app, scene.parent)
    assert {m: str(d.status) for m, d in kids.items()} == {
        A: "submitted",
        B: "waiting",
        C: "submitted",
        D: "waiting",
    }
    # The application itself is withdrawn whole.
    r = client.post(f"/dossiers/{scene.parent}/withdraw", data={"csrf_token": token})
    assert r.status_code == 303
    assert {str(d.status) for d in _children(app, scene.parent).values()} == {"withdrawn"}


def test_a_member_s_fee_cannot_be_paid_again_at_the_member_s_address(app: Any, settings: Settings) -> None:
    client, parent, children = _paid_application(app)
    token = csrf(client, f"/dossiers/{parent}")
    for member in (B, C):
        child = children[member].id
        page = client.get(f"/dossiers/{child}/payment")  # the application's payment page instead
        assert page.status_code == 303 and page.headers["location"] == f"/dossiers/{parent}/payment"
        r = client.post(f"/dossiers/{child}/payment", data={"csrf_token": token, "gateway": "sandbox"})
        assert r.status_code == 409 and "paid with the application" in r.text, r.text[:300]
        r = client.post(f"/dossiers/{child}/payment/reduction", data={"csrf_token": token, "category": "x"})
        assert r.status_code == 409 and "paid with the application" in r.text, r.text[:300]
        # Nor a change of how this part's result is delivered (a postal charge of its own, to pay at its address).
        assert client.get(f"/dossiers/{child}/delivery").status_code == 303
        post = {
            "csrf_token": token,
            "method": "post",
            "delivery.name": "Nguyễn Thị Hường",
            "delivery.phone": "0912345678",
            "delivery.province": "01",
            "delivery.ward": "00004",
            "delivery.street": "12 Lý Thái Tổ",
        }
        r = client.post(f"/dossiers/{child}/delivery", data=post)
        assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{child}", r.text[:300]
        with Session(app.state.engine) as s:
            row = s.get(Dossier, child)
            assert row is not None and row.delivery_method == "centre"
    with Session(app.state.engine) as s:
        ids = [c.id for c in children.values()]
        assert s.exec(select(Payment).where(col(Payment.order_id).in_(ids))).all() == []
