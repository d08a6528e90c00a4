"""The store's pages over HTTP, as a browser without JavaScript: /documents in Vietnamese and English,
download, delete, the ZIP; the files page's "use this document" and "keep in my documents"; CSRF on every POST;
a business's documents shared by its representatives."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from portal.documents import service as store
from portal.documents.models import DocumentSource, StoredDocument
from portal.dossiers.models import Dossier, DossierFile
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from tests import factories
from tests.businesses.test_businesses import act_as, add_rep, login_of, registered
from tests.conftest import csrf, signup
from tests.documents.helpers import ID_CARD, kept, typed_procedure
from tests.factories import marital_answers, pdf_bytes

pytestmark = pytest.mark.db


def browser(app: Any, lang: str = "en", name: str = "Nguyễn Thị Hường") -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False)
    client.cookies.set("lang", lang)
    login = signup(client, name=name)
    with Session(app.state.engine) as s:
        account = s.exec(select(Account).where(Account.email == login)).one()
    return client, account.id


def storage_of(settings: Settings) -> LocalStorage:
    return LocalStorage(Path(settings.storage_dir))


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture()
def store_of(app: Any, settings: Settings) -> Any:
    """Write a store (and a draft) for an account, committed: returns the documents by role."""

    def make(account_id: str, *, business_id: str | None = None) -> dict[str, Any]:
        storage = storage_of(settings)
        owner = store.Owner.of(account_id, business_id)
        with Session(app.state.engine) as s:
            procedure = typed_procedure(s)
            result = kept(
                s,
                owner,
                storage=storage,
                source=DocumentSource.RESULT,
                issuer="Ủy ban nhân dân phường Hoa Lư",
                expires_on=store.today() + timedelta(days=179),
                signature="agency",
                signature_report={
                    "ok": True,
                    "signer": "UBND phường Hoa Lư",
                    "signing_time": "2026-12-01T08:00:00+00:00",
                },
                source_ref="UBXA-261201-0001",
            )
            expired = kept(
                s,
                owner,
                storage=storage,
                issued_on=store.today() - timedelta(days=400),
                expires_on=store.today() - timedelta(days=220),
            )
            card = kept(s, owner, storage=storage, doc_type=ID_CARD, name_vi="Thẻ căn cước", name_en="Identity card")
            dossier = factories.dossier(
                s,
                applicant=s.get(Account, account_id),
                procedure_code=procedure.code,
                data=marital_answers(),
                business_id=business_id,
            )
            upload = storage.put(pdf_bytes("To khai"), prefix=f"dossiers/{dossier.id}", suffix=".pdf")
            tk = factories.dossier_file(s, dossier, component_id="to_khai", storage_key=upload)
            photo = factories.dossier_file(s, dossier, component_id="can_cuoc", filename="can-cuoc.pdf")
            s.commit()
            return {
                "procedure": procedure.code,
                "result": result.id,
                "expired": expired.id,
                "card": card.id,
                "dossier": dossier.id,
                "to_khai": tk.id,
                "card_file": photo.id,
            }

    return make


# -- /documents


def test_the_store_page_lists_documents_by_type_with_issuer_signature_and_expiry_in_english(
    app: Any, store_of: Any
) -> None:
    client, account_id = browser(app, "en")
    made = store_of(account_id)

    page = client.get("/documents")

    assert page.status_code == 200 and '<html lang="en">' in page.text
    body = text(page.text)
    assert "My documents" in body and 'href="/documents" aria-current="page"' in page.text  # the header link
    assert body.count("Certificate of marital status") >= 2 and "Identity card" in body
    assert "Ủy ban nhân dân phường Hoa Lư" in body and "UBXA-261201-0001" in body
    assert "Digitally signed: UBND phường Hoa Lư" in body and "checked when the result was issued" in body
    assert "Expired on" in body and "Valid until" in body and "cannot be used in a new dossier" in body
    assert f'action="/documents/{made["expired"]}/delete"' in page.text  # an upload may be deleted
    assert f'action="/documents/{made["result"]}/delete"' not in page.text  # a result may not
    assert 'href="/documents/archive.zip"' in page.text
    assert "<script>" not in page.text  # nothing inline: the page works without JavaScript


def test_the_store_page_in_vietnamese_shows_the_vietnamese_names(app: Any, store_of: Any) -> None:
    client, account_id = browser(app, "vi")
    store_of(account_id)
    page = client.get("/documents")
    assert page.status_code == 200 and '<html lang="vi">' in page.text
    assert "Giấy xác nhận tình trạng hôn nhân" in page.text and "Thẻ căn cước" in page.text
    assert "Certificate of marital status" not in page.text


def test_an_empty_store_says_so_and_the_pages_need_sign_in(app: Any, client: TestClient) -> None:
    for url in ("/documents", "/documents/archive.zip", "/documents/0123456789abcdef0123456789abcdef"):
        r = client.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin"), url
    fresh, _ = browser(app, "en")
    page = fresh.get("/documents")
    assert page.status_code == 200 and "Your store is empty" in page.text
    assert "archive.zip" not in page.text


def test_download_is_the_owner_s_only(app: Any, store_of: Any, settings: Settings) -> None:
    client, account_id = browser(app, "en")
    made = store_of(account_id)
    r = client.get(f"/documents/{made['result']}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert "filename*=UTF-8''Gi%E1%BA%A5y%20x%C3%A1c%20nh%E1%BA%ADn" in r.headers["content-disposition"]
    other, _ = browser(app, "en", name="Trần Văn Lạ")
    assert other.get(f"/documents/{made['result']}").status_code == 404
    assert client.get("/documents/nothing-like-this").status_code == 404


def test_delete_an_upload_refuse_a_result_and_csrf_on_every_post(app: Any, store_of: Any) -> None:
    client, account_id = browser(app, "en")
    made = store_of(account_id)
    assert client.post(f"/documents/{made['card']}/delete").status_code == 403
    assert client.post(f"/documents/{made['card']}/delete", data={"csrf_token": "forged"}).status_code == 403
    token = csrf(client, "/documents")

    refused = client.post(f"/documents/{made['result']}/delete", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "issued to you by an agency" in refused.text and 'role="alert"' in refused.text

    done = client.post(f"/documents/{made['card']}/delete", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/documents?deleted=1"
    assert 'id="document-deleted"' in client.get("/documents?deleted=1").text  # said on the page
    other, _ = browser(app, "en", name="Trần Văn Lạ")
    assert other.post(f"/documents/{made['expired']}/delete", data={"csrf_token": csrf(other)}).status_code == 404
    with Session(app.state.engine) as s:
        assert s.get(StoredDocument, made["card"]) is None
        assert s.get(StoredDocument, made["result"]) is not None
        assert s.get(StoredDocument, made["expired"]) is not None


def test_the_zip_holds_every_document_and_a_manifest(app: Any, store_of: Any) -> None:
    client, account_id = browser(app, "en", name="Phạm Thị Lưu")
    made = store_of(account_id)
    r = client.get("/documents/archive.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
    assert len(names) == 4 and all(n.endswith(".pdf") for n in names if n != "manifest.json")
    assert manifest["owner"] == "Phạm Thị Lưu"
    assert {e["id"] for e in manifest["documents"]} == {made["result"], made["expired"], made["card"]}
    assert any(n.startswith("Kết quả được cấp/Giấy xác nhận tình trạng hôn nhân - ") for n in names)


# -- the files page


def test_the_files_page_offers_the_store_and_a_document_is_used_without_an_upload(
    app: Any, store_of: Any, settings: Settings
) -> None:
    client, account_id = browser(app, "en")
    made = store_of(account_id)
    url = f"/dossiers/{made['dossier']}/files"
    page = client.get(url)
    assert page.status_code == 200
    assert "Use a document from your personal store" in page.text
    assert f'name="document_id" value="{made["result"]}"' in page.text
    assert f'name="document_id" value="{made["expired"]}"' not in page.text  # expired: not offered
    # The identity card component has its file already: remove it first, as for an upload.
    assert f'name="document_id" value="{made["card"]}"' not in page.text
    reuse = f"{url}/giay_xac_nhan_cu/reuse"
    assert client.post(reuse, data={"document_id": made["result"]}).status_code == 403  # no CSRF token
    before = {p for p in storage_of(settings).root.rglob("*") if p.is_file()}
    token = csrf(client, url)

    r = client.post(reuse, data={"csrf_token": token, "document_id": made["result"]})

    assert r.status_code == 303 and r.headers["location"] == f"{url}#c-giay_xac_nhan_cu"
    assert {p for p in storage_of(settings).root.rglob("*") if p.is_file()} == before
    with Session(app.state.engine) as s:
        doc = s.get(StoredDocument, made["result"])
        row = s.exec(select(DossierFile).where(DossierFile.reused_from == made["result"])).one()
        assert doc is not None and (row.dossier_id, row.storage_key) == (made["dossier"], doc.storage_key)
        assert row.signature == "agency" and row.signature_report == doc.signature_report
    page = client.get(url)
    assert "From your documents" in page.text and "signed by the issuing agency" in page.text
    # HTMX gets the components block only.
    r = client.post(
        f"{url}/can_cuoc/reuse",
        data={"csrf_token": token, "document_id": made["card"]},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="components">')


def test_refusals_on_the_files_page_another_account_expired_wrong_type(app: Any, store_of: Any) -> None:
    client, account_id = browser(app, "en")
    made = store_of(account_id)
    other, other_id = browser(app, "en", name="Trần Văn Lạ")
    theirs = store_of(other_id)
    url = f"/dossiers/{made['dossier']}/files"
    token = csrf(client, url)

    stranger = client.post(f"{url}/giay_xac_nhan_cu/reuse", data={"csrf_token": token, "document_id": theirs["result"]})
    assert stranger.status_code == 404
    expired = client.post(f"{url}/giay_xac_nhan_cu/reuse", data={"csrf_token": token, "document_id": made["expired"]})
    assert expired.status_code == 409
    assert "expired on" in expired.text and "Upload a current one" in expired.text
    assert 'id="components"' in expired.text  # the page again, nothing lost
    wrong = client.post(f"{url}/giay_xac_nhan_cu/reuse", data={"csrf_token": token, "document_id": made["card"]})
    assert wrong.status_code == 400 and "not of the kind this component asks for" in wrong.text
    # Another account's dossier: 404 as for a missing one.
    r = other.post(f"{url}/giay_xac_nhan_cu/reuse", data={"csrf_token": csrf(other), "document_id": made["result"]})
    assert r.status_code == 404
    with Session(app.state.engine) as s:
        rows = s.exec(select(DossierFile).where(DossierFile.dossier_id == made["dossier"])).all()
        assert {f.component_id for f in rows} == {"to_khai", "can_cuoc"}  # nothing added


def test_keep_an_uploaded_file_in_my_documents(app: Any, store_of: Any) -> None:
    client, account_id = browser(app, "en")
    made = store_of(account_id)
    url = f"/dossiers/{made['dossier']}/files"
    page = client.get(url)
    keep = f"/dossiers/{made['dossier']}/files/{made['card_file']}/keep"
    assert f'action="{keep}"' in page.text
    assert f"/files/{made['to_khai']}/keep" not in page.text  # the application form has no type
    assert client.post(keep).status_code == 403
    token = csrf(client, url)
    r = client.post(keep, data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"{url}#c-can_cuoc"
    assert "Kept in your documents" in client.get(url).text
    untyped = client.post(f"/dossiers/{made['dossier']}/files/{made['to_khai']}/keep", data={"csrf_token": token})
    assert untyped.status_code == 400 and "cannot be kept" in untyped.text
    with Session(app.state.engine) as s:
        doc = s.exec(select(StoredDocument).where(StoredDocument.source_row_id == made["card_file"])).one()
        assert (doc.source, doc.doc_type, doc.account_id) == ("upload", ID_CARD, account_id)
    assert client.get("/documents").text.count("Identity card") >= 2


# -- a business's store


def test_a_business_s_documents_are_shared_by_its_representatives(app: Any, store_of: Any) -> None:
    owner, owner_id = browser(app, "en", name="Lê Văn Chủ")
    business_id = registered(owner)  # acting for it now
    made = store_of(owner_id, business_id=business_id)
    colleague, colleague_id = browser(app, "en", name="Đỗ Thị Đồng")
    assert colleague.get(f"/documents/{made['result']}").status_code == 404  # not a representative yet
    assert add_rep(owner, business_id, login_of(app, colleague_id)).status_code == 303

    assert colleague.get(f"/documents/{made['result']}").status_code == 200
    assert "Thẻ căn cước" not in colleague.get("/documents").text  # personal store while acting as oneself
    assert act_as(colleague, business_id).status_code == 303
    page = colleague.get("/documents")
    assert "Identity card" in page.text and "shared by all its representatives" in page.text
    with Session(app.state.engine) as s:
        dossier = s.get(Dossier, made["dossier"])
        assert dossier is not None and dossier.business_id == business_id
    files = colleague.get(f"/dossiers/{made['dossier']}/files")
    assert f'name="document_id" value="{made["result"]}"' in files.text
    assert owner.get("/documents").status_code == 200 and "Identity card" in owner.get("/documents").text
