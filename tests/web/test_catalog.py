"""Catalogue pages: search without diacritics, filters, pagination, detail."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.db


def test_search_ignores_diacritics_and_case(client: TestClient) -> None:
    for q in ("ly lich tu phap", "LÝ LỊCH TƯ PHÁP", "Ly Lich"):
        page = client.get("/procedures", params={"q": q})
        assert page.status_code == 200
        assert "Cấp Phiếu lý lịch tư pháp" in page.text or "lý lịch tư pháp" in page.text.lower()
        assert "/procedures/3.000333" in page.text


def test_search_by_code_and_no_match(client: TestClient) -> None:
    assert "/procedures/1.004873" in client.get("/procedures", params={"q": "1.004873"}).text
    page = client.get("/procedures", params={"q": "zzzz khong co"})
    assert page.status_code == 200
    assert "/procedures/1." not in page.text


def test_filters_by_agency_field_and_level(client: TestClient, app) -> None:
    # One page holds every match: other tests commit procedures of their own into the shared database.
    app.state.settings.page_size = 1000
    try:
        page = client.get("/procedures", params={"agency": "CAT"}).text
        assert "/procedures/3.000333" in page and "/procedures/1.004873" not in page
        page = client.get("/procedures", params={"level": "partial"}).text
        assert "/procedures/1.000894" in page and "/procedures/3.000333" not in page
        page = client.get("/procedures", params={"field": "Hộ tịch"}).text
        assert "/procedures/1.001193" in page and "/procedures/3.000347" not in page
    finally:
        app.state.settings.page_size = 10


def test_pagination_and_garbage_parameters(client: TestClient, app) -> None:
    app.state.settings.page_size = 3
    try:
        first = client.get("/procedures").text
        assert 'rel="next"' in first
        last = client.get("/procedures", params={"page": 999}).text
        assert 'rel="prev"' in last and 'rel="next"' not in last
    finally:
        app.state.settings.page_size = 10
    assert client.get("/procedures", params={"page": "abc"}).status_code == 422
    assert client.get("/procedures", params={"q": "x" * 5000}).status_code == 422
    assert client.get("/procedures", params={"q": "%_'\";--"}).status_code == 200


def test_htmx_search_returns_only_results(client: TestClient) -> None:
    r = client.get("/procedures", params={"q": "khai sinh"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert 'id="results"' in r.text and "<html" not in r.text
    assert "HX-Request" in r.headers["vary"]


def test_detail_page(client: TestClient) -> None:
    page = client.get("/procedures/1.004873")
    assert page.status_code == 200
    for text in (
        "Cấp Giấy xác nhận tình trạng hôn nhân",
        "15.000",
        "3 ngày làm việc",
        "Tờ khai cấp Giấy xác nhận",
        "/signin?next=%2Fprocedures%2F1.004873",
        "Qua bưu chính",
    ):
        assert text in page.text, text
    assert client.get("/procedures/xac-nhan-tinh-trang-hon-nhan").status_code == 200
    missing = client.get("/procedures/9.999999")
    assert missing.status_code == 404 and "Không tìm thấy" in missing.text
