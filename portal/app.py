"""The application factory: the composition root that wires every package."""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urlsplit

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

import portal.wiring  # noqa: F401  (every handler, subscriber, lookup and provider registers on import)
from auth import oidc_views, token_views
from auth import views as auth_views
from auth.assurance import StepUpRequired, step_up_response
from auth.oidc import make_client
from payments import views as payment_views
from payments.setup import build_gateways
from portal import pages
from portal.api import stats as api_stats
from portal.api import v1 as api_v1
from portal.api import v1_payments as api_v1_payments
from portal.businesses import views as businesses_views
from portal.cache import PageCacheMiddleware
from portal.catalog import views as catalog_views
from portal.catalog.snapshot import CatalogCache
from portal.documents import views as documents_views
from portal.dossiers import (
    delivery_views,
    kiosk_views,
    parcel_views,
    sign_views,
    store_views,
    visit_views,
)
from portal.dossiers import payment_views as dossier_payment_views
from portal.dossiers import views as dossier_views
from portal.feedback import views as feedback_views
from portal.kernel.db import dispose_engine, make_engine
from portal.kernel.errors import DomainError, Forbidden, SignInRequired
from portal.kernel.i18n import N_
from portal.kernel.outbox import InProcessWorker, WorkerContext
from portal.kernel.ratelimit import RateLimited, make_limiter
from portal.kernel.settings import Settings, get_settings
from portal.kernel.storage import LocalStorage
from portal.kernel.web import STATIC_DIR, is_htmx, redirect, render
from portal.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from portal.national.openapi import document_national_report
from portal.notifications import callbacks as notification_callbacks
from portal.notifications import preferences_views as notification_preferences_views
from portal.notifications import views as notifications_views
from portal.simulator.embedded import start_embedded
from portal.staff import auth_views as staff_auth_views
from portal.staff import check_views as staff_check_views
from portal.staff import deps as staff_deps
from portal.staff import feedback_views as staff_feedback_views
from portal.staff import ops_views as staff_ops_views
from portal.staff import stats_views as staff_stats_views
from portal.staff import views as staff_views
from portal.stats import views as stats_views
from portal.visits.hours import hours_of
from portal.webhooks.openapi import document_webhooks
from postal.operators import check_operators, close_operators
from postal.tariff import check_tariff
from signing import pki_views, verify_views

log = logging.getLogger("portal")


def check_outbound(settings: Settings) -> None:
    """Stop the start (web or worker) with the reason when a way out of the portal cannot work: the email
    notifier, the SMS and Zalo providers, the notification template files, the national reporting."""
    from pydantic import ValidationError

    from portal.national import reporters
    from portal.notifications import channels, sms, templates, zalo

    templates.load()
    for check in (channels.check_config, sms.check_config, zalo.check_config, reporters.check_config):
        try:
            check(settings)
        except ValidationError as exc:
            raise channels.NotifierConfigError(f"{check.__module__}: {exc}") from None


SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


# Machine-to-machine endpoints: authenticated by a bearer token or client credentials sent with each
# request, never by the browser's cookie, so a cross-site form cannot act through them.
# Payment gateways' notifications are server-to-server and signed by the gateway.
CSRF_EXEMPT_PREFIXES = (
    "/api/",
    "/oauth/token",
    "/dev-idp/token",
    "/dev-idp/userinfo",
    "/pki/",
    "/payments/notify/",
)


async def verify_csrf(request: Request) -> None:
    """Every state-changing browser request carries the session's CSRF token (form field or header)."""
    if request.method in SAFE_METHODS or request.url.path.startswith(CSRF_EXEMPT_PREFIXES):
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("X-CSRF-Token")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(str(expected), sent):
        raise Forbidden(N_("This form has expired or did not come from this site. Reload the page and try again."))


def _error_response(request: Request, status: int, msgid: str, params: dict[str, object] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        # Machines read English problem details (RFC 9457), as the partner routes answer, never cached.
        from http import HTTPStatus

        from portal.kernel.i18n import Translator

        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Request refused"
        return JSONResponse(
            {"type": "about:blank", "title": title, "status": status, "detail": Translator("en")(msgid, params or {})},
            status_code=status,
            media_type="application/problem+json",
            headers={"Cache-Control": "no-store"},
        )
    return render(
        request,
        "error.html",
        {"status": status, "msgid": msgid, "params": params or {}},
        status_code=status,
        block="error" if is_htmx(request) else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    """One place that turns errors into pages, fragments or problem+json."""

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        return _error_response(request, exc.status_code, exc.msgid, exc.params)

    @app.exception_handler(StepUpRequired)
    async def step_up(request: Request, exc: StepUpRequired) -> Response:
        return step_up_response(request, exc)

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited) -> Response:
        response = _error_response(request, exc.status_code, exc.msgid, exc.params)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Response:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            # After signing in, come back to the page the form was on, not to the POST target.
            referer = urlsplit(request.headers.get("referer", ""))
            same_site = referer.netloc in ("", request.url.netloc)
            here = referer.path + (f"?{referer.query}" if referer.query else "") if same_site and referer.path else "/"
        target = "/signin?next=" + quote(here, safe="")
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return redirect(target)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: N_("This page does not exist."), 405: N_("This action is not allowed here.")}
        return _error_response(
            request, exc.status_code, messages.get(exc.status_code, N_("The request could not be handled."))
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(request, 422, N_("Some values in the request are not valid."))

    @app.exception_handler(DataError)
    async def unstorable(request: Request, exc: DataError) -> Response:
        # The database refused a value the request carried (a NUL character in an id or a text, on PostgreSQL):
        # the request's transaction is rolled back, so nothing of it was saved.
        log.warning("value refused by the database on %s %s: %s", request.method, request.url.path, exc.orig)
        return _error_response(
            request, 400, N_("The request contains characters that cannot be stored. Nothing was saved.")
        )

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error_response(
            request, 500, N_("Something went wrong on our side. Your saved work is safe; try again.")
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the portal; tests pass their own Settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Fewer threads than anyio's default 40: with the GIL, more threads only add switching and tail latency.
        to_thread.current_default_thread_limiter().total_tokens = settings.threads
        engine = make_engine(settings)
        storage = LocalStorage(settings.storage_dir)
        app.state.engine, app.state.storage = engine, storage
        app.state.catalog = CatalogCache(engine, settings.catalog_refresh_seconds)
        worker = None
        if settings.worker_in_process:
            worker = InProcessWorker(
                engine,
                WorkerContext(settings=settings, storage=storage, gateways=app.state.gateways),
                settings.worker_poll_seconds,
            )
            worker.start()
        app.state.worker = worker
        # Development only (PORTAL_SIMULATOR): a back-office simulator plays every agency through the API.
        simulator = start_embedded(settings, engine)
        if settings.gc_freeze:
            # Everything loaded at start (modules, catalogue, translations, form definitions) lives as long as
            # the process. Moving it out of the collector's reach turns the ~100 ms full collections that
            # otherwise stall the event loop every few seconds under load into ones of a few milliseconds.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if simulator:
                simulator.stop()
            if worker:
                worker.stop()
            close_operators(settings)
            dispose_engine(engine)

    app = FastAPI(
        title="Dịch vụ công — citizen e-service portal",
        lifespan=lifespan,
        dependencies=[Depends(verify_csrf)],
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.worker = None
    app.state.limiter = make_limiter(settings.redis_url, settings.rate_limits)
    app.state.gateways = build_gateways(settings)
    app.state.postal_operators = check_operators(settings)  # a bad operator setting stops the start with its reason
    check_tariff(settings)  # so does a bad tariff file
    hours_of(settings)  # and a bad opening-hours file
    check_outbound(settings)  # and a bad notification channel, template file or national reporting setting
    install_error_handlers(app)
    staff_deps.install(app)  # the console's sign-in redirect (/staff/login, /staff/totp)
    for module in (
        pages,
        catalog_views,
        auth_views,
        dossier_views,
        businesses_views,
        notifications_views,
        dossier_payment_views,
        payment_views,
        token_views,
        api_v1,
        api_v1_payments,
        delivery_views,
        parcel_views,
        visit_views,
        kiosk_views,
        notification_preferences_views,
        notification_callbacks,
        stats_views,
        api_stats,
        store_views,
        documents_views,
        feedback_views,
        staff_auth_views,
        staff_views,
        staff_feedback_views,
        staff_ops_views,
        staff_stats_views,
        staff_check_views,
    ):
        app.include_router(module.router)
    app.include_router(oidc_views.router)
    for signing_module in (sign_views, verify_views):
        app.include_router(signing_module.router)
    if settings.environment != "production":
        app.include_router(pki_views.router)  # the development CA's certificates, CRLs and timestamp authority
    if settings.dev_idp_enabled:
        from auth import devidp

        app.include_router(devidp.router)
    document_webhooks(app)  # OpenAPI `webhooks`: every event type pushed to back-offices and its payload
    document_national_report(app)  # and the report posted to the national portal
    app.state.sso = make_client(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="portal_session",
        max_age=8 * 3600,
        same_site="lax",
        https_only=settings.https,
    )
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_dossier_bytes + 1024 * 1024)
    app.add_middleware(PageCacheMiddleware, ttl=settings.page_cache_seconds)
    app.add_middleware(SecurityHeadersMiddleware, https=settings.https)
    return app
