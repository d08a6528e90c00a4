"""Linked applications through the back-office API (issue 15, points 3 and 5): each agency reads only its own
member's dossier and the files that member needs; the parent (the citizen's one application) is a 404 for every
agency, in the listing, by code and in the change feed; a member waiting for another's result is not filed with
its agency yet (hidden) and appears in the feed as a new change once released; a member closed while it waited
was never filed (hidden for good)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.dossiers.models import Dossier, DossierEventKind, DossierFile, DossierStatus
from portal.kernel.db import writer
from tests import linked_factories as lf
from tests.api.test_token_and_api import bearer, get_token, new_client

pytestmark = pytest.mark.db

API = "/api/v1/backoffice"


@dataclass
class Scene:
    cat: lf.Linked
    parent: Dossier
    child_a: Dossier  # submitted to agency A
    child_b: Dossier  # waiting for A's result
    parent_form: DossierFile  # the application, needed by both members
    parent_only_b: DossierFile  # a component only member B needs
    a_form: DossierFile  # child A's copy of the application (same storage key)
    b_form: DossierFile  # child B's copy
    b_only: DossierFile
    headers: dict[str, dict[str, str]]  # agency code -> bearer header


@pytest.fixture()
def scene(app, client: TestClient) -> Iterator[Scene]:
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        cat = lf.catalogue(s)
        parent = lf.parent(s, cat)
        key = app.state.storage.put(b"%PDF-1.7 to khai lien thong", prefix=f"dossiers/{cat.suffix}")
        form = lf.file_of(s, cat, parent, "to_khai", storage_key=key)
        only_b = lf.file_of(s, cat, parent, "so_ho_khau")
        child_a = lf.child(s, cat, parent, cat.member_a)
        child_b = lf.child(s, cat, parent, cat.member_b, status=DossierStatus.WAITING)
        a_form = lf.copy_file(s, cat, form, child_a, "to_khai")
        b_form = lf.copy_file(s, cat, form, child_b, "to_khai_thay_doi")
        b_only = lf.copy_file(s, cat, only_b, child_b, "so_ho_khau")
        s.commit()
    headers = {}
    for agency in (cat.receiving, cat.agency_a, cat.agency_b):
        client_id, secret = new_client(app, agency=agency)
        headers[agency] = bearer(get_token(client, client_id, secret))
    yield Scene(cat, parent, child_a, child_b, form, only_b, a_form, b_form, b_only, headers)


def _listed(client: TestClient, headers: dict[str, str]) -> set[str]:
    r = client.get(f"{API}/dossiers", params={"page_size": 100}, headers=headers)
    assert r.status_code == 200, r.text
    return {item["code"] for item in r.json()["items"]}


def _feed(client: TestClient, headers: dict[str, str], cursor: str | None = None) -> tuple[list[str], str]:
    r = client.get(f"{API}/changes", params={"cursor": cursor} if cursor else {}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    return [item["code"] for item in body["items"]], body["next_cursor"]


def _all_feed(client: TestClient, headers: dict[str, str], cursor: str | None = None) -> tuple[list[str], str]:
    seen: list[str] = []
    for _ in range(1000):
        codes, cursor = _feed(client, headers, cursor)
        seen += codes
        if not codes:
            return seen, cursor
    raise AssertionError("the feed never ended")


def _not_found(r: Any) -> None:
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "dossier" in r.json()["detail"].lower() or "file" in r.json()["detail"].lower()


def test_each_agency_lists_only_its_own_filed_member(client: TestClient, scene: Scene) -> None:
    cat, h = scene.cat, scene.headers
    assert _listed(client, h[cat.agency_a]) == {scene.child_a.code}
    assert _listed(client, h[cat.agency_b]) == set()  # its member waits for A's result: not filed yet
    assert _listed(client, h[cat.receiving]) == set()  # the parent is no agency's dossier
    r = client.get(f"{API}/dossiers", params={"status": "waiting"}, headers=h[cat.agency_b])
    assert r.status_code == 422  # not a status a back-office can ask for


def test_the_parent_is_a_404_for_every_agency(client: TestClient, scene: Scene) -> None:
    code = scene.parent.code
    for agency, headers in scene.headers.items():
        _not_found(client.get(f"{API}/dossiers/{code}", headers=headers))
        _not_found(client.get(f"{API}/dossiers/{code}/files/{scene.parent_form.id}", headers=headers))
        _not_found(client.get(f"{API}/dossiers/{code}/payments", headers=headers))
        r = client.post(f"{API}/dossiers/{code}/receive", json={"officer": "Cán bộ một cửa"}, headers=headers)
        _not_found(r)
        assert agency  # every agency, the receiving one included


def test_an_agency_cannot_read_another_members_child_nor_its_files(client: TestClient, scene: Scene) -> None:
    cat, h = scene.cat, scene.headers
    a, b = scene.child_a.code, scene.child_b.code
    r = client.get(f"{API}/dossiers/{a}", headers=h[cat.agency_a])
    assert r.status_code == 200, r.text
    for other in (cat.agency_b, cat.receiving):
        _not_found(client.get(f"{API}/dossiers/{a}", headers=h[other]))
        _not_found(client.get(f"{API}/dossiers/{a}/files/{scene.a_form.id}", headers=h[other]))
    # B's member, once released, is still not A's: neither the dossier nor its files, even through A's own code.
    _not_found(client.get(f"{API}/dossiers/{b}", headers=h[cat.agency_a]))
    _not_found(client.get(f"{API}/dossiers/{b}/files/{scene.b_only.id}", headers=h[cat.agency_a]))
    _not_found(client.get(f"{API}/dossiers/{a}/files/{scene.b_only.id}", headers=h[cat.agency_a]))
    _not_found(client.get(f"{API}/dossiers/{a}/files/{scene.b_form.id}", headers=h[cat.agency_a]))


def test_a_member_reads_only_the_components_its_member_needs(client: TestClient, scene: Scene) -> None:
    cat, h = scene.cat, scene.headers
    body = client.get(f"{API}/dossiers/{scene.child_a.code}", headers=h[cat.agency_a]).json()
    assert [(f["id"], f["component"]) for f in body["files"]] == [(scene.a_form.id, "to_khai")]
    # The parent's rows of the same stored file are not reachable through the child's code.
    for parent_file in (scene.parent_form, scene.parent_only_b):
        _not_found(client.get(f"{API}/dossiers/{scene.child_a.code}/files/{parent_file.id}", headers=h[cat.agency_a]))
    r = client.get(f"{API}/dossiers/{scene.child_a.code}/files/{scene.a_form.id}", headers=h[cat.agency_a])
    assert r.status_code == 200, r.text  # its own copy: the same stored file as the parent's
    assert r.content == b"%PDF-1.7 to khai lien thong"


def test_a_waiting_member_is_hidden_until_released_then_a_new_change(app, client: TestClient, scene: Scene) -> None:
    cat, h = scene.cat, scene.headers
    b = scene.child_b.code
    seen, cursor_b = _all_feed(client, h[cat.agency_b])
    assert b not in seen
    _not_found(client.get(f"{API}/dossiers/{b}", headers=h[cat.agency_b]))
    _not_found(client.get(f"{API}/dossiers/{b}/files/{scene.b_form.id}", headers=h[cat.agency_b]))
    r = client.post(f"{API}/dossiers/{b}/receive", json={"officer": "Cán bộ B"}, headers=h[cat.agency_b])
    _not_found(r)  # no agency acts on a member before it is filed with it
    seen_r, cursor_r = _all_feed(client, h[cat.receiving])
    assert scene.parent.code not in seen_r

    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        child_b = s.get(Dossier, scene.child_b.id)
        parent = s.get(Dossier, scene.parent.id)
        assert child_b is not None and parent is not None
        lf.release(s, cat, child_b)
        lf.event(s, cat, parent, DossierEventKind.LINKED_RESULT_ATTACHED)  # the parent moves in the feed too
        s.commit()

    codes, _ = _all_feed(client, h[cat.agency_b], cursor_b)
    assert codes == [b]  # the released member: a new change after the cursor the agency already holds
    assert _listed(client, h[cat.agency_b]) == {b}
    body = client.get(f"{API}/dossiers/{b}", headers=h[cat.agency_b]).json()
    assert body["status"] == "submitted"
    assert sorted(f["id"] for f in body["files"]) == sorted([scene.b_form.id, scene.b_only.id])
    codes_r, _ = _all_feed(client, h[cat.receiving], cursor_r)
    assert scene.parent.code not in codes_r
    codes_a, _ = _all_feed(client, h[cat.agency_a])
    assert b not in codes_a and scene.parent.code not in codes_a


def test_a_member_closed_while_it_waited_was_never_filed(app, client: TestClient, scene: Scene) -> None:
    cat, h = scene.cat, scene.headers
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        parent = s.get(Dossier, scene.parent.id)
        assert parent is not None
        waiting = lf.child(s, cat, parent, cat.member_b, status=DossierStatus.WAITING)
        waiting.status = DossierStatus.REJECTED  # with the member it depended on (cascade), never released
        lf.event(s, cat, waiting, DossierEventKind.REJECTED)
        s.commit()
    seen, _ = _all_feed(client, h[cat.agency_b])
    assert waiting.code not in seen
    assert waiting.code not in _listed(client, h[cat.agency_b])
    _not_found(client.get(f"{API}/dossiers/{waiting.code}", headers=h[cat.agency_b]))
