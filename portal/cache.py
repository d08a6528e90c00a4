"""A micro-cache for anonymous public pages (catalogue, lookup), like a reverse proxy's.

Only GET requests without a session cookie are served from it, and only responses that set no
cookie are stored, so nothing personal can be cached. Entries are fresh for `ttl` seconds: a catalogue
change or a dossier's new status shows after at most about that long. One request at a time renders a
given page: while it does, others get the previous copy (stale-while-revalidate) or, when there is none,
wait for it (single flight), so an expiry under load costs one render, not one per waiting request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CACHEABLE_STATUS = {200, 404, 422}


@dataclass(frozen=True)
class Entry:
    expires: float
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class PageCacheMiddleware:
    """Serve repeated anonymous GETs of public pages from memory."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        ttl: float,
        prefixes: tuple[str, ...] = ("/procedures", "/lookup"),
        exact: tuple[str, ...] = ("/",),
        session_cookie: str = "portal_session",
        max_entries: int = 2000,
        max_body: int = 512 * 1024,
        max_total: int = 64 * 1024 * 1024,
    ) -> None:
        self.app, self.ttl = app, ttl
        self.prefixes, self.exact = prefixes, exact
        self.cookie_marker = session_cookie.encode() + b"="
        self.max_entries, self.max_body, self.max_total = max_entries, max_body, max_total
        self.total = 0
        self.entries: OrderedDict[tuple[bytes, ...], Entry] = OrderedDict()
        self.inflight: dict[tuple[bytes, ...], asyncio.Event] = {}

    def _key(self, scope: Scope) -> tuple[bytes, ...] | None:
        if self.ttl <= 0 or scope["type"] != "http" or scope["method"] != "GET":
            return None
        path: str = scope["path"]
        if path not in self.exact and not path.startswith(self.prefixes):
            return None
        lang = hx = b""
        for name, value in scope["headers"]:
            if name == b"cookie":
                if self.cookie_marker in value:
                    return None  # a session may hold a signed-in account: never cached
                for part in value.split(b";"):
                    k, _, v = part.strip().partition(b"=")
                    if k == b"lang":
                        lang = v[:5]
            elif name == b"hx-request":
                hx = value[:8]
            elif name == b"authorization":
                return None
        return (scope["method"].encode(), path.encode(), scope.get("query_string", b""), lang, hx)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        entry = self.entries.get(key)
        if entry is not None and (entry.expires > time.monotonic() or key in self.inflight):
            self.entries.move_to_end(key)
            await self._replay(entry, send)
            return
        pending = self.inflight.get(key)
        if pending is not None:
            await pending.wait()
            entry = self.entries.get(key)
            if entry is not None:
                await self._replay(entry, send)
                return
        done = self.inflight.setdefault(key, asyncio.Event())
        try:
            await self._render(key, scope, receive, send, done)
        finally:
            if self.inflight.get(key) is done:
                del self.inflight[key]
            done.set()

    async def _replay(self, entry: Entry, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": entry.status, "headers": [*entry.headers, (b"x-cache", b"hit")]}
        )
        await send({"type": "http.response.body", "body": entry.body})

    async def _render(
        self, key: tuple[bytes, ...], scope: Scope, receive: Receive, send: Send, done: asyncio.Event
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        storable = True

        async def capture(message: Message) -> None:
            nonlocal start, size, storable
            if message["type"] == "http.response.start":
                start = message
                headers = message.get("headers", [])
                if message["status"] not in CACHEABLE_STATUS or any(k.lower() == b"set-cookie" for k, _ in headers):
                    storable = False
            elif message["type"] == "http.response.body" and storable:
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                storable = size <= self.max_body
                if not message.get("more_body") and storable and start is not None:
                    self._store(key, start, b"".join(chunks))
                    done.set()  # waiting requests need not wait for this client's socket
            await send(message)

        await self.app(scope, receive, capture)

    def _store(self, key: tuple[bytes, ...], start: Message, body: bytes) -> None:
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        old = self.entries.pop(key, None)
        self.total -= len(old.body) if old else 0
        self.entries[key] = Entry(time.monotonic() + self.ttl, start["status"], headers, body)
        self.total += len(body)
        while len(self.entries) > self.max_entries or self.total > self.max_total:
            _, evicted = self.entries.popitem(last=False)
            self.total -= len(evicted.body)

    def clear(self) -> None:
        self.entries.clear()
        self.total = 0
