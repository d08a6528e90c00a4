"""QA (issue 15, "Bad input"): a hostile back-office client against a linked application, over every
/api/v1/backoffice route that names a dossier, and the listing and the change feed. The parent is a 404 for
every agency, the receiving one too; a waiting member is a 404 for its own agency until released (nothing can be
done to it: receive, reject, result...); another member's child and its files are a 404. Never a 403 (it would
say the code exists), never a 5xx."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from signing.pki import get_pki
from tests import factories
from tests.api.helpers import signed_by
from tests.conftest import csrf
from tests.qa.linked_scene import API, A, B, C, D, Scene, browser, draft_application, partner, submitted_application

pytestmark = pytest.mark.db


def _requests(code: str, file_ids: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every back-office operation on one dossier, each with a valid body (so a 404 is the dossier's)."""
    later = (local_date(utcnow()) + timedelta(days=10)).isoformat()
    base = f"{API}/dossiers/{code}"
    out: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", base, {}),
        ("GET", f"{base}/receipt.pdf", {}),
        ("GET", f"{base}/payments", {}),
        ("GET", f"{base}/results/{secrets.token_hex(16)}", {}),
        ("POST", f"{base}/receive", {"json": {"officer": "Cán bộ Lạ"}}),
        ("POST", f"{base}/start-processing", {"json": {}}),
        ("POST", f"{base}/sub-status", {"json": {"code": "x", "text_vi": "x", "text_en": "x"}}),
        (
            "POST",
            f"{base}/request-supplement",
            {"json": {"items": [{"kind": "component", "target": "to_khai", "reason": "?"}], "message": "Bổ sung"}},
        ),
        (
            "POST",
            f"{base}/result",
            {"files": [("files", ("kq.pdf", factories.pdf_bytes("Ket qua"), "application/pdf"))]},
        ),
        ("POST", f"{base}/apologise", {"json": {"reason": "Trễ", "new_date": later}}),
        ("POST", f"{base}/complete", {"json": {"handover": "centre"}}),
        ("POST", f"{base}/reject", {"json": {"reason": "Không đủ điều kiện"}}),
        ("POST", f"{base}/refund", {}),
    ]
    out += [("GET", f"{base}/files/{file_id}", {}) for file_id in file_ids]
    return out


def _all_404(client: TestClient, headers: dict[str, str], code: str, file_ids: list[str]) -> list[str]:
    wrong = []
    for method, url, kwargs in _requests(code, file_ids):
        r = client.request(method, url, headers={**headers, "Idempotency-Key": secrets.token_hex(8)}, **kwargs)
        if r.status_code != 404 or not r.headers["content-type"].startswith("application/problem+json"):
            wrong.append(f"{method} {url}: {r.status_code} {r.text[:200]}")
    return wrong


def _statuses(app: Any, scene: Scene) -> dict[str, str]:
    with Session(app.state.engine) as s:
        rows = s.exec(select(Dossier).where(Dossier.id.in_([scene.parent, *scene.children.values()]))).all()  # type: ignore[attr-defined]
        return {r.id: str(r.status) for r in rows}


def _feed_codes(client: TestClient, headers: dict[str, str]) -> set[str]:
    seen: set[str] = set()
    cursor = None
    for _ in range(2000):
        r = client.get(f"{API}/changes", params={"cursor": cursor} if cursor else {}, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        seen |= {item["code"] for item in body["items"]}
        if not body["items"]:
            return seen
        cursor = body["next_cursor"]
    raise AssertionError("the feed never ended")


def _listed(client: TestClient, headers: dict[str, str], **params: Any) -> set[str]:
    codes: set[str] = set()
    page = 1
    while True:
        r = client.get(f"{API}/dossiers", params={"page_size": 100, "page": page, **params}, headers=headers)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        codes |= {i["code"] for i in items}
        if len(items) < 100:
            return codes
        page += 1


def test_every_backoffice_route_is_a_404_for_the_parent_a_waiting_member_and_another_members_child(
    app: Any, settings: Any, client: TestClient
) -> None:
    _, account_id = browser(app)
    scene = submitted_application(app, settings, account_id)
    before = _statuses(app, scene)
    assert before[scene.children[B]] == "waiting" and before[scene.children[A]] == "submitted"
    h = {agency: partner(app, agency) for agency in ("UBXA", "CAT", "SNV")}
    wrong: list[str] = []
    for headers in h.values():  # the parent: no agency's, the receiving one's (UBXA) neither
        wrong += _all_404(client, headers, scene.parent_code, scene.files[scene.parent])
    # The waiting members: not even their own agency may touch them yet (receive, reject, result...).
    wrong += _all_404(client, h["CAT"], scene.codes[B], scene.files[scene.children[B]])
    wrong += _all_404(client, h["SNV"], scene.codes[D], scene.files[scene.children[D]])
    # Another member's child and its files.
    for member, agencies in ((A, ("CAT", "SNV")), (C, ("CAT", "SNV")), (B, ("UBXA", "SNV")), (D, ("UBXA", "CAT"))):
        for agency in agencies:
            wrong += _all_404(client, h[agency], scene.codes[member], scene.files[scene.children[member]])
    # A child's files through another agency's own code: never.
    for file_id in scene.files[scene.children[B]] + scene.files[scene.parent]:
        r = client.get(f"{API}/dossiers/{scene.codes[A]}/files/{file_id}", headers=h["UBXA"])
        if r.status_code != 404:
            wrong.append(f"A's code with B's/parent's file {file_id}: {r.status_code}")
    assert not wrong, "\n".join(wrong)
    assert _statuses(app, scene) == before  # nothing moved

    hidden = {scene.parent_code, scene.codes[B], scene.codes[D]}
    for agency, headers in h.items():
        assert not hidden & _feed_codes(client, headers), agency
        assert not hidden & _listed(client, headers), agency
    assert {scene.codes[A], scene.codes[C]} <= _listed(client, h["UBXA"])
    assert not {scene.codes[A], scene.codes[C]} & (_listed(client, h["CAT"]) | _feed_codes(client, h["SNV"]))


def test_the_member_a_dependency_waits_on_is_acted_on_and_the_release_then_reaches_its_agency_only(
    app: Any, settings: Any, client: TestClient
) -> None:
    _, account_id = browser(app)
    scene = submitted_application(app, settings, account_id)
    h = {agency: partner(app, agency) for agency in ("UBXA", "CAT", "SNV")}
    a = f"{API}/dossiers/{scene.codes[A]}"
    assert client.post(f"{a}/receive", json={"officer": "Cán bộ một cửa"}, headers=h["UBXA"]).status_code == 200
    signed = signed_by(get_pki(app).issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA"), factories.pdf_bytes("KS"))
    r = client.post(f"{a}/result", files=[("files", ("khai-sinh.pdf", signed, "application/pdf"))], headers=h["UBXA"])
    assert r.status_code == 200, r.text
    result_id = r.json()["results"][0]["id"]
    # Now B is released to CAT (with A's result attached); A's result is still UBXA's only.
    b = client.get(f"{API}/dossiers/{scene.codes[B]}", headers=h["CAT"])
    assert b.status_code == 200, b.text
    assert client.get(f"{API}/dossiers/{scene.codes[A]}/results/{result_id}", headers=h["CAT"]).status_code == 404
    assert client.get(f"{API}/dossiers/{scene.codes[B]}/results/{result_id}", headers=h["CAT"]).status_code == 404
    assert client.get(f"{API}/dossiers/{scene.codes[A]}/results/{result_id}", headers=h["UBXA"]).status_code == 200
    # D still waits (for B): SNV cannot act on it.
    assert _all_404(client, h["SNV"], scene.codes[D], []) == []
    assert _statuses(app, scene)[scene.children[D]] == str(DossierStatus.WAITING)


def test_a_linked_entry_cannot_be_registered_at_the_counter_as_a_single_dossier(
    app: Any, settings: Any, client: TestClient
) -> None:
    """The receiving agency's counter (intake API) registering a paper dossier on a linked entry would make a
    dossier of no member, handled as a single one by the receiving agency (no children, no other agency told):
    refused with a clear problem, nothing saved."""
    import json

    from tests.api.test_backoffice_intake import _cccd, _phone

    _, account_id = browser(app)
    code, _ = draft_application(app, account_id)  # a linked entry received at UBXA over real members
    h = partner(app, "UBXA")
    given = {
        "procedure_code": code,
        "applicant": {"cccd": _cccd(), "full_name": "Lê Văn Tám", "phone": _phone()},
        "answers": factories.marital_answers(),
        "officer": "Nguyễn Thị Một Cửa",
        "delivery_method": "centre",
        "files": ["to_khai"],
    }
    scan = factories.pdf_bytes("Trang 1")
    r = client.post(
        f"{API}/intake",
        data={"dossier": json.dumps(given, ensure_ascii=False)},
        files=[("files", ("scan.pdf", scan, "application/pdf"))],
        headers=h,
    )
    assert r.status_code in (404, 409, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    with Session(app.state.engine) as s:
        assert s.exec(select(Dossier).where(Dossier.procedure_code == code, Dossier.status != "draft")).all() == []


def test_a_visit_to_collect_a_linked_application_s_results_is_booked_per_member_not_on_the_parent(
    app: Any, settings: Any, client: TestClient
) -> None:
    """Every member's result is ready at the counter: the parent follows (result ready, delivery centre). A visit
    booked on the parent would put the parent's code in the receiving agency's visit list (its back-office never
    reads the parent: the counter could neither find it nor hand anything over); each member's result is
    collected at its own agency."""
    owner, account_id = browser(app)
    scene = submitted_application(app, settings, account_id)
    with Session(writer(app.state.engine)) as s:
        for child_id in scene.children.values():
            row = s.get(Dossier, child_id)
            assert row is not None
            row.status, row.waiting_on = DossierStatus.RESULT_READY, None
            s.add(row)
        parent = s.get(Dossier, scene.parent)
        assert parent is not None
        parent.status = DossierStatus.RESULT_READY
        s.add(parent)
        s.commit()
    page = owner.get(f"/dossiers/{scene.parent}")
    assert f'href="/dossiers/{scene.parent}/visit"' not in page.text
    assert f'href="/dossiers/{scene.children[C]}/visit"' in page.text  # each part, from its line
    r = owner.get(f"/dossiers/{scene.parent}/visit")
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{scene.parent}#linked-members"
    token = csrf(owner, f"/dossiers/{scene.parent}")
    from portal.dossiers.visit_views import _bookable_day
    from portal.kernel.calendar import local_date as today_of
    from portal.visits import service as visits

    day = next(
        d for d in (today_of(utcnow()) + timedelta(days=n) for n in range(1, 15)) if _bookable_day(settings, "UBXA", d)
    )
    with Session(app.state.engine) as s:
        slot = visits.day_slots(s, settings, "UBXA", day)[0].start
    data = {"csrf_token": token, "purpose": "collect_result", "day": day.isoformat(), "slot": slot}
    booking = owner.post(f"/dossiers/{scene.parent}/visit", data=data)
    assert booking.status_code == 409, booking.text[:300]
    # Member C's result, at UBXA's counter: booked on C, listed under C's code.
    assert owner.get(f"/dossiers/{scene.children[C]}/visit").status_code == 200
    booked = owner.post(f"/dossiers/{scene.children[C]}/visit", data=data)
    assert booked.status_code == 303, booked.text[:300]
    assert owner.get(booked.headers["location"]).status_code == 200  # the ticket
    listed = client.get(f"{API}/visits", params={"day": day.isoformat()}, headers=partner(app, "UBXA"))
    assert listed.status_code == 200
    codes = {v["dossier_code"] for v in listed.json()["items"]}
    assert scene.parent_code not in codes and scene.codes[C] in codes
