"""The development provider's endpoints under /dev-idp: discovery, JWKS, authorize, token, userinfo, logout.

Handlers are `async` and call Authlib directly: its work here is in memory and takes a millisecond or two
(one RSA signature), and keeping it off the thread pool means the portal's own relying party, calling
these endpoints from a handler running in that pool, can never wait on a thread it is holding itself.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from auth.devidp.provider import Authentication, DevIdentityProvider, get_provider
from auth.oauth_server import BadOAuthRequest, StarletteOAuth2Request, read_oauth_request
from portal.kernel.deps import SettingsDep
from portal.kernel.i18n import N_
from portal.kernel.web import render


async def require_enabled(settings: SettingsDep) -> None:
    """404 unless the settings allow the development provider (never in production)."""
    if not settings.dev_idp_enabled:
        raise HTTPException(status_code=404)


async def current_provider(request: Request) -> DevIdentityProvider:
    return get_provider(request.app)


ProviderDep = Annotated[DevIdentityProvider, Depends(current_provider)]

router = APIRouter(prefix="/dev-idp", dependencies=[Depends(require_enabled)], include_in_schema=False)


@router.get("/.well-known/openid-configuration")
async def discovery(provider: ProviderDep) -> JSONResponse:
    return JSONResponse(provider.metadata())


@router.get("/jwks")
async def jwks(provider: ProviderDep) -> JSONResponse:
    return JSONResponse(provider.jwks())


def _page_error(
    request: Request, *, title: str, message: str, status_code: int = 400, error: OAuth2Error | None = None
) -> Response:
    return render(
        request,
        "devidp/error.html",
        {
            "title": title,
            "message": message,
            "error_code": error.error if error else None,
            "error_description": error.get_error_description() if error else None,
        },
        status_code=status_code,
    )


def _authorization_error(
    request: Request, provider: DevIdentityProvider, oauth_request: Any, error: OAuth2Error
) -> Response:
    """Back to the client with the error when Authlib trusts its redirect_uri, else a page here."""
    if error.redirect_uri:
        response: Response = provider.server.handle_error_response(oauth_request, error)
        return response
    return _page_error(
        request,
        title=N_("The sign-in request is not valid"),
        message=N_("The development provider refused the request from the portal."),
        error=error,
    )


def _sign_in_page(
    request: Request,
    provider: DevIdentityProvider,
    *,
    request_id: str,
    selected_citizen: str | None,
    selected_acr: str | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    levels = provider.settings.oidc_acr_levels
    return render(
        request,
        "devidp/authorize.html",
        {
            "request_id": request_id,
            "citizens": provider.citizens,
            "acr_options": [(acr, levels[acr]) for acr in provider.acr_values],
            "selected_citizen": selected_citizen,
            "selected_acr": selected_acr,
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/authorize", name="devidp_authorize_page")
async def authorize_page(request: Request, provider: ProviderDep) -> Response:
    oauth_request = await read_oauth_request(request)
    try:
        provider.server.get_consent_grant(oauth_request)
    except OAuth2Error as error:
        return _authorization_error(request, provider, oauth_request, error)
    requested = (oauth_request.payload.data.get("acr_values") or "").split()
    selected_acr = next((acr for acr in requested if acr in provider.acr_values), provider.acr_values[0])
    request_id = provider.store.add_pending(list(request.query_params.multi_items()))
    return _sign_in_page(request, provider, request_id=request_id, selected_citizen=None, selected_acr=selected_acr)


@router.post("/authorize", name="devidp_authorize")
async def authorize(request: Request, provider: ProviderDep) -> Response:
    form = await request.form()  # already read (and its CSRF token checked) by the app-wide dependency

    def field(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    request_id = field("request_id")
    params = provider.store.pending(request_id) if request_id else None
    if params is None:
        return _page_error(
            request,
            title=N_("The sign-in request is not valid"),
            message=N_(
                "This sign-in request has expired or was already used. Go back to the portal and sign in again."
            ),
        )
    oauth_request = StarletteOAuth2Request(
        "GET", provider.issuer + "/authorize?" + urlencode(params), request.headers, params, []
    )
    try:
        grant = provider.server.get_consent_grant(oauth_request)
    except OAuth2Error as error:
        provider.store.drop_pending(request_id)
        return _authorization_error(request, provider, oauth_request, error)

    if field("action") == "cancel":
        provider.store.drop_pending(request_id)
        response: Response = provider.server.create_authorization_response(oauth_request, grant_user=None, grant=grant)
        return response

    citizen = provider.citizen(field("citizen"))
    acr = field("acr") if field("acr") in provider.acr_values else None
    errors = {}
    if citizen is None:
        errors["citizen"] = N_("Choose a demo citizen.")
    if acr is None:
        errors["acr"] = N_("Choose an assurance level.")
    if citizen is None or acr is None:
        return _sign_in_page(
            request,
            provider,
            request_id=request_id,
            selected_citizen=citizen.sub if citizen else None,
            selected_acr=acr,
            errors=errors,
            status_code=422,
        )
    if not provider.store.drop_pending(request_id):  # the same page submitted twice at once
        return _page_error(
            request,
            title=N_("The sign-in request is not valid"),
            message=N_(
                "This sign-in request has expired or was already used. Go back to the portal and sign in again."
            ),
        )
    signed_in = Authentication(citizen=citizen, acr=acr, auth_time=int(time.time()))
    response = provider.server.create_authorization_response(oauth_request, grant_user=signed_in, grant=grant)
    return response


@router.post("/token")
async def token(request: Request, provider: ProviderDep) -> Response:
    try:
        oauth_request = await read_oauth_request(request)
    except BadOAuthRequest:
        return JSONResponse({"error": "invalid_request", "error_description": "Request body too large."}, 400)
    response: Response = provider.server.create_token_response(oauth_request)
    return response


@router.api_route("/userinfo", methods=["GET", "POST"])
async def userinfo(request: Request, provider: ProviderDep) -> Response:
    try:
        oauth_request = await read_oauth_request(request)
    except BadOAuthRequest:
        return JSONResponse({"error": "invalid_request", "error_description": "Request body too large."}, 400)
    response: Response = provider.server.create_endpoint_response("userinfo", oauth_request)
    return response


@router.get("/logout")
async def logout(request: Request, provider: ProviderDep) -> Response:
    """RP-initiated logout: straight back to the portal with `state` when the id_token_hint proves the request."""
    oauth_request = await read_oauth_request(request)
    registered = provider.client.post_logout_redirect_uri
    try:
        end_session = provider.server.validate_endpoint_request("end_session", oauth_request)
    except (OAuth2Error, ValueError) as exc:
        # ValueError: Authlib refuses to build an error whose description (from the JOSE library) holds quotes.
        return _page_error(
            request,
            title=N_("The sign-out request is not valid"),
            message=N_(
                "The development provider could not check the sign-out request, so it did not send you back "
                "to the portal automatically."
            ),
            error=exc if isinstance(exc, OAuth2Error) else None,
        )
    response: Response | None = provider.server.create_endpoint_response("end_session", end_session)
    if response is not None:
        return response
    # Without a valid id_token_hint no automatic redirect (RP-Initiated Logout §3), but a link back is harmless.
    data = oauth_request.payload.data
    back = registered
    if data.get("post_logout_redirect_uri") == registered and data.get("state"):
        back = add_params_to_uri(registered, [("state", data["state"])])
    return render(request, "devidp/signed_out.html", {"return_to": back})
