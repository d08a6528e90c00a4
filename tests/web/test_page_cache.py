"""The anonymous micro-cache: serves repeats, never personal pages, expires."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from tests.conftest import signup

pytestmark = pytest.mark.db


@pytest.fixture()
def cached_app(settings):
    app = create_app(settings.model_copy(update={"page_cache_seconds": 0.5}))
    with TestClient(app):
        yield app


def test_anonymous_pages_are_served_from_the_cache(cached_app) -> None:
    c = TestClient(cached_app)
    first = c.get("/procedures", params={"q": "khai sinh"})
    second = c.get("/procedures", params={"q": "khai sinh"})
    assert first.status_code == second.status_code == 200
    assert "x-cache" not in first.headers and second.headers["x-cache"] == "hit"
    assert first.text == second.text
    assert second.headers["content-security-policy"]  # security headers on hits too
    other_query = c.get("/procedures", params={"q": "ket hon"})
    assert "x-cache" not in other_query.headers
    english = c.get("/procedures", params={"q": "khai sinh"}, cookies={"lang": "en"})
    assert "x-cache" not in english.headers and 'lang="en"' in english.text
    fragment = c.get("/procedures", params={"q": "khai sinh"}, headers={"HX-Request": "true"})
    assert "x-cache" not in fragment.headers and "<html" not in fragment.text
    missing = [c.get("/lookup", params={"code": "STP-991231-9999"}) for _ in range(2)]
    assert [r.status_code for r in missing] == [404, 404] and missing[1].headers["x-cache"] == "hit"
    time.sleep(0.6)
    assert "x-cache" not in c.get("/procedures", params={"q": "khai sinh"}).headers


def test_signed_in_pages_are_never_cached(cached_app) -> None:
    c = TestClient(cached_app, follow_redirects=False)
    signup(c, name="Đỗ Riêng Tư")
    pages = [c.get("/procedures/1.004873") for _ in range(2)]
    assert all("x-cache" not in p.headers for p in pages)
    assert "Đỗ Riêng Tư" in pages[1].text
    anon = TestClient(cached_app)
    for _ in range(2):
        assert "Đỗ Riêng Tư" not in anon.get("/procedures/1.004873").text
    for _ in range(2):
        assert "x-cache" not in c.get("/signin").headers
