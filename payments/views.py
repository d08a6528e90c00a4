"""What gateways and payers' browsers call: the return URL, the notification URL, the sandbox bank's page.

Both URLs are built from the gateway id (``/payments/return/<id>``, ``/payments/notify/<id>``). The
notification URL is called by machines: it carries no cookie and no CSRF token (it is exempt), and
believes nothing that its gateway's signature does not cover.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from auth.deps import OptionalAccount
from payments import service
from payments.deps import GatewaysDep
from payments.gateways.base import (
    Acknowledgement,
    CallbackRefused,
    GatewayError,
    InboundRequest,
    PaymentGateway,
)
from payments.gateways.sandbox import CHOICES, SandboxGateway
from payments.models import PaymentStatus
from portal.kernel.db import WriteSessionDep
from portal.kernel.errors import Invalid, NotFound
from portal.kernel.i18n import N_
from portal.kernel.web import redirect, render

log = logging.getLogger("portal.payments")
router = APIRouter()


def gateway_of(gateways: Mapping[str, PaymentGateway], gateway_id: str) -> PaymentGateway:
    gateway = gateways.get(gateway_id)
    if gateway is None:
        raise NotFound(N_("This payment method is not offered."))
    return gateway


async def inbound(request: Request) -> InboundRequest:
    return InboundRequest(
        method=request.method,
        query=dict(request.query_params),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body() if request.method == "POST" else b"",
    )


@router.get("/payments/return/{gateway_id}", name="payment_return", include_in_schema=False)
async def payment_return(
    request: Request, gateway_id: str, session: WriteSessionDep, gateways: GatewaysDep, account: OptionalAccount
) -> Response:
    """The payer's browser back from the gateway: apply its signed result, then show the order.

    ``account`` is only read for the page header: the payer is signed in, and a refused or unanswered result
    is shown under the header they came from, not a signed-out one.
    """
    gateway = gateway_of(gateways, gateway_id)
    message = await inbound(request)

    def settle() -> Response:
        try:
            result = gateway.handle_return(message)
        except CallbackRefused as exc:
            service.refuse_callback(session, gateway_id=gateway_id, source="return", reason=exc.reason, request=request)
            return render(
                request,
                "error.html",
                {
                    "status": 400,
                    "msgid": N_("The payment result could not be verified. Nothing was changed."),
                    "params": {},
                },
                status_code=400,
            )
        except GatewayError:
            return _unavailable(request)
        applied = service.apply_result(
            session=session, gateway_id=gateway_id, result=result, source="return", request=request
        )
        payment = applied.payment
        if payment is None:
            return render(
                request,
                "error.html",
                {"status": 404, "msgid": N_("There is no such payment."), "params": {}},
                status_code=404,
            )
        if payment.status == PaymentStatus.PENDING:
            # No final word on the return (the bank did not answer, or the gateway signs nothing there):
            # ask the gateway now rather than leave the payer guessing.
            try:
                service.settle_by_query(session=session, gateway=gateway, payment=payment, source="query")
            except GatewayError as exc:
                log.info("query after return of %s failed: %s", payment.reference, exc)
        info = service.describe_order(session, payment)
        return redirect(f"{info.page}?payment={payment.reference}")

    return await run_in_threadpool(settle)


def _unavailable(request: Request) -> Response:
    return render(
        request,
        "error.html",
        {
            "status": 503,
            "msgid": N_("The payment service does not answer at the moment. Try again in a few minutes."),
            "params": {},
        },
        status_code=503,
    )


@router.api_route(
    "/payments/notify/{gateway_id}", methods=["GET", "POST"], name="payment_notify", include_in_schema=False
)
async def payment_notify(
    request: Request, gateway_id: str, session: WriteSessionDep, gateways: GatewaysDep
) -> Response:
    """A gateway's server-to-server notification (VNPay's IPN is a GET; others POST)."""
    gateway = gateway_of(gateways, gateway_id)
    message = await inbound(request)

    def take() -> Response:
        try:
            result = gateway.handle_notification(message)
        except CallbackRefused as exc:
            service.refuse_callback(
                session, gateway_id=gateway_id, source="notification", reason=exc.reason, request=request
            )
            ack = Acknowledgement.BAD_SIGNATURE
        else:
            try:
                with session.begin_nested():
                    ack = service.apply_result(
                        session=session, gateway_id=gateway_id, result=result, source="notification", request=request
                    ).ack
            except Exception:  # the gateway must hear "try again", in its own format, not a crash page
                log.exception("notification from %s could not be recorded", gateway_id)
                ack = Acknowledgement.ERROR
        reply = gateway.notification_reply(ack)
        return Response(reply.body, status_code=reply.status_code, media_type=reply.media_type)

    return await run_in_threadpool(take)


# -- the sandbox bank's page (served by the portal; only when the sandbox gateway is configured)


def _sandbox(gateways: Mapping[str, PaymentGateway]) -> SandboxGateway:
    gateway = gateways.get("sandbox")
    if not isinstance(gateway, SandboxGateway):
        raise NotFound(N_("This page does not exist."))
    return gateway


@router.get("/sandbox-bank/pay", name="sandbox_bank", include_in_schema=False)
def sandbox_bank_page(request: Request, gateways: GatewaysDep, account: OptionalAccount, order: str = "") -> Response:
    """The bank's page, under the portal's header: signed in as the citizen who is paying."""
    bank = _sandbox(gateways)
    try:
        details = bank.read_token(order[:4000])
    except (ValueError, KeyError):
        raise Invalid(
            N_("This payment order is not valid or has expired. Go back to the portal and start again.")
        ) from None
    txn = bank.ledger_entry(str(details["reference"]))
    return render(
        request,
        "payments/sandbox_bank.html",
        {"order": details, "token": order, "settled": txn and txn.status != "pending"},
    )


@router.post("/sandbox-bank/pay", name="sandbox_bank_choose", include_in_schema=False)
def sandbox_bank_choose(
    request: Request,
    gateways: GatewaysDep,
    account: OptionalAccount,
    order: Annotated[str, Form(max_length=4000)] = "",
    choice: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """The payer's button at the bank: record it in the bank's ledger, notify the portal, send the payer back."""
    bank = _sandbox(gateways)
    try:
        details = bank.read_token(order)
    except (ValueError, KeyError):
        raise Invalid(
            N_("This payment order is not valid or has expired. Go back to the portal and start again.")
        ) from None
    if choice not in CHOICES:
        raise Invalid(N_("Choose one of the buttons."))
    txn = bank.settle(details, choice)
    if txn.status == "pending":
        return render(
            request,
            "payments/sandbox_bank.html",
            {"order": details, "token": order, "no_answer": True, "back": bank.return_url(txn)},
        )
    plan = bank.notify_plan()
    if plan in ("before", "twice"):
        bank.send_notification(txn)
    background = None
    if plan in ("after", "twice"):

        def later() -> None:
            time.sleep(bank.options.after_delay_seconds)
            bank.send_notification(txn)

        background = BackgroundTask(later)
    return redirect(bank.return_url(txn), background=background)
