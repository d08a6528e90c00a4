"""A real HTTP server for the tests' fakes: http.server on 127.0.0.1 (a free port) in a daemon thread.

The fake supplies `handle(request) -> Reply` for each POST; a fake that must be slow sleeps inside it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, answer: Any) -> Reply:
    """`answer` as a JSON body (UTF-8, not escaped)."""
    return Reply(status, json.dumps(answer, ensure_ascii=False).encode(), {"content-type": "application/json"})


@contextmanager
def serve_http(handle: Callable[[Request], Reply]) -> Iterator[str]:
    """Serve `handle` for the block; yields the server's base URL (http://127.0.0.1:<port>)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            reply = handle(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:  # the client gave up (its timeout, a killed worker)
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
