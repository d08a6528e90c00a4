""" "Who accessed my dossier" over HTTP: a back-office reads a dossier through /api/v1 and its owner sees who and
why on the dossier page; a postal operator's order reads name the pickup or the delivery; no one else sees it."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from auth.models import Account
from portal.audit.access import PURPOSES
from portal.catalog.models import Agency
from portal.dossiers.models import Dossier
from portal.kernel.audit import AuditEvent
from portal.kernel.db import writer
from portal.kernel.deps import app_storage
from portal.kernel.i18n import Translator
from postal.models import ParcelKind
from tests import factories
from tests.api.postal_helpers import committed_order, operator_headers, url
from tests.api.test_token_and_api import bearer, get_token, new_client
from tests.conftest import signup

pytestmark = pytest.mark.db


def _owner(app, client: TestClient) -> Account:
    login = signup(client)
    with Session(app.state.engine) as s:
        return s.exec(select(Account).where(Account.email == login)).one()


def _dossier_of(app, owner: Account) -> Dossier:
    """A submitted dossier of `owner` with one stored file."""
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        row = factories.dossier(s, applicant=s.get(Account, owner.id), submitted=True)
        key = app_storage(app).put(factories.pdf_bytes(), prefix=f"dossiers/{row.id}", suffix=".pdf")
        factories.dossier_file(s, row, component_id="to_khai", storage_key=key)
        s.commit()
        return row


def _backoffice(app, client: TestClient, agency: str) -> tuple[str, dict[str, str]]:
    client_id, secret = new_client(app, agency=agency)
    return client_id, bearer(get_token(client, client_id, secret))


def _events(app, dossier_id: str) -> list[AuditEvent]:
    with Session(app.state.engine) as s:
        stmt = select(AuditEvent).where(col(AuditEvent.dossier_id) == dossier_id).order_by(col(AuditEvent.id))
        return list(s.exec(stmt))


def _section(html: str) -> str:
    found = re.search(r'<section id="accesses".*?</section>', html, re.S)
    assert found, "no 'who accessed my dossier' section"
    return unescape(found.group(0))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_owner_sees_the_agency_that_read_the_dossier_and_why(client: TestClient, app) -> None:
    owner = _owner(app, client)
    dossier = _dossier_of(app, owner)
    t = Translator("vi")
    before = _text(_section(client.get(f"/dossiers/{dossier.id}").text))
    assert t.gettext(PURPOSES["processing"]) not in before  # nobody has read it yet

    api = TestClient(app)
    client_id, headers = _backoffice(app, api, dossier.agency_code)
    r = api.get(f"/api/v1/backoffice/dossiers/{dossier.code}", headers=headers)
    assert r.status_code == 200, r.text
    file_id = r.json()["files"][0]["id"]
    assert api.get(f"/api/v1/backoffice/dossiers/{dossier.code}/files/{file_id}", headers=headers).status_code == 200

    reads = [e for e in _events(app, dossier.id) if e.client_id == client_id]
    assert [e.kind for e in reads] == ["dossier.read", "dossier.file_downloaded"]
    for e in reads:
        assert (e.actor_kind, e.actor, e.agency_code, e.purpose) == (
            "agency",
            "test backoffice",
            dossier.agency_code,
            "processing",
        )
    assert reads[1].detail["name"]

    page = client.get(f"/dossiers/{dossier.id}")
    assert page.status_code == 200
    section = _text(_section(page.text))
    with Session(app.state.engine) as s:
        agency = s.get(Agency, dossier.agency_code)
        assert agency is not None
    assert agency.name_vi in section
    assert "test backoffice" in section
    assert t.gettext(PURPOSES["processing"]) in section
    assert t.gettext("Read the dossier") in section
    assert t.gettext("Downloaded the file {name}", name=reads[1].detail["name"]) in section

    english = client.get(f"/dossiers/{dossier.id}", cookies={"lang": "en"})
    assert "Processing the dossier" in _text(_section(english.text))

    # Another citizen: the same 404 as for a dossier that does not exist, and nothing about who read it.
    stranger = TestClient(app, follow_redirects=False)
    signup(stranger)
    other = stranger.get(f"/dossiers/{dossier.id}")
    assert other.status_code == 404
    assert "test backoffice" not in other.text
    # Signed out: to the sign-in page, never the list.
    anonymous = TestClient(app, follow_redirects=False).get(f"/dossiers/{dossier.id}")
    assert anonymous.status_code in (303, 401, 404) and "test backoffice" not in anonymous.text


def test_change_feed_records_one_read_per_returned_dossier(client: TestClient, app) -> None:
    owner = _owner(app, client)
    dossiers = [_dossier_of(app, owner) for _ in range(2)]
    api = TestClient(app)
    client_id, headers = _backoffice(app, api, dossiers[0].agency_code)
    codes: list[str] = []
    cursor = None
    for _ in range(200):  # the feed may hold other tests' dossiers: read to its end
        r = api.get(
            "/api/v1/backoffice/changes",
            params={"limit": 100, **({"cursor": cursor} if cursor else {})},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        cursor = body["next_cursor"]
        if not body["items"]:
            break
        codes += [i["code"] for i in body["items"]]
    assert {d.code for d in dossiers} <= set(codes)
    for d in dossiers:
        listed = [e for e in _events(app, d.id) if e.client_id == client_id and e.kind == "dossier.listed"]
        assert len(listed) == 1 and listed[0].purpose == "processing" and listed[0].actor_kind == "agency"
    # The empty last page records nothing more.
    r = api.get("/api/v1/backoffice/changes", params={"cursor": cursor}, headers=headers)
    assert r.status_code == 200 and r.json()["items"] == []
    for d in dossiers:
        assert len([e for e in _events(app, d.id) if e.client_id == client_id]) == 1


def test_a_transition_by_the_backoffice_is_a_status_change_under_its_name(client: TestClient, app) -> None:
    owner = _owner(app, client)
    dossier = _dossier_of(app, owner)
    api = TestClient(app)
    client_id, headers = _backoffice(app, api, dossier.agency_code)
    r = api.post(
        f"/api/v1/backoffice/dossiers/{dossier.code}/receive", json={"officer": "Lê Văn Cán Bộ"}, headers=headers
    )
    assert r.status_code == 200, r.text
    moved = [e for e in _events(app, dossier.id) if e.kind == "dossier.status"]
    assert len(moved) == 1
    assert (moved[0].actor_kind, moved[0].actor, moved[0].client_id, moved[0].purpose) == (
        "agency",
        "test backoffice",
        client_id,
        "processing",
    )
    assert (moved[0].detail["was"], moved[0].detail["to"]) == ("submitted", "received")
    section = _text(_section(client.get(f"/dossiers/{dossier.id}", cookies={"lang": "en"}).text))
    assert "Changed the status to Received" in section


def test_postal_operator_reads_name_pickup_or_delivery(client: TestClient, app, settings) -> None:
    owner = _owner(app, client)
    dossier = _dossier_of(app, owner)
    pickup = committed_order(
        app, settings, kind=ParcelKind.PICKUP, owner_id=dossier.id, owner_kind="dossier", age=timedelta(0)
    )
    delivery = committed_order(
        app, settings, kind=ParcelKind.DELIVERY, owner_id=dossier.id, owner_kind="dossier", age=timedelta(0)
    )
    foreign = committed_order(app, settings, owner_id=secrets.token_hex(16), age=timedelta(0))  # not a dossier's
    api = TestClient(app)
    headers = operator_headers(api, app)
    assert api.get(url(pickup, ""), headers=headers).status_code == 200
    assert api.get(url(delivery, ""), headers=headers).status_code == 200
    assert api.get(url(foreign, ""), headers=headers).status_code == 200
    reads = [e for e in _events(app, dossier.id) if e.kind == "postal.order_read"]
    assert sorted((e.purpose, e.detail["order"]) for e in reads) == sorted(
        [("pickup", pickup.number), ("delivery", delivery.number)]
    )
    assert {e.actor_kind for e in reads} == {"postal"} and {e.actor for e in reads} == {"test postal"}
    assert _events(app, foreign.owner_id) == []

    section = _text(_section(client.get(f"/dossiers/{dossier.id}", cookies={"lang": "en"}).text))
    assert "Postal operator" in section and "test postal" in section
    assert "Picking up the original documents" in section and "Delivering the result" in section
