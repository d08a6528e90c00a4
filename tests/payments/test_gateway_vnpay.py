"""The VNPay gateway against the fake VNPay over real HTTP: checkout, return and IPN, querydr, refunds."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from payments.gateways import vnpay_protocol as vp
from payments.gateways.base import (
    Acknowledgement,
    CallbackRefused,
    GatewayConfigError,
    GatewayError,
    GatewayResult,
    InboundRequest,
    Outcome,
    PaymentOrder,
    registry,
)
from payments.gateways.vnpay import VnpayGateway, VnpayOptions, refund_request_id
from tests.payments.fake_vnpay import FakeVnpay, ThreadedServer

SECRET = "GATEWAYSECRETGATEWAYSECRET000042"
TMN = "DVCGATE1"
RETURN_URL = "http://portal.invalid/payments/return/vnpay"
NOTIFY_URL = "http://portal.invalid/payments/notify/vnpay"


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _order(reference: str | None = None, *, amount: int = 150_000, **kw: Any) -> PaymentOrder:
    now = datetime.now(UTC).replace(microsecond=0)
    args: dict[str, Any] = {
        "reference": reference or "DVC" + secrets.token_hex(6).upper(),
        "amount": amount,
        "currency": "VND",
        "description": "Nộp lệ phí hồ sơ — Đăng ký hộ kinh doanh",
        "created_at": now,
        "expires_at": now + timedelta(minutes=15),
        "idempotency_key": secrets.token_hex(8),
        "payer_ip": "203.0.113.9",
        **kw,
    }
    return PaymentOrder(**args)


def _inbound(params: dict[str, str]) -> InboundRequest:
    return InboundRequest(method="GET", query=params, headers={})


def _gateway(fake: FakeVnpay, **options: Any) -> VnpayGateway:
    values = {"tmn_code": TMN, "hash_secret": SECRET, "pay_url": fake.base_url, "api_url": fake.base_url, **options}
    gateway = registry.create("vnpay", values)
    assert isinstance(gateway, VnpayGateway)
    return gateway


class Merchant:
    """The portal's IPN endpoint, reduced to the gateway: verify, record, answer in VNPay's format."""

    def __init__(self, gateway: VnpayGateway) -> None:
        self.gateway = gateway
        self.results: list[GatewayResult] = []
        self.refused: list[str] = []
        self.server = ThreadedServer(Starlette(routes=[Route("/ipn", self.ipn)]))

    async def ipn(self, request: Request) -> Response:
        inbound = InboundRequest("GET", dict(request.query_params), dict(request.headers))
        try:
            result = await run_in_threadpool(self.gateway.handle_notification, inbound)
        except CallbackRefused as exc:
            self.refused.append(exc.reason)
            reply = self.gateway.notification_reply(Acknowledgement.BAD_SIGNATURE)
        else:
            self.results.append(result)
            reply = self.gateway.notification_reply(Acknowledgement.ACCEPTED)
        return Response(reply.body, status_code=reply.status_code, media_type=reply.media_type)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeVnpay]:
    server = FakeVnpay(tmn_code=TMN, secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake: FakeVnpay) -> Iterator[VnpayGateway]:
    gateway = _gateway(fake, timeout_seconds=5)
    gateway.check_config()
    yield gateway
    gateway.close()


@pytest.fixture(scope="module")
def merchant(fake: FakeVnpay, gateway: VnpayGateway) -> Iterator[Merchant]:
    m = Merchant(gateway)
    m.server.start()
    fake.ipn_url = m.server.url + "/ipn"
    yield m
    m.server.stop()


@pytest.fixture
def impatient(fake: FakeVnpay) -> Iterator[VnpayGateway]:
    gateway = _gateway(fake, timeout_seconds=0.3)
    yield gateway
    gateway.close()


def _checkout(gateway: VnpayGateway, fake: FakeVnpay, order: PaymentOrder, choice: str | None) -> dict[str, str]:
    """The payer's browser: start, follow the URL to VNPay's page, press a button; the signed return params."""
    start = gateway.start_payment(order, return_url=RETURN_URL, notify_url=NOTIFY_URL)
    assert start.gateway_ref is None
    with httpx.Client(timeout=5) as browser:
        page = browser.get(start.redirect_url)
        assert page.status_code == 200, page.text
        assert order.reference in page.text and f"{order.amount:,} VND".replace(",", ".") in page.text
        if choice is None:
            return {}
        done = browser.post(fake.base_url + "/paymentv2/pay", data={"txn_ref": order.reference, "choice": choice})
    assert done.status_code == 302
    location = done.headers["location"]
    assert location.startswith(RETURN_URL + "?")
    return _query(location)


def _paid(gateway: VnpayGateway, fake: FakeVnpay, amount: int = 150_000) -> PaymentOrder:
    """A paid order, as the service holds it afterwards (with VNPay's transaction number)."""
    order = _order(amount=amount)
    result = gateway.handle_return(_inbound(_checkout(gateway, fake, order, "pay")))
    assert result.outcome == Outcome.SUCCEEDED
    return replace(order, gateway_ref=result.gateway_ref)


# -- registration and configuration


def test_registered_with_its_options(fake: FakeVnpay) -> None:
    assert registry.plugin_class("vnpay") is VnpayGateway and VnpayGateway.id == "vnpay"
    assert VnpayGateway.options_model is VnpayOptions
    assert VnpayGateway.label == {"vi": "VNPAY (thẻ ATM, QR ngân hàng)", "en": "VNPAY (bank card, banking QR)"}
    options = VnpayOptions(tmn_code=TMN, hash_secret=SecretStr(SECRET))
    assert (options.pay_url, options.api_url) == ("https://sandbox.vnpayment.vn", "https://sandbox.vnpayment.vn")
    assert (options.timeout_seconds, options.order_type, options.create_by) == (10, "billpayment", "dichvucong")
    assert SECRET not in repr(options)
    with pytest.raises(ValidationError):
        options.tmn_code = "OTHER001"
    with pytest.raises(ValidationError):
        registry.create("vnpay", {"tmn_code": TMN})
    with pytest.raises(ValidationError):
        registry.create("vnpay", {"tmn_code": TMN, "hash_secret": SECRET, "timeout_seconds": 0})
    gateway = registry.create("vnpay", options)
    assert isinstance(gateway, VnpayGateway) and gateway.options is options
    gateway.check_config()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"tmn_code": ""}, "tmn_code"),
        ({"tmn_code": "  "}, "tmn_code"),
        ({"hash_secret": ""}, "hash_secret"),
        ({"pay_url": "ftp://sandbox.vnpayment.vn"}, "pay_url"),
        ({"api_url": "sandbox.vnpayment.vn"}, "api_url"),
        ({"api_url": "https://"}, "api_url"),
    ],
)
def test_check_config_refuses_options_that_cannot_work(fake: FakeVnpay, options: dict[str, str], problem: str) -> None:
    gateway = _gateway(fake, **options)
    with pytest.raises(GatewayConfigError, match=problem):
        gateway.check_config()
    gateway.close()


# -- start


def test_start_payment_builds_the_signed_url(gateway: VnpayGateway, fake: FakeVnpay) -> None:
    order = _order("DVCSTART1", amount=275_000, locale="en")
    start = gateway.start_payment(order, return_url=RETURN_URL, notify_url=NOTIFY_URL)
    parts = urlsplit(start.redirect_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == fake.base_url + "/paymentv2/vpcpay.html"
    q = _query(start.redirect_url)
    assert vp.verify(q, SECRET) and not vp.verify(q, "another secret")
    assert q["vnp_TmnCode"] == TMN and q["vnp_TxnRef"] == "DVCSTART1" and q["vnp_Amount"] == "27500000"
    assert q["vnp_OrderInfo"] == "Nop le phi ho so Dang ky ho kinh doanh"
    assert (q["vnp_Locale"], q["vnp_OrderType"], q["vnp_IpAddr"]) == ("en", "billpayment", "203.0.113.9")
    assert q["vnp_CreateDate"] == vp.format_date(order.created_at)
    assert q["vnp_ExpireDate"] == vp.format_date(order.expires_at)
    assert q["vnp_ReturnUrl"] == RETURN_URL
    assert NOTIFY_URL not in q.values()  # VNPay's IPN URL is set on its merchant site
    start_vi = gateway.start_payment(_order(), return_url=RETURN_URL, notify_url="")
    assert _query(start_vi.redirect_url)["vnp_Locale"] == "vn"
    with pytest.raises(ValueError):
        gateway.start_payment(_order(currency="USD"), return_url=RETURN_URL, notify_url=NOTIFY_URL)


# -- return and IPN


def test_a_paid_order_comes_back_succeeded_on_both_legs(
    gateway: VnpayGateway, fake: FakeVnpay, merchant: Merchant
) -> None:
    order = _order()
    params = _checkout(gateway, fake, order, "pay")
    txn = fake.transactions[order.reference]
    result = gateway.handle_return(_inbound(params))
    assert result == GatewayResult(
        reference=order.reference,
        outcome=Outcome.SUCCEEDED,
        amount=150_000,
        currency="VND",
        gateway_ref=txn.transaction_no,
        event_id=f"{order.reference}:{txn.transaction_no}:00",
        message="vnp_ResponseCode 00, vnp_TransactionStatus 00",
        raw={k: v for k, v in params.items() if k != "vnp_SecureHash"},
    )
    assert "vnp_SecureHash" not in result.raw and result.raw["vnp_BankTranNo"] == txn.bank_tran_no
    # VNPay called the IPN before redirecting the browser; the merchant confirmed it
    assert merchant.results[-1] == result
    assert fake.transactions[order.reference].ipn_replies == [{"RspCode": "00", "Message": "Confirm Success"}]


@pytest.mark.parametrize(
    ("choice", "outcome", "code"),
    [("decline", Outcome.FAILED, "51"), ("cancel", Outcome.CANCELLED, "24"), ("expire", Outcome.FAILED, "11")],
)
def test_unpaid_orders(
    gateway: VnpayGateway, fake: FakeVnpay, merchant: Merchant, choice: str, outcome: Outcome, code: str
) -> None:
    order = _order()
    if choice == "expire":  # no button for it on the page: VNPay settles it itself
        _checkout(gateway, fake, order, None)
        fake.settle(order.reference, choice)
        params = fake.result_params(order.reference)
    else:
        params = _checkout(gateway, fake, order, choice)
    result = gateway.handle_return(_inbound(params))
    assert (result.outcome, result.amount, result.reference) == (outcome, 150_000, order.reference)
    assert result.message == f"vnp_ResponseCode {code}, vnp_TransactionStatus 02"
    txn_no = fake.transactions[order.reference].transaction_no
    assert result.gateway_ref == (None if choice == "cancel" else txn_no)
    assert result.event_id == f"{order.reference}:{txn_no}:{code}"
    notified = gateway.handle_notification(_inbound(fake.result_params(order.reference)))
    assert notified == result


def test_cancelled_orders_have_distinct_event_ids(gateway: VnpayGateway, fake: FakeVnpay) -> None:
    """vnp_TransactionNo is 0 on every cancellation: the event id must still tell them apart."""
    ids = set()
    for _ in range(2):
        result = gateway.handle_return(_inbound(_checkout(gateway, fake, _order(), "cancel")))
        assert result.outcome == Outcome.CANCELLED and result.gateway_ref is None
        ids.add(result.event_id)
    assert len(ids) == 2


def test_a_genuine_pending_status_is_pending(gateway: VnpayGateway, fake: FakeVnpay) -> None:
    order = _order()
    _checkout(gateway, fake, order, "pay")
    params = fake.result_params(order.reference, overrides={"vnp_TransactionStatus": "01"})
    assert gateway.handle_notification(_inbound(params)).outcome == Outcome.PENDING


@pytest.mark.parametrize(
    ("overrides", "tamper", "reason"),
    [
        ({}, {"vnp_SecureHash": "ab" * 64}, "bad vnp_SecureHash"),
        ({}, {"vnp_SecureHash": ""}, "missing"),
        ({}, {"vnp_Amount": "100"}, "bad vnp_SecureHash"),  # changed after signing
        ({}, {"vnp_ResponseCode": "00", "vnp_TransactionStatus": "00"}, "bad vnp_SecureHash"),
        ({"vnp_TmnCode": "OTHER001"}, {}, "not ours"),  # signed, but for another merchant
        ({"vnp_TxnRef": ""}, {}, "missing vnp_TxnRef"),
    ],
)
def test_callbacks_that_must_not_be_believed(
    gateway: VnpayGateway, fake: FakeVnpay, overrides: dict[str, str], tamper: dict[str, str], reason: str
) -> None:
    order = _order()
    _checkout(gateway, fake, order, "decline")
    params = fake.result_params(order.reference, overrides=overrides, tamper=tamper)
    for handle in (gateway.handle_return, gateway.handle_notification):
        with pytest.raises(CallbackRefused) as refused:
            handle(_inbound(params))
        assert reason in refused.value.reason


def test_a_forged_ipn_is_answered_97(gateway: VnpayGateway, fake: FakeVnpay, merchant: Merchant) -> None:
    order = _order()
    _checkout(gateway, fake, order, "decline")
    call = fake.send_ipn(order.reference, tamper={"vnp_ResponseCode": "00", "vnp_TransactionStatus": "00"})
    assert (call.status_code, call.reply) == (200, {"RspCode": "97", "Message": "Invalid Checksum"})
    assert merchant.refused[-1] == "bad vnp_SecureHash"
    assert merchant.results[-1].reference == order.reference  # the genuine one, on settling
    assert merchant.results[-1].outcome == Outcome.FAILED
    other_merchant = _gateway(fake, hash_secret="another secret")
    with pytest.raises(CallbackRefused):
        other_merchant.handle_notification(_inbound(fake.result_params(order.reference)))
    other_merchant.close()


@pytest.mark.parametrize("skip_empty", [True, False], ids=["java-dotnet", "php-python"])
def test_an_ipn_with_an_empty_field_is_accepted_signed_either_way(
    gateway: VnpayGateway, fake: FakeVnpay, merchant: Merchant, skip_empty: bool
) -> None:
    order = _order()
    _checkout(gateway, fake, order, None)
    fake.settle(order.reference, "pay")
    call = fake.send_ipn(order.reference, overrides={"vnp_BankTranNo": ""}, skip_empty=skip_empty)
    assert (call.status_code, call.reply) == (200, {"RspCode": "00", "Message": "Confirm Success"})
    assert merchant.results[-1].reference == order.reference and merchant.results[-1].outcome == Outcome.SUCCEEDED
    forged = fake.send_ipn(
        order.reference, overrides={"vnp_BankTranNo": ""}, tamper={"vnp_Amount": "100"}, skip_empty=skip_empty
    )
    assert forged.reply == {"RspCode": "97", "Message": "Invalid Checksum"}


@pytest.mark.parametrize(
    ("ack", "code", "message"),
    [
        (Acknowledgement.ACCEPTED, "00", "Confirm Success"),
        (Acknowledgement.ALREADY_DONE, "02", "Order already confirmed"),
        (Acknowledgement.UNKNOWN_ORDER, "01", "Order not found"),
        (Acknowledgement.BAD_AMOUNT, "04", "Invalid amount"),
        (Acknowledgement.BAD_SIGNATURE, "97", "Invalid Checksum"),
        (Acknowledgement.ERROR, "99", "Unknown error"),
    ],
)
def test_notification_replies(gateway: VnpayGateway, ack: Acknowledgement, code: str, message: str) -> None:
    reply = gateway.notification_reply(ack)
    assert (reply.status_code, reply.media_type) == (200, "application/json")
    assert json.loads(reply.body) == {"RspCode": code, "Message": message}


# -- querydr


def test_query_status(gateway: VnpayGateway, fake: FakeVnpay) -> None:
    paid = _paid(gateway, fake, amount=80_000)
    result = gateway.query_status(paid)
    assert (result.reference, result.outcome, result.amount, result.currency) == (
        paid.reference,
        Outcome.SUCCEEDED,
        80_000,
        "VND",
    )
    assert result.gateway_ref == paid.gateway_ref and result.gateway_ref
    sent = fake.querydr_requests[-1]
    assert (sent["vnp_TxnRef"], sent["vnp_TmnCode"], sent["vnp_IpAddr"]) == (paid.reference, TMN, "127.0.0.1")
    assert sent["vnp_TransactionDate"] == vp.format_date(paid.created_at)
    assert "vnp_SecureHash" not in result.raw and result.raw["vnp_ResponseCode"] == "00"

    on_the_page = _order(amount=90_000)
    _checkout(gateway, fake, on_the_page, None)
    pending = gateway.query_status(on_the_page)
    assert (pending.outcome, pending.amount, pending.gateway_ref) == (Outcome.PENDING, 90_000, None)

    declined = _order()
    _checkout(gateway, fake, declined, "decline")
    assert gateway.query_status(declined).outcome == Outcome.FAILED


def test_query_status_of_an_order_vnpay_never_saw_is_pending(gateway: VnpayGateway, fake: FakeVnpay) -> None:
    order = _order(amount=120_000)
    result = gateway.query_status(order)
    assert (result.reference, result.outcome, result.amount, result.gateway_ref) == (
        order.reference,
        Outcome.PENDING,
        120_000,
        None,
    )
    assert "91" in result.message
    assert order.reference not in fake.transactions


def test_query_status_gateway_errors(gateway: VnpayGateway, impatient: VnpayGateway, fake: FakeVnpay) -> None:
    paid = _paid(gateway, fake)
    fake.fail_next("querydr")
    with pytest.raises(GatewayError, match="HTTP 500"):
        gateway.query_status(paid)
    assert gateway.query_status(paid).outcome == Outcome.SUCCEEDED  # the next one is answered
    fake.delay_next("querydr", 1.0)
    with pytest.raises(GatewayError, match="timed out"):
        impatient.query_status(paid)
    wrong_secret = _gateway(fake, hash_secret="another secret")  # VNPay answers 97, signed with its own key
    with pytest.raises(GatewayError, match="refused"):
        wrong_secret.query_status(paid)
    wrong_secret.close()
    other_merchant = _gateway(fake, tmn_code="OTHER001")  # answered 02: cannot say anything about it
    with pytest.raises(GatewayError, match="02"):
        other_merchant.query_status(paid)
    other_merchant.close()
    nowhere = _gateway(fake, api_url="http://127.0.0.1:9")
    with pytest.raises(GatewayError, match="unreachable"):
        nowhere.query_status(paid)
    nowhere.close()


def test_answers_that_are_not_json(fake: FakeVnpay) -> None:
    app = Starlette(routes=[Route(vp.QUERYDR_PATH, lambda request: Response("<html>oops</html>"), methods=["POST"])])
    server = ThreadedServer(app).start()
    try:
        broken = _gateway(fake, api_url=server.url)
        with pytest.raises(GatewayError, match="not JSON"):
            broken.query_status(_order())
        with pytest.raises(GatewayError, match="not JSON"):
            broken.refund(_order(), amount=1_000, refund_id="R1", reason="withdrawn")
        broken.close()
    finally:
        server.stop()


# -- refunds


def test_full_refund(gateway: VnpayGateway, fake: FakeVnpay) -> None:
    paid = _paid(gateway, fake)
    result = gateway.refund(paid, amount=150_000, refund_id="RFULL1", reason="rejected")
    made = fake.refunds[-1]
    assert (result.outcome, result.gateway_ref) == (Outcome.SUCCEEDED, made.transaction_no)
    assert result.gateway_ref != paid.gateway_ref and result.message == "00 Refund success"
    assert (made.txn_ref, made.amount, made.transaction_type) == (paid.reference, 15_000_000, "02")
    assert (made.request_id, made.create_by) == ("RFULL1", "dichvucong")
    assert made.order_info == f"Hoan tien {paid.reference} rejected"
    sent = fake.refund_requests[-1]
    assert sent["vnp_TransactionNo"] == paid.gateway_ref
    assert sent["vnp_TransactionDate"] == vp.format_date(paid.created_at)
    assert "vnp_SecureHash" not in result.raw and result.raw["vnp_TransactionType"] == "02"


def test_partial_refunds_never_exceed_what_was_paid(gateway: VnpayGateway, fake: FakeVnpay) -> None:
    paid = _paid(gateway, fake)
    first = gateway.refund(paid, amount=100_000, refund_id="RPART1", reason="withdrawn")
    assert first.outcome == Outcome.SUCCEEDED and fake.refunds[-1].transaction_type == "03"
    assert fake.refunded(paid.reference) == 10_000_000
    over = gateway.refund(paid, amount=100_000, refund_id="RPART2", reason="withdrawn")
    assert (over.outcome, over.gateway_ref) == (Outcome.FAILED, None)
    assert over.message == "99 Refund amount exceeds the transaction amount"
    rest = gateway.refund(paid, amount=50_000, refund_id="RPART3", reason="withdrawn")
    assert rest.outcome == Outcome.SUCCEEDED
    assert fake.refunded(paid.reference) == 15_000_000


def test_refunds_that_vnpay_refuses(gateway: VnpayGateway, fake: FakeVnpay) -> None:
    declined = _order()
    _checkout(gateway, fake, declined, "decline")
    result = gateway.refund(declined, amount=150_000, refund_id="RDECL1", reason="duplicate")
    assert (result.outcome, result.message) == (Outcome.FAILED, "95 Transaction is not successful")
    unknown = gateway.refund(_order(), amount=150_000, refund_id="RUNKN1", reason="duplicate")
    assert (unknown.outcome, unknown.message) == (Outcome.FAILED, "91 Transaction not found")
    assert not [r for r in fake.refunds if r.request_id in ("RDECL1", "RUNKN1")]


def test_a_repeated_refund_is_pending_not_paid_twice(gateway: VnpayGateway, fake: FakeVnpay) -> None:
    paid = _paid(gateway, fake)
    assert gateway.refund(paid, amount=150_000, refund_id="RAGAIN1", reason="withdrawn").outcome == Outcome.SUCCEEDED
    again = gateway.refund(paid, amount=150_000, refund_id="RAGAIN1", reason="withdrawn")
    assert (again.outcome, again.message) == (Outcome.PENDING, "94 Duplicate request")
    assert fake.refunded(paid.reference) == 15_000_000


def test_refund_transport_errors(gateway: VnpayGateway, impatient: VnpayGateway, fake: FakeVnpay) -> None:
    paid = _paid(gateway, fake)
    fake.fail_next("refund")
    with pytest.raises(GatewayError, match="HTTP 500"):
        gateway.refund(paid, amount=40_000, refund_id="RERR1", reason="withdrawn")
    assert fake.refunded(paid.reference) == 0
    assert gateway.refund(paid, amount=40_000, refund_id="RERR1", reason="withdrawn").outcome == Outcome.SUCCEEDED
    # VNPay makes the refund after we stopped waiting: asking again does not refund twice
    fake.delay_next("refund", 0.8)
    with pytest.raises(GatewayError, match="timed out"):
        impatient.refund(paid, amount=40_000, refund_id="RSLOW1", reason="withdrawn")
    deadline = time.monotonic() + 5
    while fake.refunded(paid.reference) < 8_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.refunded(paid.reference) == 8_000_000
    assert gateway.refund(paid, amount=40_000, refund_id="RSLOW1", reason="withdrawn").outcome == Outcome.PENDING
    assert fake.refunded(paid.reference) == 8_000_000
    wrong_secret = _gateway(fake, hash_secret="another secret")
    with pytest.raises(GatewayError, match="refused"):
        wrong_secret.refund(paid, amount=1_000, refund_id="RSIG1", reason="withdrawn")
    wrong_secret.close()


def test_refund_request_ids() -> None:
    assert refund_request_id("01J9ZK3Q8R") == "01J9ZK3Q8R"
    long_id = refund_request_id("refund-" + "x" * 40)
    assert len(long_id) == 32 and long_id.isalnum() and long_id == refund_request_id("refund-" + "x" * 40)
    assert refund_request_id("a-b") != refund_request_id("a_b")
