"""The Stripe gateway over real HTTP: PaymentIntents against localstripe (behind a front that adds Stripe's
idempotency), Checkout Sessions against a small protocol-accurate fake, and webhooks signed as Stripe signs them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from payments.gateways.base import (
    Acknowledgement,
    CallbackRefused,
    GatewayConfigError,
    GatewayError,
    InboundRequest,
    Outcome,
    PaymentOrder,
    registry,
)
from payments.gateways.stripe import StripeGateway, with_query
from tests.payments.fake_vnpay import ThreadedServer
from tests.payments.localstripe import (
    TEST_API_KEY,
    StripeFront,
    free_port,
    localstripe_url,  # noqa: F401  (a session fixture: localstripe itself)
)

# The stripe library posts its form body as httpx `data=` (a str), which httpx deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")

WEBHOOK_SECRET = "whsec_test_" + "k" * 32
RETURN_URL = "http://portal.test/payments/return/stripe"
AMOUNT = 150_000


def make_order(**changes: Any) -> PaymentOrder:
    now = datetime.now(UTC)
    reference = changes.pop("reference", "HS" + secrets.token_hex(5).upper())
    fields: dict[str, Any] = {
        "reference": reference,
        "amount": AMOUNT,
        "currency": "VND",
        "description": "Lệ phí cấp giấy phép xây dựng nhà ở — hồ sơ HS-0001",
        "created_at": now,
        "expires_at": now + timedelta(minutes=15),
        "idempotency_key": f"start-{reference}",
        **changes,
    }
    return PaymentOrder(**fields)


def make_gateway(api_base: str | None, **options: Any) -> StripeGateway:
    values = {"api_key": TEST_API_KEY, "webhook_secret": WEBHOOK_SECRET, "api_base": api_base, **options}
    gateway = registry.create("stripe", values)
    assert isinstance(gateway, StripeGateway)
    gateway.check_config()
    return gateway


def returning(**query: str) -> InboundRequest:
    return InboundRequest(method="GET", query=query, headers={})


# -- options


def test_registered_with_its_label_and_a_sound_default_config() -> None:
    gateway = make_gateway(None)
    assert gateway.id == "stripe" and registry.plugin_class("stripe") is StripeGateway
    assert gateway.label["vi"] == "Thẻ quốc tế (Stripe)"
    assert gateway.options.mode == "checkout" and gateway.options.timeout_seconds == 10


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        ({"api_key": "pk_test_123"}, "api_key"),
        ({"webhook_secret": "secret"}, "webhook_secret"),
        ({"api_base": "localhost:12111"}, "api_base"),
        ({"payment_method": "pm_card_visa"}, "payment_intent mode"),
        ({"api_key": "sk_live_123", "mode": "payment_intent", "payment_method": "pm_card_visa"}, "live key"),
    ],
)
def test_check_config_refuses_options_that_cannot_work(options: dict[str, str], complaint: str) -> None:
    values = {"api_key": TEST_API_KEY, "webhook_secret": WEBHOOK_SECRET, **options}
    with pytest.raises(GatewayConfigError, match=complaint):
        registry.create("stripe", values).check_config()


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ValueError, match="extra"):
        registry.create("stripe", {"api_key": TEST_API_KEY, "webhook_secret": WEBHOOK_SECRET, "secret": "x"})


def test_with_query_keeps_the_checkout_placeholder_and_an_existing_query() -> None:
    assert (
        with_query("https://a.vn/r", "session_id={CHECKOUT_SESSION_ID}")
        == "https://a.vn/r?session_id={CHECKOUT_SESSION_ID}"
    )
    assert with_query("https://a.vn/r?x=1", "cancelled=1") == "https://a.vn/r?x=1&cancelled=1"
    assert with_query("https://a.vn/r?", "cancelled=1") == "https://a.vn/r?cancelled=1"
    assert with_query("https://a.vn/r#top", "cancelled=1") == "https://a.vn/r?cancelled=1#top"


# -- PaymentIntents against localstripe


@pytest.fixture(scope="module")
def front(localstripe_url: str) -> Iterator[StripeFront]:  # noqa: F811
    front = StripeFront(localstripe_url)
    server = ThreadedServer(front.app).start()
    front.url = server.url
    yield front
    server.stop()


def test_a_repeated_start_sends_the_same_idempotency_key_and_gets_the_same_payment_intent(front: StripeFront) -> None:
    gateway = make_gateway(front.url, mode="payment_intent", payment_method="pm_card_visa")
    order = make_order()
    first = gateway.start_payment(order, return_url=RETURN_URL, notify_url="http://portal.test/notify")
    again = gateway.start_payment(order, return_url=RETURN_URL, notify_url="http://portal.test/notify")

    assert first.gateway_ref and first.gateway_ref.startswith("pi_")
    assert again == first
    assert first.redirect_url == f"{RETURN_URL}?payment_intent={first.gateway_ref}"
    creates = [c for c in front.calls_to("/v1/payment_intents") if c.params["metadata[reference]"] == order.reference]
    assert [c.idempotency_key for c in creates] == [order.idempotency_key] * 2
    assert [c.replayed for c in creates] == [False, True]
    assert creates[0].params == {
        "amount": str(AMOUNT),
        "currency": "vnd",
        "description": order.description,
        "metadata[reference]": order.reference,
        "payment_method": "pm_card_visa",
    }
    confirms = front.calls_to(f"/v1/payment_intents/{first.gateway_ref}/confirm")
    assert [c.idempotency_key for c in confirms] == [f"{order.idempotency_key}-confirm"] * 2
    assert confirms[0].params == {"return_url": RETURN_URL}


def test_a_confirmed_payment_intent_is_reported_succeeded_by_query_and_return(front: StripeFront) -> None:
    gateway = make_gateway(front.url, mode="payment_intent", payment_method="pm_card_visa")
    order = make_order()
    start = gateway.start_payment(order, return_url=RETURN_URL, notify_url="")

    status = gateway.query_status(make_order(reference=order.reference, gateway_ref=start.gateway_ref))
    assert (status.reference, status.outcome, status.amount, status.currency) == (
        order.reference,
        Outcome.SUCCEEDED,
        AMOUNT,
        "VND",
    )
    assert status.gateway_ref == start.gateway_ref and status.event_id is None
    assert "client_secret" not in json.dumps(status.raw)

    back = gateway.handle_return(returning(payment_intent=start.gateway_ref or "", redirect_status="succeeded"))
    assert (back.reference, back.outcome, back.amount) == (order.reference, Outcome.SUCCEEDED, AMOUNT)


def test_a_declined_card_sends_the_payer_back_and_query_reports_failed(front: StripeFront) -> None:
    gateway = make_gateway(front.url, mode="payment_intent", payment_method="pm_card_chargeCustomerFail")
    order = make_order()
    start = gateway.start_payment(order, return_url=RETURN_URL, notify_url="")

    assert start.gateway_ref and start.redirect_url == f"{RETURN_URL}?payment_intent={start.gateway_ref}"
    status = gateway.query_status(make_order(reference=order.reference, gateway_ref=start.gateway_ref))
    assert (status.outcome, status.amount, status.currency) == (Outcome.FAILED, AMOUNT, "VND")
    assert "card_declined" in status.message
    assert gateway.handle_return(returning(payment_intent=start.gateway_ref)).outcome == Outcome.FAILED


def test_a_payment_intent_waiting_for_a_method_is_pending_then_cancelled(front: StripeFront) -> None:
    gateway = make_gateway(front.url, mode="payment_intent")
    order = make_order()
    start = gateway.start_payment(order, return_url=RETURN_URL + "?lang=en", notify_url="")
    assert start.redirect_url == f"{RETURN_URL}?lang=en&payment_intent={start.gateway_ref}"
    stored = make_order(reference=order.reference, gateway_ref=start.gateway_ref)
    assert gateway.query_status(stored).outcome == Outcome.PENDING

    cancel = httpx.post(f"{front.url}/v1/payment_intents/{start.gateway_ref}/cancel", auth=(TEST_API_KEY, ""))
    assert cancel.json()["status"] == "canceled"
    cancelled = gateway.query_status(stored)
    assert (cancelled.outcome, cancelled.amount) == (Outcome.CANCELLED, AMOUNT)


def test_query_without_a_gateway_ref_is_pending(front: StripeFront) -> None:
    order = make_order()
    status = make_gateway(front.url, mode="payment_intent").query_status(order)
    assert (status.reference, status.outcome, status.gateway_ref) == (order.reference, Outcome.PENDING, None)


def test_refund_of_a_succeeded_payment_intent_is_idempotent_on_the_refund_id(front: StripeFront) -> None:
    gateway = make_gateway(front.url, mode="payment_intent", payment_method="pm_card_visa")
    order = make_order()
    paid = make_order(
        reference=order.reference,
        gateway_ref=gateway.start_payment(order, return_url=RETURN_URL, notify_url="").gateway_ref,
    )
    refund_id = f"RF-{order.reference}"
    refund = gateway.refund(paid, amount=50_000, refund_id=refund_id, reason="nộp thừa")
    again = gateway.refund(paid, amount=50_000, refund_id=refund_id, reason="nộp thừa")

    assert refund.outcome == Outcome.SUCCEEDED and refund.gateway_ref and refund.gateway_ref.startswith("re_")
    assert again.gateway_ref == refund.gateway_ref
    sent = [c for c in front.calls_to("/v1/refunds") if c.idempotency_key == refund_id]
    assert len(sent) == 2
    assert sent[0].params == {
        "payment_intent": paid.gateway_ref,
        "amount": "50000",
        "metadata[refund_id]": refund_id,
        "metadata[reference]": order.reference,
        "metadata[reason]": "nộp thừa",
    }


def test_refund_of_a_declined_payment_fails(front: StripeFront) -> None:
    gateway = make_gateway(front.url, mode="payment_intent", payment_method="pm_card_chargeCustomerFail")
    order = make_order()
    start = gateway.start_payment(order, return_url=RETURN_URL, notify_url="")
    declined = make_order(reference=order.reference, gateway_ref=start.gateway_ref)
    refund = gateway.refund(declined, amount=AMOUNT, refund_id=f"RF-{order.reference}", reason="")
    assert refund.outcome == Outcome.FAILED and "failed payment" in refund.message
    assert gateway.refund(make_order(), amount=AMOUNT, refund_id="RF-none", reason="").outcome == Outcome.FAILED


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({}, "without a session_id"),
        ({"cancelled": "1"}, "without a session_id"),
        ({"cancelled": "1", "reference": "../x"}, "without a session_id"),
        ({"payment_intent": "pi_doesnotexist"}, "does not know"),
        ({"payment_intent": "pi_../../v1/balance"}, "malformed"),
        ({"payment_intent": "cs_test_abc"}, "malformed"),
    ],
)
def test_a_return_stripe_does_not_vouch_for_is_refused(front: StripeFront, query: dict[str, str], reason: str) -> None:
    gateway = make_gateway(front.url, mode="payment_intent")
    with pytest.raises(CallbackRefused, match=reason):
        gateway.handle_return(returning(**query))


def test_the_cancel_return_only_names_the_payment(front: StripeFront) -> None:
    gateway = make_gateway(front.url, mode="payment_intent")
    result = gateway.handle_return(returning(cancelled="1", reference="DVCABC123"))
    # Not signed: it settles nothing, it only tells the service which payment to ask Stripe about.
    assert (result.reference, result.outcome, result.amount, result.event_id) == ("DVCABC123", Outcome.PENDING, 0, None)


def test_a_return_about_a_payment_intent_that_is_not_ours_is_refused(front: StripeFront) -> None:
    created = httpx.post(
        f"{front.url}/v1/payment_intents", data={"amount": "1000", "currency": "vnd"}, auth=(TEST_API_KEY, "")
    ).json()
    with pytest.raises(CallbackRefused, match=r"metadata\.reference"):
        make_gateway(front.url, mode="payment_intent").handle_return(returning(payment_intent=created["id"]))


def test_a_closed_port_is_a_gateway_error() -> None:
    gateway = make_gateway(f"http://127.0.0.1:{free_port()}", mode="payment_intent")
    started = time.monotonic()
    with pytest.raises(GatewayError, match="APIConnectionError"):
        gateway.start_payment(make_order(), return_url=RETURN_URL, notify_url="")
    with pytest.raises(GatewayError):
        gateway.query_status(make_order(gateway_ref="pi_123"))
    assert time.monotonic() - started < 10  # two retries each, with Stripe's backoff


def test_a_webhook_sent_and_signed_by_localstripe_is_believed(front: StripeFront, localstripe_url: str) -> None:  # noqa: F811
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return JSONResponse({"received": True})

    receiver = ThreadedServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])).start()
    try:
        config = {"url": f"{receiver.url}/hook", "secret": WEBHOOK_SECRET, "events": ["payment_intent.succeeded"]}
        httpx.post(f"{localstripe_url}/_config/webhooks/{uuid.uuid4().hex}", json=config).raise_for_status()
        gateway = make_gateway(front.url, mode="payment_intent", payment_method="pm_card_visa")
        order = make_order()
        intent_id = gateway.start_payment(order, return_url=RETURN_URL, notify_url="").gateway_ref
        deadline = time.monotonic() + 10
        mine: list[tuple[dict[str, str], bytes]] = []
        while not mine and time.monotonic() < deadline:
            time.sleep(0.05)
            mine = [(h, b) for h, b in received if json.loads(b)["data"]["object"]["id"] == intent_id]
        assert mine, "localstripe sent no payment_intent.succeeded"
    finally:
        receiver.stop()
    headers, body = mine[0]
    result = gateway.handle_notification(InboundRequest(method="POST", query={}, headers=headers, body=body))
    assert (result.reference, result.outcome, result.amount, result.currency) == (
        order.reference,
        Outcome.SUCCEEDED,
        AMOUNT,
        "VND",
    )
    assert result.gateway_ref == intent_id and result.event_id and result.event_id.startswith("evt_")


# -- webhooks built and signed here, exactly as Stripe does


def stripe_signature(payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def intent(status: str = "succeeded", **changes: Any) -> dict[str, Any]:
    return {
        "id": "pi_3QxTestA1b2C3d4",
        "object": "payment_intent",
        "amount": AMOUNT,
        "amount_received": AMOUNT if status == "succeeded" else 0,
        "currency": "vnd",
        "status": status,
        "client_secret": "pi_3QxTestA1b2C3d4_secret_s3cr3t",
        "last_payment_error": None,
        "metadata": {"reference": "HS0001A"},
        "livemode": False,
        **changes,
    }


def checkout_session(status: str = "complete", payment_status: str = "paid", **changes: Any) -> dict[str, Any]:
    return {
        "id": "cs_test_a1B2c3D4e5",
        "object": "checkout.session",
        "amount_total": AMOUNT,
        "currency": "vnd",
        "status": status,
        "payment_status": payment_status,
        "client_reference_id": "HS0001A",
        "metadata": {"reference": "HS0001A"},
        "payment_intent": "pi_3QxTestA1b2C3d4",
        "url": None,
        **changes,
    }


def event_body(event_type: str, obj: dict[str, Any], event_id: str = "evt_1QxTestEvent") -> bytes:
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


def notification(body: bytes, signature: str | None = None) -> InboundRequest:
    headers = {"content-type": "application/json", "stripe-signature": signature or stripe_signature(body)}
    return InboundRequest(method="POST", query={}, headers=headers, body=body)


declined = {"code": "card_declined", "decline_code": "insufficient_funds", "message": "Insufficient funds."}


@pytest.mark.parametrize(
    ("event_type", "obj", "outcome", "message"),
    [
        ("payment_intent.succeeded", intent(), Outcome.SUCCEEDED, "payment_intent.succeeded"),
        (
            "payment_intent.payment_failed",
            intent("requires_payment_method", last_payment_error=declined),
            Outcome.FAILED,
            "payment_intent.payment_failed: card_declined",
        ),
        ("payment_intent.canceled", intent("canceled"), Outcome.CANCELLED, "payment_intent.canceled"),
        ("checkout.session.completed", checkout_session(), Outcome.SUCCEEDED, "checkout.session.completed: paid"),
        (
            "checkout.session.completed",
            checkout_session(payment_status="unpaid"),
            Outcome.PENDING,
            "checkout.session.completed: unpaid",
        ),
        ("checkout.session.async_payment_succeeded", checkout_session(), Outcome.SUCCEEDED, None),
        ("checkout.session.async_payment_failed", checkout_session(payment_status="unpaid"), Outcome.FAILED, None),
        (
            "checkout.session.expired",
            checkout_session("expired", "unpaid", payment_intent=None),
            Outcome.CANCELLED,
            None,
        ),
    ],
)
def test_a_signed_event_is_read(event_type: str, obj: dict[str, Any], outcome: Outcome, message: str | None) -> None:
    result = make_gateway(None).handle_notification(notification(event_body(event_type, obj)))
    assert (result.reference, result.outcome, result.amount, result.currency) == ("HS0001A", outcome, AMOUNT, "VND")
    assert result.event_id == "evt_1QxTestEvent" and result.gateway_ref == obj["id"]
    if message:
        assert result.message == message
    assert "client_secret" not in json.dumps(result.raw) and result.raw["type"] == event_type


def test_a_session_event_without_metadata_falls_back_to_client_reference_id() -> None:
    body = event_body("checkout.session.completed", checkout_session(metadata={}))
    assert make_gateway(None).handle_notification(notification(body)).reference == "HS0001A"


@pytest.mark.parametrize(
    "body",
    [
        event_body("charge.refunded", {"id": "ch_1", "object": "charge", "amount": AMOUNT, "metadata": {}}),
        event_body("payment_intent.succeeded", intent(metadata={})),  # another integration's payment
    ],
)
def test_a_genuine_event_we_do_not_act_on_is_acknowledged_with_an_empty_reference(body: bytes) -> None:
    result = make_gateway(None).handle_notification(notification(body))
    assert (result.reference, result.outcome, result.event_id) == ("", Outcome.PENDING, "evt_1QxTestEvent")
    assert result.message.startswith("ignored")


BODY = event_body("payment_intent.succeeded", intent())
TAMPERED = BODY.replace(b'"amount": 150000', b'"amount": 1500')


# Built when the test runs: a signature made at collection time could be stale by then.
@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: notification(BODY, stripe_signature(BODY, secret="whsec_someone_else")), "bad Stripe-Signature"),
        (lambda: notification(BODY, stripe_signature(BODY, at=int(time.time()) - 301)), "bad Stripe-Signature"),
        (lambda: notification(TAMPERED, stripe_signature(BODY)), "bad Stripe-Signature"),
        (lambda: notification(BODY, "t=abc,v1=00"), "bad Stripe-Signature"),
        (lambda: notification(BODY, f"t={int(time.time())},v0=00"), "bad Stripe-Signature"),
        (lambda: InboundRequest(method="POST", query={}, headers={}, body=BODY), "no Stripe-Signature"),
        (lambda: notification(b"not json"), "malformed"),
        (lambda: notification(b"\xff\xfe"), "malformed"),
        (lambda: notification(b'{"id": "evt_1", "type": "payment_intent.succeeded"}'), "data.object"),
    ],
    ids=["wrong-secret", "stale", "tampered", "garbled", "no-v1", "unsigned", "not-json", "not-utf8", "no-object"],
)
def test_a_webhook_that_is_not_genuine_is_refused(build: Callable[[], InboundRequest], reason: str) -> None:
    with pytest.raises(CallbackRefused, match=reason):
        make_gateway(None).handle_notification(build())


def test_a_signature_just_inside_the_tolerance_is_accepted() -> None:
    request = notification(BODY, stripe_signature(BODY, at=int(time.time()) - 290))
    assert make_gateway(None).handle_notification(request).outcome == Outcome.SUCCEEDED


@pytest.mark.parametrize(
    ("ack", "status"),
    [
        (Acknowledgement.ACCEPTED, 200),
        (Acknowledgement.ALREADY_DONE, 200),
        (Acknowledgement.UNKNOWN_ORDER, 200),
        (Acknowledgement.BAD_AMOUNT, 200),
        (Acknowledgement.BAD_SIGNATURE, 400),
        (Acknowledgement.ERROR, 500),
    ],
)
def test_notification_reply(ack: Acknowledgement, status: int) -> None:
    reply = make_gateway(None).notification_reply(ack)
    assert (reply.status_code, reply.media_type) == (status, "application/json")
    assert json.loads(reply.body) == {"received": status == 200}


# -- Checkout Sessions against a protocol-accurate fake (localstripe does not serve Checkout)


class FakeCheckout:
    """``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}`` and ``POST /v1/refunds`` as Stripe
    answers them: bearer key, form-encoded parameters, JSON objects and errors, Idempotency-Key replays."""

    def __init__(self) -> None:
        self.url = ""
        self.sessions: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str | None, dict[str, str]]] = []  # method, path, key, form
        self.saved: dict[str, tuple[bytes, JSONResponse]] = {}
        self.fail_status: int | None = None
        self.delay = 0.0
        self.app = Starlette(
            routes=[
                Route("/v1/checkout/sessions", self.create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{id}", self.retrieve_session, methods=["GET"]),
                Route("/v1/refunds", self.create_refund, methods=["POST"]),
            ]
        )

    def complete(self, session_id: str) -> None:
        paid = {"status": "complete", "payment_status": "paid", "payment_intent": "pi_" + uuid.uuid4().hex}
        self.sessions[session_id].update(paid)

    def expire(self, session_id: str) -> None:
        self.sessions[session_id].update(status="expired", url=None)

    @staticmethod
    def error(status: int, message: str, **fields: str) -> JSONResponse:
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return JSONResponse({"error": {"type": kind, "message": message, **fields}}, status_code=status)

    async def _read(self, request: Request) -> tuple[bytes, dict[str, str], JSONResponse | None]:
        body = await request.body()
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        key = request.headers.get("idempotency-key")
        self.requests.append((request.method, request.url.path, key, form))
        await asyncio.sleep(self.delay)
        if request.headers.get("authorization") != f"Bearer {TEST_API_KEY}":
            return body, form, self.error(401, "Invalid API Key provided")
        if self.fail_status:
            return body, form, self.error(self.fail_status, "An unknown error occurred")
        if key and key in self.saved:
            first_body, answer = self.saved[key]
            if first_body != body:
                return body, form, JSONResponse({"error": {"type": "idempotency_error"}}, status_code=400)
            return body, form, answer
        return body, form, None

    async def create_session(self, request: Request) -> Response:
        body, form, early = await self._read(request)
        if early is not None:
            return early
        item = "line_items[0][price_data]"
        required = ["mode", "success_url", f"{item}[currency]", f"{item}[unit_amount]", f"{item}[product_data][name]"]
        missing = [k for k in required if not form.get(k)]
        if missing:
            return self.error(400, f"Missing required param: {missing[0]}.", param=missing[0])
        expires_at = int(form.get("expires_at") or time.time() + 86400)
        if not time.time() + 1800 <= expires_at <= time.time() + 86400:
            return self.error(
                400, "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.", param="expires_at"
            )
        session_id = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"{self.url}/c/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "mode": form["mode"],
            "amount_total": int(form[f"{item}[unit_amount]"]) * int(form.get("line_items[0][quantity]", "1")),
            "currency": form[f"{item}[currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "metadata": {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
            "payment_intent": None,  # created when the payer pays
            "success_url": form["success_url"],
            "cancel_url": form.get("cancel_url"),
            "expires_at": expires_at,
            "locale": form.get("locale"),
            "livemode": False,
        }
        self.sessions[session_id] = session
        answer = JSONResponse(session)
        if request.headers.get("idempotency-key"):
            self.saved[request.headers["idempotency-key"]] = (body, answer)
        return answer

    async def retrieve_session(self, request: Request) -> Response:
        _, _, early = await self._read(request)
        if early is not None:
            return early
        session = self.sessions.get(request.path_params["id"])
        if session is None:
            return self.error(404, f"No such checkout.session: '{request.path_params['id']}'", code="resource_missing")
        return JSONResponse(session)

    async def create_refund(self, request: Request) -> Response:
        body, form, early = await self._read(request)
        if early is not None:
            return early
        refund_id = "re_" + secrets.token_hex(12)
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": int(form["amount"]),
            "currency": "vnd",
            "payment_intent": form["payment_intent"],
            "metadata": {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
            "status": "pending",
        }
        answer = JSONResponse(refund)
        self.saved[request.headers.get("idempotency-key") or refund_id] = (body, answer)
        return answer


@pytest.fixture
def checkout() -> Iterator[FakeCheckout]:
    fake = FakeCheckout()
    server = ThreadedServer(fake.app).start()
    fake.url = server.url
    yield fake
    server.stop()


def test_checkout_start_creates_one_session_with_the_right_fields(checkout: FakeCheckout) -> None:
    gateway = make_gateway(checkout.url)
    order = make_order(locale="en")
    start = gateway.start_payment(order, return_url=RETURN_URL, notify_url="http://portal.test/notify")
    again = gateway.start_payment(order, return_url=RETURN_URL, notify_url="http://portal.test/notify")

    assert again == start and len(checkout.sessions) == 1
    session = checkout.sessions[start.gateway_ref or ""]
    assert start.redirect_url == session["url"] and start.gateway_ref and start.gateway_ref.startswith("cs_")
    (_, path, key, form), _ = checkout.requests
    assert (path, key) == ("/v1/checkout/sessions", order.idempotency_key)
    expires_at = int(form.pop("expires_at"))
    assert form == {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "vnd",
        "line_items[0][price_data][unit_amount]": str(AMOUNT),
        "line_items[0][price_data][product_data][name]": order.description,
        "client_reference_id": order.reference,
        "metadata[reference]": order.reference,
        "payment_intent_data[description]": order.description,
        "payment_intent_data[metadata][reference]": order.reference,
        "success_url": RETURN_URL + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": RETURN_URL + f"?cancelled=1&reference={order.reference}",
        "locale": "en",
    }
    # The order's 15 minutes are shorter than Stripe's least (30): the session lives 31 minutes.
    assert abs(expires_at - (time.time() + 31 * 60)) < 60


def test_checkout_keeps_the_order_deadline_when_stripe_allows_it(checkout: FakeCheckout) -> None:
    deadline = datetime.now(UTC) + timedelta(hours=2)
    make_gateway(checkout.url).start_payment(
        make_order(expires_at=deadline), return_url=RETURN_URL + "?x=1", notify_url=""
    )
    form = checkout.requests[0][3]
    assert int(form["expires_at"]) == int(deadline.timestamp()) and form["locale"] == "vi"
    assert form["success_url"] == RETURN_URL + "?x=1&session_id={CHECKOUT_SESSION_ID}"


def test_checkout_return_and_query_follow_the_session(checkout: FakeCheckout) -> None:
    gateway = make_gateway(checkout.url)
    order = make_order()
    start = gateway.start_payment(order, return_url=RETURN_URL, notify_url="")
    session_id = start.gateway_ref or ""
    stored = make_order(reference=order.reference, gateway_ref=session_id)
    success_query = dict(parse_qsl(urlsplit(RETURN_URL + "?session_id=" + session_id).query))

    assert gateway.handle_return(returning(**success_query)).outcome == Outcome.PENDING
    assert gateway.query_status(stored).outcome == Outcome.PENDING
    checkout.complete(session_id)
    back = gateway.handle_return(returning(**success_query))
    assert (back.reference, back.outcome, back.amount, back.currency, back.gateway_ref) == (
        order.reference,
        Outcome.SUCCEEDED,
        AMOUNT,
        "VND",
        session_id,
    )
    assert gateway.query_status(stored).outcome == Outcome.SUCCEEDED


def test_an_expired_session_is_cancelled(checkout: FakeCheckout) -> None:
    gateway = make_gateway(checkout.url)
    order = make_order()
    session_id = gateway.start_payment(order, return_url=RETURN_URL, notify_url="").gateway_ref or ""
    checkout.expire(session_id)
    status = gateway.query_status(make_order(reference=order.reference, gateway_ref=session_id))
    assert (status.outcome, status.amount, status.currency) == (Outcome.CANCELLED, AMOUNT, "VND")


def test_a_return_naming_an_unknown_session_is_refused(checkout: FakeCheckout) -> None:
    with pytest.raises(CallbackRefused, match="does not know"):
        make_gateway(checkout.url).handle_return(returning(session_id="cs_test_forged"))


def test_refund_of_a_checkout_payment_goes_to_its_payment_intent(checkout: FakeCheckout) -> None:
    gateway = make_gateway(checkout.url)
    order = make_order()
    session_id = gateway.start_payment(order, return_url=RETURN_URL, notify_url="").gateway_ref or ""
    paid = make_order(reference=order.reference, gateway_ref=session_id)
    unpaid = gateway.refund(paid, amount=AMOUNT, refund_id="RF-early", reason="")
    assert unpaid.outcome == Outcome.FAILED and "no payment" in unpaid.message

    checkout.complete(session_id)
    refund = gateway.refund(paid, amount=AMOUNT, refund_id="RF-1", reason="hồ sơ bị từ chối")
    assert (refund.outcome, refund.message) == (Outcome.PENDING, "pending")
    method, path, key, form = checkout.requests[-1]
    assert (method, path, key) == ("POST", "/v1/refunds", "RF-1")
    assert form["payment_intent"] == checkout.sessions[session_id]["payment_intent"]
    assert (form["amount"], form["metadata[refund_id]"]) == (str(AMOUNT), "RF-1")


def test_a_5xx_is_retried_with_the_same_key_then_a_gateway_error(checkout: FakeCheckout) -> None:
    checkout.fail_status = 500
    order = make_order()
    with pytest.raises(GatewayError, match="500"):
        make_gateway(checkout.url).start_payment(order, return_url=RETURN_URL, notify_url="")
    assert [key for _, _, key, _ in checkout.requests] == [order.idempotency_key] * 3


def test_a_slow_stripe_is_a_gateway_error(checkout: FakeCheckout) -> None:
    checkout.delay = 1.0
    with pytest.raises(GatewayError, match="APIConnectionError"):
        make_gateway(checkout.url, timeout_seconds=0.2).start_payment(
            make_order(), return_url=RETURN_URL, notify_url=""
        )


def test_a_refused_key_is_a_gateway_error(checkout: FakeCheckout) -> None:
    gateway = make_gateway(checkout.url, api_key="sk_test_revoked")
    with pytest.raises(GatewayError, match="AuthenticationError"):
        gateway.start_payment(make_order(), return_url=RETURN_URL, notify_url="")
