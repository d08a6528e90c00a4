"""Build the configured gateways once, at startup, from settings (PORTAL_PAYMENT_GATEWAYS and _OPTIONS)."""

from __future__ import annotations

import hashlib
import hmac
import importlib
from typing import Any

from payments.gateways.base import GatewayConfigError, PaymentGateway, registry
from portal.kernel.settings import Settings

# The built-in gateway modules; importing one registers its gateway.
BUILT_IN = {
    "sandbox": "payments.gateways.sandbox",
    "vnpay": "payments.gateways.vnpay",
    "stripe": "payments.gateways.stripe",
}
# Gateways the portal uses itself: always built, whatever PORTAL_PAYMENT_GATEWAYS says, and offered to no
# payer (`payments.deps` leaves them out). Cash on delivery is settled by the postal operator's report.
INTERNAL = {
    "cod": "payments.gateways.cod",
}


def _defaults(gateway_id: str, settings: Settings) -> dict[str, Any]:
    if gateway_id == "sandbox":
        secret = hmac.new(settings.secret_key.encode(), b"sandbox-bank", hashlib.sha256).hexdigest()
        return {"secret": secret, "ledger": settings.storage_dir.parent / "sandbox-bank.db"}
    return {}


def build_gateways(settings: Settings) -> dict[str, PaymentGateway]:
    """The configured gateways by id, in the configured order, then the internal ones; GatewayConfigError when
    one cannot work."""
    for module in (*BUILT_IN.values(), *INTERNAL.values()):  # every built-in is known (stored ids stay valid)
        importlib.import_module(module)
    gateways: dict[str, PaymentGateway] = {}
    for gateway_id in (*settings.payment_gateways, *INTERNAL):
        if gateway_id in INTERNAL and gateway_id in gateways:
            continue  # listed in the settings too: built once, still offered to no payer
        if gateway_id == "sandbox" and settings.environment == "production":
            raise GatewayConfigError(
                "the sandbox bank never runs in production: remove it from PORTAL_PAYMENT_GATEWAYS"
            )
        options = {**_defaults(gateway_id, settings), **settings.payment_options.get(gateway_id, {})}
        try:
            gateway = registry.create(gateway_id, options)
        except ValueError as exc:  # an unknown id, or options pydantic refuses
            raise GatewayConfigError(f"payment gateway {gateway_id!r}: {exc}") from exc
        bind = getattr(gateway, "bind", None)
        if callable(bind):
            bind(base_url=settings.base_url)
        gateway.check_config()
        gateways[gateway_id] = gateway
    return gateways
