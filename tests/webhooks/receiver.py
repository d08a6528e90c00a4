"""A real HTTP receiver for webhook tests: a threaded http.server on 127.0.0.1 that records every request
and answers what the test scripts (a status per request, a delay, a redirect)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.http_server import Reply, Request, serve_http


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    started: float
    ended: float = 0.0
    status: int = 0


@dataclass
class Receiver:
    """`answer(n, request)` gives (status, extra headers, delay in seconds) for the n-th request (0-based)."""

    answer: Callable[[int, Received], tuple[int, dict[str, str], float]] = lambda n, r: (200, {}, 0.0)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def ids(self, status: int | None = None) -> list[str]:
        with self.lock:
            return [r.headers["webhook-id"] for r in self.requests if status is None or r.status == status]


@contextmanager
def serve(receiver: Receiver) -> Iterator[Receiver]:
    def handle(request: Request) -> Reply:
        got = Received(request.path, request.headers, request.body, time.monotonic())
        with receiver.lock:
            n = len(receiver.requests)
            receiver.requests.append(got)
        status, headers, delay = receiver.answer(n, got)
        if delay:
            time.sleep(delay)
        got.status, got.ended = status, time.monotonic()
        return Reply(status, b"ok", headers)

    with serve_http(handle) as url:
        receiver.url = f"{url}/hooks"
        yield receiver
