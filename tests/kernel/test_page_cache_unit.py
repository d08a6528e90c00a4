"""Single flight and stale-while-revalidate in the page cache."""

from __future__ import annotations

import asyncio
import sys

import httpx
import pytest

from portal.cache import PageCacheMiddleware

renders = 0
render_seconds = 0.05


async def slow_page(scope, receive, send) -> None:
    global renders
    renders += 1
    version = renders
    await asyncio.sleep(render_seconds)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": f"render {version}".encode()})


async def _burst(client: httpx.AsyncClient, n: int) -> list[httpx.Response]:
    return await asyncio.gather(*(client.get("/procedures") for _ in range(n)))


def test_one_render_per_expiry_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    global renders
    renders = 0
    # A render long enough for a burst of 30 requests to arrive while it runs, even on a busy machine (the tests
    # run in two processes): with 50 ms, a burst slowed down by a loaded CPU could outlast the refresh.
    monkeypatch.setattr(sys.modules[__name__], "render_seconds", 0.4)
    cache = PageCacheMiddleware(slow_page, ttl=1.0)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=cache)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = await _burst(client, 30)
            assert renders == 1
            assert {r.text for r in first} == {"render 1"}
            assert sum(r.headers.get("x-cache") == "hit" for r in first) == 29
            await asyncio.sleep(1.05)  # expired
            second = await _burst(client, 30)
            assert renders == 2  # one refresh, the others got the stale copy meanwhile
            assert sum(r.text == "render 1" for r in second) == 29
            assert (await client.get("/procedures")).text == "render 2"
            # With a session cookie the cache is bypassed every time.
            await client.get("/procedures", headers={"cookie": "portal_session=abc"})
            assert renders == 3

    asyncio.run(scenario())


def test_total_size_is_bounded() -> None:
    cache = PageCacheMiddleware(slow_page, ttl=60, max_total=30)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=cache)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for i in range(10):
                await client.get("/procedures", params={"page": i})
        assert cache.total <= 30 and len(cache.entries) <= 3

    asyncio.run(scenario())
