"""The operator API as a postal operator sees it: a client-credentials token (scope `postal`) and
`/api/v1/postal/…` over httpx."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from httpx import Response

from portal.simulator.api import TOKEN_MARGIN_SECONDS, ApiError, Credentials, Moved, _problem

PREFIX = "/api/v1/postal"
SEND_ATTEMPTS = 3  # an event whose answer was lost is sent again, as it was (same event id, same content)


@dataclass(frozen=True)
class OrderPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


class PostalApi:
    """One operator's client of the portal. `http` is any httpx.Client whose base URL is the portal's."""

    def __init__(self, http: httpx.Client, credentials: Credentials) -> None:
        self.http = http
        self.credentials = credentials
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self, *, renew: bool = False) -> str:
        if renew or self._token is None or time.monotonic() > self._expires_at - TOKEN_MARGIN_SECONDS:
            r = self.http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": "postal"},
                auth=(self.credentials.client_id, self.credentials.client_secret),
            )
            if r.status_code != 200:
                raise ApiError("POST", "/oauth/token", r.status_code, _problem(r))
            body = r.json()
            self._token = str(body["access_token"])
            self._expires_at = time.monotonic() + float(body.get("expires_in", 600))
        return self._token

    def _request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> Response:
        for renew in (False, True):  # a token refused (expired early, a restarted portal): once more with a new one
            auth = {"Authorization": f"Bearer {self.token(renew=renew)}"}
            r = self.http.request(method, path, headers={**(headers or {}), **auth}, **kwargs)
            if r.status_code != 401:
                break
        if r.status_code == 409:
            raise Moved(method, path, r.status_code, _problem(r))
        if r.status_code >= 400:
            raise ApiError(method, path, r.status_code, _problem(r))
        return r

    def _send(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A write sent again, unchanged, when its answer is lost (the portal answers a replay as the first)."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                r = self._request(method, path, **kwargs)
                break
            except httpx.TransportError:
                if attempt == SEND_ATTEMPTS:
                    raise
                time.sleep(0.5 * attempt)
        return _json(r)

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
