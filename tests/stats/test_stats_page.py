"""/stats over HTTP: a small fixed set of dossiers counted by hand, the same numbers on the page, in the JSON
and in the CSV it links to; each figure's definition; the charts and their tables; refused filters shown in the
form with a 4xx; English; anonymous (no session started)."""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import lxml.html
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlmodel import Session, col

from auth.models import Account
from portal.catalog.models import Procedure
from portal.dossiers.lifecycle import RatingCriterion
from portal.dossiers.models import (
    Channel,
    Dossier,
    DossierEvent,
    DossierEventKind,
    DossierRating,
    DossierStatus,
    Timeliness,
)
from portal.kernel.calendar import TZ
from portal.kernel.i18n import Translator
from portal.stats.figures import DEFINITIONS
from portal.stats.query import clear_cache
from tests import factories

pytestmark = pytest.mark.db

# A year no other test files dossiers in: the page for it shows exactly the set below.
YEAR = 2004
PERIOD = f"from={YEAR}-01-01&to={YEAR}-12-31"
VI = Translator("vi")


def at(month: int, day: int, hour: int = 10) -> datetime:
    """A local (Vietnam) time of YEAR."""
    return datetime.combine(date(YEAR, month, day), time(hour), tzinfo=TZ)


@dataclass(frozen=True)
class Dataset:
    procedure: Procedure
    ids: tuple[str, ...]
    applicant_id: str


def add_dataset(db: Session) -> Dataset:
    """Five dossiers of one procedure in YEAR, committed (the page reads them through its own session).

    Counted by hand, for the whole of YEAR:
      received 4: online 3 (A, B, D), counter 1 (C); E was withdrawn before reception
      resolved 3: A early (stored judgement), B on time (result on the official day), C late (stored)
      in process at the end of YEAR 1: D, whose result came in the next year
      on-time rate (A + B) / 3 = 66.67 %; early, on time, late 33.33 % each
      ratings 1 (A): reception 5, guidance 4
      by month: March received 2, resolved 2 (early 1, on time 1); April received 2, resolved 1 (late 1)
    """
    procedure = db.get(Procedure, factories.MARITAL)
    assert procedure is not None
    applicant = factories.account(db)

    def make(**values: Any) -> Dossier:
        return factories.dossier(
            db,
            applicant=applicant,
            code=f"{procedure.agency_code}-04{secrets.randbelow(10**4):04d}-{secrets.randbelow(10**6):06d}",
            **values,
        )

    a = make(
        status=DossierStatus.COMPLETED, channel=Channel.ONLINE, submitted_at=at(3, 1, 8), received_at=at(3, 1),
        official_due_date=date(YEAR, 3, 10), due_date=date(YEAR, 3, 10), result_ready_at=at(3, 5),
        completed_at=at(3, 6), timeliness=Timeliness.EARLY,
    )  # fmt: skip
    b = make(
        status=DossierStatus.RESULT_READY, channel=Channel.ONLINE, submitted_at=at(3, 2, 8), received_at=at(3, 2),
        official_due_date=date(YEAR, 3, 10), due_date=date(YEAR, 3, 10), result_ready_at=at(3, 10, 16),
    )  # fmt: skip
    c = make(
        status=DossierStatus.COMPLETED, channel=Channel.COUNTER, received_at=at(4, 1),
        official_due_date=date(YEAR, 4, 5), due_date=date(YEAR, 4, 5), result_ready_at=at(4, 8),
        completed_at=at(4, 9), timeliness=Timeliness.LATE,
    )  # fmt: skip
    d = make(
        status=DossierStatus.COMPLETED, channel=Channel.ONLINE, submitted_at=at(4, 2, 8), received_at=at(4, 2),
        official_due_date=date(YEAR + 1, 1, 20), due_date=date(YEAR + 1, 1, 20),
        result_ready_at=datetime.combine(date(YEAR + 1, 1, 10), time(10), tzinfo=TZ),
        completed_at=datetime.combine(date(YEAR + 1, 1, 11), time(10), tzinfo=TZ), timeliness=Timeliness.EARLY,
    )  # fmt: skip
    e = make(status=DossierStatus.WITHDRAWN, channel=Channel.ONLINE, submitted_at=at(5, 3))
    db.add(DossierEvent(dossier_id=e.id, kind=DossierEventKind.WITHDRAWN.value, at=at(5, 4), actor="applicant"))
    db.add(
        DossierRating(
            dossier_id=a.id,
            account_id=applicant.id,
            scores={RatingCriterion.RECEPTION.value: 5, RatingCriterion.GUIDANCE.value: 4},
            at=at(3, 7),
        )
    )
    db.commit()
    return Dataset(procedure, (a.id, b.id, c.id, d.id, e.id), applicant.id)


def remove_dataset(db: Session, data: Dataset) -> None:
    db.rollback()
    db.execute(delete(DossierEvent).where(col(DossierEvent.dossier_id).in_(data.ids)))
    db.execute(delete(DossierRating).where(col(DossierRating.dossier_id).in_(data.ids)))
    db.execute(delete(Dossier).where(col(Dossier.id).in_(data.ids)))
    db.execute(delete(Account).where(col(Account.id) == data.applicant_id))
    db.commit()


@pytest.fixture()
def dataset(db: Session) -> Iterator[Dataset]:
    clear_cache()
    data = add_dataset(db)
    try:
        yield data
    finally:
        remove_dataset(db, data)
        clear_cache()


def page(client: TestClient, query: str, *, status: int = 200) -> lxml.html.HtmlElement:
    response = client.get(f"/stats?{query}")
    assert response.status_code == status, response.text[:2000]
    return lxml.html.fromstring(response.text)


def text(node: lxml.html.HtmlElement) -> str:
    return re.sub(r"[ \t\r\n]+", " ", node.text_content()).strip(" \t\r\n")


def card(doc: lxml.html.HtmlElement, key: str) -> tuple[str, str, str]:
    """A figure's (title, value, definition) as shown."""
    (item,) = doc.xpath(f'//li[@id="figure-{key}"]')
    (value,) = item.xpath('.//p[@class="stat-value"]')
    (definition,) = item.xpath('.//p[@class="stat-def"]')
    return text(item.xpath(".//h3")[0]), text(value), text(definition)


def table(doc: lxml.html.HtmlElement, caption_id: str) -> list[list[str]]:
    (tab,) = doc.xpath(f'//table[caption[@id="{caption_id}"]]')
    return [[text(cell) for cell in row.xpath("./th|./td")] for row in tab.xpath(".//tbody/tr")]


HAND = {
    "received": "4",
    "resolved": "3",
    "early": "1",
    "on_time": "1",
    "late": "1",
    "on_time_rate": "66,67\u00a0%",
    "in_process": "1",
    "withdrawn": "1",
    "rejected": "0",
    "returned_by_post": "0",
    "fees_collected": "0\u00a0đ",
}


def test_page_shows_the_figures_counted_by_hand(client: TestClient, dataset: Dataset) -> None:
    doc = page(client, f"{PERIOD}&procedure={dataset.procedure.code}")
    for key, expected in HAND.items():
        assert card(doc, key)[1] == expected, key
    assert text(doc.xpath('//li[@id="figure-received"]//p[@class="stat-sub"]')[0]) == VI(
        "online {online} (with a postal pickup {pickup}), at the counter {counter}", online=3, pickup=0, counter=1
    )
    assert text(doc.xpath('//li[@id="figure-early"]//p[@class="stat-sub"]')[0]).startswith("33,33\u00a0%")
    assert table(doc, "timeliness-table-caption") == [
        ["Trước hạn", "1", "33,33\u00a0%"],
        ["Đúng hạn", "1", "33,33\u00a0%"],
        ["Quá hạn", "1", "33,33\u00a0%"],
    ]
    monthly = table(doc, "monthly-table-caption")
    assert [row[0] for row in monthly] == [f"{m:02d}/{YEAR}" for m in range(1, 13)]
    assert monthly[2] == [f"03/{YEAR}", "2", "2", "1", "1", "0"]
    assert monthly[3] == [f"04/{YEAR}", "2", "1", "0", "0", "1"]
    assert all(row[1:] == ["0"] * 5 for i, row in enumerate(monthly) if i not in (2, 3))
    satisfaction = {row[0]: row[1:] for row in table(doc, "satisfaction-table-caption")}
    assert satisfaction[VI(RatingCriterion.RECEPTION.label)] == ["5", "1"]
    assert satisfaction[VI(RatingCriterion.GUIDANCE.label)] == ["4", "1"]
    assert satisfaction[VI(RatingCriterion.ON_TIME.label)] == ["—", "0"]
    agencies = table(doc, "ranking-agencies-caption")
    assert agencies == [
        ["1", f"{text_of_agency(doc)} ({dataset.procedure.agency_code})", "3", "1", "1", "1", "66,67\u00a0%"]
    ]
    (procedure_row,) = table(doc, "ranking-procedures-caption")
    assert procedure_row[1] == f"{dataset.procedure.name_vi} ({dataset.procedure.code})"
    assert procedure_row[2:] == ["3", "1", "1", "1", "66,67\u00a0%"]


def text_of_agency(doc: lxml.html.HtmlElement) -> str:
    """The selected agency's name as the filter shows it (the ranking shows the same name)."""
    options = doc.xpath('//select[@name="agency"]/option')
    return {o.get("value"): text(o) for o in options}[code_of_only_agency(doc)]


def code_of_only_agency(doc: lxml.html.HtmlElement) -> str:
    (cell,) = doc.xpath('//table[@id="ranking-agencies"]//tbody/tr/th')
    match = re.search(r"\(([^()]+)\)$", text(cell))
    assert match
    return match.group(1)


def test_every_figure_has_its_definition_written(client: TestClient, dataset: Dataset) -> None:
    doc = page(client, PERIOD)
    body = text(doc.xpath("//main")[0])
    for definition in DEFINITIONS:
        assert VI(definition.title) in body, definition.key
        assert VI(definition.text) in body, definition.key
    title, _, written = card(doc, "late")
    assert (title, written) == (VI("Late"), VI(next(d.text for d in DEFINITIONS if d.key == "late")))


def test_page_json_and_csv_give_the_same_numbers(client: TestClient, dataset: Dataset) -> None:
    doc = page(client, f"{PERIOD}&agency={dataset.procedure.agency_code}")
    (csv_link,) = doc.xpath('//a[contains(@href, "stats.csv")]/@href')
    (json_link,) = doc.xpath('//a[contains(@href, "/api/stats?")]/@href')
    for link in (csv_link, json_link):
        assert f"from={YEAR}-01-01" in link and f"to={YEAR}-12-31" in link
        assert f"agency={dataset.procedure.agency_code}" in link and "lang=vi" in link
    answer = client.get(json_link)
    assert answer.status_code == 200
    figures = answer.json()["figures"]
    export = client.get(csv_link)
    assert export.status_code == 200 and export.text.startswith("\ufeff")
    exported = {
        row["key"]: row["value"] for row in csv.DictReader(io.StringIO(export.text.lstrip("\ufeff")))
        if row["section"] == "figures"
    }  # fmt: skip
    shown = {key: card(doc, key)[1] for key in ("received", "resolved", "early", "on_time", "late", "in_process")}
    for key, value in shown.items():
        assert value == VI.number(figures[key]) == VI.number(int(exported[key])), key
    assert card(doc, "on_time_rate")[1] == f"{VI.number(figures['on_time_rate'])}\u00a0%"
    assert float(exported["on_time_rate"]) == figures["on_time_rate"] == pytest.approx(66.67)
    assert figures["received"] >= 4  # the agency's other dossiers of the year (none but ours in YEAR)


def test_charts_are_named_images_beside_data_tables(client: TestClient, dataset: Dataset) -> None:
    response = client.get(f"/stats?{PERIOD}")
    assert "set-cookie" not in response.headers  # anonymous: no session, no CSRF token
    doc = lxml.html.fromstring(response.text)
    charts = doc.xpath('//svg[@role="img"]')
    assert len(charts) == 3
    for svg in charts:
        ids = svg.get("aria-labelledby").split()
        assert [doc.get_element_by_id(i).tag for i in ids] == ["title", "desc"]
        assert "table below" not in text(doc.get_element_by_id(ids[0]))
    timeliness = doc.get_element_by_id("chart-timeliness-title")
    assert text(timeliness) == VI("Resolved dossiers by timeliness")
    assert "66,67" in text(doc.get_element_by_id("chart-timeliness-desc"))
    for caption in ("timeliness-table-caption", "monthly-table-caption", "satisfaction-table-caption"):
        region = doc.xpath(f'//div[@role="region"][@aria-labelledby="{caption}"]')
        assert region and region[0].get("tabindex") == "0"  # a table that scrolls on a phone takes the focus
    assert not doc.xpath("//main//*[@style]")  # the CSP allows no inline style
    assert doc.xpath('//link[@rel="stylesheet"][contains(@href, "css/stats.css")]')


@pytest.mark.parametrize(
    ("query", "param", "message"),
    [
        (f"from={YEAR}-05-01&to={YEAR}-01-01", "from", f"01/05/{YEAR}"),
        ("from=2000-01-01&to=2020-12-31", "from", "5"),
        ("from=hôm-qua", "from", "YYYY-MM-DD"),
        ("to=31/02/2004", "to", "YYYY-MM-DD"),
        ("agency=KHONGCO", "agency", "KHONGCO"),
        ("procedure=%3Cscript%3Ealert(1)%3C/script%3E", "procedure", "<script>"),
        ("field=Kh%C3%B4ng%20c%C3%B3", "field", "Không có"),
        ("agency=A&agency=B", "agency", "agency"),
    ],
)
def test_refused_filters_are_shown_in_the_form(client: TestClient, query: str, param: str, message: str) -> None:
    response = client.get(f"/stats?{query}")
    assert response.status_code == 422
    assert "<script>alert" not in response.text  # what was typed is escaped
    doc = lxml.html.fromstring(response.text)
    (summary,) = doc.xpath('//div[@id="error-summary"]')
    assert summary.get("role") == "alert"
    (link,) = summary.xpath(".//a")
    assert link.get("href") == f"#stats-{param}" and message in text(link)
    field = doc.get_element_by_id(f"stats-{param}")
    assert field.get("aria-invalid") == "true"
    assert f"stats-{param}-error" in field.get("aria-describedby").split()
    assert text(doc.get_element_by_id(f"stats-{param}-error")) == text(link)
    assert not doc.xpath('//li[starts-with(@id, "figure-")]')  # no figures for a refused query
    assert not doc.xpath('//a[contains(@href, "/api/stats")]')


def test_refused_values_are_kept_as_typed(client: TestClient) -> None:
    doc = page(client, "from=hôm-qua&to=2004-03-01&agency=KHONGCO&field=", status=422)
    date_from = doc.get_element_by_id("stats-from")
    assert (date_from.get("type"), date_from.get("value")) == ("text", "hôm-qua")  # a date field would drop it
    date_to = doc.get_element_by_id("stats-to")
    assert (date_to.get("type"), date_to.get("value")) == ("date", "2004-03-01")
    doc = page(client, "from=2004-01-01&to=2004-03-01&agency=KHONGCO", status=422)
    (selected,) = doc.xpath('//select[@name="agency"]/option[@selected]')
    assert selected.get("value") == "KHONGCO"
    assert doc.get_element_by_id("stats-from").get("value") == "2004-01-01"


def test_default_period_is_this_year_and_presets_keep_the_filters(client: TestClient, dataset: Dataset) -> None:
    doc = page(client, "")
    today_year = doc.get_element_by_id("stats-to").get("value")[:4]
    assert doc.get_element_by_id("stats-from").get("value") == f"{today_year}-01-01"
    code = dataset.procedure.agency_code
    doc = page(client, f"{PERIOD}&agency={code}")
    presets = {text(a): a.get("href") for a in doc.xpath('//nav[contains(@class, "stats-presets")]//a')}
    assert set(presets) == {VI("This year"), VI("Last 12 months"), VI("Last year")}
    assert all(f"agency={code}" in href for href in presets.values())
    last_year = int(today_year) - 1
    assert presets[VI("Last year")] == f"/stats?from={last_year}-01-01&to={last_year}-12-31&agency={code}"
    assert page(client, presets[VI("Last year")].split("?", 1)[1]) is not None


def test_english(client: TestClient, dataset: Dataset) -> None:
    client.cookies.set("lang", "en")
    doc = page(client, PERIOD)
    assert text(doc.xpath("//h1")[0]) == "Statistics of dossier processing"
    assert card(doc, "on_time_rate")[:2] == ("On-time rate", "66.67\u00a0%")
    assert text(doc.get_element_by_id("chart-timeliness-title")) == "Resolved dossiers by timeliness"
    (json_link,) = doc.xpath('//a[contains(@href, "/api/stats?")]/@href')
    assert "lang=en" in json_link


def test_a_period_with_nothing_shows_dashes_not_zero_percent(client: TestClient) -> None:
    doc = page(client, "from=1995-01-01&to=1995-03-31")
    assert card(doc, "on_time_rate")[1] == "—" and card(doc, "received")[1] == "0"
    assert not doc.xpath('//li[@id="figure-early"]//p[@class="stat-sub"]')  # no "— of resolved"
    assert len(doc.xpath('//svg[@role="img"]')) == 3  # the charts are drawn empty, with their axes
    assert [row[0] for row in table(doc, "monthly-table-caption")] == ["01/1995", "02/1995", "03/1995"]
    assert not doc.xpath('//table[@id="ranking-agencies"]')
    assert VI("nothing was resolved in the period.") in text(doc.xpath("//main")[0])
