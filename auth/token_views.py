"""`POST /oauth/token`: partner clients exchange their credentials for a short-lived access token.

OAuth 2.0 client credentials (RFC 6749 §4.4) through Authlib's `ClientCredentialsGrant`, with the client
authenticated by HTTP Basic or by `client_id`/`client_secret` in the form. Every issuance and every
refusal is written to the audit trail in the request's own transaction: the handler *returns* the
OAuth error response (it never raises), so the transaction commits with the audit entry. A request over
the per-IP rate limit is answered 429 without an audit entry (counting it is the limiter's job, and
writing a row per refused request would hand a flood the database).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from auth.client_service import issue_access_token, verify_secret
from auth.clients import SCOPES, ApiClient
from auth.oauth_server import AuthorizationServer, BadOAuthRequest, StarletteOAuth2Request, read_oauth_request
from portal.kernel.audit import client_ip, record
from portal.kernel.db import SessionDep
from portal.kernel.deps import LimiterDep, SettingsDep
from portal.kernel.ratelimit import Limiter, RateLimited, check
from portal.kernel.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["partner: token"])
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class Attempt:
    """What one token request claimed and how it ended, for the audit trail."""

    claimed_client_id: str | None = None
    reason: str | None = None  # why it was refused, when we know better than the OAuth error code
    error: str | None = None  # the OAuth error code sent back
    client_id: str | None = None  # set once the client authenticated
    jti: str | None = None
    scope: str | None = None


class PartnerClient(ClientMixin):
    """An `ApiClient` as Authlib's `ClientMixin` contract sees it: a confidential client-credentials client."""

    def __init__(self, row: ApiClient, attempt: Attempt) -> None:
        self.row = row
        self._attempt = attempt

    def get_client_id(self) -> str:
        return self.row.id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The client's own scope when it asks for it or for nothing; otherwise nothing ("")."""
        if not scope:
            return self.row.scope
        return self.row.scope if set(scope_to_list(scope)) == {self.row.scope} else ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        ok = verify_secret(self.row, client_secret)
        if not ok:
            self._attempt.reason = "wrong_secret"
        return ok

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class PartnerCredentialsGrant(ClientCredentialsGrant):
    """Client credentials where the token's scope is exactly the client's scope."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        requested = self.request.payload.scope
        if requested and not set(scope_to_list(requested)) <= set(SCOPES):
            self.server.attempt.reason = "unknown_scope"
            raise InvalidScopeError()
        allowed = self.client.get_allowed_scope(requested)
        if not allowed:
            self.server.attempt.reason = "scope_not_allowed"
            raise InvalidScopeError(description="The requested scope is not the scope of this client.")
        self.request.scope = allowed

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class TokenServer(AuthorizationServer):
    """An authorization server for one token request (cheap to build): it reads clients from the request's session."""

    def __init__(self, session: Session, settings: Settings, attempt: Attempt) -> None:
        super().__init__(query_client=self._find_client, save_token=self._saved, scopes_supported=list(SCOPES))
        self.session, self.settings, self.attempt = session, settings, attempt
        self.register_grant(PartnerCredentialsGrant)
        self.register_token_generator("default", self._generate)

    def _find_client(self, client_id: str) -> PartnerClient | None:
        row = self.session.get(ApiClient, client_id[:64])
        if row is None:
            self.attempt.reason = "unknown_client"
            return None
        if row.revoked_at is not None:
            self.attempt.reason = "revoked"
            return None  # answered exactly like an unknown client
        return PartnerClient(row, self.attempt)

    def _generate(self, *, client: PartnerClient, scope: str | None = None, **_: Any) -> dict[str, Any]:
        issued = issue_access_token(client.row, self.settings)
        self.attempt.client_id, self.attempt.jti, self.attempt.scope = client.row.id, issued.jti, issued.scope
        return {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }

    def _saved(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Access tokens are self-contained JWTs: nothing is stored but the audit entry."""

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        self.attempt.error = error.error
        response: Response = super().handle_error_response(request, error)
        return response


def _claimed_client_id(oauth_request: StarletteOAuth2Request) -> str | None:
    basic_id, _ = extract_basic_authorization(oauth_request.headers)
    claimed = basic_id or oauth_request.form.get("client_id")
    return claimed[:64] if claimed else None


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers={**NO_STORE, **(headers or {})}
    )


def _exchange(
    request: Request,
    session: Session,
    settings: Settings,
    limiter: Limiter,
    oauth_request: StarletteOAuth2Request | None,
    bad_request: str | None,
) -> Response:
    try:
        check(limiter, "token:ip", client_ip(request))
    except RateLimited as exc:
        log.warning("token requests from %s over the rate limit", client_ip(request) or "?")
        return _oauth_error(
            429,
            "rate_limited",
            f"Too many token requests; retry after {exc.retry_after} seconds.",
            {"Retry-After": str(exc.retry_after)},
        )
    if oauth_request is None:
        record(session, "partner.token", request=request, outcome="refused", reason="bad_request", error=bad_request)
        return _oauth_error(400, "invalid_request", "The request body must be a small form (x-www-form-urlencoded).")
    attempt = Attempt(claimed_client_id=_claimed_client_id(oauth_request))
    server = TokenServer(session, settings, attempt)
    response: Response = server.create_token_response(oauth_request)
    for name, value in NO_STORE.items():
        response.headers[name] = value
    if response.status_code == 200 and attempt.client_id:
        record(
            session, "partner.token", request=request, client_id=attempt.client_id, scope=attempt.scope, jti=attempt.jti
        )
    else:
        record(
            session,
            "partner.token",
            request=request,
            outcome="refused",
            client_id=attempt.claimed_client_id,
            reason=attempt.reason or attempt.error or "refused",
            error=attempt.error,
        )
    return response


TOKEN_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "scope": {"type": "string", "enum": list(SCOPES), "description": "Defaults to the client's scope."},
                    "client_id": {"type": "string", "description": "With client_secret_post only."},
                    "client_secret": {"type": "string", "description": "With client_secret_post only."},
                },
            }
        }
    },
}
TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An access token (a JWT) to send as `Authorization: Bearer …`.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "access_token": {"type": "string"},
                        "token_type": {"type": "string", "enum": ["Bearer"]},
                        "expires_in": {"type": "integer"},
                        "scope": {"type": "string"},
                    },
                }
            }
        },
    },
    400: {"description": "invalid_request, unsupported_grant_type, invalid_scope or invalid_client (form auth)"},
    401: {"description": "invalid_client: unknown, revoked or wrong secret"},
    429: {"description": "Too many token requests from this address"},
}


@router.post(
    "/oauth/token",
    summary="Get a partner access token (OAuth 2.0 client credentials)",
    openapi_extra={"requestBody": TOKEN_REQUEST_BODY},
    responses=TOKEN_RESPONSES,
    response_class=JSONResponse,
)
async def token(request: Request, session: SessionDep, settings: SettingsDep, limiter: LimiterDep) -> Response:
    """Client credentials grant; client authentication by HTTP Basic or form fields."""
    oauth_request: StarletteOAuth2Request | None = None
    bad_request: str | None = None
    try:
        oauth_request = await read_oauth_request(request)
    except BadOAuthRequest as exc:
        bad_request = str(exc)
    except (ValueError, StarletteHTTPException) as exc:  # a multipart body with files, a malformed form
        bad_request = (getattr(exc, "detail", None) or str(exc))[:200] or "malformed body"
    # Session work (and a possibly remote limiter) on a thread: the event loop never waits on I/O.
    return await run_in_threadpool(_exchange, request, session, settings, limiter, oauth_request, bad_request)
