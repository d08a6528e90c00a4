"""The pull plugin: the operator's own system uses the portal's API (/api/v1/postal, docs/POSTAL_API.md).

It lists the open orders of its provinces, claims them (its tracking number, or one the portal issues) and
posts tracking events with proof of delivery. The portal sends it nothing: every method here is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from postal.operators.base import Mode, OperatorRefused, OperatorReport, OrderData, SubmittedOrder, register


class PullOptions(BaseModel):
    """No options: the operator's API clients are made with `portal clients create --scope postal`."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@register("pull")
class PullOperator:
    """An operator that fetches its orders from the portal's API and reports tracking to it."""

    id: ClassVar[str]
    options_model: ClassVar[type[BaseModel]] = PullOptions
    label: ClassVar[Mapping[str, str]] = {
        "vi": "Đơn vị bưu chính lấy đơn qua API của cổng",
        "en": "Operator fetching orders through the portal's API",
    }
    mode: ClassVar[Mode] = "pull"

    def __init__(self, options: PullOptions) -> None:
        self.options = options

    def check_config(self) -> None:
        return None

    def submit_order(self, order: OrderData) -> SubmittedOrder:
        raise OperatorRefused(f"order {order.number}: a pull operator claims its orders through /api/v1/postal")

    def fetch_tracking(self, order: OrderData) -> list[OperatorReport]:
        return []  # the operator posts its events to the portal

    def cancel_order(self, order: OrderData, *, reason: str) -> None:
        return None  # the operator sees the cancelled status through the API

    def close(self) -> None:
        return None
