"""Templates, per-request locale and the HTML/HTMX rendering helper."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2_fragments import render_block
from starlette.background import BackgroundTask

from portal.kernel.clock import local
from portal.kernel.deps import app_settings
from portal.kernel.i18n import Translator, pick_locale
from portal.kernel.labels import label_msgid

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"
LANG_COOKIE = "lang"


def _iso_local(text: object) -> str:
    """An ISO 8601 time stored as text (JSON), shown like localdt; empty when it is not one."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return ""
    return local(moment).strftime("%H:%M %d/%m/%Y") if moment.tzinfo else ""


def build_environment() -> Environment:
    """The one Jinja environment (auto-escaping on)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["localdt"] = lambda dt: local(dt).strftime("%H:%M %d/%m/%Y") if dt else ""
    env.filters["isolocaldt"] = _iso_local
    env.filters["localdate"] = lambda d: d.strftime("%d/%m/%Y") if isinstance(d, date | datetime) else ""
    env.filters["urlq"] = lambda s: quote(str(s), safe="")
    env.globals["label"] = label_msgid
    return env


ENV = build_environment()


def translator(request: Request) -> Translator:
    """The request's translator, from the language cookie (Vietnamese by default)."""
    t = getattr(request.state, "t", None)
    if t is None:
        t = Translator(pick_locale(request.cookies.get(LANG_COOKIE)))
        request.state.t = t
    return t


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


class LazyCsrf:
    """The CSRF token, created only if a template prints it (anonymous catalogue pages never do)."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def __str__(self) -> str:
        return csrf_token(self.request)

    __html__ = __str__


def format_msg(t: Translator, m: Any) -> str:
    """Translate a message in any of its shapes: Msg, DomainError, (msgid, params) or a msgid."""
    if m is None:
        return ""
    if isinstance(m, str):
        return t(m)
    if isinstance(m, tuple):
        return t(m[0], m[1] if len(m) > 1 else {})
    msgid = getattr(m, "msgid", None)
    if isinstance(msgid, str):
        return t(msgid, dict(getattr(m, "params", {}) or {}))
    return str(m)


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it then takes a fragment; a plain browser gets the whole page)."""
    return request.headers.get("HX-Request") == "true"


def redirect(url: str, *, background: BackgroundTask | None = None) -> RedirectResponse:
    """POST, then redirect, then GET: a 303 See Other to `url` (htmx follows it and swaps the page it gets)."""
    return RedirectResponse(url, status_code=303, background=background)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    block: str | None = None,
) -> HTMLResponse:
    """Render a full page, or only `block` for an HTMX request."""
    t = translator(request)
    ctx: dict[str, Any] = {
        "request": request,
        "_": t.gettext,
        "t": t,
        "locale": t.locale,
        "csrf_token": LazyCsrf(request),
        "account": getattr(request.state, "account", None),
        "settings": app_settings(request.app),
        "path": request.url.path,
        "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    ctx["msg"] = lambda m: format_msg(t, m)
    # Links are paths (no scheme or host), as they were when written by hand.
    ctx["url_for"] = lambda name, /, **params: str(request.app.url_path_for(name, **params))
    ctx.update(context or {})
    if block and is_htmx(request):
        html = render_block(ENV, template, block, **ctx)
    else:
        html = ENV.get_template(template).render(**ctx)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Vary"] = "HX-Request, Cookie"
    return response
