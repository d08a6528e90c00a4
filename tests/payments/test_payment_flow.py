"""The payment flow over HTTP with the sandbox bank, and the exactly-once handling of the bank's answers.

Every test pays through the portal's pages and the sandbox bank's page, as a browser without JavaScript
would; the bank's server-to-server notifications reach the app in-process (tests/payments/helpers.py).
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from auth.client_service import create_client
from payments.gateways.base import GatewayError, PaymentOrder, PaymentStart
from payments.gateways.sandbox import SandboxGateway
from payments.models import Payment, PaymentEvent, Refund
from payments.tasks import reconcile_now
from portal.catalog.loader import REDUCTION_PROOF
from portal.dossiers.models import Dossier, DossierEvent
from portal.kernel.audit import AuditEvent
from portal.kernel.clock import local, utcnow
from portal.kernel.db import writer
from portal.kernel.outbox import OutboxMessage, WorkerContext, drain
from portal.notifications.models import Notification
from tests.conftest import csrf, signup
from tests.factories import MARITAL, jpeg_bytes, pdf_bytes
from tests.payments.helpers import bank_choose, local_path, notify_plan, pay, sandbox, start_payment
from tests.pdftools import extract_text
from tests.web.flow import fill_marital, post_step, start, submit, upload

pytestmark = pytest.mark.db

JUDICIAL = "3.000333"  # Cấp Phiếu lý lịch tư pháp: 200.000 đ paid before submitting, reductions 50 % and 100 %
HALF = "sinh-vien-nguoi-co-cong"
EXEMPT = "tre-em-ho-ngheo"


# -- driving the pages


def fill_judicial(client: TestClient) -> str:
    """A complete draft of the judicial-record procedure (pays before it is submitted)."""
    dossier_id = start(client, JUDICIAL)
    applicant = {
        "full_name": "Nguyễn Thị Hường",
        "gender": "female",
        "birth_date": "1990-05-17",
        "birth_place": "Xã Gia Viễn, tỉnh Ninh Bình",
        "nationality": "Việt Nam",
        "ethnicity": "Kinh",
        "id_document_type": "cccd",
        "cccd": "001190012345",
        "permanent_address.province": "01",
        "permanent_address.ward": "00004",
        "permanent_address.street": "12 Lý Thái Tổ",
        "phone": "0912 345 678",
        "email": "huong@example.vn",
    }
    family = {
        "father_name": "Nguyễn Văn Bình",
        "mother_name": "Trần Thị Cúc",
        "residence_history.0.from_year": "2004",
        "residence_history.0.place": "Hoàn Kiếm, Hà Nội",
        "residence_history.0.occupation": "Học sinh, sinh viên",
    }
    request = {
        "certificate_type": "so_1",
        "ban_confirmation": "no",
        "purpose": "work",
        "quantity": "1",
        "delivery_method": "online",
        "declaration": "true",
    }
    for step, data in (("applicant", applicant), ("family_residence", family), ("request", request)):
        r = post_step(client, dossier_id, step, data)
        assert r.status_code == 303, (step, r.text[:3000])
    assert upload(client, dossier_id, "to_khai", "to-khai.jpg", jpeg_bytes(), "image/jpeg").status_code == 303
    return dossier_id


def english(client: TestClient) -> TestClient:
    client.cookies.set("lang", "en")
    return client


def new_citizen(app: FastAPI) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    signup(client)
    return english(client)


def submitted_marital(client: TestClient) -> str:
    dossier_id = fill_marital(client)
    r = submit(client, dossier_id)
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}?submitted=1", r.text[:2000]
    return dossier_id


def settle_at_bank(client: TestClient, app: FastAPI, dossier_id: str, choice: str = "pay") -> tuple[str, str]:
    """Start a payment and press `choice` at the bank, which never notifies; the browser does not come back yet.

    Returns the payment reference and the (signed) return URL the bank sends the browser to.
    """
    with notify_plan(app, "never"):
        r = start_payment(client, dossier_id)
        assert r.status_code == 303, r.text[:2000]
        back = bank_choose(client, r.headers["location"], choice)
        assert back.status_code == 303, back.text[:2000]
    reference = dict(parse_qsl(urlsplit(back.headers["location"]).query))["reference"]
    return reference, back.headers["location"]


def come_back(client: TestClient, return_url: str, dossier_id: str) -> httpx.Response:
    r = client.get(local_path(return_url))
    assert r.status_code == 303, r.text[:2000]
    assert r.headers["location"].startswith(f"/dossiers/{dossier_id}/payment?payment=")
    return client.get(r.headers["location"])


def post_form(client: TestClient, path: str, page: str, **data: str) -> httpx.Response:
    return client.post(path, data={"csrf_token": csrf(client, page), **data})


def notify(app: FastAPI, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """The bank's server calling the notification URL (no cookie, no CSRF token)."""
    return TestClient(app).post("/payments/notify/sandbox", content=body, headers=headers)


def worker(app: FastAPI) -> WorkerContext:
    return WorkerContext(settings=app.state.settings, storage=app.state.storage, gateways=app.state.gateways)


def drain_all(app: FastAPI) -> None:
    while drain(app.state.engine, worker(app)):
        pass


# -- reading the database


def read(app: FastAPI, fn: Callable[[Session], Any]) -> Any:
    with Session(app.state.engine) as s:
        return fn(s)


def dossier(app: FastAPI, dossier_id: str) -> Dossier:
    found = read(app, lambda s: s.get(Dossier, dossier_id))
    assert found is not None
    return found


def payment(app: FastAPI, reference: str) -> Payment:
    return read(app, lambda s: s.exec(select(Payment).where(Payment.reference == reference)).one())


def payments(app: FastAPI, dossier_id: str) -> list[Payment]:
    return read(
        app,
        lambda s: list(s.exec(select(Payment).where(Payment.order_id == dossier_id).order_by(col(Payment.created_at)))),
    )


def timeline(app: FastAPI, dossier_id: str, kind: str | None = None) -> list[DossierEvent]:
    stmt = select(DossierEvent).where(DossierEvent.dossier_id == dossier_id).order_by(col(DossierEvent.id))
    rows: list[DossierEvent] = read(app, lambda s: list(s.exec(stmt)))
    return [e for e in rows if kind is None or e.kind == kind]


def notifications(app: FastAPI, dossier_id: str, kind: str) -> list[Notification]:
    applicant = dossier(app, dossier_id).applicant_id
    stmt = select(Notification).where(Notification.account_id == applicant, Notification.kind == kind)
    return read(app, lambda s: list(s.exec(stmt)))


def receipt_messages(app: FastAPI, payment_id: str) -> int:
    rows: list[OutboxMessage] = read(
        app, lambda s: list(s.exec(select(OutboxMessage).where(OutboxMessage.topic == "payment.receipt")))
    )
    return sum(1 for m in rows if m.payload.get("payment_id") == payment_id)


def payment_events(app: FastAPI, payment_id: str) -> list[PaymentEvent]:
    stmt = select(PaymentEvent).where(PaymentEvent.payment_id == payment_id).order_by(col(PaymentEvent.id))
    return read(app, lambda s: list(s.exec(stmt)))


def refunds(app: FastAPI, payment_id: str) -> list[Refund]:
    return read(app, lambda s: list(s.exec(select(Refund).where(Refund.payment_id == payment_id))))


def last_audit_id(app: FastAPI) -> int:
    return int(read(app, lambda s: s.exec(select(func.coalesce(func.max(AuditEvent.id), 0))).one()))


def refusals_since(app: FastAPI, after_id: int) -> list[AuditEvent]:
    stmt = (
        select(AuditEvent)
        .where(col(AuditEvent.id) > after_id, AuditEvent.kind == "payment.callback_refused")
        .order_by(col(AuditEvent.id))
    )
    return read(app, lambda s: list(s.exec(stmt)))


def update_payment(app: FastAPI, reference: str, **values: Any) -> None:
    with Session(writer(app.state.engine)) as s:
        row = s.exec(select(Payment).where(Payment.reference == reference)).one()
        for name, value in values.items():
            setattr(row, name, value)
        s.add(row)
        s.commit()


def snapshot(app: FastAPI, dossier_id: str) -> dict[str, Any]:
    """What a refused or repeated callback must leave exactly as it was."""
    items = payments(app, dossier_id)
    return {
        "payments": [(p.reference, p.status, p.settled_at, p.gateway_ref, p.receipt_number) for p in items],
        "events": [e.kind for e in timeline(app, dossier_id)],
        "notifications": len(notifications(app, dossier_id, "payment.succeeded")),
        "receipts": sum(receipt_messages(app, p.id) for p in items),
        "dossier": dossier(app, dossier_id).status,
    }


def assert_paid_once(app: FastAPI, dossier_id: str, reference: str) -> Payment:
    """One succeeded payment, one timeline entry, one notification, one e-receipt message."""
    paid = payment(app, reference)
    assert paid.status == "succeeded" and paid.receipt_number
    assert [p.status for p in payments(app, dossier_id)].count("succeeded") == 1
    assert len(timeline(app, dossier_id, "payment_succeeded")) == 1
    assert len(notifications(app, dossier_id, "payment.succeeded")) == 1
    assert receipt_messages(app, paid.id) == 1
    assert [e.kind for e in payment_events(app, paid.id)].count("succeeded") == 1
    return paid


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run the calls in threads released together."""
    barrier = threading.Barrier(len(calls))
    results: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def run(i: int, call: Callable[[], httpx.Response]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as exc:  # re-raised in the test's thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    out = []
    for r in results:
        if isinstance(r, BaseException):
            raise r
        assert r is not None, "a concurrent call did not finish"
        out.append(r)
    return out


# -- 1, 2: paying after and before submission


def test_after_procedure_paid_through_the_sandbox(citizen: TestClient, app: FastAPI) -> None:
    english(citizen)
    dossier_id = submitted_marital(citizen)
    assert "15,000\u00a0VND still to pay" in citizen.get(f"/dossiers/{dossier_id}").text
    reference = pay(citizen, app, dossier_id)  # plan "never": the signed return settles it
    paid = assert_paid_once(app, dossier_id, reference)
    assert paid.amount == 15_000 and paid.gateway == "sandbox" and paid.gateway_ref
    note = notifications(app, dossier_id, "payment.succeeded")[0]
    assert note.link == f"/dossiers/{dossier_id}" and "15.000" in note.subject_vi and reference in note.body_vi
    page = citizen.get(f"/dossiers/{dossier_id}/payment?payment={reference}")
    assert page.status_code == 200 and "Payment received" in page.text and 'id="paid-in-full"' in page.text
    assert f"/dossiers/{dossier_id}/payments/{paid.id}/receipt.pdf" in page.text
    r = citizen.get(f"/dossiers/{dossier_id}/payments/{paid.id}/receipt.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = extract_text(r.content)
    assert "BIÊN LAI" in text and "Mười lăm nghìn đồng" in text and reference in text
    detail = citizen.get(f"/dossiers/{dossier_id}")
    assert '<span id="fee-state">Paid</span>' in detail.text
    again = start_payment(citizen, dossier_id)
    assert again.status_code == 409 and "already been paid" in again.text
    assert len(payments(app, dossier_id)) == 1


@pytest.mark.parametrize("plan", ["never", "twice"])
def test_before_procedure_is_submitted_by_its_payment(citizen: TestClient, app: FastAPI, plan: str) -> None:
    dossier_id = fill_judicial(english(citizen))
    r = submit(citizen, dossier_id)
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}/payment", r.text[:2000]
    assert dossier(app, dossier_id).status == "draft" and not timeline(app, dossier_id, "submitted")
    page = citizen.get(r.headers["location"])
    assert "Pay 200,000\u00a0VND" in page.text and "submitted automatically" in page.text
    reference = pay(citizen, app, dossier_id, plan=plan)
    after = dossier(app, dossier_id)
    assert after.status == "submitted" and after.code and after.code.startswith("CAT-")
    assert len(timeline(app, dossier_id, "submitted")) == 1
    assert_paid_once(app, dossier_id, reference)
    page = citizen.get(f"/dossiers/{dossier_id}/payment?payment={reference}")
    assert f"Your dossier has been submitted with code {after.code}" in page.text


# -- 3: the bank's notification before, after, or twice around the browser's return


@pytest.mark.parametrize("plan", ["before", "after", "twice"])
def test_notification_plans_settle_once(citizen: TestClient, app: FastAPI, plan: str) -> None:
    dossier_id = submitted_marital(citizen)
    with notify_plan(app, plan) as bank:
        r = start_payment(citizen, dossier_id)
        assert r.status_code == 303
        back = bank_choose(citizen, r.headers["location"], "pay")
        assert back.status_code == 303
        reference = dict(parse_qsl(urlsplit(back.headers["location"]).query))["reference"]
        # TestClient returns once the response's background task has run: with "after" the bank has
        # notified by now too, so every plan settles the payment before the browser is back.
        assert payment(app, reference).status == "succeeded"
        assert bank.ledger_entry(reference) is not None
        come_back(citizen, back.headers["location"], dossier_id)
    paid = assert_paid_once(app, dossier_id, reference)
    sources = [e.source for e in payment_events(app, paid.id)]
    assert sources.count("notification") == 1  # "twice" sends one message twice: it is recorded once
    assert sources.count("return") == 1


# -- 4: a double click on "Pay"


def test_double_click_on_pay_is_one_payment(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = submitted_marital(citizen)
    token = csrf(citizen, f"/dossiers/{dossier_id}/payment")
    twin = TestClient(app, follow_redirects=False, cookies=dict(citizen.cookies))

    def click(browser: TestClient) -> Callable[[], httpx.Response]:
        return lambda: browser.post(f"/dossiers/{dossier_id}/payment", data={"csrf_token": token, "gateway": "sandbox"})

    first, second = at_once(click(citizen), click(twin))
    assert first.status_code == second.status_code == 303, (first.text[:1000], second.text[:1000])
    assert first.headers["location"] == second.headers["location"]
    third = click(citizen)()
    assert third.status_code == 303 and third.headers["location"] == first.headers["location"]
    assert len(payments(app, dossier_id)) == 1 and payments(app, dossier_id)[0].status == "pending"


# -- 5: declined, cancelled, retried; the choice of gateway


def test_declined_and_cancelled_payments_keep_the_draft_and_a_retry_succeeds(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_judicial(english(citizen))
    assert submit(citizen, dossier_id).headers["location"] == f"/dossiers/{dossier_id}/payment"
    answers = dossier(app, dossier_id).data
    page = citizen.get(f"/dossiers/{dossier_id}/payment")
    assert 'id="gateway-sandbox" name="gateway" value="sandbox"' in page.text and "Test bank (sandbox)" in page.text
    unknown = start_payment(citizen, dossier_id, gateway="napas")
    assert unknown.status_code == 422 and "Choose a payment method" in unknown.text
    assert payments(app, dossier_id) == []

    for choice, status in (("decline", "failed"), ("cancel", "cancelled")):
        reference, back = settle_at_bank(citizen, app, dossier_id, choice)
        page = come_back(citizen, back, dossier_id)
        assert "The payment was not completed" in page.text and "Pay 200,000\u00a0VND" in page.text
        assert payment(app, reference).status == status
        kept = dossier(app, dossier_id)
        assert kept.status == "draft" and kept.code is None and kept.data == answers
        assert len(timeline(app, dossier_id, f"payment_{status}")) == 1
    assert not notifications(app, dossier_id, "payment.succeeded")

    reference = pay(citizen, app, dossier_id)
    assert [p.status for p in payments(app, dossier_id)] == ["failed", "cancelled", "succeeded"]
    assert dossier(app, dossier_id).status == "submitted"
    assert_paid_once(app, dossier_id, reference)


# -- 6: a bank that does not answer, and a payer who never comes back


def test_no_answer_stays_pending_then_expires_by_reconciliation(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = submitted_marital(english(citizen))
    with notify_plan(app, "never"):
        r = start_payment(citizen, dossier_id)
        bank_url = r.headers["location"]
        silent = bank_choose(citizen, bank_url, "no_answer")
    assert silent.status_code == 200 and "The bank does not answer" in silent.text
    [pending] = payments(app, dossier_id)
    back = f"/payments/return/sandbox?{urlencode({'reference': pending.reference})}"
    assert back in silent.text.replace("&amp;", "&")
    page = come_back(citizen, back, dossier_id)
    assert "Waiting for the bank" in page.text
    assert payment(app, pending.reference).status == "pending"

    # Nothing to settle yet: the attempt is young and the bank still says "pending".
    reconcile_now(app.state.engine, worker(app))
    assert payment(app, pending.reference).status == "pending"
    long_ago = utcnow() - timedelta(days=3650)
    update_payment(app, pending.reference, created_at=long_ago, expires_at=utcnow() - timedelta(minutes=10))
    report = reconcile_now(app.state.engine, worker(app))
    assert report.settled >= 1
    gone = payment(app, pending.reference)
    assert gone.status == "cancelled" and gone.message == "expired without an answer"
    assert len(timeline(app, dossier_id, "payment_cancelled")) == 1
    assert not timeline(app, dossier_id, "payment_succeeded")


def test_paid_but_never_returned_is_settled_by_reconciliation(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = submitted_marital(citizen)
    reference, _back = settle_at_bank(citizen, app, dossier_id)  # the browser is closed at the bank
    assert payment(app, reference).status == "pending"
    update_payment(app, reference, created_at=utcnow() - timedelta(days=3650))
    report = reconcile_now(app.state.engine, worker(app))
    assert report.settled >= 1
    paid = assert_paid_once(app, dossier_id, reference)
    assert [e.source for e in payment_events(app, paid.id)].count("reconcile") == 1
    before = snapshot(app, dossier_id)
    reconcile_now(app.state.engine, worker(app))  # a second run finds nothing left to do
    assert snapshot(app, dossier_id) == before


# -- 7: callbacks that must not be believed, and a replay


def test_forged_notifications_and_returns_change_nothing(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = submitted_marital(citizen)
    reference, back = settle_at_bank(citizen, app, dossier_id)
    bank = sandbox(app)
    txn = bank.ledger_entry(reference)
    assert txn is not None and txn.status == "succeeded"
    untouched = snapshot(app, dossier_id)
    body, headers = bank.notification(txn)

    def refused(send: Callable[[], httpx.Response], status: int, received: str | None, reason: str) -> list[AuditEvent]:
        mark = last_audit_id(app)
        r = send()
        assert r.status_code == status, r.text[:2000]
        if received is not None:
            assert r.json() == {"received": received}
        rows = refusals_since(app, mark)
        assert len(rows) == 1 and reason in rows[0].detail["reason"], [a.detail for a in rows]
        assert rows[0].outcome == "refused"
        assert snapshot(app, dossier_id) == untouched
        return rows

    stamp = headers["Sandbox-Signature"].split(",")[0]
    forged = {**headers, "Sandbox-Signature": f"{stamp},v1={'0' * 64}"}
    refused(lambda: notify(app, body, forged), 400, "bad_signature", "bad notification signature")
    unsigned = {"Content-Type": "application/json"}
    refused(lambda: notify(app, body, unsigned), 400, "bad_signature", "missing or malformed")
    tampered = body.replace(b'"amount":15000', b'"amount":1500')
    assert tampered != body
    refused(lambda: notify(app, tampered, headers), 400, "bad_signature", "bad notification signature")
    stale_body, stale_headers = bank.notification(txn, at=int(time.time()) - 86_400)  # a replay a day later
    refused(lambda: notify(app, stale_body, stale_headers), 400, "bad_signature", "outside the tolerance")
    unknown_body, unknown_headers = bank.notification(replace(txn, reference="DVCNOSUCHPAYMENT9"))
    [row] = refused(lambda: notify(app, unknown_body, unknown_headers), 200, "unknown_order", "unknown payment")
    assert row.detail["reference"] == "DVCNOSUCHPAYMENT9" and row.detail["source"] == "notification"
    cheaper_body, cheaper_headers = bank.notification(replace(txn, amount=1_000))
    [row] = refused(lambda: notify(app, cheaper_body, cheaper_headers), 200, "bad_amount", "amount 1000 VND")
    assert row.detail["reference"] == reference

    query = dict(parse_qsl(urlsplit(back).query))
    path = urlsplit(back).path
    for changed in ({"signature": "0" * 64}, {"amount": "1000"}, {"status": "succeeded", "transaction_id": "SBX"}):
        forged_return = f"{path}?{urlencode({**query, **changed})}"

        def browser(url: str = forged_return) -> httpx.Response:
            return citizen.get(url)

        [row] = refused(browser, 400, None, "bad return signature")
        assert row.detail["source"] == "return"
    assert "could not be verified" in english(citizen).get(f"{path}?{urlencode({**query, 'amount': '1'})}").text
    assert payment(app, reference).status == "pending"

    first = notify(app, body, headers)
    assert first.status_code == 200 and first.json() == {"received": "accepted"}
    paid = assert_paid_once(app, dossier_id, reference)
    settled = snapshot(app, dossier_id)
    events = len(payment_events(app, paid.id))
    replay = notify(app, body, headers)
    assert replay.status_code == 200 and replay.json() == {"received": "already_done"}
    assert snapshot(app, dossier_id) == settled and len(payment_events(app, paid.id)) == events


# -- 8: the same answer twice at the same moment


def test_two_identical_notifications_at_once_settle_once(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = submitted_marital(citizen)
    reference, _back = settle_at_bank(citizen, app, dossier_id)
    txn = sandbox(app).ledger_entry(reference)
    assert txn is not None
    body, headers = sandbox(app).notification(txn)
    replies = at_once(lambda: notify(app, body, headers), lambda: notify(app, body, headers))
    assert sorted(r.json()["received"] for r in replies) == ["accepted", "already_done"], [r.text for r in replies]
    paid = assert_paid_once(app, dossier_id, reference)
    assert [e.source for e in payment_events(app, paid.id)].count("notification") == 1


def test_notification_and_return_at_once_settle_once(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = submitted_marital(citizen)
    reference, back = settle_at_bank(citizen, app, dossier_id)
    txn = sandbox(app).ledger_entry(reference)
    assert txn is not None
    body, headers = sandbox(app).notification(txn)
    browser = TestClient(app, follow_redirects=False, cookies=dict(citizen.cookies))
    note, ret = at_once(lambda: notify(app, body, headers), lambda: browser.get(local_path(back)))
    assert note.status_code == 200 and note.json()["received"] in ("accepted", "already_done"), note.text
    assert ret.status_code == 303 and ret.headers["location"] == f"/dossiers/{dossier_id}/payment?payment={reference}"
    paid = assert_paid_once(app, dossier_id, reference)
    sources = [e.source for e in payment_events(app, paid.id)]
    assert sources.count("notification") == 1 and sources.count("return") == 1


# -- 9: refunds, and the back-office API


def backoffice_token(app: FastAPI, agency_code: str) -> dict[str, str]:
    with Session(writer(app.state.engine)) as s:
        row, secret = create_client(s, name=f"kế toán {agency_code}", scope="backoffice", agency_code=agency_code)
        s.commit()
        client_id = row.id
    r = TestClient(app).post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_withdrawn_paid_dossier_is_refunded(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = submitted_marital(english(citizen))
    reference = pay(citizen, app, dossier_id)
    r = post_form(citizen, f"/dossiers/{dossier_id}/withdraw", f"/dossiers/{dossier_id}")
    assert r.status_code == 303, r.text[:2000]
    assert "the fee paid is refunded" in citizen.get(r.headers["location"]).text
    paid = payment(app, reference)
    [refund] = refunds(app, paid.id)
    assert (refund.status, refund.amount, refund.reason) == ("pending", 15_000, "withdrawn")
    assert dossier(app, dossier_id).status == "withdrawn" and paid.refunded_amount == 0
    drain_all(app)
    [refund] = refunds(app, paid.id)
    assert refund.status == "succeeded" and refund.gateway_ref and refund.settled_at
    assert payment(app, reference).refunded_amount == 15_000
    assert [e.details["amount"] for e in timeline(app, dossier_id, "payment_refunded")] == [15_000]
    [note] = notifications(app, dossier_id, "payment.refunded")
    assert "15.000" in note.subject_vi
    txn = sandbox(app).ledger_entry(reference)
    assert txn is not None and txn.refunded == 15_000
    page = citizen.get(f"/dossiers/{dossier_id}/payment")
    assert "15,000\u00a0VND refunded" in page.text
    drain_all(app)  # a message handled twice gives back nothing more
    assert payment(app, reference).refunded_amount == 15_000 and len(refunds(app, paid.id)) == 1


def test_backoffice_rejects_refunds_lists_and_reports(citizen: TestClient, app: FastAPI) -> None:
    paid_id = submitted_marital(citizen)
    reference = pay(citizen, app, paid_id)
    unpaid_id = submitted_marital(citizen)
    paid_dossier, unpaid_dossier = dossier(app, paid_id), dossier(app, unpaid_id)
    agency = paid_dossier.agency_code
    auth = backoffice_token(app, agency)
    api = TestClient(app)

    listed = api.get(f"/api/v1/backoffice/dossiers/{paid_dossier.code}/payments", headers=auth)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["payments"]
    assert (item["reference"], item["status"], item["amount"], item["refunds"]) == (reference, "succeeded", 15_000, [])
    assert item["receipt"] and item["receipt"].endswith(payment(app, reference).receipt_number or "?")

    other = backoffice_token(app, "CAT" if agency != "CAT" else "UBXA")
    assert api.get(f"/api/v1/backoffice/dossiers/{paid_dossier.code}/payments", headers=other).status_code == 404
    refused = api.post(
        f"/api/v1/backoffice/dossiers/{paid_dossier.code}/reject", json={"reason": "Sai cơ quan"}, headers=other
    )
    assert refused.status_code == 404 and dossier(app, paid_id).status == "submitted"

    rejected = api.post(
        f"/api/v1/backoffice/dossiers/{paid_dossier.code}/reject",
        json={"reason": "Hồ sơ không thuộc thẩm quyền giải quyết của xã."},
        headers=auth,
    )
    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert body["status"] == "rejected"
    assert [(r["reason"], r["status"], r["amount"]) for r in body["payments"][0]["refunds"]] == [
        ("rejected", "pending", 15_000)
    ]
    again = api.post(
        f"/api/v1/backoffice/dossiers/{paid_dossier.code}/reject", json={"reason": "Lần nữa"}, headers=auth
    )
    assert again.status_code == 200 and len(again.json()["payments"][0]["refunds"]) == 1  # idempotent
    drain_all(app)
    listed = api.get(f"/api/v1/backoffice/dossiers/{paid_dossier.code}/payments", headers=auth).json()
    [item] = listed["payments"]
    assert item["refunded_amount"] == 15_000 and item["refunds"][0]["status"] == "succeeded"
    assert timeline(app, paid_id, "rejected")[0].details["reason"].startswith("Hồ sơ không thuộc")
    assert len(timeline(app, paid_id, "payment_refunded")) == 1
    assert len(notifications(app, paid_id, "payment.refunded")) == 1

    assert api.post(f"/api/v1/backoffice/dossiers/{unpaid_dossier.code}/refund", headers=auth).status_code == 409
    r = api.post(
        f"/api/v1/backoffice/dossiers/{unpaid_dossier.code}/reject", json={"reason": "Thiếu giấy tờ."}, headers=auth
    )
    assert r.status_code == 200 and r.json()["payments"] == []
    r = api.post(f"/api/v1/backoffice/dossiers/{unpaid_dossier.code}/refund", headers=auth)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json"), r.text
    assert r.json()["status"] == 409

    settled = payment(app, reference)
    assert settled.settled_at is not None
    day = local(settled.settled_at).date()
    start_utc, end_utc = (
        local(settled.settled_at).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=d) for d in (0, 1)
    )

    def on_day(at: Any) -> bool:
        return at is not None and start_utc <= local(at) < end_utc

    every: list[Payment] = read(
        app, lambda s: list(s.exec(select(Payment).where(Payment.agency_code == agency, Payment.gateway == "sandbox")))
    )
    kept = [p for p in every if p.status == "succeeded" and on_day(p.settled_at)]
    given_back = [r for p in every for r in refunds(app, p.id) if r.status == "succeeded" and on_day(r.settled_at)]
    expected = {
        "payments": len(kept),
        "amount": sum(p.amount for p in kept),
        "refunds": len(given_back),
        "refunded": sum(r.amount for r in given_back),
    }
    assert expected["payments"] >= 1 and expected["refunds"] >= 1
    report = api.get("/api/v1/backoffice/payments/report", params={"day": day.isoformat()}, headers=auth)
    assert report.status_code == 200, report.text
    rows = report.json()
    assert {r["agency_code"] for r in rows} == {agency}
    [row] = [r for r in rows if r["gateway"] == "sandbox"]
    assert row["day"] == day.isoformat()
    assert {k: row[k] for k in expected} == expected and row["net"] == expected["amount"] - expected["refunded"]
    as_csv = api.get(
        "/api/v1/backoffice/payments/report", params={"day": day.isoformat(), "format": "csv"}, headers=auth
    )
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert f"thanh-toan-{agency}-{day}.csv" in as_csv.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    [line] = [r for r in lines if r["cong_thanh_toan"] == "sandbox"]
    assert (line["ngay"], line["co_quan"]) == (day.isoformat(), agency)
    assert [int(line[k]) for k in ("so_giao_dich", "so_tien", "so_hoan_tra", "tien_hoan_tra", "thuc_thu")] == [
        expected["payments"],
        expected["amount"],
        expected["refunds"],
        expected["refunded"],
        expected["amount"] - expected["refunded"],
    ]
    yesterday = api.get(
        "/api/v1/backoffice/payments/report", params={"day": (day - timedelta(days=3650)).isoformat()}, headers=auth
    )
    assert yesterday.status_code == 200 and yesterday.json() == []


# -- 10: paid twice


def test_second_success_is_refunded_as_duplicate(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_judicial(citizen)
    assert submit(citizen, dossier_id).status_code == 303
    with notify_plan(app, "never"):
        first = start_payment(citizen, dossier_id)
        assert first.status_code == 303
        [one] = payments(app, dossier_id)
        # The first attempt is about to expire: a new click starts another instead of reusing it.
        update_payment(app, one.reference, expires_at=utcnow() + timedelta(seconds=30))
        second = start_payment(citizen, dossier_id)
        assert second.status_code == 303 and second.headers["location"] != first.headers["location"]
        references = [p.reference for p in payments(app, dossier_id)]
        assert len(references) == 2 and one.reference == references[0]
        for bank_url in (first.headers["location"], second.headers["location"]):
            back = bank_choose(citizen, bank_url, "pay")
            assert back.status_code == 303
            come_back(citizen, back.headers["location"], dossier_id)
    kept, duplicate = (payment(app, ref) for ref in references)
    assert kept.status == duplicate.status == "succeeded"
    assert dossier(app, dossier_id).status == "submitted"
    assert len(timeline(app, dossier_id, "submitted")) == 1
    assert len(timeline(app, dossier_id, "payment_succeeded")) == 1
    assert len(timeline(app, dossier_id, "payment_duplicate")) == 1
    assert len(notifications(app, dossier_id, "payment.succeeded")) == 1
    [refund] = refunds(app, duplicate.id)
    assert (refund.reason, refund.amount, refund.status) == ("duplicate", 200_000, "pending")
    assert refunds(app, kept.id) == []
    drain_all(app)
    assert payment(app, duplicate.reference).refunded_amount == 200_000
    assert payment(app, kept.reference).refunded_amount == 0
    txn = sandbox(app).ledger_entry(duplicate.reference)
    assert txn is not None and txn.refunded == 200_000
    assert len(timeline(app, dossier_id, "payment_refunded")) == 1


# -- 11: the gateway cannot be reached


class UnreachableBank(SandboxGateway):
    """The sandbox bank with its network down at the start of a payment."""

    def start_payment(self, order: PaymentOrder, *, return_url: str, notify_url: str) -> PaymentStart:
        raise GatewayError("connection refused")


@pytest.fixture()
def unreachable_bank(app: FastAPI) -> Iterator[None]:
    bank = sandbox(app)
    down = UnreachableBank(bank.options)
    down.bind(base_url=bank.base_url)
    app.state.gateways["sandbox"] = down
    try:
        yield
    finally:
        app.state.gateways["sandbox"] = bank


@pytest.mark.usefixtures("unreachable_bank")
def test_gateway_down_at_start_answers_503_and_keeps_the_dossier(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_judicial(english(citizen))
    assert submit(citizen, dossier_id).headers["location"] == f"/dossiers/{dossier_id}/payment"
    before = dossier(app, dossier_id)
    r = start_payment(citizen, dossier_id)
    assert r.status_code == 503 and r.headers["retry-after"] == "30"
    assert "does not answer at the moment" in r.text and "try again" in r.text
    [failed] = payments(app, dossier_id)
    assert failed.status == "failed" and failed.message == "gateway unavailable" and failed.redirect_url is None
    assert [e.kind for e in payment_events(app, failed.id)] == ["start_failed"]
    after = dossier(app, dossier_id)
    assert (after.status, after.code, after.data) == ("draft", None, before.data)
    assert not timeline(app, dossier_id, "payment_failed")


# -- 12: reductions


def test_half_fee_reduction_needs_its_proof_then_pays_half(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_judicial(english(citizen))
    missing_proof = f'href="/dossiers/{dossier_id}/files#c-{REDUCTION_PROOF}">Missing document'
    assert missing_proof not in citizen.get(f"/dossiers/{dossier_id}/review").text
    payment_page = f"/dossiers/{dossier_id}/payment"
    r = post_form(citizen, f"{payment_page}/reduction", payment_page, category=HALF)
    assert r.status_code == 303 and dossier(app, dossier_id).fee_reduction == HALF
    page = citizen.get(payment_page)
    assert '<td class="num" id="fee-total">100,000\u00a0VND</td>' in page.text
    assert "The proof document is still missing" in page.text
    review = citizen.get(f"/dossiers/{dossier_id}/review")
    assert missing_proof in review.text
    refused = submit(citizen, dossier_id)
    assert refused.status_code == 422 and dossier(app, dossier_id).status == "draft"
    assert start_payment(citizen, dossier_id).headers["location"] == f"/dossiers/{dossier_id}/review"
    assert payments(app, dossier_id) == []

    proof = upload(citizen, dossier_id, REDUCTION_PROOF, "the-sinh-vien.pdf", pdf_bytes(), "application/pdf")
    assert proof.status_code == 303
    assert missing_proof not in citizen.get(f"/dossiers/{dossier_id}/review").text
    assert submit(citizen, dossier_id).headers["location"] == payment_page
    reference = pay(citizen, app, dossier_id)
    paid = assert_paid_once(app, dossier_id, reference)
    assert paid.amount == 100_000 and [r["percent"] for r in paid.reductions] == [50]
    assert dossier(app, dossier_id).status == "submitted"
    # Paid for the reduced bill: the reduction can no longer change.
    r = post_form(citizen, f"{payment_page}/reduction", payment_page, category="")
    assert r.status_code == 409 and dossier(app, dossier_id).fee_reduction == HALF


def test_full_exemption_submits_without_paying(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_judicial(english(citizen))
    payment_page = f"/dossiers/{dossier_id}/payment"
    assert post_form(citizen, f"{payment_page}/reduction", payment_page, category=EXEMPT).status_code == 303
    page = citizen.get(payment_page)
    assert 'id="fee-total">0\u00a0VND' in page.text and "There is nothing to pay" in page.text
    assert "Pay " not in page.text.split('id="fee-total"')[1]
    proof = upload(citizen, dossier_id, REDUCTION_PROOF, "ho-ngheo.jpg", jpeg_bytes(), "image/jpeg")
    assert proof.status_code == 303
    r = submit(citizen, dossier_id)
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}?submitted=1", r.text[:2000]
    done = dossier(app, dossier_id)
    assert done.status == "submitted" and done.code and len(timeline(app, dossier_id, "submitted")) == 1
    nothing = start_payment(citizen, dossier_id)
    assert nothing.status_code == 422 and "There is nothing to pay for this dossier" in nothing.text
    assert payments(app, dossier_id) == []


# -- 13: someone else's dossier


def test_another_citizen_cannot_see_or_pay_a_dossier(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = submitted_marital(citizen)
    reference = pay(citizen, app, dossier_id)
    paid = payment(app, reference)
    stranger = new_citizen(app)
    assert stranger.get(f"/dossiers/{dossier_id}/payment").status_code == 404
    token = csrf(stranger, "/dossiers")
    r = stranger.post(f"/dossiers/{dossier_id}/payment", data={"csrf_token": token, "gateway": "sandbox"})
    assert r.status_code == 404
    r = stranger.post(f"/dossiers/{dossier_id}/payment/reduction", data={"csrf_token": token, "category": ""})
    assert r.status_code == 404
    assert stranger.get(f"/dossiers/{dossier_id}/payments/{paid.id}/receipt.pdf").status_code == 404
    assert citizen.get(f"/dossiers/{dossier_id}/payments/{paid.id}/receipt.pdf").status_code == 200
    # Nor through a dossier of their own: the payment must belong to the dossier in the path.
    own = submitted_marital(stranger)
    assert stranger.get(f"/dossiers/{own}/payments/{paid.id}/receipt.pdf").status_code == 404
    assert len(payments(app, dossier_id)) == 1 and payments(app, own) == []


def test_marital_is_the_after_procedure(app: FastAPI) -> None:
    """The premise of the tests above, read from the catalogue."""
    from portal.catalog.models import Procedure

    with Session(app.state.engine) as s:
        marital, judicial = s.get(Procedure, MARITAL), s.get(Procedure, JUDICIAL)
    assert marital is not None and judicial is not None
    assert (marital.payment_timing, marital.refundable, marital.fee_total) == ("after", True, 15_000)
    assert (judicial.payment_timing, judicial.refundable, judicial.fee_total) == ("before", True, 200_000)
    assert [r["percent"] for r in judicial.reductions] == [50, 100]


def test_two_payments_succeeding_at_once_keep_one(citizen: TestClient, app: FastAPI) -> None:
    dossier_id = fill_judicial(citizen)
    assert submit(citizen, dossier_id).status_code == 303
    bank = sandbox(app)
    with notify_plan(app, "never"):
        first = start_payment(citizen, dossier_id)
        [one] = payments(app, dossier_id)
        update_payment(app, one.reference, expires_at=utcnow() + timedelta(seconds=30))
        second = start_payment(citizen, dossier_id)
        for r in (first, second):
            assert bank_choose(citizen, r.headers["location"], "pay").status_code == 303
    messages = []
    for p in payments(app, dossier_id):
        txn = bank.ledger_entry(p.reference)
        assert txn is not None and txn.status == "succeeded"
        messages.append(bank.notification(txn))
    # Each success takes the agency's next e-receipt number before it looks for an earlier success of the
    # order: on PostgreSQL that row lock makes the later of two simultaneous successes see the first.
    replies = at_once(*(lambda m=m: notify(app, *m) for m in messages))
    assert [r.json() for r in replies] == [{"received": "accepted"}] * 2
    succeeded = [p for p in payments(app, dossier_id) if p.status == "succeeded"]
    assert len(succeeded) == 2
    assert len(timeline(app, dossier_id, "payment_succeeded")) == 1
    assert len(timeline(app, dossier_id, "payment_duplicate")) == 1
    assert len(timeline(app, dossier_id, "submitted")) == 1
    assert sorted(len(refunds(app, p.id)) for p in succeeded) == [0, 1]
