"""Authlib's OAuth 2.0 / OpenID Connect server components, adapted to Starlette.

Authlib ships server integrations for Flask and Django only. This module gives its
`AuthorizationServer` what a framework integration must: a request object built from a Starlette
request (read once, asynchronously) and a Starlette response. Both the partner token endpoint
(`/oauth/token`, client credentials) and the development OpenID provider use it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import JsonPayload, JsonRequest, OAuth2Payload, OAuth2Request
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

MAX_FORM_BYTES = 64 * 1024


class FormPayload(OAuth2Payload):
    """Query and form parameters of one request, as Authlib's grants read them."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        # Like Flask's request.values: the first value of each name (Authlib rejects repeated ones itself).
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):
    """An OAuth2Request whose parameters were read before Authlib's synchronous code runs."""

    def __init__(
        self, method: str, uri: str, headers: Headers, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> None:
        # Authlib's constructor refuses plain-http URLs other than loopback. Transport security is the
        # deployment's job here (PORTAL_HTTPS, HSTS, a TLS proxy in front, where the ASGI scheme is http),
        # so the attributes are set without that check.
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self.payload = FormPayload([*query, *form])
        self._args = dict(query)
        self._form = dict(form)
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _JsonPayload(JsonPayload):
    def __init__(self, data: dict[str, Any]) -> None:
        self._json = data

    @property
    def data(self) -> dict[str, Any]:
        return self._json


class StarletteJsonRequest(JsonRequest):
    def __init__(self, method: str, uri: str, headers: Headers, data: dict[str, Any]) -> None:
        self.method, self.uri, self.headers = method, uri, headers
        self.user = None
        self.payload = _JsonPayload(data)


class BadOAuthRequest(ValueError):
    """The body could not be read as a form (too big or not form-encoded)."""


async def read_oauth_request(request: Request) -> StarletteOAuth2Request:
    """Read a request's query and (url-encoded) form into an object Authlib's grants accept."""
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
            raise BadOAuthRequest("request body too large")
        parsed = await request.form(max_files=0, max_fields=64)
        form = [(k, v) for k, v in parsed.multi_items() if isinstance(v, str)]
    return StarletteOAuth2Request(
        request.method, str(request.url), request.headers, list(request.query_params.multi_items()), form
    )


class AuthorizationServer(_AuthorizationServer):
    """Authlib's server for Starlette: pass it requests made by `read_oauth_request`."""

    def __init__(
        self,
        *,
        query_client: Callable[[str], Any],
        save_token: Callable[[dict[str, Any], OAuth2Request], None],
        scopes_supported: list[str] | None = None,
    ) -> None:
        super().__init__(scopes_supported=scopes_supported)
        self._query_client = query_client
        self._save_token = save_token

    def query_client(self, client_id: str) -> Any:
        return self._query_client(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self._save_token(token, request)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's signals (client authenticated, token revoked): nothing listens to them here."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("pass a request read by read_oauth_request()")

    def create_json_request(self, request: Any) -> JsonRequest:
        if isinstance(request, JsonRequest):
            return request
        if isinstance(request, StarletteOAuth2Request):
            return StarletteJsonRequest(request.method, request.uri, request.headers, dict(request.payload.data))
        raise TypeError("pass a request read by read_oauth_request()")

    def handle_response(self, status: int, body: Any, headers: Iterable[tuple[str, str]]) -> Response:
        header_map = dict(headers)
        if 300 <= status < 400 and "Location" in header_map:
            location = header_map.pop("Location")
            return RedirectResponse(location, status_code=status, headers=header_map)
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=header_map)
        if isinstance(body, str):
            media = header_map.pop("Content-Type", "application/json")
            return Response(body, status_code=status, headers=header_map, media_type=media)
        return Response(json.dumps(body), status_code=status, headers=header_map, media_type="application/json")
