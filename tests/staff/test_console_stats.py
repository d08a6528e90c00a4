"""The console's statistics drill-down over HTTP (/staff/stats): province → agency → procedure → the dossiers
behind a figure, scoped per role."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest
from fastapi.testclient import TestClient
from lxml.html import HtmlElement
from sqlmodel import Session

from portal.dossiers.models import DossierStatus, Timeliness
from tests import factories
from tests.conftest import signup
from tests.staff_factories import staff_client

pytestmark = pytest.mark.db

UBXA_PROC = factories.MARITAL  # agency UBXA
CAT_PROC = "3.000333"  # agency CAT


@dataclass
class Period:
    day: date
    late_code: str  # UBXA, resolved late on `day`
    early_code: str  # UBXA, resolved early on `day`
    cat_code: str  # CAT, resolved on time on `day`

    @property
    def params(self) -> dict[str, str]:
        return {"from": self.day.isoformat(), "to": self.day.isoformat()}


@pytest.fixture(scope="module")
def period(app: Any) -> Period:
    """A past day of its own on which three dossiers got their result: UBXA late and early, CAT on time."""
    day = date(1995, 1, 2) + timedelta(days=random.randrange(3000))
    ready = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam
    received = ready - timedelta(days=10)
    codes = []
    with Session(app.state.engine) as session:
        for procedure, official, judged in (
            (UBXA_PROC, day - timedelta(days=2), Timeliness.LATE),
            (UBXA_PROC, day + timedelta(days=2), Timeliness.EARLY),
            (CAT_PROC, day, Timeliness.ON_TIME),
        ):
            row = factories.dossier(
                session,
                procedure_code=procedure,
                submitted=True,
                code=f"ST-{secrets.token_hex(5).upper()}",
                status=DossierStatus.COMPLETED,
                received_at=received,
                official_due_date=official,
                due_date=official,
                result_ready_at=ready,
                completed_at=ready,
                timeliness=judged,
            )
            codes.append(row.code or "")
        session.commit()
    return Period(day=day, late_code=codes[0], early_code=codes[1], cat_code=codes[2])


def _page(client: TestClient, path: str, **params: str) -> HtmlElement:
    r = client.get(path, params=params) if params else client.get(path)  # (params replace a path's query)
    assert r.status_code == 200, r.text
    return lxml.html.fromstring(r.text)


def _figure(page: HtmlElement, name: str) -> str:
    cells = page.xpath(f'//*[@data-figure="{name}"]')
    assert cells, name
    return str(cells[0].text_content()).strip()


def _breakdown(page: HtmlElement) -> dict[str, HtmlElement]:
    return {tr.get("data-code"): tr for tr in page.xpath('//table[@id="staff-breakdown"]/tbody/tr')}


def _href(row: HtmlElement, xpath: str) -> str:
    found = row.xpath(xpath)
    assert found, xpath
    return str(found[0].get("href"))


def test_supervisor_drills_from_province_to_the_late_dossiers(app: Any, period: Period) -> None:
    supervisor = staff_client(app, role="supervisor")
    province = _page(supervisor, "/staff/stats", **period.params)
    assert _figure(province, "resolved") == "3"
    assert (
        _figure(province, "late") == "1" and _figure(province, "early") == "1" and _figure(province, "on_time") == "1"
    )
    rows = _breakdown(province)
    assert {"UBXA", "CAT"} <= set(rows)
    assert rows["UBXA"].xpath(".//td[@data-late]")[0].get("data-late") == "1"
    # Province → agency: the row's link opens the agency's level, by procedure.
    agency_href = _href(rows["UBXA"], "./th/a")
    assert parse_qs(urlsplit(agency_href).query)["agency"] == ["UBXA"]
    agency = _page(supervisor, agency_href)
    assert _figure(agency, "resolved") == "2" and _figure(agency, "late") == "1"
    procedures = _breakdown(agency)
    assert UBXA_PROC in procedures and CAT_PROC not in procedures
    # Agency → procedure → the list of its late dossiers.
    procedure = _page(supervisor, _href(procedures[UBXA_PROC], "./th/a"))
    assert _figure(procedure, "late") == "1"
    assert procedure.xpath('//table[@id="staff-breakdown"]') == []
    late_href = _href(procedure, '//*[@data-figure="late"]/a')
    query = parse_qs(urlsplit(late_href).query)
    assert query["timeliness"] == ["late"] and query["procedure"] == [UBXA_PROC] and query["agency"] == ["UBXA"]
    listed = supervisor.get(late_href).text
    assert period.late_code in listed and period.early_code not in listed and period.cat_code not in listed
    # A number of the province's table is a list too.
    resolved_href = _href(rows["CAT"], "./td/a")
    listed = supervisor.get(resolved_href).text
    assert period.cat_code in listed and period.late_code not in listed


def test_officer_sees_only_own_agency_figures(app: Any, period: Period) -> None:
    officer = staff_client(app, role="officer", agency_code="UBXA")
    page = _page(officer, "/staff/stats", **period.params)
    assert _figure(page, "resolved") == "2"  # CAT's dossier is not counted
    codes = set(_breakdown(page))
    assert UBXA_PROC in codes and CAT_PROC not in codes  # by procedure of UBXA
    refused = officer.get("/staff/stats", params={**period.params, "agency": "CAT"})
    assert refused.status_code == 422 and 'href="#f-agency"' in refused.text
    assert officer.get("/staff/stats", params={**period.params, "procedure": CAT_PROC}).status_code == 422
    cat = staff_client(app, role="officer", agency_code="CAT")
    assert _figure(_page(cat, "/staff/stats", **period.params), "resolved") == "1"


def test_overdue_now_links_to_the_overdue_list(app: Any) -> None:
    today = datetime.now(UTC).date()
    with Session(app.state.engine) as session:
        late = factories.dossier(
            session,
            procedure_code=CAT_PROC,
            submitted=True,
            code=f"OD-{secrets.token_hex(5).upper()}",
            status=DossierStatus.IN_PROCESS,
            received_at=datetime.now(UTC) - timedelta(days=30),
            official_due_date=today - timedelta(days=5),
            due_date=today - timedelta(days=5),
        )
        session.commit()
        code = late.code or ""
    supervisor = staff_client(app, role="supervisor")
    page = _page(supervisor, "/staff/stats")
    row = _breakdown(page)["CAT"]
    assert int(row.xpath(".//td[@data-overdue]")[0].get("data-overdue")) >= 1
    href = _href(row, ".//td[@data-overdue]/a")
    assert parse_qs(urlsplit(href).query) == {"agency": ["CAT"], "overdue": ["1"]}
    assert code in supervisor.get(f"{href}&q={code}").text


def test_bad_stats_filters_are_422_with_values_kept(app: Any) -> None:
    supervisor = staff_client(app, role="supervisor")
    r = supervisor.get("/staff/stats", params={"from": "2026-02-31"})
    assert r.status_code == 422 and 'value="2026-02-31"' in r.text
    r = supervisor.get("/staff/stats", params={"agency": "NOPE"})
    assert r.status_code == 422 and 'href="#f-agency"' in r.text


def test_stats_refusals(app: Any) -> None:
    postal = staff_client(app, role="postal")
    assert postal.get("/staff/stats").status_code == 403
    anonymous = TestClient(app, follow_redirects=False)
    r = anonymous.get("/staff/stats")
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/login?next=")
    citizen = TestClient(app, follow_redirects=False)
    signup(citizen)
    assert citizen.get("/staff/stats").status_code == 403
