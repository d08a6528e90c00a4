"""The operator API as a postal operator sees it: a client-credentials token (scope `postal`) and
`/api/v1/postal/…` over httpx."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from httpx import Response

from portal.simulator.api import TokenClient

PREFIX = "/api/v1/postal"


@dataclass(frozen=True)
class OrderPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


class PostalApi(TokenClient):
    """One operator's client of the portal: scope `postal`."""

    SCOPE = "postal"

    # -- reading ----------------------------------------------------------------------------------------

    def orders(
        self, cursor: str | None = None, *, limit: int = 100, filters: dict[str, str] | None = None
    ) -> OrderPage:
        """One page of this operator's orders after `cursor` (from the beginning without one)."""
        params: dict[str, str | int] = {"limit": limit, **(filters or {})}
        if cursor:
            params["cursor"] = cursor
        body = self._request("GET", f"{PREFIX}/orders", params=params).json()
        return OrderPage(items=list(body.get("items", [])), next_cursor=body.get("next_cursor"))

    def all_orders(self, filters: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every order the list answers, page after page."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.orders(cursor, filters=filters)
            found.extend(item for item in page.items if isinstance(item, dict))
            if not page.items or not page.next_cursor or page.next_cursor == cursor:
                return found
            cursor = page.next_cursor

    def order(self, number: str) -> dict[str, Any]:
        return _json(self._request("GET", f"{PREFIX}/orders/{number}"))

    def label(self, number: str) -> bytes:
        return self._request("GET", f"{PREFIX}/orders/{number}/label.pdf").content

    # -- writing ----------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _json(self._write(method, path, **kwargs))

    def claim(self, number: str, *, tracking_number: str | None = None) -> dict[str, Any]:
        # One key per claim: when the answer is lost, the claim sent again gets the first answer, not a 409.
        body = {"tracking_number": tracking_number} if tracking_number else {}
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        return self._send("POST", f"{PREFIX}/orders/{number}/claim", json=body, headers=headers)

    def event(self, number: str, event: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", f"{PREFIX}/orders/{number}/events", json=event)

    def delivery(
        self, number: str, fields: dict[str, str], proof: tuple[str, bytes, str], *, part: str = "proof"
    ) -> dict[str, Any]:
        return self._send("POST", f"{PREFIX}/orders/{number}/delivery", data=fields, files={part: proof})


def _json(r: Response) -> dict[str, Any]:
    if not r.content or not r.headers.get("content-type", "").split(";")[0].endswith("json"):
        return {}
    body = r.json()
    return body if isinstance(body, dict) else {}
