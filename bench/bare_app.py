"""The baseline for the HTTP benchmark: one FastAPI route returning a small HTML string.

It is served by `uvicorn.run(...)` with the keyword arguments that `portal serve` passes
(read from portal/cli.py, so the two cannot drift apart silently): same host, one worker,
same log level and access-log setting, same `proxy_headers`, and uvicorn's default
loop/http choice (uvloop + httptools when installed), exactly as `portal serve` gets them.

    .venv/bin/python -m bench.bare_app --host 127.0.0.1 --port 8100
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

CLI_FILE = Path(__file__).resolve().parents[1] / "portal" / "cli.py"

# What portal/cli.py passes today; used only if that file cannot be read.
FALLBACK_SETTINGS: dict[str, Any] = {"workers": 1, "proxy_headers": True, "log_level": "info", "access_log": False}

BODY = (
    '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Bare</title></head>'
    "<body><main><h1>Cổng Dịch vụ công</h1><p>Bare endpoint for the HTTP benchmark.</p></main></body></html>"
)

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/", response_class=HTMLResponse)
def bare() -> HTMLResponse:
    """A plain `def` route like the portal's pages, so it too goes through the thread pool."""
    return HTMLResponse(BODY)


@app.post("/notify")
async def bare_notify(request: Request) -> Response:
    """The baseline of a gateway's notification: read the body, answer JSON from the thread pool, like the portal."""
    body = await request.body()
    reply = await run_in_threadpool(lambda: b'{"received": "accepted", "bytes": %d}' % len(body))
    return Response(reply, media_type="application/json")


def serve_settings() -> dict[str, Any]:
    """The literal keyword arguments of the `uvicorn.run(...)` call in `portal serve` (host/port excluded).

    `workers` is a CLI option there; its default (1) is what `portal serve` runs with.
    """
    try:
        tree = ast.parse(CLI_FILE.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return dict(FALLBACK_SETTINGS)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "run"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "uvicorn"
        ):
            settings: dict[str, Any] = {}
            for kw in node.keywords:
                if kw.arg is None or kw.arg in ("host", "port"):
                    continue
                try:
                    settings[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    if kw.arg == "workers":
                        settings["workers"] = 1  # the --workers default of `portal serve`
            return settings
    return dict(FALLBACK_SETTINGS)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    uvicorn.run("bench.bare_app:app", host=args.host, port=args.port, **serve_settings())


if __name__ == "__main__":
    main()
