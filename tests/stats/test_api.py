"""GET /api/stats (JSON) and /api/stats.csv: the hand-counted figures of tests/stats/dataset.py over HTTP, the
same numbers in both, refusals as 422 problems naming the filter, and the OpenAPI description."""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from typing import Any

import pytest
from fastapi.testclient import TestClient

from portal.stats.figures import Figures
from tests.stats.dataset import (
    EXPECTED,
    EXPECTED_AGENCY_RANKING,
    EXPECTED_MONTHLY,
    Dataset,
    params,
)

pytestmark = pytest.mark.db

SCALARS = [f.name for f in fields(Figures) if f.name != "satisfaction"]


def test_json_gives_the_hand_counted_figures(client: TestClient, committed: Dataset) -> None:
    r = client.get("/api/stats", params=params(committed))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == {
        "from": "2019-03-01",
        "to": "2019-04-30",
        "agency": None,
        "field": committed.field,
        "procedure": None,
    }
    figures = body["figures"]
    assert {name: figures[name] for name in SCALARS} == {name: getattr(EXPECTED, name) for name in SCALARS}
    assert [(s["criterion"], s["average"], s["ratings"]) for s in figures["satisfaction"]] == [
        (s.criterion, s.average, s.ratings) for s in EXPECTED.satisfaction
    ]
    assert [tuple(m.values()) for m in body["monthly"]] == [
        (p.month, p.received, p.resolved, p.early, p.on_time, p.late) for p in EXPECTED_MONTHLY
    ]
    suffix = committed.agency_a[1:]
    assert [
        (a["code"], a["resolved"], a["early"], a["on_time"], a["late"], a["on_time_rate"]) for a in body["agencies"]
    ] == [(letter + suffix, *rest) for letter, *rest in EXPECTED_AGENCY_RANKING]
    assert body["agencies"][0]["name"] == f"Cơ quan B {suffix}"
    assert {d["key"] for d in body["definitions"]} >= {"received", "resolved", "on_time", "late", "ranking"}
    assert r.headers["content-type"] == "application/json"


def test_json_in_english(client: TestClient, committed: Dataset) -> None:
    body = client.get("/api/stats", params=params(committed, lang="en")).json()
    assert body["agencies"][0]["name"] == f"Agency B {committed.agency_b[1:]}"
    titles = {d["key"]: d["title"] for d in body["definitions"]}
    assert titles["late"] == "Late"
    assert body["figures"]["satisfaction"][0]["name"] == "Reception attitude"


def csv_values(text: str) -> dict[tuple[str, str, str], str]:
    assert text.startswith("\ufeff")
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    assert reader.fieldnames == ["section", "key", "name", "measure", "value"]
    return {(row["section"], row["key"], row["measure"]): row["value"] for row in reader}


def number(value: str) -> Any:
    if value == "":
        return None
    return float(value) if "." in value else int(value)


def test_csv_gives_the_same_numbers(client: TestClient, committed: Dataset) -> None:
    r = client.get("/api/stats.csv", params=params(committed))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="thong-ke-2019-03-01-2019-04-30.csv"'
    values = csv_values(r.content.decode("utf-8"))
    got = {name: number(v) for (section, name, _m), v in values.items() if section == "figures"}
    assert got == {name: getattr(EXPECTED, name) for name in SCALARS}
    for score in EXPECTED.satisfaction:
        assert number(values[("satisfaction", score.criterion, "average")]) == score.average
        assert number(values[("satisfaction", score.criterion, "ratings")]) == score.ratings
    for point in EXPECTED_MONTHLY:
        for measure in ("received", "resolved", "early", "on_time", "late"):
            assert number(values[("monthly", point.month, measure)]) == getattr(point, measure)
    assert number(values[("agencies", committed.agency_b, "rank")]) == 1
    assert number(values[("agencies", committed.agency_a, "on_time_rate")]) == 66.67
    assert values[("query", "field", "filter")] == committed.field
    # The JSON of the same filters says the same.
    body = client.get("/api/stats", params=params(committed)).json()
    assert all(
        number(values[("figures", name, m)]) == body["figures"][name] for (s, name, m) in values if s == "figures"
    )


def test_csv_names_in_vietnamese(client: TestClient, committed: Dataset) -> None:
    text = client.get("/api/stats.csv", params=params(committed)).content.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    names = {row[1]: row[2] for row in rows if row[0] == "agencies"}
    assert names[committed.agency_a] == f"Cơ quan A {committed.agency_a[1:]}"


@pytest.mark.parametrize(
    ("query", "param", "detail"),
    [
        ({"from": "2019-04-30", "to": "2019-03-01"}, "from", "The period is reversed"),
        ({"from": "2000-01-01", "to": "2019-03-01"}, "from", "The period is too long"),
        ({"from": "garbage"}, "from", "The start date is not a date"),
        ({"to": "2019-02-31"}, "to", "The end date is not a date"),
        ({"agency": "NOPE"}, "agency", "There is no agency with the code NOPE."),
        ({"procedure": "'; drop table dossier; --"}, "procedure", "There is no procedure with the code"),
        ({"field": "\x00"}, "field", "There is no field of procedures called ?."),
        ({"fro": "2019-01-01"}, None, "Unknown parameter fro"),
    ],
)
def test_bad_filters_are_422_problems(
    client: TestClient, query: dict[str, str], param: str | None, detail: str
) -> None:
    for path in ("/api/stats", "/api/stats.csv"):
        r = client.get(path, params=query)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["status"] == 422 and body["param"] == param
        assert body["detail"].startswith(detail)
        assert body["detail_vi"]


def test_repeated_filter_and_bad_language(client: TestClient) -> None:
    r = client.get("/api/stats?agency=A&agency=B")
    assert r.status_code == 422 and r.json()["param"] == "agency"
    assert "more than once" in r.json()["detail"]
    r = client.get("/api/stats?lang=fr")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "raw",
    [
        "from=%ff%fe",
        "to=99999-01-01",
        "from=0",
        "from=2019-1-1",
        "agency=" + "A" * 10000,
        "procedure=%00",
        "field=%E1%BB",
        "from=--&to=--",
        "&&&=",
    ],
)
def test_garbage_is_never_a_500(client: TestClient, raw: str) -> None:
    for path in ("/api/stats", "/api/stats.csv"):
        r = client.get(f"{path}?{raw}")
        assert 400 <= r.status_code < 500, (raw, r.status_code, r.text)


def test_defaults_to_this_year_without_sign_in(client: TestClient) -> None:
    r = client.get("/api/stats")
    assert r.status_code == 200
    query = r.json()["query"]
    assert query["from"].endswith("-01-01") and query["to"][:4] == query["from"][:4]


def test_described_in_openapi(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    json_route = spec["paths"]["/api/stats"]["get"]
    assert {p["name"] for p in json_route["parameters"]} == {"from", "to", "agency", "field", "procedure", "lang"}
    ok = json_route["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/StatsOut")
    assert "application/problem+json" in json_route["responses"]["422"]["content"]
    figures = spec["components"]["schemas"]["FiguresOut"]["properties"]
    assert {"on_time_rate", "overdue_now", "fees_collected", "satisfaction"} <= set(figures)
    assert "text/csv" in spec["paths"]["/api/stats.csv"]["get"]["responses"]["200"]["content"]
