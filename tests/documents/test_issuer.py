"""The issuer of a store document in the page's language: a result kept with its agency's code
(`StoredDocument.issuer_code`), its name shown in Vietnamese or English on /documents, on the documents page's
store offers and in the ZIP's manifest; the name kept (`issuer`) when there is no code or the catalogue does
not know it."""

from __future__ import annotations

import html
import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session

from auth.models import Account
from portal.catalog.models import Agency
from portal.documents import service as store
from portal.documents.models import DocumentSource
from portal.kernel.settings import Settings
from tests import factories
from tests import lifecycle_factories as lf
from tests.documents.helpers import MARITAL_CERT, kept, typed_procedure
from tests.documents.test_pages import browser, storage_of
from tests.documents.test_pages import text as tagless
from tests.documents.test_store import Issue, agency_cert, documents, issue  # noqa: F401  (fixtures)
from tests.factories import marital_answers
from tests.lifecycle_factories import pki, storage, trust  # noqa: F401  (fixtures)

pytestmark = pytest.mark.db

UBXA_VI, UBXA_EN = "Ủy ban nhân dân phường Hoa Lư", "People's Committee of Hoa Lu Ward"


def text(page: str) -> str:
    return html.unescape(tagless(page))


def test_a_result_is_kept_with_its_agency_s_code(session: Session, issue: Issue) -> None:  # noqa: F811
    procedure = typed_procedure(session)
    dossier = lf.received(session, procedure_code=procedure.code)
    issue(dossier)
    [doc] = documents(session, store.Owner(account_id=dossier.applicant_id))
    agency = session.get(Agency, dossier.agency_code)
    assert agency is not None
    assert (doc.issuer_code, doc.issuer) == (dossier.agency_code, agency.name_vi)
    names = store.issuers_of(session, [doc])
    assert names == {agency.code: {"vi": agency.name_vi, "en": agency.name_en}}
    assert store.issuer_text(doc, names, "en") == agency.name_en
    assert store.issuer_text(doc, names, "vi") == agency.name_vi


def test_an_upload_has_no_issuer_code_and_an_unknown_code_falls_back_to_the_name_kept(session: Session) -> None:
    owner = store.Owner(account_id=factories.account(session).id)
    upload = kept(session, owner)
    unknown = kept(session, owner, source=DocumentSource.RESULT, issuer="Sở Tư pháp cũ", issuer_code="XXGONE")
    assert upload.issuer_code is None
    names = store.issuers_of(session, [upload, unknown])
    assert names == {}
    assert store.issuer_text(upload, names, "en") == ""
    assert store.issuer_text(unknown, names, "en") == "Sở Tư pháp cũ"


def _store(app: Any, settings: Settings, account_id: str) -> dict[str, str]:
    """A result with UBXA's code, one kept before the code existed (name only), and a draft taking their type."""
    files = storage_of(settings)
    owner = store.Owner(account_id=account_id)
    with Session(app.state.engine) as s:
        procedure = typed_procedure(s)
        coded = kept(
            s,
            owner,
            storage=files,
            source=DocumentSource.RESULT,
            issuer=UBXA_VI,
            issuer_code="UBXA",
            expires_on=store.today() + timedelta(days=100),
        )
        legacy = kept(
            s,
            owner,
            storage=files,
            source=DocumentSource.RESULT,
            doc_type="giay_khai_sinh",
            name_vi="Giấy khai sinh",
            name_en="Birth certificate",
            issuer="UBND phường Hoa Lư (cũ)",
        )
        dossier = factories.dossier(
            s, applicant=s.get(Account, account_id), procedure_code=procedure.code, data=marital_answers()
        )
        s.commit()
        return {"coded": coded.id, "legacy": legacy.id, "dossier": dossier.id}


@pytest.mark.parametrize(("lang", "name"), [("en", UBXA_EN), ("vi", UBXA_VI)])
def test_the_store_page_and_the_offers_name_the_issuer_in_the_page_s_language(
    app: Any, settings: Settings, lang: str, name: str
) -> None:
    client, account_id = browser(app, lang=lang)
    ids = _store(app, settings, account_id)
    page = client.get("/documents")
    assert page.status_code == 200
    item = page.text.split(f'id="document-{ids["coded"]}"', 1)[1].split("</li>", 1)[0]
    assert name in text(item)
    if lang == "en":
        assert UBXA_VI not in text(item)
    legacy = page.text.split(f'id="document-{ids["legacy"]}"', 1)[1].split("</li>", 1)[0]
    assert "UBND phường Hoa Lư (cũ)" in text(legacy)

    # The documents page of a draft offers the result with its issuer in the same language.
    files = client.get(f"/dossiers/{ids['dossier']}/files")
    assert files.status_code == 200
    offer = files.text.split('id="store-giay_xac_nhan_cu"', 1)[1].split("</div>", 1)[0]
    assert name in text(offer)


def test_the_zip_manifest_names_the_issuer_in_the_page_s_language(app: Any, settings: Settings) -> None:
    client, account_id = browser(app, lang="en")
    ids = _store(app, settings, account_id)
    response = client.get("/documents/archive.zip")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    by_id = {e["id"]: e for e in manifest["documents"]}
    assert by_id[ids["coded"]]["issuer"] == UBXA_EN
    assert by_id[ids["coded"]]["issuer_code"] == "UBXA"
    assert by_id[ids["coded"]]["issuer_name"] == {"vi": UBXA_VI, "en": UBXA_EN}
    assert by_id[ids["legacy"]]["issuer"] == "UBND phường Hoa Lư (cũ)"
    assert by_id[ids["legacy"]]["issuer_code"] is None and by_id[ids["legacy"]]["issuer_name"] is None

    client.cookies.set("lang", "vi")
    with zipfile.ZipFile(io.BytesIO(client.get("/documents/archive.zip").content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert {e["id"]: e for e in manifest["documents"]}[ids["coded"]]["issuer"] == UBXA_VI
    assert MARITAL_CERT in {e["doc_type"] for e in manifest["documents"]}
