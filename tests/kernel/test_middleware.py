"""The body limit refuses a 60 MB upload with the default settings, declared or streamed."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.kernel.settings import Settings
from portal.middleware import BodyLimitMiddleware

SIXTY_MB = b"0" * (60 * 1024 * 1024)


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(len(await request.body())))


def _client() -> TestClient:
    limit = Settings(_env_file=None).max_dossier_bytes + 1024 * 1024  # type: ignore[call-arg]
    app = BodyLimitMiddleware(Starlette(routes=[Route("/", echo, methods=["POST"])]), limit=limit)
    return TestClient(app)


def test_sixty_megabytes_declared_is_refused_in_vietnamese() -> None:
    r = _client().post("/", content=SIXTY_MB)
    assert r.status_code == 413
    assert "51 MB" in r.text and "không bị mất" in r.text


def test_sixty_megabytes_streamed_without_length_is_refused() -> None:
    def chunks():
        for i in range(0, len(SIXTY_MB), 1024 * 1024):
            yield SIXTY_MB[i : i + 1024 * 1024]

    r = _client().post("/", content=chunks(), headers={"cookie": "lang=en"})
    assert r.status_code == 413 and "larger than 51 MB" in r.text


def test_small_bodies_pass() -> None:
    assert _client().post("/", content=b"abc").text == "3"


def test_an_api_body_too_large_is_a_problem_in_english() -> None:
    limit = Settings(_env_file=None).max_dossier_bytes + 1024 * 1024  # type: ignore[call-arg]
    app = BodyLimitMiddleware(Starlette(routes=[Route("/api/v1/x", echo, methods=["POST"])]), limit=limit)
    r = TestClient(app).post("/api/v1/x", content=SIXTY_MB)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert r.json() == {
        "type": "about:blank",
        "title": "Content Too Large",
        "status": 413,
        "detail": "The request is larger than 51 MB and was refused.",
    }
