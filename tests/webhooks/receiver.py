"""A real HTTP receiver for webhook tests: a threaded http.server on 127.0.0.1 that records every request
and answers what the test scripts (a status per request, a delay, a redirect)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            with receiver.lock:
                n = len(receiver.requests)
                receiver.requests.append(got)
            status, headers, delay = receiver.answer(n, got)
            if delay:
                time.sleep(delay)
            got.status, got.ended = status, time.monotonic()
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client gave up (timeout, killed worker)
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
