"""Typed dependency on the payment gateways the app was configured with (built from settings at start)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from payments.gateways.base import PaymentGateway


def app_gateways(app: Any) -> Mapping[str, PaymentGateway]:
    """The configured gateways by id, in the order the settings list them."""
    gateways: Mapping[str, PaymentGateway] = app.state.gateways
    return gateways


async def get_gateways(conn: HTTPConnection) -> Mapping[str, PaymentGateway]:
    return app_gateways(conn.app)


GatewaysDep = Annotated[Mapping[str, PaymentGateway], Depends(get_gateways)]
