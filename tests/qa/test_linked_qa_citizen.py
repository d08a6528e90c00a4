"""QA (issue 15): a hostile or clumsy citizen against a linked application and the personal document store, over
HTTP as a browser without JavaScript. Another citizen's parent, children, results, receipts, supplement pages,
store documents and ZIP are a 404 (never a 403); store documents picked for the wrong dossier, type, account,
expired, deleted, twice, into a submitted dossier or a supplement that does not ask for them; CSRF on every new
POST; huge and malformed ids on every new route (4xx, never a 5xx)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from portal.documents import service as store
from portal.documents.models import DocumentSource, StoredDocument
from portal.dossiers.models import Dossier, DossierEvent, DossierFile, DossierRating, DossierStatus
from portal.kernel.db import writer
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from signing.pki import get_pki
from tests import factories
from tests.api.helpers import signed_by
from tests.conftest import csrf
from tests.documents.helpers import kept
from tests.dossiers.linked_factories import _component
from tests.qa.linked_scene import API, A, B, C, Scene, browser, partner, submitted_application

pytestmark = pytest.mark.db

MARITAL_TYPE = "xac_nhan_tinh_trang_hon_nhan"  # C's giay_xac_nhan_cu and C's own result
TYPED = {
    "components": [
        _component("to_khai", [A, C], mandatory=True),
        _component("to_khai_lltp", [B]),
        _component("giay_to_cu_tru", [B]),
        _component("van_ban_uy_quyen", [A, B]),
        _component("giay_xac_nhan_cu", [C], doc_type=MARITAL_TYPE),
    ]
}


def storage_of(settings: Settings) -> LocalStorage:
    return LocalStorage(Path(settings.storage_dir))


def _docs(app: Any, settings: Settings, account_id: str) -> dict[str, str]:
    """The account's store: a current upload, an expired one, one of another type, a result; committed."""
    owner = store.Owner.of(account_id, None)
    storage = storage_of(settings)
    with Session(writer(app.state.engine)) as s:
        made = {
            "current": kept(s, owner, storage=storage, doc_type=MARITAL_TYPE).id,
            "expired": kept(
                s,
                owner,
                storage=storage,
                doc_type=MARITAL_TYPE,
                issued_on=store.today() - timedelta(days=400),
                expires_on=store.today() - timedelta(days=1),
            ).id,
            "other_type": kept(s, owner, storage=storage, doc_type="can_cuoc").id,
            "result": kept(
                s, owner, storage=storage, doc_type=MARITAL_TYPE, source=DocumentSource.RESULT, signature="agency"
            ).id,
        }
        s.commit()
    return made


def _post(client: TestClient, url: str, token: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": token, **data})


def _rows(app: Any, dossier_id: str) -> list[DossierFile]:
    with Session(app.state.engine) as s:
        return list(s.exec(select(DossierFile).where(DossierFile.dossier_id == dossier_id)))


def _supplement_c(app: Any, client: TestClient, scene: Scene, target: str = "giay_xac_nhan_cu") -> None:
    """UBXA receives member C and asks for a document again (the parent follows: supplement requested)."""
    h = partner(app, "UBXA")
    c = f"{API}/dossiers/{scene.codes[C]}"
    assert client.post(f"{c}/receive", json={"officer": "Cán bộ một cửa"}, headers=h).status_code == 200
    ask = {"items": [{"kind": "component", "target": target, "reason": "Giấy cũ đã hết hạn."}], "message": "Bổ sung"}
    r = client.post(f"{c}/request-supplement", json=ask, headers=h)
    assert r.status_code == 200, r.text


# -- another citizen


def test_another_citizen_gets_404_for_every_page_of_a_linked_application_and_the_store(
    app: Any, settings: Settings
) -> None:
    owner, owner_id = browser(app)
    scene = submitted_application(app, settings, owner_id, **TYPED)
    docs = _docs(app, settings, owner_id)
    _supplement_c(app, TestClient(app), scene)
    h = partner(app, "UBXA")
    signed = signed_by(get_pki(app).issue_agency("Ủy ban nhân dân phường Hoa Lư", "UBXA"), factories.pdf_bytes("KS"))
    a = f"{API}/dossiers/{scene.codes[A]}"
    assert TestClient(app).post(f"{a}/receive", json={"officer": "X"}, headers=h).status_code == 200
    r = TestClient(app).post(f"{a}/result", files=[("files", ("ks.pdf", signed, "application/pdf"))], headers=h)
    assert r.status_code == 200, r.text
    result_id = r.json()["results"][0]["id"]
    # The owner reads them all (the child's page leads to the parent's).
    assert owner.get(f"/dossiers/{scene.parent}").status_code == 200
    assert owner.get(f"/dossiers/{scene.children[A]}/results/{result_id}").status_code == 200
    assert owner.get(f"/dossiers/{scene.children[A]}/results/{result_id}0").status_code == 404  # not that id
    assert owner.get(f"/dossiers/{scene.children[C]}/supplement").status_code == 200

    stranger, _ = browser(app, name="Trần Văn Lạ")
    token = csrf(stranger, "/documents")
    gets = [f"/dossiers/{scene.parent}", f"/dossiers/{scene.parent}/receipt.pdf", f"/dossiers/{scene.parent}/files"]
    gets += [f"/dossiers/{scene.parent}/supplement", f"/dossiers/{scene.parent}/payment"]
    gets += [f"/dossiers/{scene.parent}/results/{result_id}"]
    for child in scene.children.values():
        gets += [f"/dossiers/{child}", f"/dossiers/{child}/receipt.pdf", f"/dossiers/{child}/supplement"]
        gets += [f"/dossiers/{child}/files", f"/dossiers/{child}/results/{result_id}"]
        gets += [f"/dossiers/{child}/files/{f}" for f in scene.files[child]]
    gets += [f"/dossiers/{scene.parent}/files/{f}" for f in scene.files[scene.parent]]
    gets += [f"/documents/{d}" for d in docs.values()]
    posts = [
        f"/dossiers/{scene.parent}/withdraw",
        f"/dossiers/{scene.parent}/rating",
        f"/dossiers/{scene.children[C]}/supplement",
        f"/dossiers/{scene.children[C]}/files/giay_xac_nhan_cu/reuse",
        f"/dossiers/{scene.parent}/files/giay_xac_nhan_cu/reuse",
        *[f"/dossiers/{scene.parent}/files/{f}/keep" for f in scene.files[scene.parent]],
        *[f"/documents/{d}/delete" for d in docs.values()],
    ]
    wrong = [f"GET {u}: {r.status_code}" for u in gets if (r := stranger.get(u)).status_code != 404]
    wrong += [
        f"POST {u}: {r.status_code}"
        for u in posts
        if (r := _post(stranger, u, token, document_id=docs["current"], **{"score-x": "5"})).status_code != 404
    ]
    assert not wrong, "\n".join(wrong)
    # The stranger's ZIP holds none of the owner's documents.
    with zipfile.ZipFile(io.BytesIO(stranger.get("/documents/archive.zip").content)) as zf:
        assert json.loads(zf.read("manifest.json"))["documents"] == []
    with Session(app.state.engine) as s:
        assert all(s.get(StoredDocument, d) is not None for d in docs.values())
        parent = s.get(Dossier, scene.parent)
        assert parent is not None and parent.status == DossierStatus.SUPPLEMENT_REQUESTED


# -- the store's documents picked for a component


def test_picking_store_documents_wrongly_is_refused_and_twice_is_one_file(app: Any, settings: Settings) -> None:
    client, account_id = browser(app)
    docs = _docs(app, settings, account_id)
    _other, other_id = browser(app, name="Trần Văn Lạ")
    theirs = _docs(app, settings, other_id)
    from tests.qa.linked_scene import draft_application

    _, parent = draft_application(app, account_id, **TYPED)
    url = f"/dossiers/{parent}/files"
    page = client.get(url)
    assert page.status_code == 200, page.text
    assert f'value="{docs["current"]}"' in page.text and f'value="{docs["expired"]}"' not in page.text
    token = csrf(client, url)
    reuse = f"{url}/giay_xac_nhan_cu/reuse"
    before = {f.id for f in _rows(app, parent)}

    assert _post(client, reuse, token, document_id=theirs["current"]).status_code == 404  # another account's
    assert _post(client, reuse, token, document_id=docs["expired"]).status_code == 409
    assert _post(client, reuse, token, document_id=docs["other_type"]).status_code == 400
    assert _post(client, reuse, token, document_id="").status_code == 404
    assert _post(client, f"{url}/to_khai/reuse", token, document_id=docs["current"]).status_code == 400  # untyped
    assert _post(client, f"{url}/khong_co/reuse", token, document_id=docs["current"]).status_code == 404
    assert {f.id for f in _rows(app, parent)} == before  # nothing added

    # Twice (a double click): one file.
    assert _post(client, reuse, token, document_id=docs["current"]).status_code == 303
    assert _post(client, reuse, token, document_id=docs["current"]).status_code == 303
    reused = [f for f in _rows(app, parent) if f.reused_from]
    assert [f.reused_from for f in reused] == [docs["current"]]
    with Session(app.state.engine) as s:
        events = s.exec(
            select(DossierEvent).where(DossierEvent.dossier_id == parent, DossierEvent.kind == "document_reused")
        ).all()
        assert len(events) == 1

    # Deleted from the store afterwards: the draft keeps its file; picking it again is a 404.
    r = _post(client, f"/documents/{docs['current']}/delete", token)
    assert r.status_code == 303
    assert _post(client, f"/documents/{docs['current']}/delete", token).status_code == 404  # again: gone
    assert client.get(f"{url}/{reused[0].id}").status_code == 200  # the dossier's copy is still readable
    assert _post(client, reuse, token, document_id=docs["current"]).status_code == 404  # no longer in the store
    row_ids = [f.id for f in _rows(app, parent) if f.component_id == "giay_xac_nhan_cu"]
    assert row_ids == [reused[0].id]
    # A result cannot be deleted, twice neither.
    for _ in range(2):
        assert _post(client, f"/documents/{docs['result']}/delete", token).status_code == 409


def test_store_documents_cannot_go_into_a_submitted_linked_application_nor_a_part_not_asked_for(
    app: Any, settings: Settings
) -> None:
    client, account_id = browser(app)
    docs = _docs(app, settings, account_id)
    scene = submitted_application(app, settings, account_id, **TYPED)
    token = csrf(client, "/documents")
    parent_reuse = f"/dossiers/{scene.parent}/files/giay_xac_nhan_cu/reuse"
    r = _post(client, parent_reuse, token, document_id=docs["current"])
    assert r.status_code == 409 and "already been submitted" in r.text
    c_reuse = f"/dossiers/{scene.children[C]}/files/giay_xac_nhan_cu/reuse"
    assert _post(client, c_reuse, token, document_id=docs["current"]).status_code == 409  # C is submitted
    b_reuse = f"/dossiers/{scene.children[B]}/files/giay_to_tuy_than/reuse"  # waiting: not the citizen's to change
    assert _post(client, b_reuse, token, document_id=docs["other_type"]).status_code == 409
    keep = f"/dossiers/{scene.parent}/files/{scene.files[scene.parent][0]}/keep"
    assert _post(client, keep, token).status_code in (400, 409)

    # A supplement asked of member C: the parent follows (supplement requested) but asks nothing itself.
    _supplement_c(app, TestClient(app), scene)
    r = _post(client, parent_reuse, token, document_id=docs["current"])
    assert r.status_code == 409, r.text
    page = client.get(f"/dossiers/{scene.parent}/files")
    assert page.status_code in (200, 303), page.text
    # The member's component that is asked for takes it; another of its components is refused.
    assert (
        _post(
            client, f"/dossiers/{scene.children[C]}/files/to_khai/reuse", token, document_id=docs["current"]
        ).status_code
        == 409
    )
    assert _post(client, c_reuse, token, document_id=docs["expired"]).status_code == 409
    r = _post(client, c_reuse, token, document_id=docs["current"])
    assert r.status_code == 303, r.text
    assert [f.reused_from for f in _rows(app, scene.children[C]) if f.reused_from] == [docs["current"]]
    assert not any(f.reused_from for f in _rows(app, scene.parent))


# -- CSRF and malformed ids


def test_csrf_on_every_new_post(app: Any, settings: Settings) -> None:
    client, account_id = browser(app)
    docs = _docs(app, settings, account_id)
    scene = submitted_application(app, settings, account_id, **TYPED)
    from tests.qa.linked_scene import draft_application

    _, draft = draft_application(app, account_id, **TYPED)
    file_id = _rows(app, draft)[0].id
    posts = [
        (f"/documents/{docs['current']}/delete", {}),
        (f"/dossiers/{draft}/files/giay_xac_nhan_cu/reuse", {"document_id": docs["current"]}),
        (f"/dossiers/{draft}/files/{file_id}/keep", {}),
        (f"/dossiers/{scene.parent}/rating", {"score-x": "5"}),
        (f"/dossiers/{scene.parent}/withdraw", {}),
        (f"/dossiers/{scene.children[A]}/rating", {}),
        (f"/dossiers/{scene.children[C]}/supplement", {}),
    ]
    client.get("/documents")  # a session with a token
    for url, data in posts:
        for sent in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
            r = client.post(url, data={**data, **sent})
            assert r.status_code == 403, (url, sent, r.status_code)
    with Session(app.state.engine) as s:
        assert s.get(StoredDocument, docs["current"]) is not None
        assert not [f for f in s.exec(select(DossierFile).where(DossierFile.dossier_id == draft)) if f.reused_from]
        parent = s.get(Dossier, scene.parent)
        assert parent is not None and parent.status == DossierStatus.SUBMITTED
        assert s.get(DossierRating, scene.parent) is None


BAD_IDS = [
    "x" * 33,
    "0" * 32 + "1",
    "a" * 5000,
    "Nguyễn-Thị-Hường-ồ-ạ-ệ-𝔘𝔫𝔦𝔠𝔬𝔡𝔢-" * 3,
    "%00",
    "..%2F..%2Fetc%2Fpasswd",
    "' OR 1=1 --",
    "\u202eevil",
]


def test_huge_and_malformed_ids_on_every_new_route_are_4xx(app: Any, settings: Settings) -> None:
    client, account_id = browser(app)
    docs = _docs(app, settings, account_id)
    scene = submitted_application(app, settings, account_id, **TYPED)
    from tests.qa.linked_scene import draft_application

    _, draft = draft_application(app, account_id, **TYPED)
    token = csrf(client, "/documents")
    # Every answer is collected (a 5xx too, not raised), so that one run lists every route at fault.
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False, cookies=dict(client.cookies))
    wrong = []
    for bad in BAD_IDS:
        gets = [
            f"/documents/{bad}",
            f"/dossiers/{scene.children[A]}/results/{bad}",
            f"/dossiers/{scene.parent}/results/{bad}",
        ]
        posts = [
            (f"/documents/{bad}/delete", {}),
            (f"/dossiers/{draft}/files/{bad}/keep", {}),
            (f"/dossiers/{draft}/files/{bad}/reuse", {"document_id": docs["current"]}),
            (f"/dossiers/{draft}/files/giay_xac_nhan_cu/reuse", {"document_id": bad}),
            (f"/dossiers/{draft}/files/giay_xac_nhan_cu/reuse", {"document_id": "\x00" + bad}),
        ]
        if bad != "%00":  # a NUL in a dossier's id: test_a_nul_in_a_dossier_id_is_a_4xx
            gets += [f"/dossiers/{bad}", f"/dossiers/{bad}/supplement", f"/dossiers/{bad}/receipt.pdf"]
            gets += [f"/dossiers/{scene.parent}/files/{bad}"]
            posts += [
                (f"/dossiers/{bad}/files/x/keep", {}),
                (f"/dossiers/{bad}/files/giay_xac_nhan_cu/reuse", {"document_id": docs["current"]}),
                (f"/dossiers/{bad}/rating", {}),
                (f"/dossiers/{bad}/withdraw", {}),
            ]
        for url in gets:
            r = client.get(url)
            if not 400 <= r.status_code < 500:
                wrong.append(f"GET {url[:80]}: {r.status_code}")
        for url, data in posts:
            r = client.post(url, data={"csrf_token": token, **data})
            if not 400 <= r.status_code < 500:
                wrong.append(f"POST {url[:80]} {str(data)[:60]}: {r.status_code}")
    # An id made of a real one and one more character is not that document (nor a 5xx).
    longer = docs["current"] + "0"
    for r in (
        client.get(f"/documents/{longer}"),
        client.post(f"/documents/{longer}/delete", data={"csrf_token": token}),
        client.post(
            f"/dossiers/{draft}/files/giay_xac_nhan_cu/reuse", data={"csrf_token": token, "document_id": longer}
        ),
    ):
        if r.status_code != 404:
            wrong.append(f"{r.request.method} {r.request.url} with a real id + 1 char: {r.status_code}")
    assert not wrong, "\n".join(wrong)
    with Session(app.state.engine) as s:
        assert s.get(StoredDocument, docs["current"]) is not None
        assert not [f for f in s.exec(select(DossierFile).where(DossierFile.dossier_id == draft)) if f.reused_from]




def test_a_nul_in_a_dossier_id_is_a_4xx(app: Any) -> None:
    client, _ = browser(app)
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False, cookies=dict(client.cookies))
    token = csrf(client, "/documents")
    answers = [client.get("/dossiers/%00"), client.get("/dossiers/%00/supplement")]
    answers += [client.post(f"/dossiers/%00/{action}", data={"csrf_token": token}) for action in ("withdraw", "rating")]
    assert [r.status_code for r in answers if not 400 <= r.status_code < 500] == []


def test_the_parent_awaiting_a_member_s_supplement_takes_no_answer_itself(app: Any, settings: Settings) -> None:
    """Member C's agency asks for a document: the parent shows supplement requested, but the answers go to the
    member's own pages; posting them to the parent's addresses changes nothing and is never a 5xx."""
    client, account_id = browser(app)
    scene = submitted_application(app, settings, account_id, **TYPED)
    _supplement_c(app, TestClient(app), scene)
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False, cookies=dict(client.cookies))
    token = csrf(client, f"/dossiers/{scene.parent}")
    parent = f"/dossiers/{scene.parent}"
    answers = {
        "GET supplement": client.get(f"{parent}/supplement"),
        "POST supplement": client.post(f"{parent}/supplement", data={"csrf_token": token}),
        "GET files": client.get(f"{parent}/files"),
        "GET step": client.get(f"{parent}/steps/applicant"),
        "POST step": client.post(f"{parent}/steps/applicant", data={"csrf_token": token, "full_name": "Khác"}),
        "POST upload": client.post(
            f"{parent}/files/giay_xac_nhan_cu",
            data={"csrf_token": token},
            files=[("files", ("x.pdf", factories.pdf_bytes("X"), "application/pdf"))],
        ),
        "POST delete": client.post(f"{parent}/files/{scene.files[scene.parent][0]}/delete", data={"csrf_token": token}),
        "POST submit": client.post(f"{parent}/submit", data={"csrf_token": token, "delivery_method": "centre"}),
    }
    wrong = {k: (r.status_code, r.text[:200]) for k, r in answers.items() if r.status_code >= 500}
    assert not wrong, wrong
    assert answers["GET supplement"].headers["location"] == f"/dossiers/{scene.children[C]}/supplement"
    for key in ("POST supplement", "POST step", "POST upload", "POST delete"):
        assert answers[key].status_code in (303, 409), (key, answers[key].status_code)
    with Session(app.state.engine) as s:
        row = s.get(Dossier, scene.parent)
        assert row is not None and row.status == DossierStatus.SUPPLEMENT_REQUESTED
        assert row.data.get("full_name") != "Khác"
        files = s.exec(select(DossierFile).where(DossierFile.dossier_id == scene.parent))
        assert sorted(f.id for f in files) == sorted(scene.files[scene.parent])
        child = s.get(Dossier, scene.children[C])
        assert child is not None and child.status == DossierStatus.SUPPLEMENT_REQUESTED
