"""Bearer-token access to /api/v1 for partner clients, and the JSON error shape of partner routes.

`require_partner("backoffice")` is a FastAPI dependency: it verifies the access token (signature, issuer,
audience, expiry with 30 s leeway), checks in a short read that the client still exists and is not
revoked (so revocation takes effect on the next request, not when the token expires), checks the scope,
and gives the route a frozen `Partner`.

Refusals are 401 (`WWW-Authenticate: Bearer …`) or 403 `insufficient_scope`, as RFC 9457 problem
details. A request with no credentials at all gets a bare `Bearer realm=…` challenge without an error
code (RFC 6750 §3.1). Each refusal is written to the audit trail in a short transaction of its own:
the request's transaction is abandoned when the dependency raises, and the check runs before the route
has written anything, so that second transaction never waits on the first.

Routers of partner APIs use `PartnerAPIRoute`, which renders these refusals, domain errors and
validation errors as English problem details with `Cache-Control: no-store`.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import OAuth2
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from auth.client_service import TOKEN_ALGORITHM, TOKEN_TYPE, access_token_key, token_audience, token_issuer
from auth.clients import SCOPES, ApiClient
from portal.kernel.audit import client_ip, record
from portal.kernel.db import commits_in_its_thread
from portal.kernel.deps import EngineDep, LimiterDep, SettingsDep
from portal.kernel.errors import DomainError
from portal.kernel.ratelimit import Limiter, RateLimited, check
from portal.kernel.settings import Settings
from portal.kernel.uow import unit_of_work

log = logging.getLogger(__name__)
_STATUSES = {s.value for s in HTTPStatus}
LEEWAY_SECONDS = 30
REALM = "partner-api"
# RFC 6750 §2.1 b64token
BEARER_RE = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*) *$", re.IGNORECASE)
SCOPE_DESCRIPTIONS = {
    "backoffice": "Back-office system of one agency: follow that agency's dossiers (change feed, the dossier whole, "
    "its files, receipt and results), drive their life (receive, process, request supplements, issue signed "
    "results, apologise, complete, register counter intakes), reject them, refund their fees, read the daily "
    "payment report.",
    "postal": "Postal operator: the pickup and delivery orders given to that operator — list and read them, claim "
    "them, report their tracking, deliver them with proof, print their labels; the operator's daily COD statement.",
}

partner_scheme = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token", scopes=SCOPE_DESCRIPTIONS)),
    scheme_name="partnerToken",
    description=(
        "OAuth 2.0 client credentials: POST /oauth/token with the client id and secret, then send the "
        "access token (a JWT, valid a few minutes) as `Authorization: Bearer <token>`."
    ),
    auto_error=False,
)


@dataclass(frozen=True)
class Partner:
    """The authenticated partner client of an API request."""

    client_id: str
    scope: str
    agency_code: str | None
    postal_operator: str | None
    name: str = ""  # the client's registered name (shown to citizens in "who accessed my dossier")


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem details response, never cached."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(
        jsonable_encoder(body),
        status_code=status,
        media_type="application/problem+json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


class PartnerAuthError(DomainError):
    """A refused bearer token: 401 with a `WWW-Authenticate` challenge, or 403 for a scope it lacks."""

    def __init__(self, status_code: int, error: str | None, description: str, *, scope: str | None = None) -> None:
        super().__init__(description, status_code=status_code)
        self.error = error
        self.description = description
        challenge = f'Bearer realm="{REALM}"'
        if error:
            challenge += f', error="{error}", error_description="{description}"'
        if scope:
            challenge += f', scope="{scope}"'
        self.headers = {"WWW-Authenticate": challenge}

    def response(self) -> JSONResponse:
        title = "Forbidden" if self.status_code == 403 else "Unauthorized"
        return problem_response(self.status_code, title, self.description, headers=self.headers, error=self.error)


def _format(msgid: str, params: Mapping[str, Any]) -> str:
    try:
        return msgid.format(**params)
    except (KeyError, IndexError, ValueError):
        return msgid


NUL = "\x00"
_NUL_MSG = "Text may not contain the NUL character (U+0000)."


def _nul_in(value: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """Where a NUL character is in a parsed JSON value (keys and strings, at any depth), or None."""
    if isinstance(value, str):
        return loc if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_in(key, (*loc, key)) or _nul_in(item, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, (*loc, index))
            if found is not None:
                return found
    return None


def _json_nul(text: str | bytes, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None  # not JSON: the route's own parsing refuses it, or takes it as text
    return _nul_in(parsed, loc)


async def nul_in_request(request: Request) -> tuple[str | int, ...] | None:
    """Where the request carries a NUL character: the path, a query parameter, a JSON body (at any depth), a
    form field (and the JSON it may hold) or an uploaded file's name. PostgreSQL cannot store NUL in text (nor
    compare with it), so such input must be refused before it reaches a query; no text needs it."""
    if NUL in request.scope.get("path", ""):
        return ("path",)
    for name, text in request.query_params.multi_items():
        if NUL in name or NUL in text:
            return ("query", name)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        # The body first: read, it is kept on the request, so a route that takes JSON (a form-encoded body sent
        # to it is refused there, after the token check) can still read it; the form is kept too.
        await request.body()
        form = await request.form()  # cached on the request: the route reads the same one (a broken one: 400)
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if NUL in (value.filename or ""):
                    return ("body", name, "filename")
            elif NUL in value:
                return ("body", name)
            else:
                found = _json_nul(value, ("body", name))
                if found is not None:
                    return found
        return None
    body = await request.body()
    if body and b"\x00" not in body and b"\\u0000" not in body.lower():
        return None
    return _json_nul(body, ("body",)) if body else None


_NOT_JSON = "The body must be JSON, sent with Content-Type: application/json."


def _invalid_detail(request: Request, errors: list[dict[str, Any]]) -> str:
    """The problem's detail of a 422: a JSON body sent without its media type (curl -d sends a form) says so,
    instead of pydantic's "Input should be a valid dictionary or object"."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    whole_body = any(e["loc"] == ["body"] and e["type"] in ("model_attributes_type", "dict_type") for e in errors)
    if whole_body and content_type != "application/json" and not content_type.startswith("multipart/"):
        return _NOT_JSON
    return "Some parameters are not valid."


class PartnerAPIRoute(APIRoute):
    """A route of a partner API: errors become English problem details (and never a page or a 500 for bad input).

    A sync endpoint commits its session in its own thread before its answer is serialized
    (`commits_in_its_thread`): JSON answers are validated on the endpoints' threads, and a request must
    not hold a database connection while it waits for one.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = commits_in_its_thread(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def partner_handler(request: Request) -> Response:
            try:
                nul_at = await nul_in_request(request)
                if nul_at is not None:
                    error = {"loc": list(nul_at), "msg": _NUL_MSG, "type": "nul_character"}
                    return problem_response(422, "Invalid request", _NUL_MSG, errors=[error])
                response = await handler(request)
            except PartnerAuthError as exc:
                return exc.response()
            except RateLimited as exc:
                limited = problem_response(exc.status_code, exc.title, _format(exc.msgid, exc.params))
                limited.headers["Retry-After"] = str(exc.retry_after)
                return limited
            except DomainError as exc:
                return problem_response(exc.status_code, exc.title, _format(exc.msgid, exc.params))
            except StarletteHTTPException as exc:  # a body FastAPI cannot parse (not JSON, a broken multipart)
                title = HTTPStatus(exc.status_code).phrase if exc.status_code in _STATUSES else "Request refused"
                return problem_response(exc.status_code, title, str(exc.detail), headers=exc.headers)
            except RequestValidationError as exc:
                errors = [
                    {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()
                ]
                return problem_response(422, "Invalid request", _invalid_detail(request, errors), errors=errors)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return partner_handler


def _audit_refusal(request: Request, engine: Engine, reason: str, client_id: str | None) -> None:
    try:
        with unit_of_work(engine, write=True) as session:
            record(
                session,
                "partner.api",
                request=request,
                outcome="refused",
                client_id=client_id[:64] if client_id else None,
                reason=reason,
                path=request.url.path[:200],
            )
    except SQLAlchemyError:
        # The refusal itself must not turn into a 500 because the audit write failed.
        log.exception("could not record a refused partner API request")


def _signed_claims(token: str, settings: Settings) -> dict[str, Any]:
    """The claims of a token signed with our key (not yet checked); raises JoseError otherwise."""
    decoded = jwt.decode(token, access_token_key(settings), algorithms=[TOKEN_ALGORITHM])
    if decoded.header.get("typ") != TOKEN_TYPE:
        raise JoseError("not a partner access token")
    return decoded.claims


def _check_claims(claims: dict[str, Any], settings: Settings) -> None:
    """Issuer, audience, expiry (30 s leeway) and the claims the API relies on; raises JoseError."""
    JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": token_issuer(settings)},
        aud={"essential": True, "value": token_audience(settings)},
        exp={"essential": True},
        sub={"essential": True},
        scope={"essential": True},
    ).validate(claims)
    if not isinstance(claims.get("scope"), str):
        raise JoseError("scope must be a string")


def _authenticate(
    request: Request,
    authorization: str | None,
    required_scope: str,
    *,
    settings: Settings,
    engine: Engine,
    limiter: Limiter,
) -> Partner:
    # Before anything is read or written (refusals are audited): a flood from one address stops here.
    check(limiter, "api:ip", client_ip(request))
    if not authorization:
        _audit_refusal(request, engine, "missing_token", None)
        raise PartnerAuthError(401, None, "An access token is required (Authorization: Bearer <token>).")
    match = BEARER_RE.match(authorization)
    if match is None:
        _audit_refusal(request, engine, "malformed_authorization", None)
        raise PartnerAuthError(401, "invalid_token", "The Authorization header must be: Bearer <access token>.")
    try:
        claims = _signed_claims(match.group(1), settings)
    except (JoseError, ValueError, TypeError):
        _audit_refusal(request, engine, "invalid_token", None)
        raise PartnerAuthError(401, "invalid_token", "The access token is not valid.") from None
    # The signature is ours, so the subject can be named in the audit trail from here on.
    sub = claims.get("sub")
    signed_sub = sub if isinstance(sub, str) else None
    try:
        _check_claims(claims, settings)
    except ExpiredTokenError:
        _audit_refusal(request, engine, "expired", signed_sub)
        raise PartnerAuthError(401, "invalid_token", "The access token has expired.") from None
    except (JoseError, ValueError, TypeError):
        _audit_refusal(request, engine, "invalid_claims", signed_sub)
        raise PartnerAuthError(401, "invalid_token", "The access token is not valid.") from None
    client_id = str(claims["sub"])
    with unit_of_work(engine) as session:
        client = session.get(ApiClient, client_id[:64])
        if client is not None:
            session.expunge(client)
    if client is None or client.revoked_at is not None:
        _audit_refusal(request, engine, "revoked" if client else "unknown_client", client_id)
        raise PartnerAuthError(401, "invalid_token", "The access token has been revoked.")
    granted = set(str(claims["scope"]).split())
    if required_scope not in granted or client.scope != required_scope:
        _audit_refusal(request, engine, "insufficient_scope", client_id)
        raise PartnerAuthError(
            403, "insufficient_scope", "The access token does not allow this request.", scope=required_scope
        )
    return Partner(
        client_id=client.id,
        scope=client.scope,
        agency_code=client.agency_code,
        postal_operator=client.postal_operator,
        name=client.name,
    )


def require_partner(scope: str) -> Callable[..., Partner]:
    """A dependency that admits only a valid, unrevoked partner token carrying `scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown partner scope {scope!r}")

    # The scheme is a default, not in `Annotated[...]`: with postponed annotations FastAPI could not see `scope`.
    def partner(
        request: Request,
        settings: SettingsDep,
        engine: EngineDep,
        limiter: LimiterDep,
        authorization: str | None = Security(partner_scheme, scopes=[scope]),
    ) -> Partner:
        # A plain function: FastAPI runs it on a worker thread, so the short database read blocks no one.
        return _authenticate(request, authorization, scope, settings=settings, engine=engine, limiter=limiter)

    partner.__name__ = f"require_partner_{scope}"
    return partner
