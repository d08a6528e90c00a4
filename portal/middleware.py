"""ASGI middleware: request body limit and security headers."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.kernel.i18n import N_, Translator, pick_locale


class BodyTooLarge(Exception):
    """The request body went past the configured limit."""


def _locale(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                name, _, val = part.strip().partition("=")
                if name == "lang":
                    return pick_locale(val)
    return pick_locale(None)


class BodyLimitMiddleware:
    """Refuse bodies over `limit` bytes with a 413 page before they fill the disk."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send, drain=True)
            return
        seen = 0
        exceeded = False
        refused = False
        body_done = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded, body_done
            message = await receive()
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal refused
            if not exceeded:
                await send(message)
            elif not refused and message["type"] == "http.response.start":
                # The app turned the interrupted read into an error response: answer 413 instead.
                refused = True
                await self._refuse(scope, receive, send, drain=not body_done)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not refused:
                refused = True
                await self._refuse(scope, receive, send, drain=not body_done)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, drain: bool) -> None:
        t = Translator(_locale(scope))
        mb = self.limit // (1024 * 1024)
        title = t(N_("The file is too large"))
        text = t(
            N_("The request is larger than {mb} MB and was refused. Nothing already saved in your dossier was lost."),
            mb=mb,
        )
        back = t(N_("Back to my dossiers"))
        content_type = b"text/html; charset=utf-8"
        body = (
            f'<!doctype html><html lang="{t.locale}"><head><meta charset="utf-8"><title>{title}</title>'
            f'<link rel="stylesheet" href="/static/css/portal.css"></head><body><main id="main" class="container">'
            f'<h1>{title}</h1><p>{text}</p><p><a href="/dossiers">{back}</a></p></main></body></html>'
        ).encode()
        if str(scope.get("path", "")).startswith("/api/"):
            # Machines get the English problem details every API refusal has (RFC 9457).
            content_type = b"application/problem+json"
            body = json.dumps(
                {
                    "type": "about:blank",
                    "title": "Content Too Large",
                    "status": 413,
                    "detail": f"The request is larger than {mb} MB and was refused.",
                }
            ).encode()
        if drain:
            # Read (and discard) what the client is still sending so it sees the answer, within reason.
            total = 0
            while total < 200 * 1024 * 1024:
                message = await receive()
                if message["type"] != "http.request":
                    break
                total += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _merge_vary(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """One Vary header with each name once (views and the session middleware both add some)."""
    names: list[bytes] = []
    rest = []
    for key, value in headers:
        if key.lower() == b"vary":
            for name in value.split(b","):
                name = name.strip()
                if name and name.lower() not in (n.lower() for n in names):
                    names.append(name)
        else:
            rest.append((key, value))
    return [*rest, (b"vary", b", ".join(names))] if names else rest


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)


class SecurityHeadersMiddleware:
    """Headers every response carries."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app, self.https = app, https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = _merge_vary(list(message.get("headers", [])))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if self.https:
                    extra.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
                headers.extend((k, v) for k, v in extra if k not in names)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
