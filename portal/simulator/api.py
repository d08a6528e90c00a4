"""The partner API as a back-office sees it: a client-credentials token and `/api/v1/backoffice/…` over httpx."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from httpx import Response

PREFIX = "/api/v1/backoffice"
TOKEN_MARGIN_SECONDS = 30  # ask for a new token this long before the current one expires
WRITE_ATTEMPTS = 3  # a write whose answer was lost (connection reset, timeout) is sent again, as it was


class ApiError(Exception):
    """The portal refused a request: the status and the problem details it answered with."""

    def __init__(self, method: str, path: str, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        detail = problem.get("detail") or problem.get("title") or problem.get("error") or ""
        super().__init__(f"{method} {path}: {status} {detail}".rstrip())


class Moved(ApiError):
    """409: the dossier is not in a state that allows this (someone else moved it, or it already happened)."""


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class ChangePage:
    items: list[dict[str, Any]]
    next_cursor: str | None


class TokenClient:
    """A client of the portal's client-credentials APIs. `http` is any httpx.Client (a TestClient in tests) whose
    base URL is the portal's; tokens (of the subclass's `SCOPE`) are fetched when needed and again when refused or
    about to expire."""

    SCOPE = ""

    def __init__(self, http: httpx.Client, credentials: Credentials) -> None:
        self.http = http
        self.credentials = credentials
        self._token: str | None = None
        self._expires_at = 0.0

    # -- token ------------------------------------------------------------------------------------------

    def token(self, *, renew: bool = False) -> str:
        if renew or self._token is None or time.monotonic() > self._expires_at - TOKEN_MARGIN_SECONDS:
            r = self.http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": self.SCOPE},
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

    def _write(self, method: str, path: str, **kwargs: Any) -> Response:
        """A write sent again, unchanged (same idempotency key, same content), when its answer is lost (connection
        reset, timeout): the portal answers a replay as it answered the first time instead of doing it twice."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                r = self._request(method, path, **kwargs)
                break
            except httpx.TransportError:
                if attempt == WRITE_ATTEMPTS:
                    raise
                time.sleep(0.5 * attempt)
        return r


class BackOfficeApi(TokenClient):
    """One agency's client of the portal: scope `backoffice`."""

    SCOPE = "backoffice"

    # -- reading ----------------------------------------------------------------------------------------

    def changes(self, cursor: str | None, *, limit: int = 100) -> ChangePage:
        """One page of the change feed after `cursor` (from the beginning without one)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = self._request("GET", f"{PREFIX}/changes", params=params).json()
        return ChangePage(items=list(body.get("items", [])), next_cursor=body.get("next_cursor"))

    def dossier(self, code: str) -> dict[str, Any]:
        return dict(self._request("GET", f"{PREFIX}/dossiers/{code}").json())

    # -- transitions ------------------------------------------------------------------------------------

    def _post(self, code: str, action: str, **kwargs: Any) -> dict[str, Any]:
        # One key per intended transition: when the answer is lost, the same request is sent again with this key.
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        r = self._write("POST", f"{PREFIX}/dossiers/{code}/{action}", headers=headers, **kwargs)
        return dict(r.json()) if r.content and r.headers.get("content-type", "").endswith("json") else {}

    def receive(self, code: str, *, officer: str) -> dict[str, Any]:
        return self._post(code, "receive", json={"officer": officer})

    def start_processing(self, code: str) -> dict[str, Any]:
        return self._post(code, "start-processing", json={})

    def set_sub_status(self, code: str, *, sub_code: str, text_vi: str, text_en: str) -> dict[str, Any]:
        return self._post(code, "sub-status", json={"code": sub_code, "text_vi": text_vi, "text_en": text_en})

    def request_supplement(self, code: str, *, items: list[dict[str, str]], message: str) -> dict[str, Any]:
        return self._post(code, "request-supplement", json={"items": items, "message": message})

    def upload_result(self, code: str, files: list[tuple[str, bytes]]) -> dict[str, Any]:
        parts = [("files", (name, data, "application/pdf")) for name, data in files]
        return self._post(code, "result", files=parts)

    def apologise(self, code: str, *, reason: str, new_date: str) -> dict[str, Any]:
        return self._post(code, "apologise", json={"reason": reason, "new_date": new_date})

    def complete(self, code: str, *, handover: str) -> dict[str, Any]:
        return self._post(code, "complete", json={"handover": handover})


def _problem(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {"detail": r.text[:200]}
    return body if isinstance(body, dict) else {"detail": str(body)[:200]}


def working_credentials(
    client: type[TokenClient], http: httpx.Client, credentials: Callable[..., Credentials]
) -> Credentials:
    """`credentials()` (a stored development client), or `credentials(renew=True)` (a new one) when the portal
    refuses the stored one a token (a reset database)."""
    found = credentials()
    try:
        client(http, found).token()
    except ApiError as exc:
        if exc.status not in (400, 401):
            raise
        found = credentials(renew=True)
    return found
