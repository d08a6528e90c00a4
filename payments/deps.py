"""Typed dependency on the payment gateways the app was configured with (built from settings at start)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from payments.gateways.base import PaymentGateway
from payments.setup import INTERNAL


def app_gateways(app: Any) -> Mapping[str, PaymentGateway]:
    """The gateways offered to payers by id, in the order the settings list them (the internal ones, such as
    cash on delivery, are the worker's and the postal events' only)."""
    gateways: Mapping[str, PaymentGateway] = app.state.gateways
    return {gateway_id: gateway for gateway_id, gateway in gateways.items() if gateway_id not in INTERNAL}


async def get_gateways(conn: HTTPConnection) -> Mapping[str, PaymentGateway]:
    return app_gateways(conn.app)


GatewaysDep = Annotated[Mapping[str, PaymentGateway], Depends(get_gateways)]
