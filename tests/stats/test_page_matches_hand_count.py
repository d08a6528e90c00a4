"""The /stats page against the hand count of tests/stats/dataset.py (early, on time, late, paused, apologised,
rejected, withdrawn, in process, overdue, postal pickup and return, fees, ratings): the same numbers as the JSON
and the CSV of tests/stats/test_api.py, as a reader sees them."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import lxml.html
import pytest
from fastapi.testclient import TestClient

from tests.stats.dataset import EXPECTED, Dataset, params

pytestmark = pytest.mark.db

NBSP = "\u00a0"


def shown(doc: lxml.html.HtmlElement, key: str) -> str:
    (value,) = doc.xpath(f'//li[@id="figure-{key}"]//p[@class="stat-value"]')
    return re.sub(r"[ \t\r\n]+", " ", value.text_content()).strip(" \t\r\n")


def test_the_page_shows_the_hand_counted_figures(client: TestClient, committed: Dataset) -> None:
    response = client.get("/stats?" + urlencode(params(committed)))
    assert response.status_code == 200, response.text[:1000]
    doc = lxml.html.fromstring(response.text)
    counts = (
        "received",
        "resolved",
        "early",
        "on_time",
        "late",
        "rejected",
        "withdrawn",
        "in_process",
        "overdue_now",
        "returned_by_post",
    )
    for key in counts:
        assert shown(doc, key) == str(getattr(EXPECTED, key)), key
    assert shown(doc, "on_time_rate") == f"71,43{NBSP}%" and EXPECTED.on_time_rate == 71.43
    assert shown(doc, "supplement_rate") == f"27,27{NBSP}%" and EXPECTED.supplement_rate == 27.27
    assert shown(doc, "fees_collected") == f"50.000{NBSP}đ" and EXPECTED.fees_collected == 50_000
    (satisfaction,) = doc.xpath('//table[caption[@id="satisfaction-table-caption"]]')
    averages = [row.xpath("./th|./td")[1].text_content().strip() for row in satisfaction.xpath(".//tbody/tr")]
    assert averages == ["4", "4", "5", "5", "4,5"]
    assert [s.average for s in EXPECTED.satisfaction] == [4.0, 4.0, 5.0, 5.0, 4.5]
