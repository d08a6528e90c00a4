"""The catalogue pages of a linked entry: its members with agency, time limit, fees and dependencies, fees per
agency, each component once with the members needing it; Vietnamese first and English complete."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from portal.catalog.linked import members_of
from portal.catalog.models import Agency, Procedure

pytestmark = pytest.mark.db


def _linked(db: Session) -> list[Procedure]:
    procs = db.exec(select(Procedure).where(Procedure.kind == "linked", Procedure.active == True)).all()
    assert procs, "the catalogue ships both national linked packages (LT.KS, LT.KT)"
    return list(procs)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def test_linked_page_lists_members_agencies_deadlines_and_dependencies(client: TestClient, db: Session) -> None:
    for linked in _linked(db):
        page = client.get(f"/procedures/{linked.code}")
        assert page.status_code == 200
        html = page.text
        assert 'id="linked-members"' in html
        table = html[html.index('id="linked-members"') : html.index("</table>", html.index('id="linked-members"'))]
        for member in members_of(linked):
            proc = db.get(Procedure, member.procedure)
            assert proc is not None
            agency = db.get(Agency, proc.agency_code)
            assert agency is not None
            row = table[table.index(f'id="member-{proc.code.replace(".", "-")}"') :]
            row = _text(row[: row.index("</tr>")])
            assert proc.name_vi in row and agency.name_vi in row
            assert f"{proc.deadline_days} ngày làm việc" in row
            if member.depends_on:
                first = db.get(Procedure, member.depends_on[0])
                assert first is not None and first.name_vi in row
            if member.optional is not None:
                assert member.optional.vi in row
        text = _text(html)
        assert f"{linked.deadline_days} ngày làm việc" in text
        for comp in linked.component_list:
            assert comp.name.vi in text


def test_linked_page_fees_name_the_agency_collecting_them(client: TestClient, db: Session) -> None:
    for linked in _linked(db):
        if not linked.fees:
            continue
        html = client.get(f"/procedures/{linked.code}").text
        text = _text(html)
        for fee in linked.fees:
            agency = db.get(Agency, fee["agency"])
            assert agency is not None and agency.name_vi in text and fee["name"]["vi"] in text


def test_linked_page_in_english_is_complete(client: TestClient, db: Session) -> None:
    linked = _linked(db)[0]
    client.get("/lang/en", params={"next": "/"})
    page = client.get(f"/procedures/{linked.code}")
    assert page.status_code == 200 and 'lang="en"' in page.text
    text = _text(page.text)
    assert "Procedures in this linked application" in text and linked.name_en in text
    assert f"{linked.deadline_days} working days at most" in text
    for member in members_of(linked):
        proc = db.get(Procedure, member.procedure)
        assert proc is not None and proc.name_en in text
        assert ("After the result of:" if member.depends_on else "At once") in text
        if member.optional is not None:
            assert f"If you choose it: “{member.optional.en}”" in text
    if linked.fees:
        assert "Collected by" in text and "each agency receives its own fees" in text
    assert "For: " in text


def test_list_marks_linked_entries(client: TestClient, db: Session) -> None:
    linked = _linked(db)[0]
    client.get("/lang/en", params={"next": "/"})
    page = client.get("/procedures", params={"q": linked.code})
    assert f"/procedures/{linked.code}" in page.text
    assert f"Linked: {len(linked.members)} procedures in one application" in _text(page.text)


def test_single_procedure_page_has_no_member_table(client: TestClient) -> None:
    page = client.get("/procedures/1.001193")
    assert page.status_code == 200 and 'id="linked-members"' not in page.text
